//! Epochs without an α update (warm-up, SPOS) never touch the validation data.
mod common;
use common::*;

use std::cell::Cell;

use burn::tensor::Tensor;
use tangle_optim::{Darts, Regression, Search, SearchConfig, SearchData};

/// [`ProbeData`] that counts the validation batches it serves.
struct Counting {
    inner: ProbeData<AB>,
    valid_calls: Cell<usize>,
}

impl SearchData<Tensor<AB, 2>, Tensor<AB, 2>> for Counting {
    fn steps_per_epoch(&self) -> usize {
        self.inner.steps_per_epoch()
    }
    fn train(&self, epoch: usize, step: usize) -> (Tensor<AB, 2>, Tensor<AB, 2>) {
        self.inner.train(epoch, step)
    }
    fn valid(&self, epoch: usize, step: usize) -> (Tensor<AB, 2>, Tensor<AB, 2>) {
        self.valid_calls.set(self.valid_calls.get() + 1);
        self.inner.valid(epoch, step)
    }
}

#[test]
fn warm_up_epochs_skip_the_validation_pass() {
    let device = Default::default();
    let data = Counting {
        inner: ProbeData::new(1, 3, 4, &device),
        valid_calls: Cell::new(0),
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
        data.valid_calls.get(),
        3,
        "only the one α epoch (3 steps) reads validation batches"
    );
    assert!(records[0].valid_loss.is_none() && records[1].valid_loss.is_none());
    assert!(records[2].valid_loss.is_some_and(|v| v.is_finite()));
    // The α of a warm-up epoch did not move.
    assert_eq!(records[0].alpha, records[1].alpha);
    assert_ne!(records[1].alpha, records[2].alpha);
}
