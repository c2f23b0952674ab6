//! Data-parallel search (`Search::with_peers`): N CPU peers, each on its rows of every batch,
//! end where one peer on the whole batch ends — α, architecture, weights and the recorded
//! losses — for every method, including uneven splits, DARTS v2's five reduced gradients and a
//! checkpoint taken and resumed on peers. Also the errors a bad setting gets.
mod common;
use common::*;

use burn::backend::flex::FlexDevice;
use tangle_optim::{Method, Peers, Regression, Search, SearchConfig, WeightOptimizer};

struct Outcome {
    alpha: Vec<Vec<f32>>,
    weight: Vec<f32>,
    bias: Vec<f32>,
    train_loss: Vec<f32>,
    valid_loss: Vec<Option<f32>>,
    arch: Option<tangle_core::Architecture>,
}

fn config(opt: WeightOptimizer) -> SearchConfig {
    // Clipping too: the global norm must be the whole batch's, computed after the all-reduce.
    SearchConfig {
        grad_clip: Some(5.0),
        ..probe_config(opt)
    }
}

fn sgd() -> WeightOptimizer {
    WeightOptimizer::Sgd {
        momentum: 0.9,
        nesterov: false,
        weight_decay: 3e-4,
    }
}

fn outcome(s: &Search<AB, Probe<AB>, tangle_optim::MethodMixer>) -> Outcome {
    let host = |t: burn::tensor::Tensor<AB, 1>| t.into_data().to_vec::<f32>().unwrap();
    Outcome {
        alpha: s.alphas.values(),
        weight: s.model.fc.weight.val().into_data().to_vec::<f32>().unwrap(),
        bias: host(s.model.fc.bias.as_ref().unwrap().val()),
        train_loss: s.records.iter().map(|r| r.train_loss).collect(),
        valid_loss: s.records.iter().map(|r| r.valid_loss).collect(),
        arch: s.architecture().ok(),
    }
}

fn search(
    probe: &Probe<AB>,
    method: Method,
    opt: WeightOptimizer,
    peers: usize,
) -> Search<AB, Probe<AB>, tangle_optim::MethodMixer> {
    let s = Search::with_method(probe.clone(), method, config(opt), 7, &FlexDevice).unwrap();
    if peers > 1 {
        s.with_peers(Peers::threads(FlexDevice, peers).unwrap())
    } else {
        s
    }
}

fn run(
    probe: &Probe<AB>,
    method: Method,
    opt: WeightOptimizer,
    peers: usize,
    batch: usize,
) -> Outcome {
    let data = ProbeData::<AB>::new(3, 5, batch, &FlexDevice);
    let mut s = search(probe, method, opt, peers);
    s.run(&data, &Regression).unwrap();
    outcome(&s)
}

fn close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 2e-5 * (1.0 + w.abs()),
            "{what}[{i}]: {g} on peers, {w} on one"
        );
    }
}

fn same(got: &Outcome, want: &Outcome, what: &str) {
    for (d, (g, w)) in got.alpha.iter().zip(&want.alpha).enumerate() {
        close(g, w, &format!("{what}: α of decision {d}"));
    }
    assert_eq!(got.alpha.len(), want.alpha.len(), "{what}: α decisions");
    close(&got.weight, &want.weight, &format!("{what}: weight"));
    close(&got.bias, &want.bias, &format!("{what}: bias"));
    close(
        &got.train_loss,
        &want.train_loss,
        &format!("{what}: training loss"),
    );
    let v = |o: &Outcome| {
        o.valid_loss
            .iter()
            .map(|v| v.unwrap_or(-1.0))
            .collect::<Vec<_>>()
    };
    close(&v(got), &v(want), &format!("{what}: validation loss"));
    assert_eq!(got.arch, want.arch, "{what}: architecture");
}

fn check(method: Method, opt: WeightOptimizer) {
    let probe = Probe::<AB>::new(false, &FlexDevice);
    let one = run(&probe, method, opt, 1, 24);
    // The search must have moved, or agreement would say nothing.
    let start = search(&probe, method, opt, 1);
    if !one.alpha.is_empty() {
        assert_ne!(one.alpha, start.alphas.values(), "{method}: α never moved");
    }
    for peers in [2, 4, 5] {
        // 24 rows over 5 peers: shares of 4 and 5 rows, weighted by their size.
        let got = run(&probe, method, opt, peers, 24);
        same(&got, &one, &format!("{method} on {peers} peers"));
    }
}

#[test]
fn drnas_on_peers_equals_one_peer() {
    check(Method::Drnas, sgd());
}

#[test]
fn gdas_on_peers_equals_one_peer() {
    // GDAS samples one hard path per step: every peer must draw the same one, or their
    // gradient sets differ and the all-reduce fails.
    check(Method::Gdas, WeightOptimizer::Adam { weight_decay: 0.0 });
}

#[test]
fn spos_on_peers_equals_one_peer() {
    // SPOS samples a uniform single path per step: the same on every peer.
    check(Method::Spos, sgd());
}

#[test]
fn darts_v2_on_peers_equals_one_peer() {
    // Five gradients per α step (training, validation for α and for w′, w⁺, w⁻), each reduced.
    check(Method::DartsV2, sgd());
}

#[test]
fn darts_v1_with_adamw_on_peers_equals_one_peer() {
    check(
        Method::DartsV1,
        WeightOptimizer::AdamW { weight_decay: 0.01 },
    );
}

/// Dropout draws its masks from each pass's seeded stream (the search's seed, the draw, the
/// peer), not from Burn's one generator shared by the peers' threads in a scheduling-dependent
/// order: a search with dropout on peers ends in the same state every time it is run.
#[test]
fn a_search_with_dropout_on_peers_is_reproducible() {
    let mut probe = Probe::<AB>::new(false, &FlexDevice);
    probe.dropout = 0.3;
    for method in [Method::Drnas, Method::Gdas] {
        let first = run(&probe, method, sgd(), 2, 24);
        for _ in 0..2 {
            let again = run(&probe, method, sgd(), 2, 24);
            assert_eq!(again.alpha, first.alpha, "{method}: α");
            assert_eq!(again.weight, first.weight, "{method}: weights");
            assert_eq!(
                again.train_loss, first.train_loss,
                "{method}: training loss"
            );
        }
        // The masks do act: without dropout the search ends elsewhere.
        let plain = run(&Probe::<AB>::new(false, &FlexDevice), method, sgd(), 2, 24);
        assert_ne!(
            plain.weight, first.weight,
            "{method}: dropout changed nothing"
        );
    }
}

#[test]
fn checkpoint_and_resume_on_peers_equals_an_uninterrupted_run() {
    let probe = Probe::<AB>::new(false, &FlexDevice);
    let one = run(&probe, Method::Drnas, sgd(), 1, 24);
    let data = ProbeData::<AB>::new(3, 5, 24, &FlexDevice);
    let dir = std::env::temp_dir().join(format!("tangle-optim-peers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut first = search(&probe, Method::Drnas, sgd(), 2);
    // Two sessions on the same peers (register, finish, register again), then a checkpoint.
    first.run_until(&data, &Regression, 1).unwrap();
    first.run_until(&data, &Regression, 2).unwrap();
    first.save_checkpoint(&dir).unwrap();
    let mut records = first.records.clone();
    drop(first);
    let mut resumed = search(&probe, Method::Drnas, sgd(), 3)
        .load_checkpoint(&dir, &FlexDevice)
        .unwrap();
    resumed.run(&data, &Regression).unwrap();
    records.extend(resumed.records.iter().cloned());
    resumed.records = records;
    same(&outcome(&resumed), &one, "resumed on peers");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_batch_smaller_than_the_peer_count_is_an_error_naming_both() {
    let probe = Probe::<AB>::new(false, &FlexDevice);
    let data = ProbeData::<AB>::new(3, 2, 3, &FlexDevice);
    let mut s = search(&probe, Method::Drnas, sgd(), 4);
    let err = s.run(&data, &Regression).unwrap_err().to_string();
    assert!(
        err.contains("3 rows") && err.contains("4 peers"),
        "unhelpful error: {err}"
    );
}

#[test]
fn bad_peer_settings_are_errors_naming_the_setting() {
    let err = Peers::<FlexDevice>::new(vec![]).unwrap_err().to_string();
    assert!(err.contains("device list is empty"), "{err}");
    let err = Peers::threads(FlexDevice, 0).unwrap_err().to_string();
    assert!(err.contains("0 threads"), "{err}");
    let err = Peers::threads(FlexDevice, 2)
        .unwrap()
        .across_nodes(2, 2, "ws://127.0.0.1:3000", "ws://127.0.0.1:3001", 3002)
        .unwrap_err()
        .to_string();
    assert!(err.contains("one device per process"), "{err}");
    let err = Peers::threads(FlexDevice, 1)
        .unwrap()
        .across_nodes(2, 2, "ws://127.0.0.1:3000", "ws://127.0.0.1:3001", 3002)
        .unwrap_err()
        .to_string();
    assert!(err.contains("node index 2"), "{err}");
}

/// Mean squared error that panics on a batch part of `rows` rows: one peer of an uneven split.
struct PanicsOnRows(usize);

impl<B: burn::tensor::backend::Backend>
    tangle_optim::Objective<B, burn::tensor::Tensor<B, 2>, burn::tensor::Tensor<B, 2>>
    for PanicsOnRows
{
    fn loss(
        &self,
        output: burn::tensor::Tensor<B, 2>,
        target: &burn::tensor::Tensor<B, 2>,
    ) -> burn::tensor::Tensor<B, 1> {
        assert_ne!(
            target.dims()[0],
            self.0,
            "the objective rejects this peer's rows"
        );
        (output - target.clone()).powf_scalar(2.0).mean()
    }
}

#[test]
fn a_panicking_peer_stops_the_others_with_an_error_naming_it() {
    let probe = Probe::<AB>::new(false, &FlexDevice);
    // 5 rows on 2 peers: peer 0 takes 2, peer 1 takes 3 and panics, while peer 0 waits for it
    // in the all-reduce. Without the reset that wait never ends and this test hangs.
    let data = ProbeData::<AB>::new(3, 2, 5, &FlexDevice);
    let mut s = search(&probe, Method::Drnas, sgd(), 2);
    let err = s.run(&data, &PanicsOnRows(3)).unwrap_err();
    assert!(
        matches!(&err, tangle_optim::OptimError::PeerPanicked { rank: 1, message } if message.contains("rejects this peer's rows")),
        "{err}"
    );
    // The process's collective is usable again: the next search on peers completes.
    let mut s = search(&probe, Method::Drnas, sgd(), 2);
    s.run(&data, &Regression).unwrap();
}
