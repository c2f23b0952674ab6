//! `SuperLinear`: a linear layer whose input and output widths are architectural decisions.

use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear};
use burn::tensor::{backend::Backend, module::linear, Tensor};

use crate::combi::{Combi, Plan};
use crate::error::{CoreError, Result};
use crate::mixture::Mixture;
use crate::spec::check_increasing_sizes;

/// Configuration of a [`SuperLinear`]: which decisions it reads and how they size its weight.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SuperLinearConfig {
    combi: Combi,
    bias: bool,
    initializer: Initializer,
}

/// Saves and loads as JSON (`save` / `load`); `init` validates what it loads.
impl burn::config::Config for SuperLinearConfig {}

impl SuperLinearConfig {
    /// Reads no decision: a plain `d_in → d_out` layer.
    pub fn fixed(d_in: usize, d_out: usize) -> Result<Self> {
        Self::combi(vec![], |_| (d_in, d_out))
    }

    /// Two independent decisions, `[input width, output width]`.
    pub fn new(ins: &[usize], outs: &[usize]) -> Result<Self> {
        check_increasing_sizes("SuperLinear.in", ins)?;
        check_increasing_sizes("SuperLinear.out", outs)?;
        let (i, o) = (ins.to_vec(), outs.to_vec());
        Self::combi(vec![ins.len(), outs.len()], move |c| (i[c[0]], o[c[1]]))
    }

    /// One decision on the input width; output fixed.
    pub fn input(ins: &[usize], d_out: usize) -> Result<Self> {
        check_increasing_sizes("SuperLinear.in", ins)?;
        let i = ins.to_vec();
        Self::combi(vec![ins.len()], move |c| (i[c[0]], d_out))
    }

    /// One decision on the output width; input fixed.
    pub fn output(d_in: usize, outs: &[usize]) -> Result<Self> {
        check_increasing_sizes("SuperLinear.out", outs)?;
        let o = outs.to_vec();
        Self::combi(vec![outs.len()], move |c| (d_in, o[c[0]]))
    }

    /// An expansion layer (transformer fc1): decisions `[embed, ratio]`,
    /// `in = e`, `out = ⌊e · r⌋` — the combi-superposition of Algorithm 2.
    pub fn expand(embeds: &[usize], ratios: &[f64]) -> Result<Self> {
        check_increasing_sizes("SuperLinear.embed", embeds)?;
        crate::spec::Decision::ratios("SuperLinear.ratio", ratios)?;
        let (e, r) = (embeds.to_vec(), ratios.to_vec());
        Self::combi(vec![e.len(), r.len()], move |c| {
            (e[c[0]], scaled(e[c[0]], r[c[1]]))
        })
    }

    /// A contraction layer (transformer fc2): decisions `[embed, ratio]`,
    /// `in = ⌊e · r⌋`, `out = e`.
    pub fn contract(embeds: &[usize], ratios: &[f64]) -> Result<Self> {
        check_increasing_sizes("SuperLinear.embed", embeds)?;
        crate::spec::Decision::ratios("SuperLinear.ratio", ratios)?;
        let (e, r) = (embeds.to_vec(), ratios.to_vec());
        Self::combi(vec![e.len(), r.len()], move |c| {
            (scaled(e[c[0]], r[c[1]]), e[c[0]])
        })
    }

    /// Any number of decisions with `counts` candidates; `dims(choice)` gives `(in, out)`.
    /// Slices must nest: the weight is `[max in, max out]` and each choice takes its top-left block.
    pub fn combi(counts: Vec<usize>, dims: impl Fn(&[usize]) -> (usize, usize)) -> Result<Self> {
        let combi = Combi::new(counts, 2, |c| {
            let (i, o) = dims(c);
            vec![i, o]
        })?;
        Ok(SuperLinearConfig {
            combi,
            bias: true,
            initializer: crate::conv::default_initializer(),
        })
    }

    /// With or without a bias (default: with).
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// The weight's extents over the decisions.
    pub fn table(&self) -> &Combi {
        &self.combi
    }

    /// The initializer of the weight and bias (default: Burn's `Linear` default,
    /// Kaiming-uniform with gain 1/√3). Fans are those of the largest candidate.
    pub fn with_initializer(mut self, initializer: Initializer) -> Self {
        self.initializer = initializer;
        self
    }

    /// Builds the layer. Errors for a table of other than two axes (a loaded config).
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<SuperLinear<B>> {
        let &[i, o] = self.combi.max() else {
            return Err(CoreError::Config(format!(
                "SuperLinear: the extents table has {} axes; expected 2 (in, out)",
                self.combi.max().len()
            )));
        };
        let init = &self.initializer;
        Ok(SuperLinear {
            weight: init.init_with([i, o], Some(i), Some(o), device),
            bias: self
                .bias
                .then(|| init.init_with([o], Some(i), Some(o), device)),
            combi: self.combi.clone(),
        })
    }
}

/// `⌊e · r⌋`, the hidden width of an MLP with embedding `e` and ratio `r`.
pub fn scaled(e: usize, r: f64) -> usize {
    ((e as f64) * r + 1e-9).floor() as usize
}

/// The weight, bias and `[in, out]` extents one pass of a [`SuperLinear`] uses.
pub type Mixed<B> = (Tensor<B, 2>, Option<Tensor<B, 1>>, [usize; 2]);

/// A linear layer over the largest weight `[max in, max out]`, realized per forward pass as a
/// superposition of its slices or as one slice.
#[derive(Module, Debug)]
pub struct SuperLinear<B: Backend> {
    /// The largest weight, `[d_in, d_out]` as in Burn's `Linear`.
    pub weight: Param<Tensor<B, 2>>,
    /// The largest bias, `[d_out]`.
    pub bias: Option<Param<Tensor<B, 1>>>,
    #[module(skip)]
    combi: Combi,
}

impl<B: Backend> SuperLinear<B> {
    /// The weight's extents over the decisions.
    pub fn table(&self) -> &Combi {
        &self.combi
    }

    /// The weight and bias this forward pass uses: `W ⊙ mask` (superposed) or the scaled
    /// slice (single), with the extents it runs at.
    pub fn mixed(&self, mix: &[&Mixture<B>]) -> Result<Mixed<B>> {
        let plan = self.combi.plan(mix, "SuperLinear")?;
        Ok(self.mixed_with(&plan))
    }

    fn mixed_with(&self, plan: &Plan<B>) -> Mixed<B> {
        let [ei, eo] = [plan.extents[0], plan.extents[1]];
        let device = self.weight.device();
        let mut w = self.weight.val();
        if [ei, eo] != [self.combi.max()[0], self.combi.max()[1]] {
            w = w.slice([0..ei, 0..eo]);
        }
        let b = self.bias.as_ref().map(|b| plan.vector(1, b.val()));
        if plan.is_single() {
            if let Some(s) = plan.scale() {
                w = w * s.reshape([1, 1]);
            }
        } else if let Some(m) = plan.mask2(0, 1, &device) {
            w = w * m;
        }
        (w, b, [ei, eo])
    }

    /// Forward pass; `x` is `[..., in]` where `in` is the input extent of this mixture (the
    /// largest width when superposed, the chosen width when single).
    pub fn forward<const D: usize>(
        &self,
        x: Tensor<B, D>,
        mix: &[&Mixture<B>],
    ) -> Result<Tensor<B, D>> {
        let (w, b, _) = self.mixed_for(&x.dims(), mix)?;
        Ok(linear(x, w, b))
    }

    /// [`SuperLinear::mixed`] for an input of shape `dims`, checked to end in the input extent
    /// of this mixture.
    pub(crate) fn mixed_for(&self, dims: &[usize], mix: &[&Mixture<B>]) -> Result<Mixed<B>> {
        let plan = self.combi.plan(mix, "SuperLinear")?;
        if dims.last() != Some(&plan.extents[0]) {
            return Err(CoreError::Shape {
                module: "SuperLinear".into(),
                expected: format!("last dim {}", plan.extents[0]),
                got: dims.to_vec(),
            });
        }
        Ok(self.mixed_with(&plan))
    }

    /// The standalone `Linear` at one choice per decision, with the inherited weights.
    pub fn extract(&self, choice: &[usize]) -> Result<Linear<B>> {
        let e = self.combi.extents(choice)?;
        let (i, o) = (e[0], e[1]);
        Ok(Linear {
            weight: Param::from_tensor(self.weight.val().slice([0..i, 0..o]).detach()),
            bias: self
                .bias
                .as_ref()
                .map(|b| Param::from_tensor(b.val().slice([0..o]).detach())),
        })
    }

    /// Number of parameters of the layer at one choice.
    pub fn params(&self, choice: &[usize]) -> Result<usize> {
        let e = self.combi.extents(choice)?;
        Ok(e[0] * e[1] + if self.bias.is_some() { e[1] } else { 0 })
    }
}
