//! The `nanogpt` example end to end on a tiny setting: the discovered model is scored on text
//! held out from both the weights and α, `--reference` trains that same architecture alone, and
//! `--retrain` trains it from scratch for its own number of epochs.

mod support;

use std::process::Command;

use support::{example, run};

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn nanogpt_scores_held_out_text_trains_its_reference_and_retrains() {
    let out = std::env::temp_dir().join(format!("tangle-nanogpt-example-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let mut c = Command::new(example("nanogpt"));
    c.args([
        "--epochs",
        "2",
        "--alpha-warmup",
        "1",
        "--steps",
        "2",
        "--batch",
        "4",
        "--devices",
        "1",
        "--sample",
        "20",
        "--reference",
        "--retrain",
        "3",
    ]);
    c.arg("--out").arg(&out);
    let log = run(c);
    assert!(
        log.contains("training the discovered architecture alone"),
        "{log}"
    );

    let summary = json(&std::fs::read_to_string(out.join("summary.json")).unwrap());
    assert_eq!(summary["held_out_share"], 0.1);
    // Every score is a real loss: finite, and above zero.
    for key in [
        "held_out_loss",
        "alpha_split_loss_inherited",
        "held_out_loss_trained_alone",
        "held_out_loss_retrained",
    ] {
        let v = summary[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key}: {summary}"));
        assert!(v.is_finite() && v > 0.0, "{key} = {v}");
    }
    // The reference (2 epochs, the search's) and the retraining (its own 3) trained the
    // discovered architecture, and only it: each of their epochs reports that architecture,
    // with no α.
    assert_eq!(summary["retrain_epochs"], 3);
    for (log, epochs) in [("reference.jsonl", 2), ("retrain.jsonl", 3)] {
        let text = std::fs::read_to_string(out.join(log)).unwrap();
        let records: Vec<serde_json::Value> = text.lines().map(json).collect();
        assert_eq!(records.len(), epochs, "{log}: {text}");
        for e in &records {
            assert_eq!(e["architecture"], summary["architecture"], "{log}: {e}");
            assert!(e["valid_loss"].is_null(), "{log} has an α step: {e}");
        }
    }
    let sample = std::fs::read_to_string(out.join("sample_trained_alone.txt")).unwrap();
    assert!(!sample.is_empty());
    assert!(out.join("subnet_retrained.bpk").is_file());
    assert!(!std::fs::read_to_string(out.join("sample_retrained.txt"))
        .unwrap()
        .is_empty());
    let _ = std::fs::remove_dir_all(&out);
}
