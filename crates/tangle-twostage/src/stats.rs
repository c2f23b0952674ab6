//! Comparing search methods over seeds: mean ± standard deviation, Welch's t-test and the
//! Mann-Whitney U test, both two-sided — what the paper reports when it says one method's
//! discovered architectures beat another's.
//!
//! Seed samples are small (four runs a method is usual), and a search over a finite table often
//! ends on the same architecture in several seeds, so ties and zero variances are normal input,
//! not corner cases: [`welch_t_test`] says what it does when the standard error is zero, and
//! [`mann_whitney_u`] is exact (a permutation test over every split of the pooled samples, ties
//! given mid-ranks) whenever the samples are small enough to enumerate.
//!
//! ```
//! use tangle_twostage::stats::{mann_whitney_u, welch_t_test, MeanStd};
//!
//! let a = [0.90, 0.92, 0.91, 0.93];
//! let b = [0.80, 0.85, 0.82, 0.84];
//! let s = MeanStd::of(&a)?;
//! assert!((s.mean - 0.915).abs() < 1e-12);
//! assert!(welch_t_test(&a, &b)?.p_value < 0.01);
//! // Every value of `a` above every value of `b`: 2 of the 70 splits are as extreme.
//! assert!((mann_whitney_u(&a, &b)?.p_value - 2.0 / 70.0).abs() < 1e-12);
//! # Ok::<(), tangle_twostage::TwoStageError>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{Result, TwoStageError};
use tangle_optim::special::ln_gamma;

/// Mean and sample standard deviation (n − 1 in the denominator) of one method's runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanStd {
    /// Number of runs.
    pub n: usize,
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation; 0 for a single run.
    pub std: f64,
}

impl MeanStd {
    /// The summary of `xs`; an error for an empty or non-finite sample.
    pub fn of(xs: &[f64]) -> Result<Self> {
        check("sample", xs, 1)?;
        let n = xs.len();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let std = if n > 1 {
            (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Ok(MeanStd { n, mean, std })
    }
}

/// A two-sided test's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    /// The statistic: Welch's t, or the Mann-Whitney U of the first sample.
    pub statistic: f64,
    /// Welch's degrees of freedom (none for Mann-Whitney).
    pub df: Option<f64>,
    /// Two-sided p-value.
    pub p_value: f64,
    /// How the p-value was computed: `"t"`, `"exact"` (every split enumerated) or `"normal"`
    /// (the normal approximation with tie and continuity corrections).
    pub method: &'static str,
}

fn check(name: &str, xs: &[f64], min: usize) -> Result<()> {
    if xs.len() < min {
        return Err(TwoStageError::Config(format!(
            "{name} has {} values; the test needs at least {min}",
            xs.len()
        )));
    }
    if let Some(x) = xs.iter().find(|x| !x.is_finite()) {
        return Err(TwoStageError::Config(format!(
            "{name} holds a non-finite value ({x})"
        )));
    }
    Ok(())
}

/// Welch's two-sample t-test (unequal variances), two-sided, as `scipy.stats.ttest_ind(a, b,
/// equal_var=False)`. Each sample needs two values. When both samples have zero variance the
/// standard error is zero: equal means give t = 0 and p = 1, different means t = ±∞ and p = 0
/// (SciPy returns NaN for the first case).
pub fn welch_t_test(a: &[f64], b: &[f64]) -> Result<TestResult> {
    check("first sample", a, 2)?;
    check("second sample", b, 2)?;
    let (sa, sb) = (MeanStd::of(a)?, MeanStd::of(b)?);
    let (va, vb) = (
        sa.std * sa.std / a.len() as f64,
        sb.std * sb.std / b.len() as f64,
    );
    let se2 = va + vb;
    let diff = sa.mean - sb.mean;
    if se2 == 0.0 {
        let (statistic, p_value) = if diff == 0.0 {
            (0.0, 1.0)
        } else {
            (diff.signum() * f64::INFINITY, 0.0)
        };
        return Ok(TestResult {
            statistic,
            df: None,
            p_value,
            method: "t",
        });
    }
    let t = diff / se2.sqrt();
    let df = se2 * se2 / (va * va / (a.len() - 1) as f64 + vb * vb / (b.len() - 1) as f64);
    // P(|T| > |t|) for Student's t with df degrees of freedom = I_{df/(df+t²)}(df/2, 1/2).
    let p_value = beta_regularized(df / 2.0, 0.5, df / (df + t * t)).clamp(0.0, 1.0);
    Ok(TestResult {
        statistic: t,
        df: Some(df),
        p_value,
        method: "t",
    })
}

/// Splits of the pooled sample up to which [`mann_whitney_u`] is exact.
const EXACT_SPLITS: f64 = 200_000.0;

/// The Mann-Whitney U test, two-sided. U is the first sample's: the number of pairs (x from
/// `a`, y from `b`) with x > y, ties counting one half. When the pooled sample has at most
/// 200,000 splits into groups of the two sizes (for example 10 + 10), the p-value is exact: the
/// share of all splits whose U is at least as far from its mean n_a·n_b/2 as the observed one
/// (a permutation test; with ties it conditions on them, without ties it equals
/// `scipy.stats.mannwhitneyu(a, b, method="exact")`). Larger samples use the normal
/// approximation with tie and continuity corrections (SciPy's `method="asymptotic"`).
pub fn mann_whitney_u(a: &[f64], b: &[f64]) -> Result<TestResult> {
    check("first sample", a, 1)?;
    check("second sample", b, 1)?;
    let (na, nb) = (a.len(), b.len());
    let pooled: Vec<f64> = a.iter().chain(b).copied().collect();
    let ranks = mid_ranks(&pooled);
    let u_of = |members: &[usize]| -> f64 {
        let r: f64 = members.iter().map(|&i| ranks[i]).sum();
        r - (na * (na + 1)) as f64 / 2.0
    };
    let first: Vec<usize> = (0..na).collect();
    let u = u_of(&first);
    let centre = (na * nb) as f64 / 2.0;
    let n = na + nb;
    if ln_choose(n, na) <= EXACT_SPLITS.ln() {
        let far = (u - centre).abs() - 1e-9;
        let (mut extreme, mut total) = (0u64, 0u64);
        let mut members: Vec<usize> = (0..na).collect();
        loop {
            total += 1;
            if (u_of(&members) - centre).abs() >= far {
                extreme += 1;
            }
            if !next_combination(&mut members, n) {
                break;
            }
        }
        return Ok(TestResult {
            statistic: u,
            df: None,
            p_value: extreme as f64 / total as f64,
            method: "exact",
        });
    }
    // Normal approximation: variance with the tie correction, 0.5 continuity correction.
    let mut sorted = pooled.clone();
    sorted.sort_by(f64::total_cmp);
    let mut ties = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && sorted[j + 1] == sorted[i] {
            j += 1;
        }
        let t = (j - i + 1) as f64;
        ties += t * t * t - t;
        i = j + 1;
    }
    let (fa, fb, fnn) = (na as f64, nb as f64, n as f64);
    let var = fa * fb / 12.0 * ((fnn + 1.0) - ties / (fnn * (fnn - 1.0)));
    let p_value = if var <= 0.0 {
        1.0
    } else {
        let z = ((u - centre).abs() - 0.5).max(0.0) / var.sqrt();
        (2.0 * normal_upper_tail(z)).min(1.0)
    };
    Ok(TestResult {
        statistic: u,
        df: None,
        p_value,
        method: "normal",
    })
}

/// 1-based ranks of `xs`, tied values sharing the mean of their ranks.
fn mid_ranks(xs: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..xs.len()).collect();
    order.sort_by(|&i, &j| xs[i].total_cmp(&xs[j]));
    let mut ranks = vec![0.0; xs.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && xs[order[j + 1]] == xs[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        i = j + 1;
    }
    ranks
}

/// The next `k`-subset of `0..n` in lexicographic order; false after the last.
fn next_combination(c: &mut [usize], n: usize) -> bool {
    let k = c.len();
    let mut i = k;
    while i > 0 {
        i -= 1;
        if c[i] < n - k + i {
            c[i] += 1;
            for j in i + 1..k {
                c[j] = c[j - 1] + 1;
            }
            return true;
        }
    }
    false
}

fn ln_choose(n: usize, k: usize) -> f64 {
    ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0)
}

/// P(Z > z) for a standard normal Z: erfc(z/√2)/2, with erfc from its continued fraction for
/// large arguments and the series of the incomplete gamma function otherwise.
fn normal_upper_tail(z: f64) -> f64 {
    if z < 0.0 {
        return 1.0 - normal_upper_tail(-z);
    }
    // erfc(x) = Q(1/2, x²), the upper regularized incomplete gamma function.
    let x2 = z * z / 2.0;
    0.5 * (1.0 - tangle_optim::special::gamma_p(0.5, x2))
}

/// The regularized incomplete beta function I_x(a, b), from its continued fraction (modified
/// Lentz), using the symmetry I_x(a, b) = 1 − I_{1−x}(b, a) where the fraction converges slowly.
fn beta_regularized(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_fraction(a, b, x) / a
    } else {
        1.0 - ln_front.exp() * beta_fraction(b, a, 1.0 - x) / b
    }
}

fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let guard = |v: f64| if v.abs() < TINY { TINY } else { v };
    // One term `aa` of the fraction in Lentz's method: the updated (c, d) and their product.
    let term = |aa: f64, c: f64, d: f64| {
        let d = 1.0 / guard(1.0 + aa * d);
        let c = guard(1.0 + aa / c);
        (c, d, c * d)
    };
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 / guard(1.0 - qab * x / qap);
    let mut h = d;
    for m in 1..=500 {
        let (m, m2) = (m as f64, 2.0 * m as f64);
        // The even term, then the odd one.
        let (c1, d1, del) = term(m * (b - m) * x / ((qam + m2) * (a + m2)), c, d);
        h *= del;
        let (c2, d2, del) = term(-(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)), c1, d1);
        h *= del;
        (c, d) = (c2, d2);
        if (del - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} vs {b}");
    }

    #[test]
    fn mean_and_sample_std() {
        let s = MeanStd::of(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        close(s.mean, 5.0, 1e-12);
        // Σ(x − 5)² = 32, over n − 1 = 7.
        close(s.std, (32.0f64 / 7.0).sqrt(), 1e-12);
        assert_eq!(MeanStd::of(&[3.0]).unwrap().std, 0.0);
        assert!(MeanStd::of(&[]).is_err());
        let e = MeanStd::of(&[1.0, f64::NAN]).unwrap_err().to_string();
        assert!(e.contains("non-finite"), "{e}");
    }

    // Reference values: SciPy 1.x, `scipy.stats.ttest_ind(a, b, equal_var=False)`.
    #[test]
    fn welch_matches_scipy() {
        let a = [0.90, 0.92, 0.91, 0.93];
        let b = [0.80, 0.85, 0.82, 0.84];
        let r = welch_t_test(&a, &b).unwrap();
        close(r.statistic, SCIPY_WELCH_1.0, 1e-9);
        close(r.df.unwrap(), SCIPY_WELCH_1.1, 1e-9);
        close(r.p_value, SCIPY_WELCH_1.2, 1e-9);
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [2.5, 2.0, 9.0];
        let r = welch_t_test(&a, &b).unwrap();
        close(r.statistic, SCIPY_WELCH_2.0, 1e-9);
        close(r.df.unwrap(), SCIPY_WELCH_2.1, 1e-9);
        close(r.p_value, SCIPY_WELCH_2.2, 1e-9);
    }

    #[test]
    fn welch_zero_variance_and_bad_input() {
        let r = welch_t_test(&[1.0, 1.0], &[1.0, 1.0, 1.0]).unwrap();
        assert_eq!((r.statistic, r.p_value), (0.0, 1.0));
        let r = welch_t_test(&[1.0, 1.0], &[0.5, 0.5]).unwrap();
        assert_eq!((r.statistic, r.p_value), (f64::INFINITY, 0.0));
        let e = welch_t_test(&[1.0], &[1.0, 2.0]).unwrap_err().to_string();
        assert!(e.contains("first sample has 1 values"), "{e}");
    }

    // Reference values: `scipy.stats.mannwhitneyu(a, b, method="exact")` (no ties) and
    // `method="asymptotic"` (large samples, with ties).
    #[test]
    fn mann_whitney_exact_matches_scipy() {
        let a = [0.90, 0.92, 0.91, 0.93];
        let b = [0.80, 0.85, 0.82, 0.84];
        let r = mann_whitney_u(&a, &b).unwrap();
        assert_eq!((r.statistic, r.method), (16.0, "exact"));
        close(r.p_value, 2.0 / 70.0, 1e-12);
        let a = [1.1, 3.4, 2.2, 7.5, 0.3];
        let b = [2.9, 4.4, 5.1, 6.0, 8.2, 9.7];
        let r = mann_whitney_u(&a, &b).unwrap();
        close(r.statistic, SCIPY_MWU_EXACT.0, 1e-12);
        close(r.p_value, SCIPY_MWU_EXACT.1, 1e-12);
    }

    #[test]
    fn mann_whitney_with_ties_is_a_permutation_test() {
        // All equal: every split is as extreme as the observed one.
        let r = mann_whitney_u(&[1.0; 4], &[1.0; 4]).unwrap();
        assert_eq!((r.statistic, r.p_value), (8.0, 1.0));
        // a = [1, 1, 2, 3], b = [2, 4, 5, 6]: against U counted pair by pair over all 70
        // splits, and against SciPy's permutation test of the same statistic.
        let r = mann_whitney_u(&[1.0, 1.0, 2.0, 3.0], &[2.0, 4.0, 5.0, 6.0]).unwrap();
        close(r.statistic, 1.5, 1e-12);
        close(
            r.p_value,
            brute_force_p(&[1.0, 1.0, 2.0, 3.0], &[2.0, 4.0, 5.0, 6.0]),
            1e-12,
        );
        close(r.p_value, SCIPY_MWU_TIES_PERMUTATION, 1e-12);
    }

    #[test]
    fn mann_whitney_large_samples_match_scipy_asymptotic() {
        let a: Vec<f64> = (0..15).map(|i| ((i * 7) % 11) as f64).collect();
        let b: Vec<f64> = (0..14).map(|i| ((i * 5) % 13) as f64 + 1.5).collect();
        let r = mann_whitney_u(&a, &b).unwrap();
        assert_eq!(r.method, "normal");
        close(r.statistic, SCIPY_MWU_ASYMPTOTIC.0, 1e-9);
        close(r.p_value, SCIPY_MWU_ASYMPTOTIC.1, 1e-9);
    }

    // SciPy 1.17.1: `ttest_ind(a, b, equal_var=False)` and `mannwhitneyu(a, b, method=...)` on
    // the samples of the tests above.
    const SCIPY_WELCH_1: (f64, f64, f64) = (
        6.8204829258471396,
        4.8242720948209294,
        0.0011898318169612197,
    );
    const SCIPY_WELCH_2: (f64, f64, f64) =
        (-0.42008402520840293, 2.472330642142972, 0.7081906810444178);
    const SCIPY_MWU_EXACT: (f64, f64) = (5.0, 0.08225108225108226);
    const SCIPY_MWU_ASYMPTOTIC: (f64, f64) = (74.0, 0.18287676742072978);
    /// `scipy.stats.permutation_test((a, b), |U − 8|, permutation_type="independent",
    /// alternative="greater", n_resamples=inf)` for a = [1, 1, 2, 3], b = [2, 4, 5, 6].
    const SCIPY_MWU_TIES_PERMUTATION: f64 = 0.08571428571428572;

    /// The permutation p-value written out plainly: U from pairwise comparisons for every split.
    fn brute_force_p(a: &[f64], b: &[f64]) -> f64 {
        let pooled: Vec<f64> = a.iter().chain(b).copied().collect();
        let n = pooled.len();
        let u = |first: &[f64], second: &[f64]| -> f64 {
            let mut s = 0.0;
            for x in first {
                for y in second {
                    s += if x > y {
                        1.0
                    } else if x == y {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
            s
        };
        let centre = (a.len() * b.len()) as f64 / 2.0;
        let observed = (u(a, b) - centre).abs();
        let (mut extreme, mut total) = (0, 0);
        for mask in 0u32..(1 << n) {
            if mask.count_ones() as usize != a.len() {
                continue;
            }
            let (x, y): (Vec<f64>, Vec<f64>) = {
                let mut x = vec![];
                let mut y = vec![];
                for (i, &v) in pooled.iter().enumerate() {
                    if mask & (1 << i) != 0 {
                        x.push(v)
                    } else {
                        y.push(v)
                    }
                }
                (x, y)
            };
            total += 1;
            if (u(&x, &y) - centre).abs() >= observed - 1e-9 {
                extreme += 1;
            }
        }
        extreme as f64 / total as f64
    }

    #[test]
    fn normal_tail_and_incomplete_beta() {
        close(normal_upper_tail(1.959963984540054), 0.025, 1e-12);
        close(normal_upper_tail(0.0), 0.5, 1e-15);
        // I_x(1, 1) = x; I_x(a, 1) = x^a.
        close(beta_regularized(1.0, 1.0, 0.3), 0.3, 1e-14);
        close(beta_regularized(2.5, 1.0, 0.6), 0.6f64.powf(2.5), 1e-13);
    }
}
