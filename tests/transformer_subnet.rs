//! Network-level check: a small weight-entangled transformer supernet, run in single-path mode at
//! every architecture, equals the subnet assembled from its extracted plain Burn modules.

use burn::backend::Flex;
use burn::module::Module;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::{activation::gelu, backend::Backend, Distribution, Tensor};
use tangle_core::subnet::Attention;
use tangle_core::{
    DepthMixer, HeadDim, Mixture, Result, SuperAttention, SuperAttentionConfig, SuperLayerNorm,
    SuperLayerNormConfig, SuperLinear, SuperLinearConfig,
};

type F = Flex;
const EMBEDS: [usize; 3] = [8, 12, 16];
const RATIOS: [f64; 2] = [2.0, 3.0];
const HEADS: [usize; 2] = [1, 2];
const DEPTHS: [usize; 2] = [1, 2];

#[derive(Module, Debug)]
struct Block<B: Backend> {
    ln1: SuperLayerNorm<B>,
    attn: SuperAttention<B>,
    ln2: SuperLayerNorm<B>,
    fc1: SuperLinear<B>,
    fc2: SuperLinear<B>,
}

#[derive(Module, Debug)]
struct Net<B: Backend> {
    stem: SuperLinear<B>,
    blocks: Vec<Block<B>>,
    norm: SuperLayerNorm<B>,
    head: SuperLinear<B>,
}

/// One architecture: embed index, depth index, per-layer (heads, ratio) indices.
#[derive(Clone, Copy, Debug)]
struct Arch {
    embed: usize,
    depth: usize,
    layers: [(usize, usize); 2],
}

impl Net<F> {
    fn new(device: &<F as burn::tensor::backend::BackendTypes>::Device) -> Result<Self> {
        let block = || -> Result<Block<F>> {
            Ok(Block {
                ln1: SuperLayerNormConfig::new(EMBEDS.to_vec()).init(device)?,
                attn: SuperAttentionConfig::new(&EMBEDS, &HEADS, HeadDim::Fixed(4))?
                    .init(device)?,
                ln2: SuperLayerNormConfig::new(EMBEDS.to_vec()).init(device)?,
                fc1: SuperLinearConfig::expand(&EMBEDS, &RATIOS)?
                    .init(device)
                    .unwrap(),
                fc2: SuperLinearConfig::contract(&EMBEDS, &RATIOS)?
                    .init(device)
                    .unwrap(),
            })
        };
        Ok(Net {
            stem: SuperLinearConfig::output(5, &EMBEDS)?.init(device).unwrap(),
            blocks: vec![block()?, block()?],
            norm: SuperLayerNormConfig::new(EMBEDS.to_vec()).init(device)?,
            head: SuperLinearConfig::input(&EMBEDS, 3)?.init(device).unwrap(),
        })
    }

    fn forward_single(&self, x: Tensor<F, 3>, a: Arch) -> Result<Tensor<F, 3>> {
        let e = Mixture::single(a.embed);
        let x = self.stem.forward(x, &[&e])?;
        let depth = DepthMixer::new(&DEPTHS)?;
        let x = depth.forward(x, &Mixture::single(a.depth), |i, x| {
            let b = &self.blocks[i];
            let (h, r) = (
                Mixture::single(a.layers[i].0),
                Mixture::single(a.layers[i].1),
            );
            let x = x.clone() + b.attn.forward(b.ln1.forward(x, &e)?, &e, &h)?;
            let y = gelu(b.fc1.forward(b.ln2.forward(x.clone(), &e)?, &[&e, &r])?);
            Ok(x + b.fc2.forward(y, &[&e, &r])?)
        })?;
        self.head.forward(self.norm.forward(x, &e)?, &[&e])
    }
}

/// The discretized network, plain Burn modules only.
/// One discretized block: norms, attention and MLP as plain Burn modules.
type PlainBlock = (
    LayerNorm<F>,
    Attention<F>,
    LayerNorm<F>,
    Linear<F>,
    Linear<F>,
);

struct Plain {
    stem: Linear<F>,
    blocks: Vec<PlainBlock>,
    norm: LayerNorm<F>,
    head: Linear<F>,
}

impl Plain {
    fn extract(net: &Net<F>, a: Arch) -> Result<Self> {
        let e = a.embed;
        let blocks = (0..DEPTHS[a.depth])
            .map(|i| {
                let b = &net.blocks[i];
                let (h, r) = a.layers[i];
                Ok((
                    b.ln1.extract(e)?,
                    b.attn.extract(e, h)?,
                    b.ln2.extract(e)?,
                    b.fc1.extract(&[e, r])?,
                    b.fc2.extract(&[e, r])?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Plain {
            stem: net.stem.extract(&[e])?,
            blocks,
            norm: net.norm.extract(e)?,
            head: net.head.extract(&[e])?,
        })
    }

    fn forward(&self, x: Tensor<F, 3>) -> Tensor<F, 3> {
        let mut x = self.stem.forward(x);
        for (ln1, attn, ln2, fc1, fc2) in &self.blocks {
            x = x.clone() + attn.forward(ln1.forward(x));
            x = x.clone() + fc2.forward(gelu(fc1.forward(ln2.forward(x))));
        }
        self.head.forward(self.norm.forward(x))
    }
}

#[test]
fn single_path_equals_extracted_subnet_for_every_architecture() {
    let device = Default::default();
    let net = Net::new(&device).unwrap();
    let x = Tensor::<F, 3>::random([2, 6, 5], Distribution::Normal(0.0, 1.0), &device);
    let mut checked = 0;
    for embed in 0..3 {
        for depth in 0..2 {
            for h0 in 0..2 {
                for r0 in 0..2 {
                    for h1 in 0..2 {
                        for r1 in 0..2 {
                            let a = Arch {
                                embed,
                                depth,
                                layers: [(h0, r0), (h1, r1)],
                            };
                            let y = net.forward_single(x.clone(), a).unwrap();
                            let z = Plain::extract(&net, a).unwrap().forward(x.clone());
                            let (vy, vz): (Vec<f32>, Vec<f32>) = (
                                y.into_data().convert::<f32>().to_vec().unwrap(),
                                z.into_data().convert::<f32>().to_vec().unwrap(),
                            );
                            assert_eq!(vy.len(), 2 * 6 * 3);
                            let worst = vy
                                .iter()
                                .zip(&vz)
                                .map(|(p, q)| (p - q).abs())
                                .fold(0f32, f32::max);
                            assert!(worst < 1e-4, "{a:?}: max difference {worst}");
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, 96);
}
