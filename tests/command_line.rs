//! The examples' command lines (clap): every example parses its defaults (a default that its
//! own validation rejects would stop every run before it starts), and the shared options keep
//! their meaning — `--devices` at least 1, `--resume DIR`, the last of a repeated option.

#[allow(dead_code)]
#[path = "../examples/autoformer_t.rs"]
mod autoformer_t;
#[allow(dead_code)]
#[path = "../examples/conv_macro_synthetic.rs"]
mod conv_macro_synthetic;
#[allow(dead_code)]
#[path = "../examples/custom_space.rs"]
mod custom_space;
#[allow(dead_code)]
#[path = "../examples/darts.rs"]
mod darts;
#[allow(dead_code)]
#[path = "../examples/mobilenetv3.rs"]
mod mobilenetv3;
#[allow(dead_code)]
#[path = "../examples/nanogpt.rs"]
mod nanogpt;
#[allow(dead_code)]
#[path = "../examples/nb201.rs"]
mod nb201;
#[allow(dead_code)]
#[path = "../examples/toy_cell.rs"]
mod toy_cell;
#[allow(dead_code)]
#[path = "../examples/toy_conv_macro.rs"]
mod toy_conv_macro;

use autoformer_t as vit;
use clap::{Command, FromArgMatches};
use nanogpt as lm;
use tanglenas::experiment::{text, RunArgs};

fn every_example() -> Vec<(&'static str, Command)> {
    let mut all = vec![
        ("toy_conv_macro", toy_conv_macro::command()),
        ("toy_cell", toy_cell::command()),
        ("nb201", nb201::command()),
        ("darts", darts::command()),
        ("mobilenetv3", mobilenetv3::command()),
        ("autoformer_t", vit::command(false)),
        ("autoformer_s", vit::command(true)),
    ];
    all.push(("nanogpt", lm::command()));
    all.push(("conv_macro_synthetic", conv_macro_synthetic::command()));
    all.push(("custom_space", custom_space::command()));
    all
}

/// The shared options of a parse.
fn shared(cmd: Command, argv: &[&str]) -> Result<RunArgs, clap::Error> {
    let m = cmd.try_get_matches_from(argv)?;
    RunArgs::from_arg_matches(&m)
}

#[test]
fn every_example_parses_its_defaults() {
    for (name, cmd) in every_example() {
        let a = shared(cmd, &[name]).unwrap_or_else(|e| panic!("{name}: {e}"));
        // One peer per core by default, except where batch norms would see half batches.
        let peers = (name == "conv_macro_synthetic").then_some(1);
        assert_eq!(a.devices, peers, "{name}: peers by default");
        assert_eq!(a.resume, None);
        assert_eq!(a.out.to_str(), Some(format!("runs/{name}").as_str()));
    }
}

#[test]
fn each_example_shows_its_own_defaults() {
    let epochs = |cmd: Command, name: &str| shared(cmd, &[name]).unwrap().epochs;
    assert_eq!(epochs(nb201::command(), "nb201"), 10);
    assert_eq!(epochs(toy_cell::command(), "toy_cell"), 9);
    assert_eq!(epochs(vit::command(false), "autoformer_t"), 14);
    assert_eq!(epochs(lm::command(), "nanogpt"), 24);
    assert_eq!(epochs(toy_conv_macro::command(), "toy_conv_macro"), 7);
    assert_eq!(epochs(custom_space::command(), "custom_space"), 8);
    assert_eq!(epochs(mobilenetv3::command(), "mobilenetv3"), 6);
    let arch_lr = |cmd: Command, name: &str| shared(cmd, &[name]).unwrap().arch_lr;
    assert_eq!(arch_lr(toy_cell::command(), "toy_cell"), 0.1);
    assert_eq!(arch_lr(nb201::command(), "nb201"), 0.1);
    assert_eq!(arch_lr(mobilenetv3::command(), "mobilenetv3"), 0.1);
    assert_eq!(arch_lr(toy_conv_macro::command(), "toy_conv_macro"), 0.1);
    assert_eq!(arch_lr(darts::command(), "darts"), 3e-3);
    // Conv-macro runs at half the paper's widths by default; the flag is its alone.
    let conv_macro = toy_conv_macro::command().render_help().to_string();
    let line = conv_macro
        .lines()
        .find(|l| l.contains("--width-divisor <D>"))
        .unwrap_or_else(|| panic!("{conv_macro}"));
    assert!(line.contains("[default: 2]"), "{line}");
    let dataset = shared(lm::command(), &["nanogpt"]).unwrap().dataset;
    assert_eq!(dataset, "shipped-shakespeare");
    let help = nb201::command().render_long_help().to_string();
    assert!(help.contains("[default: 10]"), "{help}");
    assert!(help.contains("--train-samples"), "{help}");
}

#[test]
fn shared_options_keep_their_meaning() {
    let nb = || nb201::command();
    assert_eq!(
        shared(nb(), &["nb201", "--devices", "2"]).unwrap().devices,
        Some(2)
    );
    let zero = shared(nb(), &["nb201", "--devices", "0"]).unwrap_err();
    assert!(zero.to_string().contains("--devices"), "{zero}");
    let r = shared(nb(), &["nb201", "--resume", "runs/x"]).unwrap();
    assert_eq!(r.resume.as_deref().and_then(|d| d.to_str()), Some("runs/x"));
    assert!(shared(nb(), &["nb201", "--resume", "a", "--out", "b"]).is_err());
    // The last of a repeated option wins (a script can append an override).
    let twice = shared(nb(), &["nb201", "--epochs", "4", "--epochs", "5"]).unwrap();
    assert_eq!(twice.epochs, 5);
    let unknown = shared(nb(), &["nb201", "--epoch", "4"]).unwrap_err();
    assert!(
        unknown.to_string().contains("--epochs"),
        "a suggestion: {unknown}"
    );
    let bad = shared(nb(), &["nb201", "--optimizer", "dartz"]).unwrap_err();
    assert!(bad.to_string().contains("darts-v1"), "{bad}");
}

#[test]
fn nanogpt_holds_out_text_that_neither_the_weights_nor_alpha_train_on() {
    let ids: Vec<usize> = (0..1000).collect();
    let text::TextSplit {
        weights,
        alpha,
        held_out,
    } = text::split_text(ids, 0.9).unwrap();
    // The last tenth is held out; the first nine tenths split 0.9 / 0.1.
    assert_eq!(text::HELD_OUT, 0.1);
    assert_eq!(held_out, (900..1000).collect::<Vec<_>>());
    assert_eq!(weights, (0..810).collect::<Vec<_>>());
    assert_eq!(alpha, (810..900).collect::<Vec<_>>());
    let err = text::split_text((0..1000).collect(), 1.5)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--train-portion") && err.contains("1.5"),
        "{err}"
    );
}
