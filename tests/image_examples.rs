//! The image examples' own code path, end to end on tiny settings, checked against references
//! computed here: NB201's exported subnet reloaded and scored independently equals the run's
//! inherited-weight accuracy; DARTS's genotype is the one its final probabilities give; a bad
//! `--supernet` is named. Also the runner's pieces against hand computations: accuracy, and
//! retraining's SGD-momentum steps on its cosine schedule.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use serde_json::Value;
use support::{example, run};
use tangle_core::{Architecture, Extract, Supernet};
use tangle_data::{shipped, Images, Transform};
use tangle_optim::EpochRecord;
use tangle_spaces::darts::{DartsConfig, Genotype};
use tangle_spaces::nb201::{arch_string, Nb201Config};
use tanglenas::backend::{Cpu, CpuAutodiff};
use tanglenas::experiment::{accuracy, retrain, ExperimentError, RetrainSettings};

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tangle-image-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn records(out: &Path) -> Vec<EpochRecord> {
    read(&out.join("metrics.jsonl"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A tiny run's shared flags: 64 training digits, batches of 16, one peer.
fn tiny(c: &mut Command, out: &Path) {
    c.args(["--train-samples", "64", "--batch", "16", "--devices", "1"]);
    c.arg("--out").arg(out);
}

#[test]
fn nb201_exports_the_network_it_scores() {
    let out = temp("nb201");
    let mut c = Command::new(example("nb201"));
    tiny(&mut c, &out);
    c.args([
        "--epochs",
        "1",
        "--channels",
        "4",
        "--cells",
        "1",
        "--recalibrate",
        "2",
    ]);
    c.args(["--reference", "true"]);
    run(c);
    let summary: Value = serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
    let cfg = Nb201Config {
        channels: 4,
        cells: 1,
        classes: 10,
    };
    let spec = cfg.init::<Cpu>(&Default::default()).unwrap().spec().clone();
    let arch = Architecture::from_json(&read(&out.join("architecture.json")), &spec).unwrap();
    assert_eq!(summary["architecture"], arch_string(&arch).unwrap());
    assert_eq!(
        (summary["channels"].as_u64(), summary["cells"].as_u64()),
        (Some(4), Some(1))
    );
    // The exported network, reloaded into a fresh one of its shape and scored here, scores
    // what the run reported for the supernet at its architecture (within a tie or two).
    let device = Default::default();
    let template = cfg.init::<Cpu>(&device).unwrap().extract(&arch).unwrap();
    let net = tangle_core::subnet::load(template, out.join("subnet.bpk")).unwrap();
    let test = shipped::mnist_test()
        .and_then(|s| s.with_channels(3))
        .and_then(|s| s.padded_to(32))
        .unwrap();
    let reloaded =
        accuracy::<Cpu, _>(&test, &Transform::mnist(3), &device, |x| net.forward(x)).unwrap();
    let inherited = summary["test_accuracy_inherited"].as_f64().unwrap() as f32;
    assert!(
        (reloaded - inherited).abs() <= 0.002,
        "reloaded {reloaded} against inherited {inherited}"
    );
    // The reference trained alone was scored; retraining was not asked for.
    let alone = summary["test_accuracy_trained_alone"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&alone));
    assert!(summary["test_accuracy_retrained"].is_null());
    assert_eq!(records(&out).len(), 1);
    let config: Nb201Config =
        burn::config::Config::load(out.join("space_config.json")).expect("space_config.json");
    assert_eq!(config, cfg);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn darts_writes_the_genotype_of_its_final_probabilities() {
    let out = temp("darts");
    let mut c = Command::new(example("darts"));
    tiny(&mut c, &out);
    // DrNAS's progressive recipe in two one-epoch stages.
    c.args([
        "--epochs",
        "2",
        "--channels",
        "12",
        "--cells",
        "3",
        "--recalibrate",
        "1",
    ]);
    run(c);
    let cfg = DartsConfig {
        channels: 12,
        layers: 3,
        classes: 10,
        partial: 6,
    };
    let spec = cfg.init::<Cpu>(&Default::default()).unwrap().spec().clone();
    let arch = Architecture::from_json(&read(&out.join("architecture.json")), &spec).unwrap();
    let last = records(&out).pop().expect("an epoch record");
    let expected = Genotype::discretize(&arch, Some(&last.probabilities)).unwrap();
    assert_eq!(read(&out.join("genotype.txt")), expected.to_string());
    let summary: Value = serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
    assert_eq!(summary["architecture"], expected.to_string());
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_space_without_a_weight_sharing_twin_names_the_flag() {
    let out = temp("mobilenet-ws");
    let mut c = Command::new(example("mobilenetv3"));
    tiny(&mut c, &out);
    let o = c.args(["--supernet", "ws"]).output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--supernet ws") && err.contains("mobilenetv3"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_space_with_ten_classes_names_a_dataset_with_more() {
    // Two CIFAR-100 records (coarse label, fine label, 3072 pixels) for each split.
    let data = temp("cifar100");
    std::fs::create_dir_all(&data).unwrap();
    let mut records = Vec::new();
    for fine in [42u8, 7] {
        records.extend([0u8, fine]);
        records.extend(std::iter::repeat_n(128u8, 3072));
    }
    for file in ["train.bin", "test.bin"] {
        std::fs::write(data.join(file), &records).unwrap();
    }
    let out = temp("conv-macro-cifar100");
    let mut c = Command::new(example("toy_conv_macro"));
    c.args(["--dataset", "cifar100", "--devices", "1"]);
    c.arg("--data-dir").arg(&data).arg("--out").arg(&out);
    let o = c.output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--dataset cifar100") && err.contains("100 classes"),
        "{err}"
    );
    // Nothing was written: the run stopped before its output folder.
    assert!(!out.join("metrics.jsonl").exists());
    let _ = std::fs::remove_dir_all(&data);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn supernet_builds_what_the_flag_names() {
    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        image: tanglenas::experiment::ImageArgs,
    }
    let parse = |argv: &[&str]| -> tanglenas::experiment::ImageArgs {
        <Cli as clap::Parser>::try_parse_from(argv).unwrap().image
    };
    let build = |args: &tanglenas::experiment::ImageArgs, available: bool| {
        let built = if available {
            args.supernet("space", || Ok("we"), || Ok("ws"))
                .map(|make| make().unwrap())
        } else {
            args.weight_sharing("space", false).map(|_| "we")
        };
        built.map_err(|e| e.to_string())
    };
    assert_eq!(build(&parse(&["x"]), true), Ok("we"));
    assert_eq!(build(&parse(&["x", "--supernet", "ws"]), true), Ok("ws"));
    let err = build(&parse(&["x", "--supernet", "ws"]), false).unwrap_err();
    assert!(
        err.contains("--supernet ws") && err.contains("space"),
        "{err}"
    );
    assert_eq!(build(&parse(&["x", "--supernet", "we"]), false), Ok("we"));
}

/// One-channel 1 × 2 images (2 bytes each) with `labels`, of 3 classes.
fn images(pixels: Vec<u8>, labels: Vec<usize>) -> Images {
    Images {
        pixels,
        labels,
        channels: 1,
        height: 1,
        width: 2,
        classes: 3,
    }
}

/// Pixels / 255, no normalization or augmentation.
fn identity() -> Transform {
    Transform {
        mean: vec![0.0],
        std: vec![1.0],
        crop_padding: 0,
        flip: false,
    }
}

#[test]
fn accuracy_counts_the_argmax_hits() {
    // The classifier predicts class 2 when the first pixel is bright, else class 0.
    let set = images(vec![255, 0, 0, 0, 255, 9, 0, 255], vec![2, 0, 2, 1]);
    let device = Default::default();
    let acc = accuracy::<Cpu, ExperimentError>(&set, &identity(), &device, |x| {
        let first = x.slice([0..4, 0..1, 0..1, 0..1]).reshape([4, 1]);
        let zeros = first.zeros_like();
        Ok(Tensor::cat(
            vec![first.clone().neg() + 0.5, zeros, first],
            1,
        ))
    })
    .unwrap();
    // Images 0 (2 ✓), 1 (0 ✓), 2 (2 ✓), 3 (0, label 1 ✗).
    assert_eq!(acc, 0.75);
}

/// A linear classifier on the two flattened pixels.
#[derive(Module, Debug)]
struct Tiny<B: Backend> {
    linear: Linear<B>,
}

#[test]
fn retraining_takes_sgd_momentum_steps_on_its_cosine_schedule() {
    // DARTS's recipe; the test raises the weight decay and lowers the clipping norm so that
    // both act visibly on this tiny problem.
    let darts = RetrainSettings::darts(2, 4, 7);
    assert_eq!((darts.weight_decay, darts.clip_norm), (3e-4, Some(5.0)));
    let (decay, clip) = (0.05, 0.05);
    type B = CpuAutodiff;
    let device = Default::default();
    let set = images(vec![255, 0, 0, 255, 128, 128, 51, 204], vec![0, 1, 2, 1]);
    let net = Tiny::<B> {
        linear: LinearConfig::new(2, 3).init(&device),
    };
    let w0 = net.linear.weight.val().into_data().to_vec::<f32>().unwrap();
    let b0 = net
        .linear
        .bias
        .as_ref()
        .unwrap()
        .val()
        .into_data()
        .to_vec::<f32>()
        .unwrap();
    // Two epochs of one step each (the batch is the whole set, so the order does not matter):
    // lr 0.025 then 0.0125 (cosine over 2 epochs), momentum 0.9, no dampening.
    let settings = RetrainSettings {
        weight_decay: decay,
        clip_norm: Some(clip),
        ..darts
    };
    assert_eq!((settings.lr_at(0), settings.lr_at(1)), (0.025, 0.0125));
    let trained = retrain(
        net,
        &set,
        &identity(),
        settings,
        &device,
        |n: &Tiny<B>, x| Ok::<_, ExperimentError>(n.linear.forward(x.reshape([4, 2]))),
    )
    .unwrap();
    // The same two steps by hand, in f64: the mean cross-entropy's gradient is
    // Xᵀ(softmax(XWᵀ + b) − onehot) / n.
    let x: Vec<[f64; 2]> = set
        .pixels
        .chunks(2)
        .map(|p| [p[0] as f64 / 255.0, p[1] as f64 / 255.0])
        .collect();
    // Burn's Linear weight is [in, out].
    let mut w: Vec<f64> = w0.iter().map(|&v| v as f64).collect();
    let mut b: Vec<f64> = b0.iter().map(|&v| v as f64).collect();
    let (mut vw, mut vb) = (vec![0.0; 6], vec![0.0; 3]);
    for (step, lr) in [(0, 0.025), (1, 0.0125)] {
        let (mut gw, mut gb) = (vec![0.0; 6], vec![0.0; 3]);
        for (xi, &yi) in x.iter().zip(&set.labels) {
            let z: Vec<f64> = (0..3)
                .map(|o| b[o] + xi[0] * w[o] + xi[1] * w[3 + o])
                .collect();
            let m = z.iter().cloned().fold(f64::MIN, f64::max);
            let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
            let s: f64 = e.iter().sum();
            for o in 0..3 {
                let d = (e[o] / s - if o == yi { 1.0 } else { 0.0 }) / 4.0;
                gb[o] += d;
                gw[o] += xi[0] * d;
                gw[3 + o] += xi[1] * d;
            }
        }
        // The global norm over every gradient, clipped to `clip` (PyTorch's factor), then the
        // weight decay added, then momentum.
        let norm = gw.iter().chain(&gb).map(|g| g * g).sum::<f64>().sqrt();
        assert!(norm > clip, "the clipping acts (norm {norm})");
        let scale = clip / (norm + 1e-6);
        for i in 0..6 {
            let d = gw[i] * scale + decay * w[i];
            vw[i] = if step == 0 { d } else { 0.9 * vw[i] + d };
            w[i] -= lr * vw[i];
        }
        for o in 0..3 {
            let d = gb[o] * scale + decay * b[o];
            vb[o] = if step == 0 { d } else { 0.9 * vb[o] + d };
            b[o] -= lr * vb[o];
        }
    }
    let got_w = trained
        .linear
        .weight
        .val()
        .into_data()
        .to_vec::<f32>()
        .unwrap();
    let got_b = trained
        .linear
        .bias
        .unwrap()
        .val()
        .into_data()
        .to_vec::<f32>()
        .unwrap();
    for (g, e) in got_w.iter().zip(&w).chain(got_b.iter().zip(&b)) {
        assert!(
            (*g as f64 - e).abs() < 1e-6,
            "{got_w:?} {got_b:?} against {w:?} {b:?}"
        );
    }
    // And the weights did move.
    assert!(w.iter().zip(&w0).any(|(a, &b)| (a - b as f64).abs() > 1e-4));
}

#[test]
fn retraining_names_the_batch_when_the_set_is_smaller() {
    let device = Default::default();
    let set = images(vec![0, 0], vec![0]);
    let net = Tiny::<CpuAutodiff> {
        linear: LinearConfig::new(2, 3).init(&device),
    };
    let err = retrain(
        net,
        &set,
        &identity(),
        RetrainSettings::darts(1, 4, 0),
        &device,
        |n: &Tiny<CpuAutodiff>, x| Ok::<_, ExperimentError>(n.linear.forward(x.reshape([1, 2]))),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("--batch 4") && err.contains("1 training images"),
        "{err}"
    );
}
