//! The quality study's runner (`examples/study`) end to end on tiny settings: searches whose
//! results are looked up in a ground-truth table, checked here against the table recomputed
//! from its JSON; resumption; a language table built in two pieces.

#[allow(dead_code)]
#[path = "../examples/study/language.rs"]
mod language;
#[allow(dead_code)]
#[path = "../examples/study/methods.rs"]
mod methods;
#[allow(dead_code)]
#[path = "../examples/study/table.rs"]
mod table;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

// The name the study's files use for the library's experiment runner.
use tanglenas::experiment as common;

use common::{Job, RunArgs, Strategy};
use methods::{Comparison, Method, Run};
use tangle_optim::Method as SearchMethod;

type AB = tanglenas::backend::CpuAutodiff;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tangle-study-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn args() -> RunArgs {
    RunArgs {
        device: "cpu".into(),
        optimizer: "drnas".into(),
        data_dir: None,
        dataset: "shipped-mnist".into(),
        epochs: 1,
        seed: 0,
        out: PathBuf::new(),
        resume: None,
        train_portion: 0.5,
        arch_lr: 0.05,
        devices: Some(1),
        cluster: Default::default(),
    }
}

/// Mean score per architecture straight from a table's JSON, and the parameters.
fn means_from_json(path: &Path, score: &str) -> BTreeMap<Vec<usize>, (f64, usize)> {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut sums: BTreeMap<Vec<usize>, (f64, usize, usize)> = BTreeMap::new();
    for e in v["entries"].as_array().unwrap() {
        let idx: Vec<usize> = serde_json::from_value(e["index"].clone()).unwrap();
        let s = sums.entry(idx).or_insert((0.0, 0, 0));
        s.0 += e[score].as_f64().unwrap();
        s.1 += 1;
        s.2 = e["params"].as_u64().unwrap() as usize;
    }
    sums.into_iter()
        .map(|(k, (sum, n, p))| (k, (sum / n as f64, p)))
        .collect()
}

/// The image comparison's settings at a size a test runs in seconds.
fn tiny_images() -> methods::Settings {
    methods::Settings {
        train_samples: 96,
        train_portion: 0.5,
        batch: 16,
        epochs: 2,
        alpha_warmup: 1,
        lr: 0.025,
        arch_lr: 0.05,
        arch_lr_candidates: vec![],
        penalty: 1.0,
        budget: 3,
        recalibration_batches: 2,
    }
}

/// Checks every run's rank, regret and constraint against the table, recomputed here.
fn check_lookups(runs: &[Run], truth: &BTreeMap<Vec<usize>, (f64, usize)>, higher_better: bool) {
    let better = |a: f64, b: f64| if higher_better { a > b } else { a < b };
    let best = truth.values().map(|v| v.0).fold(
        if higher_better { f64::MIN } else { f64::MAX },
        |m, v| {
            if better(v, m) {
                v
            } else {
                m
            }
        },
    );
    let largest = truth.values().map(|v| v.1).max().unwrap();
    let limit = largest / 2;
    let best_feasible = truth.values().filter(|v| v.1 <= limit).map(|v| v.0).fold(
        if higher_better { f64::MIN } else { f64::MAX },
        |m, v| {
            if better(v, m) {
                v
            } else {
                m
            }
        },
    );
    for r in runs {
        let (score, params) = truth[&r.index];
        assert!((r.table_score as f64 - score).abs() < 1e-5, "{r:?}");
        assert_eq!(r.params, params);
        assert!(
            ((r.regret as f64) - (best - score).abs()).abs() < 1e-5,
            "{r:?}"
        );
        let rank = 1 + truth.values().filter(|v| better(v.0, score)).count();
        assert_eq!(r.rank, rank);
        assert_eq!(r.feasible, params <= limit);
        match r.constrained_regret {
            Some(c) => assert!((c as f64 - (best_feasible - score).abs()).abs() < 1e-5),
            None => assert!(!r.feasible),
        }
    }
}

#[test]
fn image_comparison_looks_its_results_up_in_the_table_and_resumes() {
    let dir = temp("images");
    let table_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/quality/images.json");
    let results = dir.join("images-methods.json");
    let settings = tiny_images();
    let list = [Method::TangleNas, Method::SposEsWindow, Method::Random];
    methods::run_images(&args(), &list, 1, settings.clone(), &table_path, &results).unwrap();
    let c: Comparison<methods::Settings> = methods::load(&results).unwrap();
    assert_eq!(c.runs.len(), 3);
    check_lookups(
        &c.runs,
        &means_from_json(&table_path, "test_accuracy"),
        true,
    );
    let spec = tangle_spaces::small_conv::spec();
    for r in &c.runs {
        let arch = tangle_core::Architecture::from_json(&r.architecture.to_string(), &spec)
            .expect("an architecture of the space");
        assert_eq!(spec.indices(&arch).unwrap(), r.index);
    }
    let run = |m: &str| c.runs.iter().find(|r| r.method == m).unwrap();
    // A search scores its network on the test digits; the random floor trains nothing.
    let searched = run("tanglenas");
    assert!((0.0..=1.0).contains(&searched.inherited_score.unwrap()));
    assert!(searched.search_seconds > 0.0);
    assert_eq!(searched.probabilities.as_ref().unwrap().len(), 4);
    assert!(run("random").inherited_score.is_none());
    // The windowed evolution never leaves the window.
    assert!(run("spos-es-window").feasible);
    // α trajectories of seed 0.
    assert!(dir.join("alphas/images-tanglenas.svg").exists());
    // Resuming does not redo a run; other settings are refused, naming the file.
    methods::run_images(&args(), &list, 1, settings.clone(), &table_path, &results).unwrap();
    let again: Comparison<methods::Settings> = methods::load(&results).unwrap();
    assert_eq!(again.runs.len(), 3);
    let other = methods::Settings {
        epochs: 3,
        ..settings
    };
    let e = methods::run_images(&args(), &list, 1, other, &table_path, &results)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("images-methods.json") && e.contains("other settings"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tuned_comparison_chooses_each_methods_arch_lr_by_validation_loss() {
    let dir = temp("tuned");
    let table_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/quality/images.json");
    let results = dir.join("images-methods-tuned.json");
    let candidates = vec![0.01, 0.3];
    let settings = methods::Settings {
        arch_lr_candidates: candidates.clone(),
        ..tiny_images()
    };
    let list = [Method::Gdas, Method::TangleNasPenalty, Method::SposRs];
    methods::run_images(&args(), &list, 2, settings.clone(), &table_path, &results).unwrap();
    let c: Comparison<methods::Settings> = methods::load(&results).unwrap();
    // Seed 0 of GDAS and of TangleNAS (whose choice TangleNAS + penalty takes) at each
    // candidate; SPOS has no α and is not tuned.
    assert_eq!(c.tuning.len(), 4);
    let argmin = |m: &str| {
        let runs: Vec<&Run> = c.tuning.iter().filter(|r| r.method == m).collect();
        assert_eq!(runs.len(), 2, "{m}");
        let best = runs
            .iter()
            .min_by(|a, b| a.valid_loss.unwrap().total_cmp(&b.valid_loss.unwrap()))
            .unwrap();
        assert!(best.valid_loss.unwrap().is_finite());
        (best.arch_lr.unwrap(), (*best).clone())
    };
    let (gdas_lr, gdas_tuning) = argmin("gdas");
    let (tangle_lr, _) = argmin("tanglenas");
    assert!(candidates.contains(&gdas_lr) && candidates.contains(&tangle_lr));
    let run = |m: &str, seed: u64| {
        c.runs
            .iter()
            .find(|r| r.method == m && r.seed == seed)
            .unwrap_or_else(|| panic!("{m} seed {seed}"))
    };
    // GDAS's seed 0 is its tuning run at the chosen α lr; seed 1 runs at that α lr too.
    assert_eq!(run("gdas", 0).index, gdas_tuning.index);
    assert_eq!(run("gdas", 0).valid_loss, gdas_tuning.valid_loss);
    assert_eq!(run("gdas", 1).arch_lr, Some(gdas_lr));
    for seed in 0..2 {
        assert_eq!(run("tanglenas-penalty", seed).arch_lr, Some(tangle_lr));
        assert_eq!(run("spos-rs", seed).arch_lr, None);
        assert!(run("spos-rs", seed).valid_loss.unwrap().is_finite());
    }
    check_lookups(
        &c.runs,
        &means_from_json(&table_path, "test_accuracy"),
        true,
    );
    // The report shows the choice; tuned α trajectories do not overwrite the untuned ones.
    let truth = methods::Truth::images(&table::load(&table_path).unwrap()).unwrap();
    let report = methods::report(&c, &truth, "inherited test acc.");
    assert!(report.contains("α learning rates chosen"), "{report}");
    assert_eq!(report.matches(" * |").count(), 2, "{report}");
    assert!(dir.join("alphas/images-tuned-gdas.svg").exists());
    assert!(!dir.join("alphas/images-gdas.svg").exists());
    // Resuming redoes nothing.
    methods::run_images(&args(), &list, 2, settings, &table_path, &results).unwrap();
    let again: Comparison<methods::Settings> = methods::load(&results).unwrap();
    assert_eq!((again.runs.len(), again.tuning.len()), (6, 4));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn language_table_builds_in_pieces_and_a_comparison_reads_it() {
    let dir = temp("language");
    let table_path = dir.join("language.json");
    let recipe = language::LmRecipe {
        embeds: vec![24, 48],
        layers: vec![1],
        heads: vec![6, 12],
        ratios: vec![2.0],
        context: 16,
        batch: 4,
        steps: 2,
        epochs: 1,
        lr: 2e-3,
        eval_batches: 2,
    };
    let build = |limit| language::LmBuild {
        recipe: recipe.clone(),
        seeds: 1,
        limit,
        path: table_path.clone(),
    };
    let device = Default::default();
    let job = |b: language::LmBuild| {
        b.run::<AB>(SearchMethod::DartsV1, Strategy::Gradient, device)
            .unwrap()
    };
    job(build(2));
    let first = language::load_table(&table_path).unwrap();
    assert_eq!(first.entries.len(), 2);
    job(build(usize::MAX));
    let full = language::load_table(&table_path).unwrap();
    // 2 embeds × 1 depth × 2 head counts × 1 ratio, the first two runs kept as they were.
    assert_eq!(full.entries.len(), 4);
    for (a, b) in first.entries.iter().zip(&full.entries) {
        assert_eq!(
            (a.index.clone(), a.heldout_loss),
            (b.index.clone(), b.heldout_loss)
        );
    }
    for e in &full.entries {
        // Barely trained: near the uniform loss over the vocabulary, finite.
        assert!(e.heldout_loss.is_finite() && e.heldout_loss > 1.0, "{e:?}");
    }
    // Another recipe is refused, naming the file.
    let other = language::LmBuild {
        recipe: language::LmRecipe {
            steps: 3,
            ..recipe.clone()
        },
        seeds: 1,
        limit: 1,
        path: table_path.clone(),
    };
    let e = other
        .run::<AB>(
            SearchMethod::DartsV1,
            Strategy::Gradient,
            Default::default(),
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("language.json") && e.contains("another recipe"),
        "{e}"
    );

    let results = dir.join("language-methods.json");
    let settings = language::LmSettings {
        recipe,
        epochs: 2,
        steps: 2,
        alpha_warmup: 1,
        arch_lr: 0.05,
        arch_lr_candidates: vec![],
        penalty: 1.0,
        budget: 2,
        score_batches: 2,
    };
    let list = [Method::TangleNas, Method::SposRs, Method::Random];
    language::run_language(&args(), &list, 1, settings.clone(), &table_path, &results).unwrap();
    let c: Comparison<language::LmSettings> = methods::load(&results).unwrap();
    assert_eq!(c.runs.len(), 3);
    check_lookups(
        &c.runs,
        &means_from_json(&table_path, "heldout_loss"),
        false,
    );
    assert!(c.runs[0].inherited_score.unwrap().is_finite());
    let e = language::run_language(
        &args(),
        &[Method::DrnasWs],
        1,
        settings,
        &table_path,
        &results,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("drnas-ws"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
