//! The reparameterized Dirichlet sample: its gradient against analytic moment gradients.
use burn::backend::{Autodiff, Flex};
use burn::tensor::Tensor;
use rand::{rngs::StdRng, SeedableRng};
use rand_distr::{Distribution, Gamma};
use tangle_optim::drnas::{dirichlet_kl, dirichlet_sample};
use tangle_optim::special::gamma_sample_grad;

type AB = Autodiff<Flex>;

fn grad_of(
    a: &[f32],
    seed: u64,
    f: impl Fn(Tensor<AB, 1>) -> Tensor<AB, 1>,
) -> (Vec<f32>, Vec<f32>) {
    let device = Default::default();
    let at = Tensor::<AB, 1>::from_floats(a, &device).require_grad();
    let mut rng = StdRng::seed_from_u64(seed);
    let x = dirichlet_sample(at.clone(), &mut rng);
    let xv = x
        .clone()
        .into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .unwrap();
    let g = f(x).backward();
    (
        xv,
        at.grad(&g)
            .unwrap()
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .unwrap(),
    )
}

#[test]
fn injected_gradient_is_the_implicit_reparameterization() {
    let a = [0.7f32, 1.5, 3.0];
    let (x, g) = grad_of(&a, 7, |x| x.slice([0..1]));
    // Redraw the same Gamma variates and differentiate x_0 = z_0 / Σz by hand.
    let mut rng = StdRng::seed_from_u64(7);
    let z: Vec<f64> = a
        .iter()
        .map(|&ai| Gamma::new(ai as f64, 1.0).unwrap().sample(&mut rng))
        .collect();
    let s: f64 = z.iter().sum();
    assert!((x[0] as f64 - z[0] / s).abs() < 1e-6);
    for j in 0..3 {
        let dz = gamma_sample_grad(a[j] as f64, z[j]);
        let want = (if j == 0 { 1.0 / s } else { 0.0 } - z[0] / (s * s)) * dz;
        assert!(
            (g[j] as f64 - want).abs() < 1e-4 * want.abs().max(1e-2),
            "a_{j}: {} vs {want}",
            g[j]
        );
    }
}

/// Monte-Carlo mean and standard error of the gradient of `f(x)` over `n` samples.
fn mc(
    a: &[f32],
    n: usize,
    f: impl Fn(Tensor<AB, 1>) -> Tensor<AB, 1> + Copy,
) -> (Vec<f64>, Vec<f64>) {
    let k = a.len();
    let (mut sum, mut sq) = (vec![0f64; k], vec![0f64; k]);
    for i in 0..n {
        let (_, g) = grad_of(a, 1000 + i as u64, f);
        for j in 0..k {
            sum[j] += g[j] as f64;
            sq[j] += (g[j] as f64).powi(2);
        }
    }
    let mean: Vec<f64> = sum.iter().map(|s| s / n as f64).collect();
    let se = (0..k)
        .map(|j| ((sq[j] / n as f64 - mean[j].powi(2)).max(0.0) / n as f64).sqrt())
        .collect();
    (mean, se)
}

#[test]
fn gradient_matches_the_mean_and_second_moment_analytically() {
    let a = [0.7f32, 1.5, 3.0];
    let af: Vec<f64> = a.iter().map(|&v| v as f64).collect();
    let s: f64 = af.iter().sum();
    let n = 6000;
    // E[x_0] = a_0 / A.
    let (mean, se) = mc(&a, n, |x| x.slice([0..1]));
    for j in 0..3 {
        let want = if j == 0 { 1.0 / s } else { 0.0 } - af[0] / (s * s);
        assert!(
            (mean[j] - want).abs() < 4.0 * se[j] + 1e-3,
            "E[x0] a_{j}: {} ± {} vs {want}",
            mean[j],
            se[j]
        );
    }
    // E[x_0²] = a_0 (a_0 + 1) / (A (A + 1)).
    let (mean, se) = mc(&a, n, |x| x.slice([0..1]).powf_scalar(2.0));
    let (f, g) = (af[0] * (af[0] + 1.0), s * (s + 1.0));
    for j in 0..3 {
        let df = if j == 0 { 2.0 * af[0] + 1.0 } else { 0.0 };
        let want = (df * g - f * (2.0 * s + 1.0)) / (g * g);
        assert!(
            (mean[j] - want).abs() < 4.0 * se[j] + 1e-3,
            "E[x0²] a_{j}: {} ± {} vs {want}",
            mean[j],
            se[j]
        );
    }
}

#[test]
fn kl_to_uniform_dirichlet_value_and_gradient() {
    let device = Default::default();
    // KL(Dir(1) ‖ Dir(1)) = 0 with zero gradient.
    let ones = Tensor::<AB, 1>::from_floats([1.0, 1.0, 1.0], &device).require_grad();
    let kl = dirichlet_kl(ones.clone(), &[1.0, 1.0, 1.0]);
    assert!(kl.clone().into_scalar().abs() < 1e-6);
    let g = ones
        .grad(&kl.backward())
        .unwrap()
        .into_data()
        .to_vec::<f32>()
        .unwrap();
    assert!(g.iter().all(|v| v.abs() < 1e-6));
    // Gradient against a central difference of the value.
    let a = [0.6f32, 2.0, 4.5];
    let value = |v: &[f32]| {
        dirichlet_kl(Tensor::<AB, 1>::from_floats(v, &device), &[1.0, 1.0, 1.0]).into_scalar()
    };
    let at = Tensor::<AB, 1>::from_floats(a, &device).require_grad();
    let kl = dirichlet_kl(at.clone(), &[1.0, 1.0, 1.0]);
    assert!(kl.clone().into_scalar() > 0.1);
    let g = at
        .grad(&kl.backward())
        .unwrap()
        .into_data()
        .to_vec::<f32>()
        .unwrap();
    for j in 0..3 {
        let (mut p, mut m) = (a, a);
        p[j] += 1e-2;
        m[j] -= 1e-2;
        let fd = (value(&p) - value(&m)) / 2e-2;
        assert!(
            (fd - g[j]).abs() < 2e-3 * g[j].abs().max(1.0),
            "a_{j}: {} vs {fd}",
            g[j]
        );
    }
}
