//! The nanoGPT language-model space (paper Table 18) and a GPT-2-size variant.
//!
//! Token and position embeddings → `layers` pre-norm blocks (LayerNorm → causal multi-head
//! self-attention, head dim = embed / heads → residual; LayerNorm → fc1 → GELU → fc2 →
//! residual) → LayerNorm → `lm_head`, weight-tied to the token embedding. The embedding dim is
//! one decision superposed into both embeddings, every LayerNorm, qkv, proj, fc1, fc2 and the
//! tied head; heads and MLP ratio are per-layer decisions; depth mixes the outputs after each
//! candidate number of layers. With head dim = embed / heads each head count needs its own
//! attention pass (`HeadDim::EmbedOverHeads`).

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, LayerNorm};
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::transformer::{Block, BlockKeys, SuperBlock};
use tangle_core::{
    Architecture, CoreError, DecisionKey, DepthMixer, HeadDim, Mixtures, Result, SearchSpec,
    SuperEmbedding, SuperEmbeddingConfig, SuperLayerNorm, SuperLayerNormConfig, Supernet,
};

mod config;
pub use config::GptConfig;

impl GptConfig {
    /// Builds the weight-entangled supernet. Errors for an invalid configuration.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<Gpt<B>> {
        Gpt::from_config(self.clone(), device)
    }
}

impl GptConfig {
    /// Paper Table 18: embed {384, 576, 768}, heads {6, 8, 12}, ratio {2, 3, 4}, layers
    /// {5, 6, 7}, for a character vocabulary of `vocab` and context `context` (224 in the paper).
    pub fn table18(vocab: usize, context: usize) -> Self {
        GptConfig {
            embeds: vec![384, 576, 768],
            heads: vec![6, 8, 12],
            ratios: vec![2.0, 3.0, 4.0],
            layers: vec![5, 6, 7],
            vocab,
            context,
            dropout: 0.0,
            tied: false,
        }
    }

    /// A GPT-2-size space whose largest network is GPT-2 small (12 layers, embed 768, 12 heads,
    /// ratio 4, vocabulary 50257, context 1024: 124,439,808 parameters); smaller choices as in
    /// Table 18 with the layers scaled alike, {10, 11, 12}.
    pub fn gpt2() -> Self {
        GptConfig {
            layers: vec![10, 11, 12],
            ..Self::table18(50257, 1024)
        }
    }

    fn max_layers(&self) -> usize {
        self.layers.iter().copied().max().unwrap_or(0)
    }

    /// Declares the space: `embed`, `layers`, then `layer{i}.heads` and `layer{i}.mlp_ratio`
    /// — or, [`tied`](Self::tied), one `heads` and one `mlp_ratio` read by every block.
    pub fn declare(&self) -> Result<(SearchSpec, GptKeys)> {
        let mut space = SearchSpec::builder();
        let max_e = self.embeds.iter().copied().max().unwrap_or(0);
        let embed = space.sizes("embed", &self.embeds, max_e)?;
        let layers = space.depths("layers", &self.layers, self.max_layers())?;
        let block = |space: &mut tangle_core::SpecBuilder, prefix: &str| -> Result<BlockKeys> {
            Ok(BlockKeys {
                heads: space.heads_dividing(&format!("{prefix}heads"), &self.heads, &embed)?,
                ratio: space.ratios(&format!("{prefix}mlp_ratio"), &self.ratios)?,
                embed: embed.clone(),
            })
        };
        let blocks = if self.tied {
            vec![block(&mut space, "")?; self.max_layers()]
        } else {
            (0..self.max_layers())
                .map(|i| block(&mut space, &format!("layer{i}.")))
                .collect::<Result<Vec<_>>>()?
        };
        let keys = GptKeys {
            embed,
            layers,
            blocks,
        };
        Ok((space.build(), keys))
    }

    /// The search spec (see [`GptConfig::declare`]).
    pub fn spec(&self) -> Result<SearchSpec> {
        Ok(self.declare()?.0)
    }
}

/// The decisions of a language-model space.
#[derive(Debug, Clone, PartialEq)]
pub struct GptKeys {
    /// Embedding dim, read by every weight on the residual stream.
    pub embed: DecisionKey<usize>,
    /// Number of blocks.
    pub layers: DecisionKey<usize>,
    /// Each block's decisions (the largest depth's worth).
    pub blocks: Vec<BlockKeys>,
}

/// The language-model supernet.
#[derive(Module, Debug)]
pub struct Gpt<B: Backend> {
    /// Token embedding, also the output projection (tied).
    pub wte: SuperEmbedding<B>,
    /// Position embedding.
    pub wpe: SuperEmbedding<B>,
    /// The blocks (the largest depth).
    pub blocks: Vec<SuperBlock<B>>,
    /// Final LayerNorm.
    pub ln_f: SuperLayerNorm<B>,
    /// Dropout.
    pub dropout: Dropout,
    #[module(skip)]
    spec: SearchSpec,
    #[module(skip)]
    config: GptConfig,
    #[module(skip)]
    keys: GptKeys,
    #[module(skip)]
    depth: DepthMixer,
}

impl<B: Backend> Gpt<B> {
    /// A freshly initialized supernet (embeddings N(0, 0.02²), as nanoGPT).
    pub(crate) fn from_config(config: GptConfig, device: &B::Device) -> Result<Self> {
        if config.vocab == 0 || config.context == 0 || !(0.0..1.0).contains(&config.dropout) {
            return Err(CoreError::Config(format!(
                "a language model needs a vocabulary, a context and dropout in [0, 1): {config:?}"
            )));
        }
        let (spec, keys) = config.declare()?;
        let e = keys.embed.candidates();
        let blocks = SuperBlock::stack(
            &keys.blocks,
            HeadDim::EmbedOverHeads,
            |a| a.with_causal(true).with_dropout(config.dropout),
            device,
        )?;
        Ok(Gpt {
            wte: SuperEmbeddingConfig::new(config.vocab, e.to_vec()).init(device)?,
            wpe: SuperEmbeddingConfig::new(config.context, e.to_vec()).init(device)?,
            blocks,
            ln_f: SuperLayerNormConfig::new(e.to_vec()).init(device)?,
            dropout: DropoutConfig::new(config.dropout).init(),
            depth: DepthMixer::new(keys.layers.candidates())?,
            spec,
            config,
            keys,
        })
    }

    /// The space's candidates and sizes.
    pub fn config(&self) -> &GptConfig {
        &self.config
    }

    /// The space's decisions.
    pub fn keys(&self) -> &GptKeys {
        &self.keys
    }
}

fn check_ids<B: Backend>(ids: &Tensor<B, 2, Int>, context: usize) -> Result<()> {
    let [_, t] = ids.dims();
    if t == 0 || t > context {
        return Err(CoreError::Shape {
            module: "Gpt".into(),
            expected: format!("[batch, 1..={context}] token ids"),
            got: ids.dims().to_vec(),
        });
    }
    Ok(())
}

impl<B: Backend> Supernet<B> for Gpt<B> {
    type Input = Tensor<B, 2, Int>;
    type Output = Tensor<B, 3>;

    fn spec(&self) -> &SearchSpec {
        &self.spec
    }

    /// Token ids `[batch, seq]` → next-token logits `[batch, seq, vocab]`.
    fn forward_mixed(&self, ids: Tensor<B, 2, Int>, mix: &Mixtures<B>) -> Result<Tensor<B, 3>> {
        check_ids(&ids, self.config.context)?;
        let e = mix.of(&self.keys.embed)?;
        let t = ids.dims()[1];
        let pos = self.wpe.first_rows(t, e)?.unsqueeze::<3>();
        let x = self.dropout.forward(self.wte.forward(ids, e)? + pos);
        let x = self.depth.forward(x, mix.of(&self.keys.layers)?, |i, x| {
            self.blocks[i].forward(x, mix, &self.dropout)
        })?;
        let x = self.ln_f.forward(x, e)?;
        // The tied head: the token table, superposed like the embedding.
        let table = self.wte.first_rows(self.config.vocab, e)?;
        Ok(x.matmul(table.transpose().unsqueeze::<3>()))
    }
}

/// A discretized language model: plain nanoGPT.
#[derive(Module, Debug)]
pub struct GptNet<B: Backend> {
    /// Token embedding (and tied output projection).
    pub wte: Embedding<B>,
    /// Position embedding.
    pub wpe: Embedding<B>,
    /// The blocks.
    pub blocks: Vec<Block<B>>,
    /// Final LayerNorm.
    pub ln_f: LayerNorm<B>,
    /// Dropout.
    pub dropout: Dropout,
}

impl<B: Backend> GptNet<B> {
    /// Context length.
    pub fn context(&self) -> usize {
        self.wpe.weight.dims()[0]
    }

    /// Token ids `[batch, seq]` → logits `[batch, seq, vocab]`.
    pub fn forward(&self, ids: Tensor<B, 2, Int>) -> Result<Tensor<B, 3>> {
        check_ids(&ids, self.context())?;
        let [_, t] = ids.dims();
        let device = ids.device();
        let positions = Tensor::<B, 1, Int>::arange(0..t as i64, &device).unsqueeze::<2>();
        let x = self
            .dropout
            .forward(self.wte.forward(ids) + self.wpe.forward(positions));
        let x = self
            .blocks
            .iter()
            .fold(x, |x, b| b.forward(x, &self.dropout));
        let x = self.ln_f.forward(x);
        Ok(x.matmul(self.wte.weight.val().transpose().unsqueeze::<3>()))
    }

    /// Continues `prompt` by `n` tokens: greedy with `temperature = None`, otherwise sampled
    /// from `softmax(logits / temperature)` with a seeded generator. The context is cropped to
    /// the last [`GptNet::context`] tokens, as nanoGPT does.
    pub fn generate(
        &self,
        prompt: &[usize],
        n: usize,
        temperature: Option<f64>,
        seed: u64,
        device: &B::Device,
    ) -> Result<Vec<usize>> {
        if prompt.is_empty() {
            return Err(CoreError::Config(
                "generation needs a non-empty prompt".into(),
            ));
        }
        if let Some(t) = temperature {
            if t.is_nan() || t <= 0.0 {
                return Err(CoreError::Config(format!("temperature {t} must be > 0")));
            }
        }
        let vocab = self.wte.weight.dims()[0];
        if let Some(&bad) = prompt.iter().find(|&&i| i >= vocab) {
            return Err(CoreError::Config(format!(
                "token {bad} outside the vocabulary of {vocab}"
            )));
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let mut out = prompt.to_vec();
        for _ in 0..n {
            let start = out.len().saturating_sub(self.context());
            let window: Vec<i64> = out[start..].iter().map(|&i| i as i64).collect();
            let t = window.len();
            let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(window, [1, t]), device);
            let logits = self
                .forward(ids)?
                .slice([0..1, t - 1..t, 0..vocab])
                .reshape([vocab]);
            let next = match temperature {
                None => logits.argmax(0).into_scalar().elem::<i64>() as usize,
                Some(temp) => {
                    let p: Vec<f32> = softmax(logits / temp, 0)
                        .into_data()
                        .convert::<f32>()
                        .to_vec()
                        .map_err(|e| CoreError::Config(format!("{e:?}")))?;
                    let u: f32 = rng.random();
                    let mut acc = 0.0;
                    p.iter()
                        .position(|&q| {
                            acc += q;
                            u < acc
                        })
                        .unwrap_or(vocab - 1)
                }
            };
            out.push(next);
        }
        Ok(out)
    }
}

impl<B: Backend> tangle_core::Extract<B> for Gpt<B> {
    type Subnet = GptNet<B>;

    /// The discretized model at `arch`, with the inherited weights.
    fn extract(&self, arch: &Architecture) -> Result<GptNet<B>> {
        arch.validate(&self.spec)?;
        let e = arch.index(&self.keys.embed)?;
        let blocks = self.blocks[..arch.value(&self.keys.layers)?]
            .iter()
            .map(|b| b.extract(arch))
            .collect::<Result<Vec<_>>>()?;
        Ok(GptNet {
            wte: self.wte.extract(e)?,
            wpe: self.wpe.extract(e)?,
            blocks,
            ln_f: self.ln_f.extract(e)?,
            dropout: self.dropout.clone(),
        })
    }

    /// Trainable parameters of the discretized model at `arch` (the head is tied: not counted
    /// twice), from the choices alone.
    fn params(&self, arch: &Architecture) -> Result<usize> {
        arch.validate(&self.spec)?;
        let c = &self.config;
        let e = arch.value(&self.keys.embed)?;
        let mut total = (c.vocab + c.context) * e + 2 * e;
        for block in &self.keys.blocks[..arch.value(&self.keys.layers)?] {
            let m = tangle_core::scaled(e, arch.value(&block.ratio)?);
            total += 4 * e + (3 * e * e + 3 * e) + (e * e + e) + (e * m + m) + (m * e + e);
        }
        Ok(total)
    }
}
