//! Checkpoint and resume: a search stopped after epoch k and resumed ends bit-identical to an
//! uninterrupted one. Also: non-finite losses are typed errors naming epoch and step.
mod common;
use common::*;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::tensor::Tensor;
use tangle_optim::{
    Drnas, Gdas, Method, Mixer, Objective, OptimError, Regression, Search, SearchConfig,
    WeightOptimizer,
};

fn config(opt: WeightOptimizer) -> SearchConfig {
    probe_config(opt)
}

fn weights(s: &Search<AB, Probe<AB>, impl Mixer<AB>>) -> Vec<f32> {
    s.model.fc.weight.val().into_data().to_vec::<f32>().unwrap()
}

fn check_resume<X: Mixer<AB> + Clone + Send>(
    make: impl Fn() -> X,
    opt: WeightOptimizer,
    name: &str,
) {
    let device = Default::default();
    let data = ProbeData::<AB>::new(11, 6, 16, &device);
    // One initial supernet for all runs (weight init draws from the backend's global RNG).
    let probe = Probe::<AB>::new(false, &device);
    let build = || Search::new(probe.clone(), make(), config(opt), 5, &device).unwrap();

    let mut straight = build();
    straight.run(&data, &Regression).unwrap();

    let dir =
        std::env::temp_dir().join(format!("tangle-optim-resume-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut first = build();
    first.run_until(&data, &Regression, 2).unwrap();
    assert_eq!(
        first.records[1].alpha, straight.records[1].alpha,
        "{name}: runs differ before the checkpoint"
    );
    first.save_checkpoint(&dir).unwrap();
    let saved_weights = weights(&first);
    drop(first);
    let mut resumed = build().load_checkpoint(&dir, &device).unwrap();
    assert_eq!(resumed.epoch, 2);
    assert_eq!(
        resumed.alphas.values(),
        straight.records[1].alpha,
        "{name}: α not restored"
    );
    assert_eq!(
        weights(&resumed),
        saved_weights,
        "{name}: weights not restored"
    );
    resumed.run(&data, &Regression).unwrap();

    assert_eq!(
        resumed.alphas.values(),
        straight.alphas.values(),
        "{name}: α differs after resume"
    );
    assert_eq!(
        weights(&resumed),
        weights(&straight),
        "{name}: weights differ after resume"
    );
    // (SPOS has none: both are the same error.)
    assert_eq!(resumed.architecture().ok(), straight.architecture().ok());
    assert_eq!(
        resumed.records.last().unwrap().train_loss,
        straight.records.last().unwrap().train_loss
    );
    // Saving again over an existing checkpoint replaces it.
    resumed.save_checkpoint(&dir).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn drnas_with_sgd_momentum_resumes_bit_identically() {
    check_resume(
        || Drnas::new(9),
        WeightOptimizer::Sgd {
            momentum: 0.9,
            nesterov: true,
            weight_decay: 3e-4,
        },
        "drnas-sgd",
    );
}

#[test]
fn gdas_with_adam_resumes_bit_identically() {
    check_resume(
        || Gdas::new(9),
        WeightOptimizer::Adam { weight_decay: 0.0 },
        "gdas-adam",
    );
}

/// SPOS has no α: its checkpoint holds weights and optimizer state only, and resumes as well.
#[test]
fn spos_without_alpha_resumes_bit_identically() {
    check_resume(
        || Method::Spos.mixer(9),
        WeightOptimizer::Sgd {
            momentum: 0.9,
            nesterov: false,
            weight_decay: 3e-4,
        },
        "spos-sgd",
    );
}

#[test]
fn missing_or_foreign_checkpoint_is_an_error() {
    let device = Default::default();
    let s = Search::new(
        Probe::<AB>::new(false, &device),
        Drnas::new(1),
        config(WeightOptimizer::AdamW { weight_decay: 0.01 }),
        0,
        &device,
    )
    .unwrap();
    let missing = std::env::temp_dir().join("tangle-optim-no-such-checkpoint");
    assert!(matches!(
        s.load_checkpoint(&missing, &device),
        Err(OptimError::Io { .. })
    ));
    // A checkpoint written by another mixer is refused.
    let dir = std::env::temp_dir().join(format!("tangle-optim-foreign-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let g = Search::new(
        Probe::<AB>::new(false, &device),
        Gdas::new(1),
        config(WeightOptimizer::AdamW { weight_decay: 0.01 }),
        0,
        &device,
    )
    .unwrap();
    g.save_checkpoint(&dir).unwrap();
    let d = Search::new(
        Probe::<AB>::new(false, &device),
        Drnas::new(1),
        config(WeightOptimizer::AdamW { weight_decay: 0.01 }),
        0,
        &device,
    )
    .unwrap();
    assert!(matches!(
        d.load_checkpoint(&dir, &device),
        Err(OptimError::Config(_))
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A loss that turns NaN at a given call.
struct Poisoned {
    at: AtomicUsize,
}

impl Objective<AB, Tensor<AB, 2>, Tensor<AB, 2>> for Poisoned {
    fn loss(&self, output: Tensor<AB, 2>, target: &Tensor<AB, 2>) -> Tensor<AB, 1> {
        let left = self.at.load(Ordering::SeqCst);
        self.at.store(left.saturating_sub(1), Ordering::SeqCst);
        let l = (output - target.clone()).powf_scalar(2.0).mean();
        if left == 1 {
            l * f32::NAN
        } else {
            l
        }
    }
}

#[test]
fn nan_loss_is_a_typed_error_with_epoch_and_step() {
    let device = Default::default();
    let data = ProbeData::<AB>::new(1, 3, 8, &device);
    let mut s = Search::new(
        Probe::<AB>::new(false, &device),
        Drnas::new(1),
        config(WeightOptimizer::Adam { weight_decay: 0.0 }),
        0,
        &device,
    )
    .unwrap();
    // One loss per step during warm-up (weights; the validation split is not touched) and two
    // after it (α, weights): the 6th loss is epoch 1, step 1, validation.
    let err = s
        .run(
            &data,
            &Poisoned {
                at: AtomicUsize::new(6),
            },
        )
        .unwrap_err();
    match err {
        OptimError::NonFinite { epoch, step, what } => {
            assert_eq!((epoch, step), (1, 1), "{what}");
            assert!(what.contains("validation"), "{what}");
        }
        other => panic!("expected NonFinite, got {other:?}"),
    }
}

#[test]
fn a_save_killed_midway_leaves_the_last_good_checkpoint() {
    let device = Default::default();
    let data = ProbeData::<AB>::new(11, 3, 16, &device);
    let probe = Probe::<AB>::new(false, &device);
    let opt = WeightOptimizer::Sgd {
        momentum: 0.9,
        nesterov: false,
        weight_decay: 3e-4,
    };
    let build = || Search::new(probe.clone(), Drnas::new(5), config(opt), 5, &device).unwrap();
    let dir = std::env::temp_dir().join(format!("tangle-optim-killed-save-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut s = build();
    s.run_until(&data, &Regression, 1).unwrap();
    assert!(!tangle_optim::checkpoint_exists(&dir));
    s.save_checkpoint(&dir).unwrap();
    assert!(tangle_optim::checkpoint_exists(&dir));
    s.run_until(&data, &Regression, 2).unwrap();
    s.save_checkpoint(&dir).unwrap();
    // Two saves leave one checkpoint folder, the one LATEST names.
    let folders: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(folders, ["epoch-2"]);
    let good = weights(&s);
    // A third save killed before it named its folder: a half-written scratch folder and a
    // complete-looking later folder that LATEST does not name.
    std::fs::create_dir_all(dir.join(".epoch-3.partial")).unwrap();
    std::fs::write(dir.join(".epoch-3.partial").join("model.bpk"), b"half").unwrap();
    std::fs::create_dir_all(dir.join("epoch-3")).unwrap();
    std::fs::write(dir.join("epoch-3").join("state.json"), b"{\"epoch\": 3}").unwrap();
    let resumed = build().load_checkpoint(&dir, &device).unwrap();
    assert_eq!(resumed.epoch, 2);
    assert_eq!(weights(&resumed), good);
    // Saving again cleans the leftovers and still resumes.
    let mut resumed = resumed;
    resumed.run_until(&data, &Regression, 3).unwrap();
    resumed.save_checkpoint(&dir).unwrap();
    assert_eq!(build().load_checkpoint(&dir, &device).unwrap().epoch, 3);
    std::fs::remove_dir_all(&dir).unwrap();
}
