//! The pre-norm transformer block shared by the AutoFormer and language-model spaces:
//! `x + drop(attn(LN₁ x))`, then `x + drop(fc2(GELU(fc1(LN₂ x))))`.

use burn::module::Module;
use burn::nn::{Dropout, LayerNorm, Linear};
use burn::tensor::activation::gelu;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use tangle_core::subnet::Attention;
use tangle_core::{
    HeadDim, Mixture, Result, SuperAttention, SuperAttentionConfig, SuperLayerNorm, SuperLinear,
    SuperLinearConfig,
};

/// A superposed block: embed × heads in the attention, embed × MLP ratio in the MLP.
#[derive(Module, Debug)]
pub struct SuperBlock<B: Backend> {
    /// Attention's LayerNorm.
    pub ln1: SuperLayerNorm<B>,
    /// Multi-head self-attention.
    pub attn: SuperAttention<B>,
    /// MLP's LayerNorm.
    pub ln2: SuperLayerNorm<B>,
    /// fc1 (embed × ratio).
    pub fc1: SuperLinear<B>,
    /// fc2 (embed × ratio).
    pub fc2: SuperLinear<B>,
}

impl<B: Backend> SuperBlock<B> {
    /// A block over the candidates; `attention` sets head width, causality and dropout.
    pub fn new(
        embeds: &[usize],
        ratios: &[f64],
        attention: &SuperAttentionConfig,
        device: &B::Device,
    ) -> Result<Self> {
        Ok(SuperBlock {
            ln1: SuperLayerNorm::new(embeds, device)?,
            attn: attention.init(device)?,
            ln2: SuperLayerNorm::new(embeds, device)?,
            fc1: SuperLinearConfig::expand(embeds, ratios)?.init(device),
            fc2: SuperLinearConfig::contract(embeds, ratios)?.init(device),
        })
    }

    /// The attention config of a block: `heads` over `embeds` with `head_dim`.
    pub fn attention(
        embeds: &[usize],
        heads: &[usize],
        head_dim: HeadDim,
    ) -> Result<SuperAttentionConfig> {
        SuperAttentionConfig::new(embeds, heads, head_dim)
    }

    /// Forward pass under the embed, heads and ratio mixtures.
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        e: &Mixture<B>,
        h: &Mixture<B>,
        r: &Mixture<B>,
        drop: &Dropout,
    ) -> Result<Tensor<B, 3>> {
        let a = self.attn.forward(self.ln1.forward(x.clone(), e)?, e, h)?;
        let x = x + drop.forward(a);
        let y = gelu(self.fc1.forward(self.ln2.forward(x.clone(), e)?, &[e, r])?);
        Ok(x + drop.forward(self.fc2.forward(y, &[e, r])?))
    }

    /// The plain block at candidate indices `(embed, heads, ratio)`.
    pub fn extract(&self, e: usize, h: usize, r: usize) -> Result<Block<B>> {
        Ok(Block {
            ln1: self.ln1.extract(e)?,
            attn: self.attn.extract(e, h)?,
            ln2: self.ln2.extract(e)?,
            fc1: self.fc1.extract(&[e, r])?,
            fc2: self.fc2.extract(&[e, r])?,
        })
    }
}

/// A plain pre-norm block.
#[derive(Module, Debug)]
pub struct Block<B: Backend> {
    /// Attention's LayerNorm.
    pub ln1: LayerNorm<B>,
    /// Attention.
    pub attn: Attention<B>,
    /// MLP's LayerNorm.
    pub ln2: LayerNorm<B>,
    /// fc1.
    pub fc1: Linear<B>,
    /// fc2.
    pub fc2: Linear<B>,
}

impl<B: Backend> Block<B> {
    /// Forward pass.
    pub fn forward(&self, x: Tensor<B, 3>, drop: &Dropout) -> Tensor<B, 3> {
        let x = x.clone() + drop.forward(self.attn.forward(self.ln1.forward(x)));
        let y = self
            .fc2
            .forward(gelu(self.fc1.forward(self.ln2.forward(x.clone()))));
        x + drop.forward(y)
    }
}
