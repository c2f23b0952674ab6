//! `SuperPatchEmbed`: ViT patch embedding over an embedding-dim decision.

use burn::module::Module;
use burn::tensor::{backend::Backend, Tensor};

use crate::conv::{SuperConv2d, SuperConv2dConfig};
use crate::error::Result;
use crate::mixture::Mixture;
use crate::subnet::PatchEmbed;

/// Patch embedding: a `patch × patch`, stride-`patch` convolution whose output channels are the
/// embedding dim, flattened to `[batch, patches, e]`.
#[derive(Module, Debug)]
pub struct SuperPatchEmbed<B: Backend> {
    /// The projection, superposed over its output channels.
    pub proj: SuperConv2d<B>,
}

impl<B: Backend> SuperPatchEmbed<B> {
    /// Patch embedding of `channels`-channel images with patch size `patch` over `embeds`.
    pub fn new(
        channels: usize,
        patch: usize,
        embeds: &[usize],
        device: &B::Device,
    ) -> Result<Self> {
        crate::spec::check_increasing_sizes("SuperPatchEmbed.embed", embeds)?;
        let e = embeds.to_vec();
        let proj = SuperConv2dConfig::combi(vec![e.len()], move |c| (channels, e[c[0]]), &[patch])?
            .with_stride(patch)
            .with_padding(0)?
            .init(device);
        Ok(SuperPatchEmbed { proj })
    }

    /// `[batch, channels, h, w]` → `[batch, (h/patch)·(w/patch), e]`.
    pub fn forward(&self, x: Tensor<B, 4>, embed: &Mixture<B>) -> Result<Tensor<B, 3>> {
        let y = self.proj.forward(x, &[embed], None)?;
        Ok(y.flatten::<3>(2, 3).swap_dims(1, 2))
    }

    /// The standalone patch embedding at embedding index `embed`.
    pub fn extract(&self, embed: usize) -> Result<PatchEmbed<B>> {
        Ok(PatchEmbed {
            proj: self.proj.extract(&[embed], 0)?,
        })
    }
}
