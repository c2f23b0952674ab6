//! Combi-superposition: one weight whose axes depend on several decisions.
//!
//! A [`Combi`] tabulates, for every combination of the decisions a module reads, how far each
//! axis of its weight extends (e.g. fc1 of a transformer: `in = e_i`, `out = ⌊e_i · r_j⌋`). A
//! [`Plan`] realizes the table under one mixture per decision: the combination weights are the
//! products `w_i · v_j · …` (Algorithm 2 of the paper), and the mixed weight is
//! `Σ_c p_c · pad(W[..extents(c)])`, built as a mask:
//! * axes that share no varying decision multiply (outer product of two prefix masks);
//! * axes tied through a shared decision sum one rank-1 term per combination,
//!   `Σ_c p_c · 1[i < a_c] ⊗ 1[j < b_c]`, as a reverse cumulative sum of the weighted indicator
//!   rows over the combinations sorted by their first extent (additions only: exact, and free of
//!   the reduced-precision matrix products GPUs may use);
//! * when every decision is a single candidate, the weight is simply sliced (and scaled by the
//!   straight-through weights, if any).

use burn::tensor::{backend::Backend, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};
use crate::mask::{indicator, prefix_mask, prefix_mask_rows};
use crate::mixture::Mixture;

/// Axis extents of one weight over every combination of a module's decisions.
///
/// Saved as its decision counts and extents table; loading rebuilds it through [`Combi::new`],
/// so a malformed table is an error, not a module that fails later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "CombiTable", into = "CombiTable")]
pub struct Combi {
    counts: Vec<usize>,
    /// `[combo][axis]`, combos in row-major order over `counts`.
    table: Vec<Vec<usize>>,
    max: Vec<usize>,
    /// `[axis][decision]`: does the decision change this axis' extent?
    deps: Vec<Vec<bool>>,
}

/// The saved form of a [`Combi`].
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CombiTable {
    counts: Vec<usize>,
    table: Vec<Vec<usize>>,
}

impl From<Combi> for CombiTable {
    fn from(c: Combi) -> Self {
        CombiTable {
            counts: c.counts,
            table: c.table,
        }
    }
}

impl TryFrom<CombiTable> for Combi {
    type Error = CoreError;

    fn try_from(t: CombiTable) -> Result<Self> {
        let total: usize = t.counts.iter().product();
        if t.table.len() != total {
            return Err(CoreError::Config(format!(
                "an extents table of {} rows for decisions with {:?} candidates: expected {total}",
                t.table.len(),
                t.counts
            )));
        }
        let axes = t.table.first().map_or(0, Vec::len);
        let counts = t.counts.clone();
        Combi::new(t.counts, axes, |idx| t.table[flatten(idx, &counts)].clone())
    }
}

fn unflatten(mut flat: usize, counts: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; counts.len()];
    for d in (0..counts.len()).rev() {
        idx[d] = flat % counts[d];
        flat /= counts[d];
    }
    idx
}

fn flatten(idx: &[usize], counts: &[usize]) -> usize {
    idx.iter().zip(counts).fold(0, |f, (&i, &n)| f * n + i)
}

impl Combi {
    /// One axis whose extent is one decision's candidate: `sizes[i]` for candidate `i` (a norm's
    /// or an embedding's width).
    pub fn sizes(sizes: &[usize]) -> Result<Self> {
        Self::new(vec![sizes.len()], 1, |c| vec![sizes[c[0]]])
    }

    /// Tabulates `extents(idx)` (one extent per axis) for every index combination of decisions
    /// with `counts` candidates. Every decision must change some axis, and every extent be ≥ 1.
    pub fn new(
        counts: Vec<usize>,
        axes: usize,
        extents: impl Fn(&[usize]) -> Vec<usize>,
    ) -> Result<Self> {
        if counts.contains(&0) {
            return Err(CoreError::Config("a decision with no candidates".into()));
        }
        let total: usize = counts.iter().product();
        let mut table = Vec::with_capacity(total);
        for f in 0..total {
            let e = extents(&unflatten(f, &counts));
            if e.len() != axes || e.contains(&0) {
                return Err(CoreError::Config(format!(
                    "combination {:?} gives extents {e:?}; expected {axes} extents, all ≥ 1",
                    unflatten(f, &counts)
                )));
            }
            table.push(e);
        }
        let max = (0..axes)
            .map(|a| table.iter().map(|e| e[a]).max().unwrap_or(0))
            .collect();
        let mut deps = vec![vec![false; counts.len()]; axes];
        for (f, row) in table.iter().enumerate() {
            let idx = unflatten(f, &counts);
            for d in 0..counts.len() {
                for j in 0..counts[d] {
                    let mut other = idx.clone();
                    other[d] = j;
                    let o = &table[flatten(&other, &counts)];
                    for a in 0..axes {
                        if o[a] != row[a] {
                            deps[a][d] = true;
                        }
                    }
                }
            }
        }
        for d in 0..counts.len() {
            if counts[d] > 1 && (0..axes).all(|a| !deps[a][d]) {
                return Err(CoreError::Config(format!(
                    "decision {d} changes no axis of the weight"
                )));
            }
        }
        Ok(Combi {
            counts,
            table,
            max,
            deps,
        })
    }

    /// Candidates per decision.
    pub fn counts(&self) -> &[usize] {
        &self.counts
    }

    /// Largest extent per axis: the supernet weight's shape.
    pub fn max(&self) -> &[usize] {
        &self.max
    }

    /// Extents at one index combination.
    pub fn extents(&self, idx: &[usize]) -> Result<&[usize]> {
        if idx.len() != self.counts.len() || idx.iter().zip(&self.counts).any(|(i, n)| i >= n) {
            return Err(CoreError::BadMixture {
                decision: "<module>".into(),
                reason: format!(
                    "choice {idx:?} does not fit decisions with {:?} candidates",
                    self.counts
                ),
            });
        }
        Ok(&self.table[flatten(idx, &self.counts)])
    }

    /// Realizes the table under one mixture per decision.
    pub fn plan<B: Backend>(&self, mix: &[&Mixture<B>], what: &str) -> Result<Plan<B>> {
        if mix.len() != self.counts.len() {
            return Err(CoreError::BadMixture {
                decision: what.to_string(),
                reason: format!(
                    "{} mixtures given for {} decisions",
                    mix.len(),
                    self.counts.len()
                ),
            });
        }
        for (m, &n) in mix.iter().zip(&self.counts) {
            m.check(n, what)?;
        }
        let active: Vec<Vec<usize>> = mix
            .iter()
            .zip(&self.counts)
            .map(|(m, &n)| m.active(n))
            .collect();
        let weights: Vec<Option<Tensor<B, 1>>> = mix.iter().map(|m| m.active_weights()).collect();
        let n_active: Vec<usize> = active.iter().map(Vec::len).collect();
        let total: usize = n_active.iter().product();
        let combos: Vec<Vec<usize>> = (0..total)
            .map(|f| {
                let local = unflatten(f, &n_active);
                let idx: Vec<usize> = local
                    .iter()
                    .enumerate()
                    .map(|(d, &j)| active[d][j])
                    .collect();
                self.table[flatten(&idx, &self.counts)].clone()
            })
            .collect();
        let extents = (0..self.max.len())
            .map(|a| combos.iter().map(|e| e[a]).max().unwrap_or(0))
            .collect();
        Ok(Plan {
            extents,
            combos,
            n_active,
            weights,
            deps: self.deps.clone(),
            active,
            table: self.table.clone(),
            counts: self.counts.clone(),
        })
    }
}

/// A [`Combi`] realized under concrete mixtures: which slice to take and how to mask it.
#[derive(Debug, Clone)]
pub struct Plan<B: Backend> {
    /// Per axis, the extent the op runs at (the largest over the active combinations).
    pub extents: Vec<usize>,
    combos: Vec<Vec<usize>>,
    n_active: Vec<usize>,
    weights: Vec<Option<Tensor<B, 1>>>,
    deps: Vec<Vec<bool>>,
    active: Vec<Vec<usize>>,
    table: Vec<Vec<usize>>,
    counts: Vec<usize>,
}

/// Outer product of 1-D weight vectors, flattened row-major; `None` if no vector has weights.
fn outer<B: Backend>(vs: &[&Option<Tensor<B, 1>>]) -> Option<Tensor<B, 1>> {
    let mut acc: Option<Tensor<B, 1>> = None;
    for v in vs.iter().filter_map(|v| v.as_ref()) {
        acc = Some(match acc {
            None => v.clone(),
            Some(a) => {
                let [n] = a.dims();
                let [m] = v.dims();
                (a.reshape([n, 1]) * v.clone().reshape([1, m])).reshape([n * m])
            }
        });
    }
    acc
}

impl<B: Backend> Plan<B> {
    /// True when exactly one combination is active: the op runs on the sliced weight.
    pub fn is_single(&self) -> bool {
        self.combos.len() == 1
    }

    /// Product of the straight-through weights of a single-combination plan (if any).
    pub fn scale(&self) -> Option<Tensor<B, 1>> {
        if !self.is_single() {
            return None;
        }
        let refs: Vec<&Option<Tensor<B, 1>>> = self.weights.iter().collect();
        outer(&refs)
    }

    /// Weights of all active combinations (row-major), `None` if all are plain single choices.
    fn combo_weights(&self) -> Option<Tensor<B, 1>> {
        // A decision without weights contributes a factor 1 over its single active candidate.
        let refs: Vec<&Option<Tensor<B, 1>>> = self.weights.iter().collect();
        outer(&refs)
    }

    /// 1-D mask over `extents[axis]`: `Σ_c p_c · 1[t < extent_c(axis)]` over active
    /// combinations. `None` when no mixing or scaling applies (a plain slice).
    pub fn axis_mask(&self, axis: usize) -> Option<Tensor<B, 1>> {
        let p = self.combo_weights()?;
        let sizes: Vec<usize> = self.combos.iter().map(|e| e[axis]).collect();
        Some(prefix_mask(p, &sizes, self.extents[axis]))
    }

    /// A vector along `axis` (a bias, a norm's γ or β) as this pass uses it: its first
    /// `extents[axis]` entries, times the single combination's weight when it carries one, or
    /// masked by the mixture ([`Plan::axis_mask`]).
    pub fn vector(&self, axis: usize, v: Tensor<B, 1>) -> Tensor<B, 1> {
        let [v] = self.vectors(axis, [v]);
        v
    }

    /// [`Plan::vector`] for several vectors along the same `axis` (a norm's γ and β), with the
    /// scale or mask built once.
    pub fn vectors<const N: usize>(&self, axis: usize, vs: [Tensor<B, 1>; N]) -> [Tensor<B, 1>; N] {
        let e = self.extents[axis];
        let factor = if self.is_single() {
            self.scale()
        } else {
            self.axis_mask(axis)
        };
        vs.map(|v| {
            let v = if v.dims()[0] != e { v.slice([0..e]) } else { v };
            match &factor {
                Some(f) => v * f.clone(),
                None => v,
            }
        })
    }

    /// Decisions that take several candidates and change `axis`.
    fn varying(&self, axis: usize) -> Vec<bool> {
        (0..self.counts.len())
            .map(|d| self.n_active[d] > 1 && self.deps[axis][d])
            .collect()
    }

    /// Mask over the decisions flagged in `keep` only, along `axis`; the others are held at
    /// their (single) active candidate.
    fn marginal_mask(&self, axis: usize, keep: &[bool]) -> Option<Tensor<B, 1>> {
        let ds: Vec<usize> = (0..self.counts.len()).filter(|&d| keep[d]).collect();
        if ds.is_empty() {
            return None;
        }
        let refs: Vec<&Option<Tensor<B, 1>>> = ds.iter().map(|&d| &self.weights[d]).collect();
        let p = outer(&refs)?;
        let sub: Vec<usize> = ds.iter().map(|&d| self.n_active[d]).collect();
        let total: usize = sub.iter().product();
        let base: Vec<usize> = self.active.iter().map(|a| a[0]).collect();
        let sizes: Vec<usize> = (0..total)
            .map(|f| {
                let local = unflatten(f, &sub);
                let mut idx = base.clone();
                for (k, &d) in ds.iter().enumerate() {
                    idx[d] = self.active[d][local[k]];
                }
                self.table[flatten(&idx, &self.counts)][axis]
            })
            .collect();
        Some(prefix_mask(p, &sizes, self.extents[axis]))
    }

    /// 2-D mask `[extents[a], extents[b]]` equal to `Σ_c p_c · 1[i < a_c] · 1[j < b_c]`.
    /// `None` for a plain single slice.
    pub fn mask2(&self, a: usize, b: usize, device: &B::Device) -> Option<Tensor<B, 2>> {
        if self.weights.iter().all(Option::is_none) {
            return None;
        }
        let va = self.varying(a);
        let vb = self.varying(b);
        let shared = va.iter().zip(&vb).any(|(x, y)| *x && *y);
        let (ea, eb) = (self.extents[a], self.extents[b]);
        if shared {
            // Tied axes: Σ_c p_c · 1[i < a_c] ⊗ 1[j < b_c], as a row-valued prefix mask over the
            // combinations' a-extents (exact; no reduced-precision matrix product).
            let sa: Vec<usize> = self.combos.iter().map(|e| e[a]).collect();
            let sb: Vec<usize> = self.combos.iter().map(|e| e[b]).collect();
            let n = sa.len();
            let p = self.combo_weights()?;
            let rows = indicator::<B>(&sb, eb, device) * p.reshape([n, 1]);
            return Some(prefix_mask_rows(rows, &sa, ea));
        }
        // Independent axes: outer product of the two marginal prefix masks, times the weights of
        // every decision that varies neither axis (single choices' straight-through scalars).
        let other: Vec<bool> = (0..self.counts.len()).map(|d| !va[d] && !vb[d]).collect();
        let ma = self.marginal_mask(a, &va);
        let mb = self.marginal_mask(b, &vb);
        let mut m: Tensor<B, 2> = match (ma, mb) {
            (Some(x), Some(y)) => x.reshape([ea, 1]) * y.reshape([1, eb]),
            // Broadcast by multiplication: callers reshape the mask, and a materialized tensor
            // keeps that independent of how a backend handles reshapes of stride-0 views.
            (Some(x), None) => x.reshape([ea, 1]) * Tensor::ones([1, eb], device),
            (None, Some(y)) => Tensor::ones([ea, 1], device) * y.reshape([1, eb]),
            (None, None) => Tensor::ones([ea, eb], device),
        };
        for d in (0..self.counts.len()).filter(|&d| other[d]) {
            if let Some(w) = &self.weights[d] {
                // Single active candidate: its [1] weight; several (varying no axis here): their sum.
                let s = if self.n_active[d] > 1 {
                    w.clone().sum()
                } else {
                    w.clone()
                };
                m = m * s.reshape([1, 1]);
            }
        }
        Some(m)
    }
}
