//! A real example process killed mid-epoch (SIGKILL) and resumed with `--resume DIR` ends where
//! an uninterrupted run ends: the same architecture, α probabilities, losses and inherited
//! weights. The example is `autoformer_t` (the README's main job) on a tiny setting; its binary
//! is the one `cargo test` builds beside this test.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{example, run};

/// A tiny search: 64 digits, depth {1, 2}, 4 epochs of 2 steps (the first weights only), on one
/// peer, without the progress bar.
fn command(out: &Path, resume: bool) -> Command {
    let mut c = Command::new(example("autoformer_t"));
    c.args([
        "--train-samples",
        "64",
        "--batch",
        "16",
        "--depths",
        "1,2",
        "--epochs",
        "4",
        "--alpha-warmup",
        "1",
        "--devices",
        "1",
    ]);
    if resume {
        c.arg("--resume").arg(out);
    } else {
        c.arg("--out").arg(out);
    }
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

/// The checkpoint's next epoch, if one is there (the folder `checkpoint/LATEST` names).
fn checkpoint_epoch(out: &Path) -> Option<u64> {
    let dir = out.join("checkpoint");
    let latest = std::fs::read_to_string(dir.join("LATEST")).ok()?;
    let text = std::fs::read_to_string(dir.join(latest.trim()).join("state.json")).ok()?;
    serde_json::from_str::<serde_json::Value>(&text).ok()?["epoch"].as_u64()
}

fn json(path: PathBuf) -> serde_json::Value {
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Each epoch's record of a run, as (epoch, train loss, valid loss).
fn losses(out: &Path) -> Vec<(u64, f64, Option<f64>)> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["epoch"].as_u64().unwrap(),
                v["train_loss"].as_f64().unwrap(),
                v["valid_loss"].as_f64(),
            )
        })
        .collect()
}

/// Every weight of the run's exported subnet (`subnet.bpk`), loaded into the plain ViT of its
/// architecture (`autoformer.json`), in module order.
fn weights(out: &Path) -> Vec<f32> {
    use burn::module::{Module, ModuleVisitor, Param};
    use burn::tensor::{backend::Backend, Tensor};
    use tangle_core::Extract;
    use tangle_spaces::autoformer::{AutoFormerArch, AutoFormerConfig};
    type B = tanglenas::backend::Cpu;

    struct Flat(Vec<f32>);
    impl<Bk: Backend> ModuleVisitor<Bk> for Flat {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<Bk, D>>) {
            self.0.extend(
                param
                    .val()
                    .into_data()
                    .convert::<f32>()
                    .to_vec::<f32>()
                    .unwrap(),
            );
        }
    }
    let config = AutoFormerConfig {
        depths: vec![1, 2],
        ..AutoFormerConfig::tiny(32, 8, 10)
    };
    let net = config.init::<B>(&Default::default()).unwrap();
    let form: AutoFormerArch = serde_json::from_value(json(out.join("autoformer.json"))).unwrap();
    let arch = net.architecture(&form).unwrap();
    let vit =
        tangle_core::subnet::load(net.extract(&arch).unwrap(), out.join("subnet.bpk")).unwrap();
    let mut flat = Flat(Vec::new());
    vit.visit(&mut flat);
    flat.0
}

#[test]
fn a_killed_example_resumes_to_the_uninterrupted_result() {
    let root = std::env::temp_dir().join(format!("tangle-resume-example-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let (whole, killed) = (root.join("whole"), root.join("killed"));

    run(command(&whole, false));

    // Kill the second run once it has checkpointed epoch 1 and is inside epoch 2.
    let mut child = command(&killed, false)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    while checkpoint_epoch(&killed).is_none_or(|e| e < 2) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        assert!(
            Instant::now() < deadline,
            "no checkpoint of epoch 2 in 600 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL on Unix: no clean-up runs
    child.wait().unwrap();
    assert!(
        !killed.join("summary.json").exists(),
        "the run finished before the kill"
    );

    let log = run(command(&killed, true));
    // It ran only what the kill cut off: epochs 2 and 3, not the checkpointed 0 and 1.
    assert!(
        log.contains("resuming") && log.contains("at epoch 2 of 4"),
        "{log}"
    );
    assert!(
        !log.contains("epoch  0 ") && !log.contains("epoch  1 "),
        "{log}"
    );
    assert!(
        log.contains("epoch  2 ") && log.contains("epoch  3 "),
        "{log}"
    );

    let (a, b) = (
        json(whole.join("summary.json")),
        json(killed.join("summary.json")),
    );
    assert_eq!(a["architecture"], b["architecture"]);
    assert_eq!(a["test_accuracy_inherited"], b["test_accuracy_inherited"]);
    assert_eq!(a["valid_accuracy_inherited"], b["valid_accuracy_inherited"]);
    let (pa, pb) = (&a["final_probabilities"], &b["final_probabilities"]);
    assert_eq!(pa, pb, "α probabilities differ");
    // Every epoch once, with the uninterrupted run's losses.
    assert_eq!(losses(&whole), losses(&killed));
    // The exported subnets (the inherited weights), value for value (the files differ in
    // their parameter ids, drawn afresh by every process).
    assert_eq!(
        weights(&whole),
        weights(&killed),
        "inherited weights differ"
    );
    // Resuming the finished run for more epochs keeps its results in `before-resume`.
    let summary = std::fs::read(killed.join("summary.json")).unwrap();
    let mut more = command(&killed, true);
    more.args(["--epochs", "5"]);
    let log = run(more);
    assert!(
        log.contains("at epoch 4 of 5") && log.contains("epoch  4 "),
        "{log}"
    );
    let kept = killed.join("before-resume");
    assert_eq!(std::fs::read(kept.join("summary.json")).unwrap(), summary);
    assert!(kept.join("subnet.bpk").exists());
    assert_eq!(losses(&kept), losses(&whole));
    assert_eq!(losses(&killed).len(), 5);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn resuming_a_directory_without_a_checkpoint_is_an_error_naming_it() {
    let dir = std::env::temp_dir().join(format!("tangle-no-checkpoint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let o = command(&dir, true).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "resumed without a checkpoint");
    assert!(
        stderr.contains("no checkpoint there") && stderr.contains(&*dir.to_string_lossy()),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
