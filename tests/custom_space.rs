//! Runs `examples/custom_space.rs` — a user-defined space built only from the public API —
//! end to end on a small setting: DrNAS search, SPOS + evolution, export, reload, evaluation.
//! The example's own checks (reloaded subnet == supernet single path) run inside.

#[allow(dead_code)]
#[path = "../examples/custom_space.rs"]
mod custom_space;

use tangle_core::Architecture;

#[test]
fn custom_space_searches_exports_reloads_and_evaluates() {
    let out = std::env::temp_dir().join(format!("tangle-custom-space-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let settings = custom_space::Settings {
        epochs: 5,
        samples: 1536,
        test: 256,
        finetune: 2,
        population: 6,
        generations: 1,
        seed: 3,
        out: out.clone(),
    };
    let o = custom_space::run::<tanglenas::backend::CpuAutodiff>(&settings).expect("the run");
    // Both results are architectures of the space (they round-trip through JSON against it)…
    for arch in [&o.drnas.0, &o.spos_es.0] {
        let (spec, _) = custom_space::declare().expect("the space");
        assert_eq!(
            Architecture::from_json(&arch.to_json(), &spec).unwrap(),
            *arch
        );
    }
    // … that learned something: 4 balanced classes, chance is 0.25.
    assert!(
        o.drnas.2 > 0.4,
        "DrNAS fine-tuned test accuracy {}",
        o.drnas.2
    );
    assert!(
        o.spos_es.2 > 0.4,
        "SPOS + ES fine-tuned test accuracy {}",
        o.spos_es.2
    );
    for f in [
        "drnas.jsonl",
        "drnas.bpk",
        "drnas.json",
        "spos_es.bpk",
        "spos_es.json",
        "evolution.jsonl",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let _ = std::fs::remove_dir_all(&out);
}
