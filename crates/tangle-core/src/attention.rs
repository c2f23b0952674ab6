//! `SuperAttention`: multi-head self-attention over embedding-dim and head-count decisions.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::{backend::Backend, module::linear, Bool, Tensor, TensorData};

use crate::error::{CoreError, Result};
use crate::linear::{SuperLinear, SuperLinearConfig};
use crate::mixture::Mixture;
use crate::relative_position::{RelativePosition2d, RelativePosition2dConfig, RowIndex};
use crate::spec::{check_heads_divide, check_increasing_sizes, Decision};
use crate::subnet::QkvLayout;

/// How the head dimension relates to the decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum HeadDim {
    /// Every head has this width; heads are added or removed whole (AutoFormer: 64).
    Fixed(usize),
    /// Head width = embedding dim / heads (GPT): each head count partitions the embedding anew.
    EmbedOverHeads,
}

/// Configuration of a [`SuperAttention`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SuperAttentionConfig {
    embeds: Vec<usize>,
    heads: Vec<usize>,
    head_dim: HeadDim,
    causal: bool,
    dropout: f64,
    bias: bool,
    relative_position: Option<usize>,
}

/// Saves and loads as JSON (`save` / `load`); `init` validates what it loads.
impl burn::config::Config for SuperAttentionConfig {}

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
            relative_position: None,
        })
    }

    /// AutoFormer's 2-D relative position encodings on keys and values, distances clipped to
    /// `±max_distance` (AutoFormer: 14); `None`: off (the default). Needs a fixed head dim
    /// and, at run time, a cls token followed by a square grid of patches. See
    /// [`RelativePosition2d`].
    pub fn with_relative_position(mut self, max_distance: Option<usize>) -> Self {
        self.relative_position = max_distance;
        self
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
        let (rel_k, rel_v) = match (self.relative_position, self.head_dim) {
            (None, _) => (None, None),
            (Some(m), HeadDim::Fixed(d)) => (
                Some(RelativePosition2dConfig::new(d, m).init(device)?),
                Some(RelativePosition2dConfig::new(d, m).init(device)?),
            ),
            (Some(_), HeadDim::EmbedOverHeads) => {
                return Err(CoreError::Config(
                    "relative position encodings need a fixed head dim (HeadDim::Fixed)".into(),
                ))
            }
        };
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
            qkv: qkv.with_bias(self.bias).init(device)?,
            proj: proj.with_bias(self.bias).init(device)?,
            dropout: DropoutConfig::new(self.dropout).init(),
            rel_k,
            rel_v,
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
    /// Relative position encodings of the keys (AutoFormer), if on.
    pub rel_k: Option<RelativePosition2d<B>>,
    /// Relative position encodings of the values, if on.
    pub rel_v: Option<RelativePosition2d<B>>,
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

fn scalar<B: Backend>(w: &Tensor<B, 1>, i: usize) -> Tensor<B, 2> {
    w.clone().slice([i..i + 1]).reshape([1, 1])
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
        scale: Option<f64>,
    ) -> Result<Tensor<B, 3>> {
        let rel = relative(&self.rel_k, &self.rel_v, q.dims()[2])?;
        Ok(attend(q, k, v, scale, self.causal, &self.dropout, rel))
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
        let [b, t, _] = x.dims();
        let [q, k, v] = self.project_qkv(x, &[embed, &rows], QkvLayout::HeadMajor, d)?;
        let h = q.dims()[2] / d;
        let part = |z: Tensor<B, 3>| z.reshape([b, t, h, d]).swap_dims(1, 2);
        let scale = 1.0 / (d as f64).sqrt();
        let o = self.attend(part(q), part(k), part(v), Some(scale))?;
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
        let [b, t, _] = x.dims();
        // q, k, v projected once, shared by every head count.
        let parts = self.project_qkv(x, &[embed, &rows], QkvLayout::ColumnMajor, 1)?;
        let width = parts[0].dims()[2];
        let heads_of = |z: Tensor<B, 3>, h: usize| z.reshape([b, t, h, width / h]).swap_dims(1, 2);
        // The head counts this pass runs, with their weights.
        let head_terms: Vec<(usize, Option<Tensor<B, 1>>)> = match heads {
            Mixture::Weights(hw) => (0..self.heads.len())
                .map(|j| (self.heads[j], Some(hw.clone().slice([j..j + 1]))))
                .collect(),
            Mixture::Single { index, weight } => vec![(self.heads[*index], weight.clone())],
        };
        let [q, k, v] = parts;
        let mut terms = Vec::with_capacity(head_terms.len());
        for (h, hweight) in head_terms {
            let o = match embed {
                Mixture::Single { .. } => {
                    let scale = 1.0 / ((width / h) as f64).sqrt();
                    let o = self.attend(
                        heads_of(q.clone(), h),
                        heads_of(k.clone(), h),
                        heads_of(v.clone(), h),
                        Some(scale),
                    )?;
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
                    let lay = |m: Tensor<B, 2>, z: &Tensor<B, 3>| {
                        let laid = m
                            .reshape([1, nbk, nbk])
                            .matmul(z.clone().reshape([b * t, nbk, blk]))
                            .reshape([b, t, width]);
                        heads_of(laid, h)
                    };
                    // The mixed scale Σ_i w_i / √(e_i/h) is folded into q's (small) layout
                    // matrix: no full-size product, forward or backward.
                    let scale = sum(self
                        .embeds
                        .iter()
                        .enumerate()
                        .map(|(i, &e)| scalar(ew, i) * (1.0 / ((e / h) as f64).sqrt())))
                    .expect("at least one candidate");
                    let o = self.attend(
                        lay(mix.clone() * scale, &q),
                        lay(mix.clone(), &k),
                        lay(mix.clone(), &v),
                        None,
                    )?;
                    // Back to embedding layout with the same weights (the transposed matrix),
                    // the head count's weight folded in.
                    let back = match hweight {
                        Some(s) => mix.transpose() * s.reshape([1, 1]),
                        None => mix.transpose(),
                    };
                    back.reshape([1, nbk, nbk])
                        .matmul(o.reshape([b * t, nbk, blk]))
                        .reshape([b, t, width])
                }
            };
            terms.push(o);
        }
        let o = sum(terms).expect("at least one head count");
        self.proj.forward(o, &[&cols, embed])
    }

    /// q, k and v (`[batch, seq, width]` each) of the qkv projection under `mix`, with rows laid
    /// out as `layout` (heads of width `d` for [`QkvLayout::HeadMajor`]).
    fn project_qkv(
        &self,
        x: Tensor<B, 3>,
        mix: &[&Mixture<B>],
        layout: QkvLayout,
        d: usize,
    ) -> Result<[Tensor<B, 3>; 3]> {
        let (w, bias, _) = self.qkv.mixed_for(&x.dims(), mix)?;
        Ok(project_qkv(x, w, bias, layout, d))
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
            rel_k: self.rel_k.clone(),
            rel_v: self.rel_v.clone(),
            heads: h,
            head_dim,
            layout,
            causal: self.causal,
        })
    }
}

/// q, k and v (`[batch, seq, width]` each) of the fused projection `x · w + b` whose columns
/// are laid out as `layout` (heads of width `d` for [`QkvLayout::HeadMajor`]).
///
/// Each part is projected with its own columns of `w`: slicing the weight, not the projected
/// activations. The backward pass of a slice fills a zero tensor the size of what was sliced —
/// for `[batch, seq, 3·width]` activations three full-size fills, copies and sums per layer.
pub(crate) fn project_qkv<B: Backend>(
    x: Tensor<B, 3>,
    w: Tensor<B, 2>,
    b: Option<Tensor<B, 1>>,
    layout: QkvLayout,
    d: usize,
) -> [Tensor<B, 3>; 3] {
    let [din, dout] = w.dims();
    let width = dout / 3;
    // Columns as [groups, q|k|v, run]: heads of d ([head][q|k|v][dim]) or single columns.
    let (g, r) = match layout {
        QkvLayout::HeadMajor => (width / d, d),
        QkvLayout::ColumnMajor => (width, 1),
    };
    let w = w.reshape([din, g, 3, r]);
    let b = b.map(|b| b.reshape([g, 3, r]));
    [0, 1, 2].map(|i| {
        let wi = w
            .clone()
            .slice([0..din, 0..g, i..i + 1, 0..r])
            .reshape([din, width]);
        let bi = b
            .as_ref()
            .map(|b| b.clone().slice([0..g, i..i + 1, 0..r]).reshape([width]));
        linear(x.clone(), wi, bi)
    })
}

/// Scaled dot-product attention on `[batch, heads, seq, dim]`, returned with the heads merged:
/// `[batch, seq, heads · dim]`.
///
/// Laid out for a CPU backend that copies non-contiguous tensors element by element (Flex):
/// * `scale` (when given) multiplies the scores, which the product leaves contiguous, instead of
///   `q`, a transposed view; a superposed scale is folded into `q`'s layout by the caller;
/// * the softmax normalization divides the output after its heads are merged (one copy the
///   merge needs anyway), on a 2-D `[rows, dim]` view by a `[rows, 1]` column: `(drop(E) · v) /
///   Σ E` with `E = exp(s − max s)` — the same value as normalizing the probabilities (dropout
///   and the row normalization commute), with every tensor of the division and of its backward
///   contiguous.
pub(crate) fn attend<B: Backend>(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    scale: Option<f64>,
    causal: bool,
    dropout: &Dropout,
    relative: Option<[Tensor<B, 3>; 2]>,
) -> Tensor<B, 3> {
    let [b, h, t, dq] = q.dims();
    let d = v.dims()[3];
    let device = q.device();
    let (rel_k, rel_v) = match relative {
        Some([rk, rv]) => (Some(rk), Some(rv)),
        None => (None, None),
    };
    let mut scores = match &rel_k {
        Some(rk) => {
            // AutoFormer: s_ij = q_i · k_j + q_i · r_k[i, j]. Queries grouped by position,
            // [t, b·h, d] · [t, d, t], then back to [b, h, t, t].
            let by_position = q.clone().permute([2, 0, 1, 3]).reshape([t, b * h, dq]);
            let rel = by_position
                .matmul(rk.clone().swap_dims(1, 2))
                .reshape([t, b, h, t])
                .permute([1, 2, 0, 3]);
            q.matmul(k.swap_dims(2, 3)) + rel
        }
        None => q.matmul(k.swap_dims(2, 3)),
    };
    if let Some(s) = scale {
        scores = scores * s;
    }
    if causal {
        let future: Vec<bool> = (0..t * t).map(|p| p % t > p / t).collect();
        let mask = Tensor::<B, 2, Bool>::from_data(TensorData::new(future, [t, t]), &device);
        scores = scores.mask_fill(mask.reshape([1, 1, t, t]), f32::NEG_INFINITY);
    }
    // The shift only guards exp against overflow; any per-row constant gives the same value.
    let top = scores.clone().max_dim(3).detach();
    let e = (scores - top).exp();
    let total = e.clone().sum_dim(3).swap_dims(1, 2).reshape([b * t * h, 1]);
    let e = dropout.forward(e);
    let mut o = e.clone().matmul(v).swap_dims(1, 2).reshape([b * t * h, d]);
    if let Some(rv) = rel_v {
        // o_i += Σ_j p_ij r_v[i, j]: [t, b·h, t] · [t, t, d] → [t, b, h, d] → [b, t, h, d].
        let by_position = e.permute([2, 0, 1, 3]).reshape([t, b * h, t]);
        o = o + by_position
            .matmul(rv)
            .reshape([t, b, h, d])
            .swap_dims(0, 1)
            .reshape([b * t * h, d]);
    }
    (o / total).reshape([b, t, h * d])
}

/// The key and value encodings of `tokens` tokens, when the layer has them; the table rows are
/// computed once for both.
pub(crate) fn relative<B: Backend>(
    rel_k: &Option<RelativePosition2d<B>>,
    rel_v: &Option<RelativePosition2d<B>>,
    tokens: usize,
) -> Result<Option<[Tensor<B, 3>; 2]>> {
    let (Some(k), Some(v)) = (rel_k, rel_v) else {
        return Ok(None);
    };
    let rows = RowIndex::new(tokens, k.max_distance(), &k.table_v.device())?;
    let v_rows = if v.max_distance() == rows.max_distance {
        None
    } else {
        Some(RowIndex::new(
            tokens,
            v.max_distance(),
            &v.table_v.device(),
        )?)
    };
    Ok(Some([
        k.gather(&rows),
        v.gather(v_rows.as_ref().unwrap_or(&rows)),
    ]))
}
