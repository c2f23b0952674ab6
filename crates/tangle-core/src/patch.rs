//! `SuperPatchEmbed`: ViT patch embedding over an embedding-dim decision.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{backend::Backend, Tensor};

use crate::conv::{SuperConv2d, SuperConv2dConfig};

use crate::mixture::Mixture;
use crate::subnet::PatchEmbed;

/// Patch embedding: a `patch × patch`, stride-`patch` convolution whose output channels are the
/// embedding dim, flattened to `[batch, patches, e]`.
#[derive(Module, Debug)]
pub struct SuperPatchEmbed<B: Backend> {
    /// The projection, superposed over its output channels.
    pub proj: SuperConv2d<B>,
}

/// Configuration of a [`SuperPatchEmbed`]:
/// `SuperPatchEmbedConfig::new(channels, patch, embeds).init(&device)`.
#[derive(Config, Debug, PartialEq)]
pub struct SuperPatchEmbedConfig {
    /// Image channels.
    pub channels: usize,
    /// Patch size (the convolution's kernel and stride).
    pub patch: usize,
    /// The embedding-dim candidates (one decision), increasing.
    pub embeds: Vec<usize>,
}

impl SuperPatchEmbedConfig {
    /// Builds the patch embedding. Errors for embedding candidates that are not increasing.
    pub fn init<B: Backend>(&self, device: &B::Device) -> crate::Result<SuperPatchEmbed<B>> {
        crate::spec::check_increasing_sizes("SuperPatchEmbed.embed", &self.embeds)?;
        let (e, channels) = (self.embeds.clone(), self.channels);
        let proj =
            SuperConv2dConfig::combi(vec![e.len()], move |c| (channels, e[c[0]]), &[self.patch])?
                .with_stride(self.patch)
                .with_padding(0)?
                .init(device)?;
        Ok(SuperPatchEmbed { proj })
    }
}

impl<B: Backend> SuperPatchEmbed<B> {
    /// `[batch, channels, h, w]` → `[batch, (h/patch)·(w/patch), e]`.
    pub fn forward(&self, x: Tensor<B, 4>, embed: &Mixture<B>) -> crate::Result<Tensor<B, 3>> {
        let y = self.proj.forward(x, &[embed], None)?;
        Ok(y.flatten::<3>(2, 3).swap_dims(1, 2))
    }

    /// The standalone patch embedding at embedding index `embed`.
    pub fn extract(&self, embed: usize) -> crate::Result<PatchEmbed<B>> {
        Ok(PatchEmbed {
            proj: self.proj.extract(&[embed], 0)?,
        })
    }
}
