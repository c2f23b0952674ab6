//! Epochs without an α update (warm-up, SPOS) never touch the validation data.
mod common;
use common::*;

use std::sync::atomic::{AtomicUsize, Ordering};

use burn::tensor::Tensor;
use tangle_optim::{ArchStep, Darts, Method, Mixer, Regression, Search, SearchConfig, SearchData};

/// [`ProbeData`] that counts the validation batches it serves.
struct Counting {
    inner: ProbeData<AB>,
    valid_calls: AtomicUsize,
}

impl SearchData<Tensor<AB, 2>, Tensor<AB, 2>> for Counting {
    fn steps_per_epoch(&self) -> usize {
        self.inner.steps_per_epoch()
    }
    fn train(&self, epoch: usize, step: usize) -> (Tensor<AB, 2>, Tensor<AB, 2>) {
        self.inner.train(epoch, step)
    }
    fn valid(&self, epoch: usize, step: usize) -> (Tensor<AB, 2>, Tensor<AB, 2>) {
        self.valid_calls.fetch_add(1, Ordering::SeqCst);
        self.inner.valid(epoch, step)
    }
}

#[test]
fn warm_up_epochs_skip_the_validation_pass() {
    let device = Default::default();
    let data = Counting {
        inner: ProbeData::new(1, 3, 4, &device),
        valid_calls: AtomicUsize::new(0),
    };
    let mut search = Search::new(
        Probe::<AB>::new(false, &device),
        Darts::softmax(),
        SearchConfig {
            epochs: 3,
            warmup_epochs: 2,
            ..SearchConfig::default()
        },
        0,
        &device,
    )
    .unwrap();
    let records = search.run(&data, &Regression).unwrap();
    assert_eq!(
        data.valid_calls.load(Ordering::SeqCst),
        3,
        "only the one α epoch (3 steps) reads validation batches"
    );
    assert!(records[0].valid_loss.is_none() && records[1].valid_loss.is_none());
    assert!(records[2].valid_loss.is_some_and(|v| v.is_finite()));
    // The α of a warm-up epoch did not move.
    assert_eq!(records[0].alpha, records[1].alpha);
    assert_ne!(records[1].alpha, records[2].alpha);
}

/// SPOS is a method without α: no α step and no validation pass in any epoch, whatever the
/// warm-up setting, and no architecture of its own — while the weights still train.
#[test]
fn spos_never_reads_validation_data_and_has_no_architecture() {
    let device = Default::default();
    let data = Counting {
        inner: ProbeData::new(2, 3, 4, &device),
        valid_calls: AtomicUsize::new(0),
    };
    let config = SearchConfig {
        epochs: 3,
        warmup_epochs: 0,
        ..SearchConfig::default()
    };
    let mut search = Search::with_method(
        Probe::<AB>::new(false, &device),
        Method::Spos,
        config,
        0,
        &device,
    )
    .unwrap();
    let before = search.model.fc.weight.val().into_data();
    let records = search.run(&data, &Regression).unwrap().to_vec();
    assert_eq!(data.valid_calls.load(Ordering::SeqCst), 0);
    assert!(search.alphas.alpha.is_empty());
    for r in &records {
        assert!(r.valid_loss.is_none() && r.architecture.is_none() && r.alpha.is_empty());
    }
    // The weights trained (the loss of randomly drawn paths need not fall monotonically).
    assert_ne!(search.model.fc.weight.val().into_data(), before);
    assert!(records.iter().all(|r| r.train_loss.is_finite()));
    assert!(search.architecture().is_err());
}

/// The method value carries its α step: DARTS v2 runs the second-order step (one extra
/// validation pass and unrolled weight step per α step is not observable here, but the
/// config the search runs with is), and every method with α reads validation batches.
#[test]
fn with_method_sets_the_alpha_step_and_the_mixer() {
    let device = Default::default();
    for method in Method::ALL {
        let data = Counting {
            inner: ProbeData::new(3, 2, 4, &device),
            valid_calls: AtomicUsize::new(0),
        };
        let config = SearchConfig {
            epochs: 1,
            arch_step: ArchStep::SecondOrder, // overridden by the method
            ..SearchConfig::default()
        };
        let mut search =
            Search::with_method(Probe::<AB>::new(false, &device), method, config, 0, &device)
                .unwrap();
        assert_eq!(
            Some(search.config.arch_step).filter(|_| method.has_alpha()),
            method.arch_step(),
            "{method}"
        );
        assert_eq!(
            Mixer::<AB>::name(&search.mixer),
            method.name().split('-').next().unwrap()
        );
        search.run(&data, &Regression).unwrap();
        assert_eq!(
            data.valid_calls.load(Ordering::SeqCst) > 0,
            method.has_alpha(),
            "{method}"
        );
        assert_eq!(
            search.architecture().is_ok(),
            method.has_alpha(),
            "{method}"
        );
    }
}
