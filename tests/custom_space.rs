//! Runs `examples/custom_space.rs` — a user-defined space built only from the public API, on
//! the library's experiment runner — end to end on a small setting, once with DrNAS and once
//! with SPOS + evolution: search, export, reload, evaluation, fine-tuning. The example's own
//! check (reloaded subnet == supernet single path) runs inside.

#[allow(dead_code)]
#[path = "../examples/custom_space.rs"]
mod custom_space;

use tangle_core::Architecture;
use tanglenas::backend::CpuAutodiff;
use tanglenas::experiment::plan;

fn run(optimizer: &str, out: &std::path::Path) -> custom_space::Outcome {
    let args = [
        "custom_space",
        "--optimizer",
        optimizer,
        "--epochs",
        "5",
        "--samples",
        "1536",
        "--test",
        "256",
        "--finetune",
        "2",
        "--seed",
        "3",
        "--out",
        out.to_str().unwrap(),
    ];
    let matches = custom_space::command()
        .try_get_matches_from(args)
        .expect("the options");
    let cli = <custom_space::Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap();
    let (method, strategy) = plan(optimizer, 12).unwrap();
    let device = Default::default();
    <CpuAutodiff as burn::tensor::backend::Backend>::seed(&device, 3);
    cli.search::<CpuAutodiff>(method, strategy, device)
        .expect("the run")
}

#[test]
fn custom_space_searches_exports_reloads_and_evaluates() {
    let root = std::env::temp_dir().join(format!("tangle-custom-space-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for (optimizer, second_stage) in [("drnas", false), ("spos-es", true)] {
        let out = root.join(optimizer);
        let o = run(optimizer, &out);
        assert_eq!(o.out, out, "a fresh --out is used as it is");
        // The result is an architecture of the space (it round-trips through JSON against it)…
        let (spec, _) = custom_space::declare().expect("the space");
        assert_eq!(
            Architecture::from_json(&o.architecture.to_json(), &spec).unwrap(),
            o.architecture
        );
        // … that learned something: 4 balanced classes, chance is 0.25.
        assert!(
            o.tuned > 0.4,
            "{optimizer}: fine-tuned test accuracy {}",
            o.tuned
        );
        let mut files = vec![
            "metrics.jsonl",
            "architecture.json",
            "alphas.svg",
            "subnet.bpk",
        ];
        if second_stage {
            files.push("history.jsonl");
        }
        for f in files {
            assert!(out.join(f).is_file(), "{optimizer}: {f} missing");
        }
    }
    let _ = std::fs::remove_dir_all(&root);
}
