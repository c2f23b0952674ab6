//! The pre-norm transformer block shared by the AutoFormer and language-model spaces:
//! `x + drop(attn(LN₁ x))`, then `x + drop(fc2(GELU(fc1(LN₂ x))))`.

use burn::module::Module;
use burn::nn::{Dropout, LayerNorm, Linear};
use burn::tensor::activation::gelu;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use tangle_core::subnet::Attention;
use tangle_core::{
    Architecture, DecisionKey, HeadDim, Mixtures, Result, SuperAttention, SuperAttentionConfig,
    SuperLayerNorm, SuperLayerNormConfig, SuperLinear, SuperLinearConfig,
};

/// The decisions one block reads: the network's embedding dim, and the block's heads and MLP
/// ratio (its own, or shared by every block of a tied space).
#[derive(Debug, Clone, PartialEq)]
pub struct BlockKeys {
    /// Embedding dim.
    pub embed: DecisionKey<usize>,
    /// Head count.
    pub heads: DecisionKey<usize>,
    /// MLP ratio.
    pub ratio: DecisionKey<f64>,
}

/// A superposed block: embed × heads in the attention, embed × MLP ratio in the MLP.
///
/// The block keeps its [`BlockKeys`] and reads its own mixtures and choices through them, so
/// a space cannot hand it another decision's mixture.
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
    #[module(skip)]
    keys: BlockKeys,
}

impl<B: Backend> SuperBlock<B> {
    /// A block over `keys`' candidates with heads `head_dim` wide; `attention` sets the rest
    /// of the attention (causality, dropout, relative positions).
    pub fn new(
        keys: BlockKeys,
        head_dim: HeadDim,
        attention: impl FnOnce(SuperAttentionConfig) -> SuperAttentionConfig,
        device: &B::Device,
    ) -> Result<Self> {
        let (embeds, ratios) = (keys.embed.candidates(), keys.ratio.candidates());
        let attn = SuperAttentionConfig::new(embeds, keys.heads.candidates(), head_dim)?;
        Ok(SuperBlock {
            ln1: SuperLayerNormConfig::new(embeds.to_vec()).init(device)?,
            attn: attention(attn).init(device)?,
            ln2: SuperLayerNormConfig::new(embeds.to_vec()).init(device)?,
            fc1: SuperLinearConfig::expand(embeds, ratios)?.init(device)?,
            fc2: SuperLinearConfig::contract(embeds, ratios)?.init(device)?,
            keys,
        })
    }

    /// One block per entry of `keys`, each built as [`SuperBlock::new`] builds it: the stack
    /// of a transformer space (its largest depth).
    pub fn stack(
        keys: &[BlockKeys],
        head_dim: HeadDim,
        attention: impl Fn(SuperAttentionConfig) -> SuperAttentionConfig,
        device: &B::Device,
    ) -> Result<Vec<Self>> {
        keys.iter()
            .map(|k| Self::new(k.clone(), head_dim, &attention, device))
            .collect()
    }

    /// The decisions this block reads.
    pub fn keys(&self) -> &BlockKeys {
        &self.keys
    }

    /// Forward pass under the block's embed, heads and ratio mixtures.
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        mix: &Mixtures<B>,
        drop: &Dropout,
    ) -> Result<Tensor<B, 3>> {
        let e = mix.of(&self.keys.embed)?;
        let h = mix.of(&self.keys.heads)?;
        let r = mix.of(&self.keys.ratio)?;
        let a = self.attn.forward(self.ln1.forward(x.clone(), e)?, e, h)?;
        let x = x + drop.forward(a);
        let y = gelu(self.fc1.forward(self.ln2.forward(x.clone(), e)?, &[e, r])?);
        Ok(x + drop.forward(self.fc2.forward(y, &[e, r])?))
    }

    /// The plain block at `arch`.
    pub fn extract(&self, arch: &Architecture) -> Result<Block<B>> {
        let e = arch.index(&self.keys.embed)?;
        let h = arch.index(&self.keys.heads)?;
        let r = arch.index(&self.keys.ratio)?;
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
