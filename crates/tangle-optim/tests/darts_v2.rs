//! The DARTS-v2 hypergradient (finite-difference Hessian-vector product) against the exact
//! gradient of the unrolled objective, computed in closed form on the host.
mod common;
use common::*;

use burn::module::Param;
use burn::tensor::{Tensor, TensorData};
use tangle_optim::{params::ArchParams, ArchStep, Darts, Regression, Search, SearchConfig};

const N: usize = 6;

/// Host model: out = x · (W ⊙ M) + b ⊙ m, loss = mean (out − y)².
struct Host {
    w: Vec<f64>, // [8, 8] row-major, in × out
    b: Vec<f64>,
}

fn mask(alpha: &[f64]) -> Vec<f64> {
    let mx = alpha.iter().cloned().fold(f64::MIN, f64::max);
    let e: Vec<f64> = alpha.iter().map(|a| (a - mx).exp()).collect();
    let s: f64 = e.iter().sum();
    (0..8)
        .map(|t| {
            WIDTHS
                .iter()
                .zip(&e)
                .filter(|(w, _)| t < **w)
                .map(|(_, p)| p / s)
                .sum()
        })
        .collect()
}

impl Host {
    fn residual(&self, m: &[f64], x: &[f64], y: &[f64]) -> Vec<f64> {
        let mut r = vec![0.0; N * 8];
        for n in 0..N {
            for t in 0..8 {
                let mut o = self.b[t] * m[t];
                for s in 0..8 {
                    o += x[n * 8 + s] * self.w[s * 8 + t] * m[t];
                }
                r[n * 8 + t] = o - y[n * 8 + t];
            }
        }
        r
    }

    fn loss(&self, alpha: &[f64], x: &[f64], y: &[f64]) -> f64 {
        self.residual(&mask(alpha), x, y)
            .iter()
            .map(|v| v * v)
            .sum::<f64>()
            / (N * 8) as f64
    }

    /// ∇(W, b) of the loss.
    fn grads(&self, alpha: &[f64], x: &[f64], y: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let m = mask(alpha);
        let r = self.residual(&m, x, y);
        let c = 2.0 / (N * 8) as f64;
        let (mut gw, mut gb) = (vec![0.0; 64], vec![0.0; 8]);
        for t in 0..8 {
            for n in 0..N {
                gb[t] += c * r[n * 8 + t] * m[t];
            }
            for s in 0..8 {
                for n in 0..N {
                    gw[s * 8 + t] += c * r[n * 8 + t] * x[n * 8 + s] * m[t];
                }
            }
        }
        (gw, gb)
    }

    /// (W, b) − s · (dW, db).
    fn minus(&self, dw: &[f64], db: &[f64], s: f64) -> Host {
        Host {
            w: self.w.iter().zip(dw).map(|(w, d)| w - s * d).collect(),
            b: self.b.iter().zip(db).map(|(b, d)| b - s * d).collect(),
        }
    }

    /// One plain SGD step on (W, b) with the training loss.
    fn unrolled(&self, alpha: &[f64], x: &[f64], y: &[f64], eta: f64) -> Host {
        let (gw, gb) = self.grads(alpha, x, y);
        self.minus(&gw, &gb, eta)
    }

    /// The reference's `_compute_unrolled_model`: w − η (μ·b + ∇L + λ w), with the momentum
    /// buffer `b` a constant.
    fn unrolled_momentum(
        &self,
        alpha: &[f64],
        x: &[f64],
        y: &[f64],
        eta: f64,
        (mu, bw, bb): (f64, &[f64], &[f64]),
        wd: f64,
    ) -> Host {
        let (gw, gb) = self.grads(alpha, x, y);
        let dw: Vec<f64> = (0..64)
            .map(|i| mu * bw[i] + gw[i] + wd * self.w[i])
            .collect();
        let db: Vec<f64> = (0..8)
            .map(|i| mu * bb[i] + gb[i] + wd * self.b[i])
            .collect();
        self.minus(&dw, &db, eta)
    }
}

fn host<const D: usize>(t: &Tensor<AB, D>) -> Vec<f64> {
    t.to_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .unwrap()
        .iter()
        .map(|&v| v as f64)
        .collect()
}

type Batch = (Tensor<AB, 2>, Tensor<AB, 2>);

/// The first training and validation batches, as tensors and on the host (x, y of each).
fn first_batches(data: &ProbeData<AB>) -> (Batch, Batch, [Vec<f64>; 4]) {
    use tangle_optim::SearchData;
    let (train, valid) = (data.train(0, 0), data.valid(0, 0));
    let on_host = [
        host(&train.0),
        host(&train.1),
        host(&valid.0),
        host(&valid.1),
    ];
    (train, valid, on_host)
}

/// The probe's weights on the host.
fn host_of(probe: &Probe<AB>) -> Host {
    Host {
        w: host(&probe.fc.weight.val()),
        b: host(&probe.fc.bias.as_ref().unwrap().val()),
    }
}

fn fd(f: impl Fn(&[f64]) -> f64, a: &[f64], j: usize) -> f64 {
    let (mut p, mut m) = (a.to_vec(), a.to_vec());
    p[j] += 1e-5;
    m[j] -= 1e-5;
    (f(&p) - f(&m)) / 2e-5
}

#[test]
fn second_order_gradient_matches_exact_unrolled_gradient() {
    let device = Default::default();
    let data = ProbeData::<AB>::new(3, 1, N, &device);
    let (train, valid, [xt, yt, xv, yv]) = first_batches(&data);
    let alpha = [0.3f32, -0.2, 0.5, 0.1];
    let a64: Vec<f64> = alpha.iter().map(|&v| v as f64).collect();
    let eta = 0.2;

    let mut probe = Probe::<AB>::new(false, &device);
    let bias: Vec<f32> = (0..8).map(|i| 0.1 * i as f32 - 0.3).collect();
    probe.fc.bias = Some(Param::from_tensor(Tensor::from_data(
        TensorData::new(bias, [8]),
        &device,
    )));
    let mk = |step| {
        let mut s = Search::new(
            probe.clone(),
            Darts::softmax(),
            SearchConfig {
                arch_step: step,
                ..SearchConfig::default()
            },
            0,
            &device,
        )
        .unwrap();
        s.alphas = ArchParams::from_values(s.model.spec(), &[alpha.to_vec()], &device).unwrap();
        s
    };
    use tangle_core::Supernet;
    let h = host_of(&probe);

    let v2 = mk(ArchStep::SecondOrder)
        .architecture_gradient(&Regression, &train, &valid, eta)
        .unwrap();
    let v1 = mk(ArchStep::FirstOrder)
        .architecture_gradient(&Regression, &train, &valid, eta)
        .unwrap();
    let mut differs = false;
    for j in 0..4 {
        let exact2 = fd(|a| h.unrolled(a, &xt, &yt, eta).loss(a, &xv, &yv), &a64, j);
        let exact1 = fd(|a| h.loss(a, &xv, &yv), &a64, j);
        let (g2, g1) = (v2[0][j] as f64, v1[0][j] as f64);
        assert!(
            (g1 - exact1).abs() < 1e-3 * exact1.abs().max(0.1),
            "v1 α_{j}: {g1} vs {exact1}"
        );
        assert!(
            (g2 - exact2).abs() < 2e-3 * exact2.abs().max(0.1),
            "v2 α_{j}: {g2} vs {exact2}"
        );
        differs |= (exact2 - exact1).abs() > 1e-2 * exact1.abs().max(0.1);
    }
    assert!(
        differs,
        "the unrolled and first-order gradients should differ on this problem"
    );
}

/// With momentum state and weight decay, the unrolled step is w − η (μ·b + ∇L + λ w), as in the
/// reference code: one real weight step fills the momentum buffer, then the hypergradient is
/// compared with the exact gradient of that unrolled objective.
#[test]
fn second_order_unrolls_with_momentum_and_weight_decay() {
    let device = Default::default();
    let data = ProbeData::<AB>::new(5, 1, N, &device);
    let (train, valid, [xt, yt, xv, yv]) = first_batches(&data);
    let alpha = [0.2f32, -0.4, 0.6, 0.0];
    let a64: Vec<f64> = alpha.iter().map(|&v| v as f64).collect();
    let (eta, lr, mu, wd) = (0.3, 0.1, 0.9, 0.2);
    let probe = Probe::<AB>::new(false, &device);
    let h0 = host_of(&probe);
    let mut search = Search::new(
        probe,
        Darts::softmax(),
        SearchConfig {
            epochs: 2,
            // Epoch 0 only trains the weights: it fills the momentum buffer.
            warmup_epochs: 1,
            weight_optimizer: tangle_optim::WeightOptimizer::Sgd {
                momentum: mu,
                nesterov: false,
                weight_decay: wd,
            },
            lr,
            grad_clip: None,
            arch_step: ArchStep::SecondOrder,
            ..SearchConfig::default()
        },
        0,
        &device,
    )
    .unwrap();
    search.alphas =
        ArchParams::from_values(search.model.spec(), &[alpha.to_vec()], &device).unwrap();
    search.run_until(&data, &Regression, 1).unwrap();
    // The buffer after one step is the first decayed gradient; the weights moved by lr · b.
    let (gw, gb) = h0.grads(&a64, &xt, &yt);
    let bw: Vec<f64> = (0..64).map(|i| gw[i] + wd * h0.w[i]).collect();
    let bb: Vec<f64> = (0..8).map(|i| gb[i] + wd * h0.b[i]).collect();
    let h1 = h0.minus(&bw, &bb, lr);
    use tangle_core::Supernet;
    let w1 = host(&search.model.fc.weight.val());
    for (i, (a, b)) in w1.iter().zip(&h1.w).enumerate() {
        assert!(
            (a - b).abs() < 1e-4,
            "weight {i} after the real step: {a} vs {b}"
        );
    }
    let g = search
        .architecture_gradient(&Regression, &train, &valid, eta)
        .unwrap();
    let mut differs = false;
    for j in 0..4 {
        let exact = fd(
            |a| {
                h1.unrolled_momentum(a, &xt, &yt, eta, (mu, &bw, &bb), wd)
                    .loss(a, &xv, &yv)
            },
            &a64,
            j,
        );
        let plain = fd(|a| h1.unrolled(a, &xt, &yt, eta).loss(a, &xv, &yv), &a64, j);
        let got = g[0][j] as f64;
        assert!(
            (got - exact).abs() < 2e-3 * exact.abs().max(0.1),
            "α_{j}: {got} vs exact {exact} (plain unrolled step: {plain})"
        );
        differs |= (exact - plain).abs() > 1e-2 * exact.abs().max(0.1);
    }
    assert!(
        differs,
        "momentum and weight decay should change the hypergradient on this problem"
    );
}
