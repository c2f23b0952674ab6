//! Standalone networks extracted from a supernet, and saving / loading them.
//!
//! Each entangled module has an `extract` method that returns plain Burn modules
//! (`burn::nn::Linear`, `Conv2d`, `LayerNorm`, `BatchNorm`, `Embedding`) holding the sliced,
//! inherited weights. Attention and patch embedding have no exact Burn counterpart with our weight
//! layout, so they get the small plain modules here, built only from Burn modules.

use std::path::Path;

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{Dropout, Linear};
use burn::tensor::{backend::Backend, Tensor};
use burn_store::{BurnpackStore, ModuleSnapshot};

use crate::attention::{attend, project_qkv};
use crate::error::{CoreError, Result};
use crate::fast_conv::conv2d_forward;

/// Row layout of a fused qkv projection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QkvLayout {
    /// `[head][q|k|v][dim]` (fixed head dim).
    HeadMajor,
    /// `[column][q|k|v]` (head dim = embed / heads).
    ColumnMajor,
}

/// Plain multi-head self-attention with a fused qkv projection.
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    /// Fused q/k/v projection, `[embed, 3 · heads · head_dim]`.
    pub qkv: Linear<B>,
    /// Output projection, `[heads · head_dim, embed]`.
    pub proj: Linear<B>,
    /// Dropout on attention probabilities.
    pub dropout: Dropout,
    /// Relative position encodings of the keys (AutoFormer), if any.
    pub rel_k: Option<crate::relative_position::RelativePosition2d<B>>,
    /// Relative position encodings of the values, if any.
    pub rel_v: Option<crate::relative_position::RelativePosition2d<B>>,
    /// Number of heads.
    #[module(skip)]
    pub heads: usize,
    /// Width of one head.
    #[module(skip)]
    pub head_dim: usize,
    /// Row layout of `qkv`.
    #[module(skip)]
    pub layout: QkvLayout,
    /// Causal masking.
    #[module(skip)]
    pub causal: bool,
}

impl<B: Backend> Attention<B> {
    /// Forward pass on `[batch, seq, embed]`. With relative position encodings the sequence
    /// must be a cls token and a square grid of patches, as the layer was searched on (the
    /// extracting space checked that); otherwise this panics naming the token count.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [b, t, _] = x.dims();
        let rel = crate::attention::relative(&self.rel_k, &self.rel_v, t)
            .unwrap_or_else(|e| panic!("Attention::forward: {e}"));
        let (h, d) = (self.heads, self.head_dim);
        let [q, k, v] = project_qkv(
            x,
            self.qkv.weight.val(),
            self.qkv.bias.as_ref().map(|b| b.val()),
            self.layout,
            d,
        );
        let split = |z: Tensor<B, 3>| z.reshape([b, t, h, d]).swap_dims(1, 2);
        let (q, k, v) = (split(q), split(k), split(v));
        let o = attend(
            q,
            k,
            v,
            Some(1.0 / (d as f64).sqrt()),
            self.causal,
            &self.dropout,
            rel,
        );
        self.proj.forward(o)
    }
}

/// Plain ViT patch embedding: a `patch × patch` convolution with stride `patch`, flattened to tokens.
#[derive(Module, Debug)]
pub struct PatchEmbed<B: Backend> {
    /// The patch projection.
    pub proj: Conv2d<B>,
}

impl<B: Backend> PatchEmbed<B> {
    /// `[batch, channels, h, w]` → `[batch, patches, embed]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 3> {
        conv2d_forward(&self.proj, x)
            .flatten::<3>(2, 3)
            .swap_dims(1, 2)
    }
}

/// Saves any module (a supernet or an extracted subnet) in Burn's burnpack format.
/// An existing file is not overwritten: choose a new path or remove it first.
pub fn save<B: Backend, M: Module<B>>(module: &M, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    if path.exists() {
        return Err(CoreError::Store {
            path: path.display().to_string(),
            reason: "file exists; refusing to overwrite".into(),
        });
    }
    let mut store = BurnpackStore::from_file(path).auto_extension(false);
    module.save_into(&mut store).map_err(|e| CoreError::Store {
        path: path.display().to_string(),
        reason: format!("{e:?}"),
    })
}

/// Loads weights saved by [`save`] into `module` (which must have the same structure).
pub fn load<B: Backend, M: Module<B>>(mut module: M, path: impl AsRef<Path>) -> Result<M> {
    let path = path.as_ref();
    if !path.exists() {
        return Err(CoreError::Store {
            path: path.display().to_string(),
            reason: "no such file".into(),
        });
    }
    let mut store = BurnpackStore::from_file(path).auto_extension(false);
    let result = module.load_from(&mut store).map_err(|e| CoreError::Store {
        path: path.display().to_string(),
        reason: format!("{e:?}"),
    })?;
    if !result.errors.is_empty() || !result.missing.is_empty() {
        return Err(CoreError::Store {
            path: path.display().to_string(),
            reason: format!(
                "file does not match the module (missing {:?}, errors {:?})",
                result.missing, result.errors
            ),
        });
    }
    Ok(module)
}

/// Trainable parameters of `module`: the tensors gradients flow into. Unlike
/// [`Module::num_params`] this leaves out batch-norm running statistics and frozen tensors
/// (affine-free batch norms), so it matches PyTorch's `sum(p.numel() for p in parameters())`
/// for the same network. Needs an autodiff backend, which is what tells the two apart; on any
/// backend, [`crate::count_params`] leaves out the running statistics only.
pub fn trainable_params<B: burn::tensor::backend::AutodiffBackend, M: Module<B>>(
    module: &M,
) -> usize {
    struct Count(usize);
    impl<B: Backend> burn::module::ModuleVisitor<B> for Count {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<B, D>>) {
            let t = param.val();
            if t.is_require_grad() {
                self.0 += t.shape().num_elements();
            }
        }
    }
    let mut c = Count(0);
    module.visit(&mut c);
    c.0
}
