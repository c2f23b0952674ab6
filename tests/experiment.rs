//! The experiment runner's pieces that need no search: the method plan, the output folder,
//! resume's checks, number parsing and the errors' messages (each names its culprit).

use tangle_optim::Method;
use tanglenas::experiment::{
    evolution_config, fresh_dir, num, plan, read_json, run_dir, write, write_json, ExperimentError,
    RunArgs, Strategy,
};

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tangle-experiment-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn args(argv: &[&str]) -> RunArgs {
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }
    let cmd = tanglenas::experiment::command::<Cli>("t", "test", &[]);
    let m = cmd
        .try_get_matches_from(std::iter::once("t").chain(argv.iter().copied()))
        .unwrap();
    <Cli as clap::FromArgMatches>::from_arg_matches(&m)
        .unwrap()
        .run
}

#[test]
fn plan_maps_every_optimizer_name_and_names_the_bad_one() {
    assert_eq!(
        plan("drnas", 7).unwrap(),
        (Method::Drnas, Strategy::Gradient)
    );
    assert_eq!(plan("gdas", 7).unwrap(), (Method::Gdas, Strategy::Gradient));
    assert_eq!(
        plan("spos-es", 7).unwrap(),
        (
            Method::Spos,
            Strategy::Spos {
                es: true,
                budget: 7
            }
        )
    );
    assert_eq!(
        plan("spos-rs", 9).unwrap(),
        (
            Method::Spos,
            Strategy::Spos {
                es: false,
                budget: 9
            }
        )
    );
    let bare = plan("spos", 7).unwrap_err();
    assert!(matches!(bare, ExperimentError::Usage(_)), "{bare:?}");
    assert!(bare.to_string().contains("spos-rs or spos-es"), "{bare}");
    let unknown = plan("dartz", 7).unwrap_err().to_string();
    assert!(
        unknown.contains("`dartz`") && unknown.contains("darts-v1"),
        "{unknown}"
    );
}

#[test]
fn fresh_dir_never_reuses_a_folder_with_files() {
    let dir = temp("fresh");
    // Absent: created and used.
    assert_eq!(fresh_dir(&dir).unwrap(), dir);
    // Present but empty: used.
    assert_eq!(fresh_dir(&dir).unwrap(), dir);
    // Holding a file: the first free numbered sibling, twice over.
    std::fs::write(dir.join("summary.json"), "{}").unwrap();
    let first = fresh_dir(&dir).unwrap();
    assert_eq!(
        first,
        std::path::PathBuf::from(format!("{}-1", dir.display()))
    );
    std::fs::write(first.join("summary.json"), "{}").unwrap();
    let second = fresh_dir(&dir).unwrap();
    assert_eq!(
        second,
        std::path::PathBuf::from(format!("{}-2", dir.display()))
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("summary.json")).unwrap(),
        "{}"
    );
    for d in [&dir, &first, &second] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn resume_without_a_checkpoint_names_the_folder() {
    let dir = temp("resume");
    std::fs::create_dir_all(&dir).unwrap();
    let a = args(&["--resume", dir.to_str().unwrap()]);
    let e = run_dir(&a).unwrap_err();
    assert!(matches!(e, ExperimentError::Usage(_)), "{e:?}");
    let message = e.to_string();
    assert!(
        message.starts_with("--resume ") && message.contains(dir.to_str().unwrap()),
        "{message}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn io_and_number_errors_name_the_path_and_the_flag() {
    let missing = temp("missing").join("deeper");
    let e = write(&missing, "summary.json", "{}").unwrap_err();
    assert!(matches!(e, ExperimentError::Io { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains(&*missing.join("summary.json").to_string_lossy()),
        "{e}"
    );
    assert_eq!(num::<usize>("--depths", "12").unwrap(), 12);
    let bad = num::<usize>("--depths", "twelve").unwrap_err().to_string();
    assert_eq!(bad, "--depths: cannot parse \"twelve\"");
}

#[test]
fn crate_errors_pass_through_unchanged() {
    let core = tangle_core::CoreError::Config("width_divisor = 3 must divide every width".into());
    let text = core.to_string();
    let e: ExperimentError = core.into();
    assert!(matches!(e, ExperimentError::Core(_)));
    assert_eq!(e.to_string(), text);
}

#[test]
fn evolution_stays_within_its_budget() {
    for budget in [6, 20, 100, 1000] {
        let c = evolution_config(budget);
        let evaluations = c.population + c.generations * (c.mutations + c.crossovers);
        assert!(
            evaluations <= budget && evaluations + 2 * c.mutations.max(1) > budget / 2,
            "budget {budget}: {c:?} evaluates {evaluations}"
        );
    }
}

#[test]
fn json_written_atomically_reads_back_and_a_bad_file_is_named() {
    let dir = temp("json");
    std::fs::create_dir_all(&dir).unwrap();
    let value = serde_json::json!({"embed": 240, "depth": [2, 3]});
    let path = write_json(&dir, "summary.json", &value).unwrap();
    assert_eq!(path, dir.join("summary.json"));
    // No partial file is left beside it.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("summary.json")]);
    let back: serde_json::Value = read_json(&path, "a summary").unwrap();
    assert_eq!(back, value);
    std::fs::write(dir.join("broken.json"), "{\"embed\": ").unwrap();
    let e = read_json::<serde_json::Value>(&dir.join("broken.json"), "a summary").unwrap_err();
    assert!(matches!(e, ExperimentError::Json { .. }), "{e:?}");
    let message = e.to_string();
    assert!(message.contains("broken.json: not a summary"), "{message}");
    let missing =
        read_json::<serde_json::Value>(&dir.join("absent.json"), "a summary").unwrap_err();
    assert!(matches!(missing, ExperimentError::Io { .. }), "{missing:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn window_loss_of_uniform_logits_is_the_log_of_the_vocabulary() {
    use burn::tensor::{Int, Tensor};
    use tanglenas::experiment::text::window_loss;
    type B = tanglenas::backend::Cpu;
    let device = Default::default();
    let tokens: Vec<usize> = (0..200).map(|i| i % 5).collect();
    let windows =
        tangle_data::TextBatches::<B>::new(tokens.clone(), tokens, 8, 4, 1, 0, &device).unwrap();
    // Equal logits over 5 tokens: every next-token loss is ln 5.
    let uniform = |x: Tensor<B, 2, Int>| {
        let [b, t] = x.dims();
        Ok::<_, ExperimentError>(Tensor::<B, 3>::zeros([b, t, 5], &device))
    };
    let loss = window_loss(&windows, 3, uniform).unwrap();
    assert!((loss - 5f32.ln()).abs() < 1e-5, "{loss}");
    // A model sure that every next token is 0 is wrong on four positions in five (the tokens
    // cycle through 0..5), and loses more than the uniform one.
    let wrong = |x: Tensor<B, 2, Int>| {
        let [b, t] = x.dims();
        let sure = Tensor::ones([b, t, 1], &device) * 20.0;
        let logits =
            Tensor::<B, 3>::zeros([b, t, 5], &device).slice_assign([0..b, 0..t, 0..1], sure);
        Ok::<_, ExperimentError>(logits)
    };
    assert!(window_loss(&windows, 3, wrong).unwrap() > loss);
}

#[test]
fn an_example_that_generates_its_data_names_a_dataset_flag() {
    assert!(args(&[]).generates_data("--samples").is_ok());
    let err = args(&["--dataset", "cifar10"])
        .generates_data("--samples")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--dataset cifar10") && err.contains("--samples"),
        "{err}"
    );
    let err = args(&["--data-dir", "/data/mnist"])
        .generates_data("--samples")
        .unwrap_err()
        .to_string();
    assert!(err.contains("--data-dir /data/mnist"), "{err}");
}
