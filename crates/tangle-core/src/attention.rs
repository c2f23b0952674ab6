//! `SuperAttention`: multi-head self-attention over embedding-dim and head-count decisions.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::{backend::Backend, Bool, Tensor, TensorData};

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
        let device = y.device();
        // q, k, v split once ([column][q|k|v] layout), shared by every head count.
        let y = y.reshape([b, t, width, 3]);
        let parts: Vec<Tensor<B, 3>> = (0..3)
            .map(|i| {
                y.clone()
                    .slice([0..b, 0..t, 0..width, i..i + 1])
                    .reshape([b, t, width])
            })
            .collect();
        // The head counts this pass runs, with their weights.
        let head_terms: Vec<(usize, Option<Tensor<B, 1>>)> = match heads {
            Mixture::Weights(hw) => (0..self.heads.len())
                .map(|j| (self.heads[j], Some(hw.clone().slice([j..j + 1]))))
                .collect(),
            Mixture::Single { index, weight } => vec![(self.heads[*index], weight.clone())],
        };
        let mut terms = Vec::with_capacity(head_terms.len());
        for (h, hweight) in head_terms {
            let o = match embed {
                Mixture::Single { .. } => {
                    let dh = width / h;
                    let split = |z: &Tensor<B, 3>| z.clone().reshape([b, t, h, dh]).swap_dims(1, 2);
                    let scale =
                        Tensor::<B, 4>::ones([1, 1, 1, 1], &device) * (1.0 / (dh as f64).sqrt());
                    let o =
                        self.attend(split(&parts[0]), split(&parts[1]), split(&parts[2]), scale);
                    let o = o.swap_dims(1, 2).reshape([b, t, width]);
                    match hweight {
                        Some(s) => o * s.reshape([1, 1, 1]),
                        None => o,
                    }
                }
                Mixture::Weights(ew) => {
                    // Candidate e's heads are columns [j·e/h, (j+1)·e/h), each zero-padded to the
                    // widest head: Σ_i w_i · pad(layout_i(z)). All head widths are multiples of a
                    // block, so the weighted layouts are one [blocks × blocks] mixing matrix
                    // applied per token: a small matrix product instead of a slice, copy, pad
                    // and scale per candidate.
                    let (mix, blk) = self.head_layout(h, ew);
                    let nbk = width / blk;
                    let dmax = width / h;
                    let lay = |z: &Tensor<B, 3>| {
                        mix.clone()
                            .reshape([1, nbk, nbk])
                            .matmul(z.clone().reshape([b * t, nbk, blk]))
                            .reshape([b, t, h, dmax])
                            .swap_dims(1, 2)
                    };
                    let scale = sum(self
                        .embeds
                        .iter()
                        .enumerate()
                        .map(|(i, &e)| scalar(ew, i) * (1.0 / ((e / h) as f64).sqrt())));
                    let o = self.attend(
                        lay(&parts[0]),
                        lay(&parts[1]),
                        lay(&parts[2]),
                        scale.expect("at least one candidate"),
                    );
                    // Back to embedding layout with the same weights (the transposed matrix),
                    // the head count's weight folded in.
                    let back = match hweight {
                        Some(s) => mix.transpose() * s.reshape([1, 1]),
                        None => mix.transpose(),
                    };
                    back.reshape([1, nbk, nbk])
                        .matmul(o.swap_dims(1, 2).reshape([b * t, nbk, blk]))
                        .reshape([b, t, width])
                }
            };
            terms.push(o);
        }
        let o = sum(terms).expect("at least one head count");
        self.proj.forward(o, &[&cols, embed])
    }

    /// The weighted head layout of head count `h` as a matrix over column blocks, and the
    /// block width: slot `(j, q)` of the padded `[h, e_max/h]` layout takes, from each
    /// candidate `i` with `q` inside its head width `e_i/h`, column block `j·e_i/h + q` with
    /// weight `w_i`.
    fn head_layout(&self, h: usize, w: &Tensor<B, 1>) -> (Tensor<B, 2>, usize) {
        let widths: Vec<usize> = self.embeds.iter().map(|&e| e / h).collect();
        let dmax = *widths.last().expect("at least one candidate");
        let blk = widths
            .iter()
            .fold(dmax, |a, &d| crate::layer_norm::gcd(a, d));
        let nbk = h * dmax / blk;
        let n = widths.len();
        let mut p = vec![0f32; n * nbk * nbk];
        for (i, &d) in widths.iter().enumerate() {
            for j in 0..h {
                for q in 0..d / blk {
                    let (slot, col) = (j * dmax / blk + q, j * d / blk + q);
                    p[(i * nbk + slot) * nbk + col] = 1.0;
                }
            }
        }
        let p = Tensor::<B, 3>::from_data(TensorData::new(p, [n, nbk, nbk]), &w.device());
        let mix = (p * w.clone().reshape([n, 1, 1]))
            .sum_dim(0)
            .reshape([nbk, nbk]);
        (mix, blk)
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
///
/// The scale multiplies `q` (`seq/dim` times fewer elements than the scores), and the softmax's
/// normalization divides the `[.., seq, dim]` output instead of the `[.., seq, seq]`
/// probabilities: `(drop(E) · v) / Σ E` with `E = exp(s − max s)` — the same value (dropout and
/// the row normalization commute), one large elementwise op fewer forward and backward.
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
    let mut scores = (q * scale).matmul(k.swap_dims(2, 3));
    if causal {
        let future: Vec<bool> = (0..t * t).map(|p| p % t > p / t).collect();
        let mask = Tensor::<B, 2, Bool>::from_data(TensorData::new(future, [t, t]), &device);
        scores = scores.mask_fill(mask.reshape([1, 1, t, t]), f32::NEG_INFINITY);
    }
    // The shift only guards exp against overflow; any per-row constant gives the same value.
    let top = scores.clone().max_dim(3).detach();
    let e = (scores - top).exp();
    let total = e.clone().sum_dim(3);
    dropout.forward(e).matmul(v) / total
}
