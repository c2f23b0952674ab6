//! Peak memory of weight-entangled (WE) vs weight-sharing (WS) supernet training as the number of
//! candidates per decision grows, n = 2, 4, 8.
//!
//! The supernet: three 3×3 convolutions (widths up to 32, 64, 64) and a linear head, one width
//! decision per convolution with `n` evenly spaced candidates up to the same largest width, so
//! the largest network is the same for every n. WE: each convolution is one `SuperConv2d` run on
//! `W ⊙ mask` (combi-superposition of its input and output widths). WS: each convolution is `n`
//! independent convolutions reading the previous layer's widest output, their zero-padded
//! outputs mixed (`WsMixedOp`). A step: softmax mixtures, forward, backward into weights and α,
//! batch 32 at 32×32.
//!
//! Run: `cargo bench --bench memory`. Every (mode, n) runs in a fresh child process (the bench
//! re-runs itself with `TANGLE_MEMORY=<we|ws>:<n>`): a warm-up step, the median of three timed
//! steps, then the process's peak resident set (Linux `VmHWM`). Expected: WE flat in n, WS
//! growing about linearly.
mod common;

use burn::backend::{Autodiff, Flex};
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::PaddingConfig2d;
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::{Distribution, Tensor};
use common::peak_rss_mib;
use criterion::black_box;
use tangle_core::{
    Decision, Mixtures, Result, SearchSpec, SuperConv2d, SuperConv2dConfig, SuperLinear,
    SuperLinearConfig, Supernet, WsMixedOp,
};
use tangle_optim::{ArchParams, Darts, Mixer};

type AB = Autodiff<Flex>;

const WIDEST: [usize; 3] = [32, 64, 64];
const BATCH: usize = 32;

/// `n` evenly spaced widths up to `max`.
fn widths(max: usize, n: usize) -> Vec<usize> {
    (1..=n).map(|i| max * i / n).collect()
}

fn spec(n: usize) -> SearchSpec {
    SearchSpec::new(
        (0..3)
            .map(|l| {
                Decision::sizes(
                    &format!("conv{l}.channels"),
                    &widths(WIDEST[l], n),
                    WIDEST[l],
                )
            })
            .collect::<Result<_>>()
            .expect("valid widths"),
    )
    .expect("distinct names")
}

#[derive(Module, Debug)]
struct We<B: Backend> {
    convs: Vec<SuperConv2d<B>>,
    head: SuperLinear<B>,
    #[module(skip)]
    spec: SearchSpec,
}

impl<B: Backend> We<B> {
    fn new(n: usize, device: &B::Device) -> Result<Self> {
        let w0 = widths(WIDEST[0], n);
        let mut convs = vec![
            SuperConv2dConfig::combi(vec![n], move |c| (3, w0[c[0]]), &[3])?
                .init(device)
                .unwrap(),
        ];
        for l in 1..3 {
            convs.push(
                SuperConv2dConfig::new(&widths(WIDEST[l - 1], n), &widths(WIDEST[l], n), &[3])?
                    .init(device)
                    .unwrap(),
            );
        }
        Ok(We {
            convs,
            head: SuperLinearConfig::input(&widths(WIDEST[2], n), 10)?
                .init(device)
                .unwrap(),
            spec: spec(n),
        })
    }
}

impl<B: Backend> Supernet<B> for We<B> {
    type Input = Tensor<B, 4>;
    type Output = Tensor<B, 2>;

    fn spec(&self) -> &SearchSpec {
        &self.spec
    }

    fn forward_mixed(&self, x: Tensor<B, 4>, mix: &Mixtures<B>) -> Result<Tensor<B, 2>> {
        let m = mix.as_slice();
        let mut x = relu(self.convs[0].forward(x, &[&m[0]], None)?);
        for l in 1..3 {
            x = relu(self.convs[l].forward(x, &[&m[l - 1], &m[l]], None)?);
        }
        let [b, c, _, _] = x.dims();
        self.head
            .forward(adaptive_avg_pool2d(x, [1, 1]).reshape([b, c]), &[&m[2]])
    }
}

#[derive(Module, Debug)]
struct Ws<B: Backend> {
    layers: Vec<WsMixedOp<B, Conv2d<B>>>,
    head: burn::nn::Linear<B>,
    #[module(skip)]
    spec: SearchSpec,
}

impl<B: Backend> Ws<B> {
    fn new(n: usize, device: &B::Device) -> Result<Self> {
        let mut layers = Vec::new();
        let mut c_in = 3;
        for widest in WIDEST {
            let ops = widths(widest, n)
                .into_iter()
                .map(|c| {
                    Conv2dConfig::new([c_in, c], [3, 3])
                        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                        .init(device)
                })
                .collect();
            layers.push(WsMixedOp::new(ops)?);
            c_in = widest;
        }
        Ok(Ws {
            layers,
            head: burn::nn::LinearConfig::new(WIDEST[2], 10).init(device),
            spec: spec(n),
        })
    }
}

/// Zero-pads the channel dim of `[b, c, h, w]` to `to`.
fn pad_channels<B: Backend>(x: Tensor<B, 4>, to: usize) -> Tensor<B, 4> {
    let [b, c, h, w] = x.dims();
    if c == to {
        return x;
    }
    let zeros = Tensor::zeros([b, to - c, h, w], &x.device());
    Tensor::cat(vec![x, zeros], 1)
}

impl<B: Backend> Supernet<B> for Ws<B> {
    type Input = Tensor<B, 4>;
    type Output = Tensor<B, 2>;

    fn spec(&self) -> &SearchSpec {
        &self.spec
    }

    fn forward_mixed(&self, x: Tensor<B, 4>, mix: &Mixtures<B>) -> Result<Tensor<B, 2>> {
        let mut x = x;
        for (l, layer) in self.layers.iter().enumerate() {
            let widest = WIDEST[l];
            x = relu(layer.forward(x, &mix.as_slice()[l], |op, x| {
                Ok(pad_channels(op.forward(x), widest))
            })?);
        }
        let [b, c, _, _] = x.dims();
        Ok(self
            .head
            .forward(adaptive_avg_pool2d(x, [1, 1]).reshape([b, c])))
    }
}

fn stepper<M>(net: M) -> impl Fn()
where
    M: Supernet<AB, Input = Tensor<AB, 4>, Output = Tensor<AB, 2>>,
{
    let device = Default::default();
    let x = Tensor::<AB, 4>::random([BATCH, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    // Small random α per decision (tracked for gradients), softmax'd as DARTS does.
    let alphas = ArchParams::<AB>::new(net.spec(), 0, &device);
    move || {
        let mix = Darts::softmax()
            .mixtures(&alphas, net.spec(), 0)
            .expect("one mixture per decision");
        let y = net.forward_mixed(x.clone(), &mix).expect("forward");
        black_box(y.powf_scalar(2.0).mean().backward());
    }
}

/// Child mode: prints the step time and peak memory of one (mode, n).
fn child(which: &str) {
    let (mode, n) = which.split_once(':').expect("mode:n");
    let n: usize = n.parse().expect("n");
    let device = Default::default();
    match mode {
        "none" => {
            println!("STEP 0");
            println!("PEAK {}", peak_rss_mib().unwrap_or(f64::NAN));
        }
        "we" => common::report_child(stepper(We::<AB>::new(n, &device).expect("valid"))),
        _ => common::report_child(stepper(Ws::<AB>::new(n, &device).expect("valid"))),
    }
}

fn measure(mode: &str, n: usize) -> Option<(f64, f64)> {
    common::measure_child("TANGLE_MEMORY", &format!("{mode}:{n}"))
}

fn main() {
    if let Ok(which) = std::env::var("TANGLE_MEMORY") {
        child(&which);
        return;
    }
    // The process baseline (binary, allocator) is in every figure: a child that builds nothing
    // measures it, so the growth can be read off.
    let base = measure("none", 0).map_or(f64::NAN, |m| m.1);
    println!("\nprocess baseline {base:.0} MiB");
    println!(
        "WE vs WS supernet training step, batch {BATCH}, 32×32, three convs (widest 32/64/64):"
    );
    println!("| n | WE step | WS step | WE peak MiB | WS peak MiB | WS / WE memory |");
    println!("|---|---|---|---|---|---|");
    for n in [2, 4, 8] {
        let (we, ws) = (measure("we", n), measure("ws", n));
        let f = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.0}"));
        let ratio = match (we, ws) {
            (Some(a), Some(b)) => format!("{:.2}", b.1 / a.1),
            _ => "–".into(),
        };
        println!(
            "| {n} | {} ms | {} ms | {} | {} | {ratio} |",
            f(we.map(|m| m.0)),
            f(ws.map(|m| m.0)),
            f(we.map(|m| m.1)),
            f(ws.map(|m| m.1))
        );
    }
}
