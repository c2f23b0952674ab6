//! `SuperAttention`: multi-head self-attention over embedding-dim and head-count decisions.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::{activation::softmax, backend::Backend, Bool, Tensor, TensorData};

use crate::error::{CoreError, Result};
use crate::linear::{SuperLinear, SuperLinearConfig};
use crate::mixture::Mixture;
use crate::spec::{check_heads_divide, check_increasing_sizes, Decision};

/// How the head dimension relates to the decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadDim {
    /// Every head has this width; heads are added or removed whole (AutoFormer: 64).
    Fixed(usize),
    /// Head width = embedding dim / heads (GPT): each head count partitions the embedding anew.
    EmbedOverHeads,
}

/// Configuration of a [`SuperAttention`].
#[derive(Debug, Clone, PartialEq)]
pub struct SuperAttentionConfig {
    embeds: Vec<usize>,
    heads: Vec<usize>,
    head_dim: HeadDim,
    causal: bool,
    dropout: f64,
    bias: bool,
}

impl SuperAttentionConfig {
    /// Attention over the embedding-dim candidates `embeds` and head counts `heads`.
    pub fn new(embeds: &[usize], heads: &[usize], head_dim: HeadDim) -> Result<Self> {
        check_increasing_sizes("SuperAttention.embed", embeds)?;
        Decision::heads("SuperAttention.heads", heads)?;
        match head_dim {
            HeadDim::Fixed(0) => {
                return Err(CoreError::Config("head dim must be at least 1".into()));
            }
            HeadDim::EmbedOverHeads => check_heads_divide(heads, embeds)?,
            HeadDim::Fixed(_) => {}
        }
        Ok(SuperAttentionConfig {
            embeds: embeds.to_vec(),
            heads: heads.to_vec(),
            head_dim,
            causal: false,
            dropout: 0.0,
            bias: true,
        })
    }

    /// Causal (autoregressive) masking.
    pub fn with_causal(mut self, causal: bool) -> Self {
        self.causal = causal;
        self
    }

    /// Dropout on the attention probabilities.
    pub fn with_dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }

    /// Biases on qkv and projection (default: with).
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// Builds the module.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<SuperAttention<B>> {
        let (e, h) = (self.embeds.clone(), self.heads.clone());
        let (ne, nh) = (e.len(), h.len());
        let (qkv, proj) = match self.head_dim {
            // qkv rows laid out head-major, [head][q|k|v][d]: the first h heads are a prefix.
            HeadDim::Fixed(d) => {
                let (e1, h1, e2, h2) = (e.clone(), h.clone(), e.clone(), h.clone());
                (
                    SuperLinearConfig::combi(vec![ne, nh], move |c| (e1[c[0]], 3 * h1[c[1]] * d))?,
                    SuperLinearConfig::combi(vec![nh, ne], move |c| (h2[c[0]] * d, e2[c[1]]))?,
                )
            }
            // qkv rows laid out column-major, [column][q|k|v]: the first e columns are a prefix.
            HeadDim::EmbedOverHeads => {
                let (e1, e2, e3, e4) = (e.clone(), e.clone(), e.clone(), e.clone());
                (
                    SuperLinearConfig::combi(vec![ne, ne], move |c| (e1[c[0]], 3 * e2[c[1]]))?,
                    SuperLinearConfig::combi(vec![ne, ne], move |c| (e3[c[0]], e4[c[1]]))?,
                )
            }
        };
        Ok(SuperAttention {
            qkv: qkv.with_bias(self.bias).init(device),
            proj: proj.with_bias(self.bias).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            embeds: self.embeds.clone(),
            heads: self.heads.clone(),
            head_dim: self.head_dim,
            causal: self.causal,
        })
    }
}

/// Multi-head self-attention whose embedding dim and head count are decisions.
///
/// * [`HeadDim::Fixed`] (AutoFormer): qkv and the output projection are superposed over the
///   embedding dim; the head count is superposed in the projection's input columns, which equals
///   the weighted sum of the outputs of the separately-run h-head attentions (heads are
///   independent) — one attention pass at the largest head count.
/// * [`HeadDim::EmbedOverHeads`] (nanoGPT): each head count splits the embedding differently,
///   so one attention pass runs per head count; within it the embedding candidates are
///   superposed in head layout (each candidate's heads zero-padded to the widest head), and the
///   outputs are put back in embedding layout with the same weights.
///
/// With one-hot mixtures both equal the single-path module, which equals the extracted subnet.
#[derive(Module, Debug)]
pub struct SuperAttention<B: Backend> {
    /// Fused q/k/v projection.
    pub qkv: SuperLinear<B>,
    /// Output projection.
    pub proj: SuperLinear<B>,
    dropout: Dropout,
    #[module(skip)]
    embeds: Vec<usize>,
    #[module(skip)]
    heads: Vec<usize>,
    #[module(skip)]
    head_dim: HeadDim,
    #[module(skip)]
    causal: bool,
}

/// Sum of tensors (`None` for none).
pub(crate) fn sum<B: Backend, const D: usize>(
    terms: impl IntoIterator<Item = Tensor<B, D>>,
) -> Option<Tensor<B, D>> {
    terms.into_iter().reduce(|a, b| a + b)
}

/// Zero-pads the last dim to `n`.
fn pad_last<B: Backend, const D: usize>(x: Tensor<B, D>, n: usize) -> Tensor<B, D> {
    let d = x.dims()[D - 1];
    if d < n {
        x.pad([(0, n - d)], burn::tensor::ops::PadMode::Constant(0.0))
    } else {
        x
    }
}

fn scalar<B: Backend>(w: &Tensor<B, 1>, i: usize) -> Tensor<B, 4> {
    w.clone().slice([i..i + 1]).reshape([1, 1, 1, 1])
}

impl<B: Backend> SuperAttention<B> {
    /// Embedding-dim candidates.
    pub fn embeds(&self) -> &[usize] {
        &self.embeds
    }

    /// Head-count candidates.
    pub fn heads(&self) -> &[usize] {
        &self.heads
    }

    /// The head layout.
    pub fn head_dim(&self) -> HeadDim {
        self.head_dim
    }

    /// Whether attention is causal.
    pub fn causal(&self) -> bool {
        self.causal
    }

    fn attend(
        &self,
        q: Tensor<B, 4>,
        k: Tensor<B, 4>,
        v: Tensor<B, 4>,
        scale: Tensor<B, 4>,
    ) -> Tensor<B, 4> {
        attend(q, k, v, scale, self.causal, &self.dropout)
    }

    /// Forward pass on `[batch, seq, e]`; `embed` and `heads` are the two decisions' mixtures.
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        embed: &Mixture<B>,
        heads: &Mixture<B>,
    ) -> Result<Tensor<B, 3>> {
        embed.check(self.embeds.len(), "SuperAttention.embed")?;
        heads.check(self.heads.len(), "SuperAttention.heads")?;
        match self.head_dim {
            HeadDim::Fixed(d) => self.forward_fixed(x, embed, heads, d),
            HeadDim::EmbedOverHeads => self.forward_split(x, embed, heads),
        }
    }

    fn forward_fixed(
        &self,
        x: Tensor<B, 3>,
        embed: &Mixture<B>,
        heads: &Mixture<B>,
        d: usize,
    ) -> Result<Tensor<B, 3>> {
        // qkv is never weighted by the head mixture: superposed heads run at the largest count
        // and are mixed in `proj`; a single head count only slices the rows.
        let rows = match heads {
            Mixture::Weights(_) => Mixture::single(self.heads.len() - 1),
            Mixture::Single { index, .. } => Mixture::single(*index),
        };
        let y = self.qkv.forward(x, &[embed, &rows])?;
        let [b, t, w] = y.dims();
        let h = w / (3 * d);
        let y = y.reshape([b, t, h, 3, d]);
        let part = |i: usize| {
            y.clone()
                .slice([0..b, 0..t, 0..h, i..i + 1, 0..d])
                .reshape([b, t, h, d])
                .swap_dims(1, 2)
        };
        let scale = Tensor::<B, 4>::ones([1, 1, 1, 1], &y.device()) * (1.0 / (d as f64).sqrt());
        let o = self.attend(part(0), part(1), part(2), scale);
        let o = o.swap_dims(1, 2).reshape([b, t, h * d]);
        self.proj.forward(o, &[heads, embed])
    }

    fn forward_split(
        &self,
        x: Tensor<B, 3>,
        embed: &Mixture<B>,
        heads: &Mixture<B>,
    ) -> Result<Tensor<B, 3>> {
        let ne = self.embeds.len();
        let (rows, cols) = match embed {
            Mixture::Weights(_) => (Mixture::single(ne - 1), Mixture::single(ne - 1)),
            Mixture::Single { index, .. } => (Mixture::single(*index), Mixture::single(*index)),
        };
        let y = self.qkv.forward(x, &[embed, &rows])?;
        let [b, t, w] = y.dims();
        let width = w / 3;
        let y = y.reshape([b, t, width, 3]);
        let part = |i: usize| {
            y.clone()
                .slice([0..b, 0..t, 0..width, i..i + 1])
                .reshape([b, t, width])
        };
        let (q, k, v) = (part(0), part(1), part(2));
        let device = q.device();
        // The head counts this pass runs, with their weights.
        let head_terms: Vec<(usize, Option<Tensor<B, 4>>)> = match heads {
            Mixture::Weights(hw) => (0..self.heads.len())
                .map(|j| (self.heads[j], Some(scalar(hw, j))))
                .collect(),
            Mixture::Single { index, weight } => vec![(
                self.heads[*index],
                weight.as_ref().map(|s| s.clone().reshape([1, 1, 1, 1])),
            )],
        };
        let mut terms = Vec::with_capacity(head_terms.len());
        for (h, hweight) in head_terms {
            let o = match embed {
                Mixture::Single { .. } => {
                    let dh = width / h;
                    let split = |z: Tensor<B, 3>| z.reshape([b, t, h, dh]).swap_dims(1, 2);
                    let scale =
                        Tensor::<B, 4>::ones([1, 1, 1, 1], &device) * (1.0 / (dh as f64).sqrt());
                    let o =
                        self.attend(split(q.clone()), split(k.clone()), split(v.clone()), scale);
                    o.swap_dims(1, 2).reshape([b, t, width])
                }
                Mixture::Weights(ew) => {
                    let dmax = width / h;
                    // Candidate e's heads are columns [j·e/h, (j+1)·e/h); pad each to the widest head.
                    let layout = |z: &Tensor<B, 3>| -> Tensor<B, 4> {
                        let terms = self.embeds.iter().enumerate().map(|(i, &e)| {
                            let dh = e / h;
                            let zi = z.clone().slice([0..b, 0..t, 0..e]).reshape([b, t, h, dh]);
                            pad_last(zi, dmax) * scalar(ew, i)
                        });
                        sum(terms).expect("at least one candidate").swap_dims(1, 2)
                    };
                    let scale = sum(self
                        .embeds
                        .iter()
                        .enumerate()
                        .map(|(i, &e)| scalar(ew, i) * (1.0 / ((e / h) as f64).sqrt())));
                    let o = self.attend(
                        layout(&q),
                        layout(&k),
                        layout(&v),
                        scale.expect("at least one candidate"),
                    );
                    let o = o.swap_dims(1, 2); // [b, t, h, dmax]
                    let back = sum(self.embeds.iter().enumerate().map(|(i, &e)| {
                        let oi = o
                            .clone()
                            .slice([0..b, 0..t, 0..h, 0..e / h])
                            .reshape([b, t, e]);
                        pad_last(oi, width) * scalar(ew, i).reshape([1, 1, 1])
                    }));
                    back.expect("at least one candidate")
                }
            };
            let o = match hweight {
                Some(s) => o * s.reshape([1, 1, 1]),
                None => o,
            };
            terms.push(o);
        }
        let o = sum(terms).expect("at least one head count");
        self.proj.forward(o, &[&cols, embed])
    }

    /// The standalone attention at one embedding index and one head-count index.
    pub fn extract(&self, embed: usize, heads: usize) -> Result<crate::subnet::Attention<B>> {
        if embed >= self.embeds.len() || heads >= self.heads.len() {
            return Err(CoreError::BadMixture {
                decision: "SuperAttention".into(),
                reason: format!("choice (embed {embed}, heads {heads}) out of range"),
            });
        }
        let h = self.heads[heads];
        let (qkv, proj, head_dim, layout) = match self.head_dim {
            HeadDim::Fixed(d) => (
                self.qkv.extract(&[embed, heads])?,
                self.proj.extract(&[heads, embed])?,
                d,
                crate::subnet::QkvLayout::HeadMajor,
            ),
            HeadDim::EmbedOverHeads => (
                self.qkv.extract(&[embed, embed])?,
                self.proj.extract(&[embed, embed])?,
                self.embeds[embed] / h,
                crate::subnet::QkvLayout::ColumnMajor,
            ),
        };
        Ok(crate::subnet::Attention {
            qkv,
            proj,
            dropout: self.dropout.clone(),
            heads: h,
            head_dim,
            layout,
            causal: self.causal,
        })
    }
}

/// Scaled dot-product attention on `[batch, heads, seq, dim]`.
pub(crate) fn attend<B: Backend>(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    scale: Tensor<B, 4>,
    causal: bool,
    dropout: &Dropout,
) -> Tensor<B, 4> {
    let t = q.dims()[2];
    let device = q.device();
    let mut scores = q.matmul(k.swap_dims(2, 3)) * scale;
    if causal {
        let future: Vec<bool> = (0..t * t).map(|p| p % t > p / t).collect();
        let mask = Tensor::<B, 2, Bool>::from_data(TensorData::new(future, [t, t]), &device);
        scores = scores.mask_fill(mask.reshape([1, 1, t, t]), f32::NEG_INFINITY);
    }
    let p = dropout.forward(softmax(scores, 3));
    p.matmul(v)
}
