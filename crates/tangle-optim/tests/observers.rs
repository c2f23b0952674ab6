//! Observers: the run loop calls each at the start of a run, after every step and epoch and at
//! the end, in the order added, once per step on several peers too; an observer's error stops
//! the search with that error; the JSON-lines log is one of them.
mod common;
use common::*;

use std::sync::{Arc, Mutex};

use burn::backend::flex::FlexDevice;
use tangle_optim::{
    EpochRecord, Method, Observer, OptimError, Peers, Regression, Result, Search, WeightOptimizer,
};

/// Writes what it is told, tagged, into a shared list.
struct Tape(&'static str, Arc<Mutex<Vec<String>>>);

impl Observer for Tape {
    fn on_start(&mut self, first: usize, stop: usize, steps: usize) -> Result<()> {
        self.1
            .lock()
            .unwrap()
            .push(format!("{} start {first}..{stop} x{steps}", self.0));
        Ok(())
    }
    fn on_step(&mut self, epoch: usize, step: usize) -> Result<()> {
        self.1
            .lock()
            .unwrap()
            .push(format!("{} step {epoch}.{step}", self.0));
        Ok(())
    }
    fn on_epoch(&mut self, r: &EpochRecord) -> Result<()> {
        self.1
            .lock()
            .unwrap()
            .push(format!("{} epoch {}", self.0, r.epoch));
        Ok(())
    }
    fn on_end(&mut self, records: &[EpochRecord]) -> Result<()> {
        self.1
            .lock()
            .unwrap()
            .push(format!("{} end {}", self.0, records.len()));
        Ok(())
    }
}

fn sgd() -> WeightOptimizer {
    WeightOptimizer::Sgd {
        momentum: 0.9,
        nesterov: false,
        weight_decay: 3e-4,
    }
}

/// What observer `tag` should see over `calls` (epoch ranges), with `steps` steps an epoch; its
/// `on_end` gets all the search's records, so the count runs from the calls' first epoch.
fn expected(tag: &str, calls: &[(usize, usize)], steps: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut done = calls[0].0;
    for &(first, stop) in calls {
        out.push(format!("{tag} start {first}..{stop} x{steps}"));
        for e in first..stop {
            for s in 0..steps {
                out.push(format!("{tag} step {e}.{s}"));
            }
            out.push(format!("{tag} epoch {e}"));
            done += 1;
        }
        out.push(format!("{tag} end {done}"));
    }
    out
}

fn tape_of(peers: usize) -> Vec<String> {
    let tape = Arc::new(Mutex::new(Vec::new()));
    let probe = Probe::<AB>::new(false, &FlexDevice);
    let data = ProbeData::<AB>::new(3, 3, 10, &FlexDevice);
    let mut s = Search::with_method(probe, Method::Drnas, probe_config(sgd()), 7, &FlexDevice)
        .unwrap()
        .with_observer(Tape("a", tape.clone()));
    if peers > 1 {
        s = s.with_peers(Peers::threads(FlexDevice, peers).unwrap());
    }
    s.run_until(&data, &Regression, 1).unwrap();
    s = s.with_observer(Tape("b", tape.clone()));
    s.run(&data, &Regression).unwrap();
    let t = tape.lock().unwrap().clone();
    t
}

#[test]
fn observers_see_every_start_step_epoch_and_end_in_order() {
    let got = tape_of(1);
    // "a" saw both calls, "b" (added between them) only the second; each call's events by
    // observer in the order added.
    let a = expected("a", &[(0, 1), (1, 4)], 3);
    let b = expected("b", &[(1, 4)], 3);
    let only =
        |tag: &str| -> Vec<String> { got.iter().filter(|l| l.starts_with(tag)).cloned().collect() };
    assert_eq!(only("a "), a);
    assert_eq!(only("b "), b);
    // Within the second call every event reaches "a" first, then "b".
    let first_b = got.iter().position(|l| l.starts_with("b ")).unwrap();
    for pair in got[first_b - 1..].chunks(2) {
        assert_eq!(pair[0].replacen("a ", "", 1), pair[1].replacen("b ", "", 1));
    }
}

#[test]
fn on_several_peers_only_the_first_observes_once_per_step() {
    assert_eq!(tape_of(2), tape_of(1));
}

/// Fails at the second epoch.
struct FailAt(usize);

impl Observer for FailAt {
    fn on_epoch(&mut self, r: &EpochRecord) -> Result<()> {
        if r.epoch == self.0 {
            return Err(OptimError::Config(format!(
                "observer stop at epoch {}",
                r.epoch
            )));
        }
        Ok(())
    }
}

#[test]
fn an_observer_error_stops_the_search_with_that_error() {
    let probe = Probe::<AB>::new(false, &FlexDevice);
    let data = ProbeData::<AB>::new(3, 3, 10, &FlexDevice);
    let mut s = Search::with_method(probe, Method::Drnas, probe_config(sgd()), 7, &FlexDevice)
        .unwrap()
        .with_observer(FailAt(1));
    let err = s.run(&data, &Regression).unwrap_err().to_string();
    assert!(err.contains("observer stop at epoch 1"), "{err}");
    assert_eq!(
        s.records.len(),
        2,
        "the observed epoch is recorded, no later one runs"
    );
    // Removed, the search continues from there.
    s.observers_mut().clear();
    s.run(&data, &Regression).unwrap();
    assert_eq!(s.records.len(), 4);
}

#[test]
fn the_json_lines_log_is_an_observer_writing_one_line_per_epoch() {
    let path =
        std::env::temp_dir().join(format!("tangle-observer-log-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let probe = Probe::<AB>::new(false, &FlexDevice);
    let data = ProbeData::<AB>::new(3, 3, 10, &FlexDevice);
    let mut s = Search::with_method(probe, Method::Drnas, probe_config(sgd()), 7, &FlexDevice)
        .unwrap()
        .with_log(&path);
    s.run(&data, &Regression).unwrap();
    let lines: Vec<EpochRecord> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    for (line, record) in lines.iter().zip(&s.records) {
        assert_eq!(line.epoch, record.epoch);
        assert_eq!(line.train_loss, record.train_loss);
    }
    std::fs::remove_file(&path).unwrap();
}
