//! AutoFormer (Chen et al., 2021) vision-transformer spaces, T and S (paper Table 20).
//!
//! Patch embedding (conv) → cls token + position embedding → `depth` pre-norm blocks
//! (LayerNorm → multi-head self-attention with head dim 64 → residual; LayerNorm → fc1 → GELU →
//! fc2 → residual) → LayerNorm → the cls token → linear head. One embedding-dim decision for the
//! whole network is superposed into every weight that touches the residual stream (patch
//! embedding, cls/position embeddings, every LayerNorm, qkv, proj, fc1, fc2, head); fc1/fc2 are
//! the combi-superposition of embed × MLP ratio (hidden = ⌊embed · ratio⌋), qkv/proj of embed ×
//! heads; depth mixes the outputs after 12, 13 and 14 blocks.

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, LayerNorm, Linear};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::transformer::{Block, BlockKeys, SuperBlock};
use tangle_core::subnet::PatchEmbed;
use tangle_core::{
    scaled, Architecture, CoreError, DecisionKey, DepthMixer, HeadDim, Mixtures, Result,
    SearchSpec, SuperEmbedding, SuperEmbeddingConfig, SuperLayerNorm, SuperLayerNormConfig,
    SuperLinear, SuperLinearConfig, SuperPatchEmbed, SuperPatchEmbedConfig, Supernet,
};

mod config;
pub use config::AutoFormerConfig;

impl AutoFormerConfig {
    /// Builds the weight-entangled supernet. Errors for an invalid configuration.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<AutoFormer<B>> {
        AutoFormer::from_config(self.clone(), device)
    }
}

impl AutoFormerConfig {
    /// AutoFormer-T: embed {192, 216, 240}, depth {12, 13, 14}, ratio {3.5, 4}, heads {3, 4}.
    pub fn tiny(image_size: usize, patch: usize, classes: usize) -> Self {
        AutoFormerConfig {
            embeds: vec![192, 216, 240],
            depths: vec![12, 13, 14],
            ratios: vec![3.5, 4.0],
            heads: vec![3, 4],
            head_dim: 64,
            image_size,
            patch,
            channels: 3,
            classes,
            relative_position: Some(14),
        }
    }

    /// AutoFormer-S: embed {320, 384, 448}, depth {12, 13, 14}, ratio {3, 3.5, 4}, heads
    /// {5, 6, 7}.
    pub fn small(image_size: usize, patch: usize, classes: usize) -> Self {
        AutoFormerConfig {
            embeds: vec![320, 384, 448],
            ratios: vec![3.0, 3.5, 4.0],
            heads: vec![5, 6, 7],
            ..Self::tiny(image_size, patch, classes)
        }
    }

    /// Tokens per image: patches + the cls token.
    pub fn tokens(&self) -> usize {
        (self.image_size / self.patch).pow(2) + 1
    }

    fn max_depth(&self) -> usize {
        self.depths.iter().copied().max().unwrap_or(0)
    }

    /// Declares the space: `embed`, `depth`, then `layer{i}.mlp_ratio` and `layer{i}.heads`
    /// for every layer up to the largest depth.
    pub fn declare(&self) -> Result<(SearchSpec, AutoFormerKeys)> {
        let mut space = SearchSpec::builder();
        let max_e = self.embeds.iter().copied().max().unwrap_or(0);
        let embed = space.sizes("embed", &self.embeds, max_e)?;
        let depth = space.depths("depth", &self.depths, self.max_depth())?;
        let blocks = (0..self.max_depth())
            .map(|i| {
                let ratio = space.ratios(&format!("layer{i}.mlp_ratio"), &self.ratios)?;
                Ok(BlockKeys {
                    heads: space.heads(&format!("layer{i}.heads"), &self.heads)?,
                    ratio,
                    embed: embed.clone(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let keys = AutoFormerKeys {
            embed,
            depth,
            blocks,
        };
        Ok((space.build(), keys))
    }

    /// The search spec (see [`AutoFormerConfig::declare`]).
    pub fn spec(&self) -> Result<SearchSpec> {
        Ok(self.declare()?.0)
    }

    fn check(&self) -> Result<()> {
        if self.patch == 0
            || self.image_size % self.patch != 0
            || self.classes == 0
            || self.channels == 0
            || self.head_dim == 0
        {
            return Err(CoreError::Config(format!(
                "AutoFormer needs a patch size dividing the image size, classes, channels and a \
                 head width: {self:?}"
            )));
        }
        Ok(())
    }
}

/// The decisions of an AutoFormer space.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoFormerKeys {
    /// Embedding dim, read by every weight on the residual stream.
    pub embed: DecisionKey<usize>,
    /// Number of blocks.
    pub depth: DecisionKey<usize>,
    /// Each block's decisions (the largest depth's worth).
    pub blocks: Vec<BlockKeys>,
}

/// An architecture in AutoFormer's own form; `mlp_ratio` keeps 3.5 as 3.5.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoFormerArch {
    /// Embedding dim.
    pub embed_dim: usize,
    /// Number of blocks.
    pub depth: usize,
    /// MLP ratio of each active block.
    pub mlp_ratio: Vec<f64>,
    /// Heads of each active block.
    pub num_heads: Vec<usize>,
}

/// The AutoFormer supernet.
#[derive(Module, Debug)]
pub struct AutoFormer<B: Backend> {
    /// Patch embedding.
    pub patch: SuperPatchEmbed<B>,
    /// The cls token (one row).
    pub cls: SuperEmbedding<B>,
    /// Position embeddings (one row per token).
    pub pos: SuperEmbedding<B>,
    /// The blocks (the largest depth).
    pub blocks: Vec<SuperBlock<B>>,
    /// Final LayerNorm.
    pub norm: SuperLayerNorm<B>,
    /// Classifier head.
    pub head: SuperLinear<B>,
    /// No dropout (AutoFormer's supernet trains without); the blocks' residual dropout slot.
    pub dropout: Dropout,
    #[module(skip)]
    spec: SearchSpec,
    #[module(skip)]
    config: AutoFormerConfig,
    #[module(skip)]
    keys: AutoFormerKeys,
    #[module(skip)]
    depth: DepthMixer,
}

impl<B: Backend> AutoFormer<B> {
    /// A freshly initialized supernet (truncated-normal-like N(0, 0.02²) embeddings).
    pub(crate) fn from_config(config: AutoFormerConfig, device: &B::Device) -> Result<Self> {
        config.check()?;
        let (spec, keys) = config.declare()?;
        let e = keys.embed.candidates();
        let blocks = SuperBlock::stack(
            &keys.blocks,
            HeadDim::Fixed(config.head_dim),
            |a| a.with_relative_position(config.relative_position),
            device,
        )?;
        Ok(AutoFormer {
            patch: SuperPatchEmbedConfig::new(config.channels, config.patch, e.to_vec())
                .init(device)?,
            cls: SuperEmbeddingConfig::new(1, e.to_vec()).init(device)?,
            pos: SuperEmbeddingConfig::new(config.tokens(), e.to_vec()).init(device)?,
            blocks,
            norm: SuperLayerNormConfig::new(e.to_vec()).init(device)?,
            head: SuperLinearConfig::input(e, config.classes)?.init(device)?,
            dropout: DropoutConfig::new(0.0).init(),
            depth: DepthMixer::new(keys.depth.candidates())?,
            spec,
            config,
            keys,
        })
    }

    /// The space's candidates and geometry.
    pub fn config(&self) -> &AutoFormerConfig {
        &self.config
    }

    /// The space's decisions.
    pub fn keys(&self) -> &AutoFormerKeys {
        &self.keys
    }

    /// `arch` in AutoFormer's form (the active layers only).
    pub fn describe(&self, arch: &Architecture) -> Result<AutoFormerArch> {
        arch.validate(&self.spec)?;
        let k = &self.keys;
        let active = &k.blocks[..arch.value(&k.depth)?];
        Ok(AutoFormerArch {
            embed_dim: arch.value(&k.embed)?,
            depth: active.len(),
            mlp_ratio: active
                .iter()
                .map(|b| arch.value(&b.ratio))
                .collect::<Result<_>>()?,
            num_heads: active
                .iter()
                .map(|b| arch.value(&b.heads))
                .collect::<Result<_>>()?,
        })
    }

    /// The architecture of an [`AutoFormerArch`] (layers beyond its depth take the first
    /// candidates; they do not run).
    pub fn architecture(&self, a: &AutoFormerArch) -> Result<Architecture> {
        if a.mlp_ratio.len() != a.depth || a.num_heads.len() != a.depth {
            return Err(CoreError::Config(format!(
                "depth {} but {} MLP ratios and {} head counts",
                a.depth,
                a.mlp_ratio.len(),
                a.num_heads.len()
            )));
        }
        let k = &self.keys;
        let mut arch = Architecture::new();
        arch.choose(&k.embed, a.embed_dim)?
            .choose(&k.depth, a.depth)?;
        for (i, b) in k.blocks.iter().enumerate() {
            let (r, h) = if i < a.depth {
                (a.mlp_ratio[i], a.num_heads[i])
            } else {
                (b.ratio.candidates()[0], b.heads.candidates()[0])
            };
            arch.choose(&b.ratio, r)?.choose(&b.heads, h)?;
        }
        arch.validate(&self.spec)?;
        Ok(arch)
    }
}

fn check_image<B: Backend>(x: &Tensor<B, 4>, c: &AutoFormerConfig) -> Result<()> {
    let d = x.dims();
    if d[1] != c.channels || d[2] != c.image_size || d[3] != c.image_size {
        return Err(CoreError::Shape {
            module: "AutoFormer".into(),
            expected: format!("[batch, {}, {s}, {s}]", c.channels, s = c.image_size),
            got: d.to_vec(),
        });
    }
    Ok(())
}

/// Prepends the cls token and adds the position embeddings: `[b, n, e]` → `[b, n + 1, e]`.
fn tokens<B: Backend>(x: Tensor<B, 3>, cls: Tensor<B, 2>, pos: Tensor<B, 2>) -> Tensor<B, 3> {
    let [b, _, e] = x.dims();
    let cls = cls.reshape([1, 1, e]).repeat_dim(0, b);
    let [t, _] = pos.dims();
    Tensor::cat(vec![cls, x], 1) + pos.reshape([1, t, e])
}

/// The cls token's features: `[b, t, e]` → `[b, e]`.
fn cls_token<B: Backend>(x: Tensor<B, 3>) -> Tensor<B, 2> {
    let [b, _, e] = x.dims();
    x.slice([0..b, 0..1, 0..e]).reshape([b, e])
}

impl<B: Backend> Supernet<B> for AutoFormer<B> {
    type Input = Tensor<B, 4>;
    type Output = Tensor<B, 2>;

    fn spec(&self) -> &SearchSpec {
        &self.spec
    }

    fn forward_mixed(&self, x: Tensor<B, 4>, mix: &Mixtures<B>) -> Result<Tensor<B, 2>> {
        check_image(&x, &self.config)?;
        let e = mix.of(&self.keys.embed)?;
        let x = self.patch.forward(x, e)?;
        let x = tokens(
            x,
            self.cls.first_rows(1, e)?,
            self.pos.first_rows(self.config.tokens(), e)?,
        );
        let x = self.depth.forward(x, mix.of(&self.keys.depth)?, |i, x| {
            self.blocks[i].forward(x, mix, &self.dropout)
        })?;
        let x = cls_token(self.norm.forward(x, e)?);
        self.head.forward(x, &[e])
    }
}

/// A discretized AutoFormer: a plain ViT.
#[derive(Module, Debug)]
pub struct ViT<B: Backend> {
    /// Patch embedding.
    pub patch: PatchEmbed<B>,
    /// cls token `[1, e]`.
    pub cls: Param<Tensor<B, 2>>,
    /// Position embeddings `[tokens, e]`.
    pub pos: Param<Tensor<B, 2>>,
    /// The blocks.
    pub blocks: Vec<Block<B>>,
    /// Final LayerNorm.
    pub norm: LayerNorm<B>,
    /// Head.
    pub head: Linear<B>,
    /// Residual dropout (none).
    pub dropout: Dropout,
}

impl<B: Backend> ViT<B> {
    /// Images → logits.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        let x = tokens(self.patch.forward(x), self.cls.val(), self.pos.val());
        let x = self
            .blocks
            .iter()
            .fold(x, |x, b| b.forward(x, &self.dropout));
        self.head.forward(cls_token(self.norm.forward(x)))
    }
}

impl<B: Backend> tangle_core::Extract<B> for AutoFormer<B> {
    type Subnet = ViT<B>;

    /// The discretized ViT at `arch`, with the inherited weights.
    fn extract(&self, arch: &Architecture) -> Result<ViT<B>> {
        arch.validate(&self.spec)?;
        let e = arch.index(&self.keys.embed)?;
        let blocks = self.blocks[..arch.value(&self.keys.depth)?]
            .iter()
            .map(|b| b.extract(arch))
            .collect::<Result<Vec<_>>>()?;
        Ok(ViT {
            patch: self.patch.extract(e)?,
            cls: Param::from_tensor(self.cls.extract(e)?.weight.val()),
            pos: Param::from_tensor(self.pos.extract(e)?.weight.val()),
            blocks,
            norm: self.norm.extract(e)?,
            head: self.head.extract(&[e])?,
            dropout: self.dropout.clone(),
        })
    }

    /// Trainable parameters of the discretized network at `arch`, from the choices alone.
    fn params(&self, arch: &Architecture) -> Result<usize> {
        let a = self.describe(arch)?;
        let c = &self.config;
        let e = a.embed_dim;
        let mut total = c.channels * c.patch * c.patch * e + e; // patch embedding
        total += e + c.tokens() * e; // cls, positions
                                     // Relative positions: key and value encodings, two tables of 2m + 2 rows each.
        let relative = c
            .relative_position
            .map_or(0, |m| 2 * 2 * (2 * m + 2) * c.head_dim);
        for (&r, &h) in a.mlp_ratio.iter().zip(&a.num_heads) {
            let (hd, m) = (h * c.head_dim, scaled(e, r));
            total += 4 * e // two LayerNorms
                + e * 3 * hd + 3 * hd // qkv
                + hd * e + e // proj
                + e * m + m // fc1
                + m * e + e // fc2
                + relative;
        }
        Ok(total + 2 * e + e * c.classes + c.classes)
    }
}
