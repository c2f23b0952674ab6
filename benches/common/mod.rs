//! Helpers shared by the benches.
#![allow(dead_code)]

/// Median (ns) of one benchmark from this run's criterion estimates.
pub fn median(group: &str, id: &str, n: usize) -> Option<f64> {
    let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let path = format!("{dir}/criterion/{group}/{id}/{n}/new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64()
}

/// Peak resident memory of this process so far (Linux `VmHWM`), in MiB.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Child-process mode of a memory bench: one warm-up `step`, the median of three timed steps,
/// then the peak resident set, printed for [`measure_child`] to read.
pub fn report_child(step: impl Fn()) {
    step();
    let mut times: Vec<f64> = (0..3)
        .map(|_| {
            let t = std::time::Instant::now();
            step();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!("STEP {}", times[1]);
    println!("PEAK {}", peak_rss_mib().unwrap_or(f64::NAN));
}

/// Re-runs this bench as a child with `var=value` and reads back its `(median step ms, peak
/// MiB)`: every measurement gets a process of its own, so peak memory figures stay separate.
pub fn measure_child(var: &str, value: &str) -> Option<(f64, f64)> {
    let exe = std::env::current_exe().ok()?;
    let out = std::process::Command::new(exe)
        .env(var, value)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let read = |key: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
    };
    Some((read("STEP ")?, read("PEAK ")?))
}

/// Criterion as the op-level benches run it (`superposition`, `batch_norm`): 20 samples, 1 s
/// warm-up, 3 s of measurement per benchmark, command-line overrides honoured.
pub fn op_criterion() -> criterion::Criterion {
    criterion::Criterion::default()
        .configure_from_args()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3))
}

/// Labels `0, 1, …, classes − 1, 0, …` for a batch of `n`.
pub fn labels<B: burn::tensor::backend::Backend>(
    n: usize,
    classes: i64,
    device: &B::Device,
) -> burn::tensor::Tensor<B, 1, burn::tensor::Int> {
    burn::tensor::Tensor::from_data(
        burn::tensor::TensorData::new((0..n as i64).map(|i| i % classes).collect(), [n]),
        device,
    )
}

/// W3's batch: `batch` sequences of `context` token ids over a vocabulary of 65, and the same
/// ids shifted by one as targets.
#[allow(clippy::type_complexity)]
pub fn text_batch<B: burn::tensor::backend::Backend>(
    batch: usize,
    context: usize,
    device: &B::Device,
) -> (
    burn::tensor::Tensor<B, 2, burn::tensor::Int>,
    burn::tensor::Tensor<B, 2, burn::tensor::Int>,
) {
    use burn::tensor::{Tensor, TensorData};
    let ids: Vec<i64> = (0..batch * context).map(|i| (i * 7 % 65) as i64).collect();
    let y: Vec<i64> = ids.iter().map(|i| (i + 1) % 65).collect();
    (
        Tensor::from_data(TensorData::new(ids, [batch, context]), device),
        Tensor::from_data(TensorData::new(y, [batch, context]), device),
    )
}

/// A search's data that serves the same training and validation batch at every step of a
/// `steps`-step epoch: the benches measure compute, not data.
pub struct FixedBatches<I, T> {
    /// The training batch (weight steps).
    pub train: (I, T),
    /// The validation batch (α steps).
    pub valid: (I, T),
    /// Steps per epoch.
    pub steps: usize,
}

impl<I: Clone, T: Clone> tangle_optim::SearchData<I, T> for FixedBatches<I, T> {
    fn steps_per_epoch(&self) -> usize {
        self.steps
    }
    fn train(&self, _epoch: usize, _step: usize) -> (I, T) {
        self.train.clone()
    }
    fn valid(&self, _epoch: usize, _step: usize) -> (I, T) {
        self.valid.clone()
    }
}
