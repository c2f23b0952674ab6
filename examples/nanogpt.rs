//! Language-model search (paper Table 18) with TangleNAS on the shipped Shakespeare: search
//! (single- or two-stage), discretize, score the discovered model on held-out text, sample from
//! it, export it; optionally train it alone for comparison (`--reference`) and retrain it from
//! scratch (`--retrain EPOCHS`).
//!
//! ```text
//! cargo run --release --example nanogpt                      # scaled-down run, ≈ 10 min on 2 cores
//! cargo run --release --example nanogpt -- --retrain 250     # then retrain it: ≈ 25 min, 1.64 held out
//! cargo run --release --example nanogpt -- --help            # options (sizes, token files, devices)
//! ```
//!
//! Writes `metrics.jsonl`, `architecture.json`, `alphas.svg`, `summary.json`, `sample.txt` and
//! the discovered model's weights `subnet.bpk` to `--out` (default `runs/nanogpt`, never
//! overwritten). The file reads on its own: the space (`GptConfig::table18` with its
//! embeddings divided by `--scale`), how the discovered model is scored, sampled and retrained,
//! and the command line; the text (split three ways: the weights', α's, held out) and
//! everything else are the library's experiment runner (`tanglenas::experiment`).

/// mimalloc instead of the system allocator: Burn's CPU backend allocates a tensor per op, and
/// glibc's malloc hands every block over 128 KiB back to the kernel (docs/benchmarks.md).
/// Left out when a test includes this file (the test binary keeps its own allocator).
#[cfg(not(test))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use tangle_core::{Extract, Supernet};
use tangle_data::TextBatches;
use tangle_optim::{Method, SearchConfig};
use tangle_spaces::gpt::{GptConfig, GptNet};
use tanglenas::experiment::text::{load, window_loss, Tokens, HELD_OUT};

use tanglenas::experiment::{
    architecture_value, command as experiment_command, discover, dispatch, exit_on_error, parse,
    reference, run_dir, search_epochs, start_search, train_alone, write, write_config, write_json,
    write_search, ExperimentError, Job, Result, RunArgs, Strategy,
};

struct LmJob {
    args: RunArgs,
    scale: usize,
    context: usize,
    batch: usize,
    steps: usize,
    vocab: usize,
    sample: usize,
    temperature: f64,
    lr: f64,
    /// Also train the discovered architecture alone (fresh weights, same data and weight steps).
    reference: bool,
    alpha_warmup: usize,
    /// Epochs of `steps` steps that retrain the discovered architecture from scratch after the
    /// search (0: none).
    retrain: usize,
}

/// Batches of windows the discovered model is scored on, held-out and on the α split: 50 of
/// `--batch` (600 windows of 64 characters by default; the score used 120 before 2026-12-07).
const HELD_OUT_BATCHES: usize = 50;

/// Steps of linear lr warm-up for a run of `steps` weight steps: Table 23 warms up over 100 of
/// 6000 iterations, nanoGPT's character model over 100 of 2000; keep that share on short runs.
fn lr_warmup_steps(steps: usize) -> usize {
    (steps / 60).clamp(1, 100)
}

impl Job for LmJob {
    fn run<B: AutodiffBackend>(
        self,
        method: Method,
        strategy: Strategy,
        device: B::Device,
    ) -> Result<()> {
        let a = &self.args;
        let Tokens {
            weights,
            alpha,
            held_out,
            chars,
            vocab,
        } = load(a, self.vocab)?;
        // Windows on the inference backend: the α split's score SPOS's candidates, and the
        // held-out ones score the discovered model. A `TextBatches` serves its second stream
        // as validation windows; its first is unused here, so it gets the same (short) tokens
        // rather than a copy of the weights' stream.
        let inference = |tokens: &[usize], seed: u64| {
            TextBatches::<B::InnerBackend>::new(
                tokens.to_vec(),
                tokens.to_vec(),
                self.context,
                self.batch,
                1,
                seed,
                &device,
            )
        };
        let alpha_windows = inference(&alpha, a.seed ^ 1)?;
        // Retraining from scratch learns on all the search's text, as DARTS's evaluation
        // trains on the whole training set; the held-out text stays unseen.
        let retrain_tokens =
            (self.retrain > 0).then(|| ([&weights[..], &alpha[..]].concat(), alpha.clone()));
        let held_out_windows = inference(&held_out, a.seed ^ 2)?;
        let data = TextBatches::<B>::new(
            weights,
            alpha,
            self.context,
            self.batch,
            self.steps,
            a.seed,
            &device,
        )?;
        let base = GptConfig::table18(vocab, self.context);
        let config = GptConfig {
            embeds: base.embeds.iter().map(|e| e / self.scale).collect(),
            ..base
        };
        let net = config.clone().init::<B>(&device)?;
        let spec = net.spec().clone();
        let out = run_dir(a)?;
        let search_config = SearchConfig {
            arch_lr: a.arch_lr,
            lr: self.lr,
            lr_min: self.lr / 10.0,
            lr_warmup_steps: lr_warmup_steps(a.epochs * self.steps),
            warmup_epochs: self.alpha_warmup,
            ..SearchConfig::language_model(a.epochs)
        };
        let search = start_search(a, net, method, search_config, &out, &device)?;
        println!(
            "nanoGPT space on {} (vocabulary {vocab}, context {}): embed {:?}, heads {:?}, ratio {:?}, layers {:?} — {} architectures; {} with {} epochs of {} steps; output in {}",
            a.dataset,
            self.context,
            config.embeds,
            config.heads,
            config.ratios,
            config.layers,
            spec.size(),
            a.optimizer,
            a.epochs,
            self.steps,
            out.display()
        );
        let search = search_epochs(a, search, &data, &out, &device)?;
        let model = search.model.valid();
        // SPOS's candidates are scored on α-split windows.
        let batches = || {
            Ok((0..4)
                .map(|s| tangle_optim::SearchData::valid(&alpha_windows, 1, s))
                .collect())
        };
        let metric = tangle_twostage::Metric::NegLoss;
        let arch = discover(a, &search, &model, strategy, batches, metric, &out)?;
        let net = model.extract(&arch)?;
        let loss = window_loss(&held_out_windows, HELD_OUT_BATCHES, |x| net.forward(x))?;
        // The score a setting may be chosen on: the held-out loss is for reporting only.
        let alpha_loss = window_loss(&alpha_windows, HELD_OUT_BATCHES, |x| net.forward(x))?;
        let fresh = || config.init::<B>(&device);
        let scored = |m: tangle_spaces::gpt::Gpt<B::InnerBackend>| -> Result<_> {
            let net = m.extract(&arch)?;
            Ok((
                window_loss(&held_out_windows, HELD_OUT_BATCHES, |x| net.forward(x))?,
                net,
            ))
        };
        let alone = reference(a, self.reference, fresh, &arch, &search.config, &data, &out)?
            .map(scored)
            .transpose()?;
        let retrained = match retrain_tokens {
            None => None,
            Some((tokens, alpha_tokens)) => {
                let tokens_len = tokens.len();
                // The α text serves as the (unused) second stream: every epoch trains weights.
                let all = TextBatches::<B>::new(
                    tokens,
                    alpha_tokens,
                    self.context,
                    self.batch,
                    self.steps,
                    a.seed ^ 3,
                    &device,
                )?;
                let config = SearchConfig {
                    epochs: self.retrain,
                    lr_warmup_steps: lr_warmup_steps(self.retrain * self.steps),
                    ..search.config.clone()
                };
                let what = format!(
                    "the discovered architecture from scratch: {} epochs of {} steps on the search's {} tokens",
                    self.retrain, self.steps, tokens_len
                );
                let log = out.join("retrain.jsonl");
                let m = train_alone(a, &what, fresh, &arch, &config, &all, &log)?;
                Some(scored(m)?)
            }
        };
        println!("\ndiscovered architecture: {}", arch.to_json());
        println!(
            "held-out loss of the discovered model with inherited weights: {loss:.4} nats/token ({} windows of {} tokens)",
            HELD_OUT_BATCHES * self.batch,
            self.context
        );
        println!("its loss on the α split (what a setting may be chosen on): {alpha_loss:.4}");
        if let Some((r, _)) = &alone {
            println!("held-out loss of the same architecture trained alone: {r:.4} nats/token");
        }
        if let Some((r, _)) = &retrained {
            println!(
                "held-out loss of the discovered architecture retrained from scratch ({} steps): {r:.4} nats/token",
                self.retrain * self.steps
            );
        }
        // A sample from the inherited weights and, with the reference, one from the same
        // architecture trained alone, so the two can be read side by side.
        let mut sample_text = String::new();
        if let Some(v) = &chars {
            let prompt = v.encode("\n").unwrap_or_else(|_| vec![0]);
            let sample = |net: &GptNet<B::InnerBackend>| -> Result<String> {
                let ids = net.generate(
                    &prompt,
                    self.sample,
                    Some(self.temperature),
                    a.seed,
                    &device,
                )?;
                Ok(v.decode(&ids))
            };
            sample_text = sample(&net)?;
            println!(
                "\nsample (temperature {}):\n{sample_text}",
                self.temperature
            );
            write(&out, "sample.txt", &sample_text)?;
            if let Some((_, alone_net)) = &alone {
                let text = sample(alone_net)?;
                println!("\nsample of the architecture trained alone:\n{text}");
                write(&out, "sample_trained_alone.txt", &text)?;
            }
            if let Some((_, retrained_net)) = &retrained {
                let text = sample(retrained_net)?;
                println!("\nsample of the retrained architecture:\n{text}");
                write(&out, "sample_retrained.txt", &text)?;
            }
        }
        write_search(&out, &search, &arch, 6)?;
        let summary = serde_json::json!({
            "space": "nanogpt",
            "optimizer": a.optimizer,
            "dataset": a.dataset,
            "epochs": a.epochs,
            "seed": a.seed,
            "embeds": config.embeds,
            "context": self.context,
            "architecture": architecture_value(&arch)?,
            "held_out_loss": loss,
            "held_out_loss_trained_alone": alone.as_ref().map(|(r, _)| *r),
            "retrain_epochs": self.retrain,
            "held_out_loss_retrained": retrained.as_ref().map(|(r, _)| *r),
            "alpha_split_loss_inherited": alpha_loss,
            "held_out_share": if chars.is_some() { Some(HELD_OUT) } else { None },
            "train_portion": a.train_portion,
            "sample": sample_text,
            "seconds": search.records.last().map(|r| r.seconds),
        });
        write_json(&out, "summary.json", &summary)?;
        write_config(&out, "space_config.json", &config)?;
        tangle_core::subnet::save(&net, out.join("subnet.bpk"))?;
        if let Some((_, retrained_net)) = &retrained {
            tangle_core::subnet::save(retrained_net, out.join("subnet_retrained.bpk"))?;
        }
        let text = chars.is_some();
        println!(
            "wrote metrics.jsonl, architecture.json, alphas.svg, summary.json, space_config.json, search_config.json{}{}{}{} and subnet.bpk{} to {}",
            if text { ", sample.txt" } else { "" },
            if alone.is_some() { ", reference.jsonl" } else { "" },
            if text && alone.is_some() { ", sample_trained_alone.txt" } else { "" },
            match (&retrained, text) {
                (None, _) => "",
                (Some(_), false) => ", retrain.jsonl",
                (Some(_), true) => ", retrain.jsonl, sample_retrained.txt",
            },
            if retrained.is_some() { ", subnet_retrained.bpk" } else { "" },
            out.display()
        );
        Ok(())
    }
}

/// The command line of the nanoGPT example: the shared options and this job's own.
#[derive(Debug, clap::Parser)]
#[command(
    after_help = "The space is paper Table 18 with the embedding dims divided by --scale \
(1 = the paper's {384, 576, 768}; context 224 in the paper). Defaults: a scaled-down search on \
the shipped Shakespeare that finishes in under 10 minutes on 2 CPU cores."
)]
pub struct LmCli {
    #[command(flatten)]
    run: RunArgs,
    /// Divides the paper's embedding dims {384, 576, 768}; must divide 384.
    #[arg(long, default_value_t = 8)]
    scale: usize,
    /// Context length (characters or tokens).
    #[arg(long, default_value_t = 64)]
    context: usize,
    /// Sequences per step (split between the peers).
    #[arg(long, default_value_t = 12)]
    batch: usize,
    /// Steps per epoch.
    #[arg(long, default_value_t = 40)]
    steps: usize,
    /// Vocabulary of a --dataset tokens file.
    #[arg(long, default_value_t = 50304)]
    vocab: usize,
    /// Characters sampled from the discovered model at the end.
    #[arg(long, default_value_t = 400)]
    sample: usize,
    /// Sampling temperature.
    #[arg(long, default_value_t = 0.8)]
    temperature: f64,
    /// Weight learning rate (AdamW).
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    /// Candidates evaluated by spos-rs / spos-es.
    #[arg(long, default_value_t = 100)]
    budget: usize,
    /// Also train the discovered architecture alone (same data and weight steps).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value_t = false,
          action = clap::ArgAction::Set)]
    reference: bool,
    /// Epochs that train the weights only, before α.
    #[arg(long, value_name = "EPOCHS", default_value_t = 12)]
    alpha_warmup: usize,
    /// After the search, retrain the discovered architecture from scratch for this many epochs
    /// of --steps steps (0 = off) on all the search's text (weights' and α's; the held-out
    /// tenth stays unseen), with its own lr warm-up and cosine decay, and score it on the
    /// held-out text.
    #[arg(long, value_name = "EPOCHS", default_value_t = 0)]
    retrain: usize,
}

/// The command line of the nanoGPT example, with its defaults.
pub fn command() -> clap::Command {
    experiment_command::<LmCli>(
        "nanogpt",
        "A nanoGPT language-model search: search (single- or two-stage), discretize, evaluate \
         with inherited weights, sample, export.",
        &[
            ("dataset", "shipped-shakespeare".to_string()),
            // 24 epochs, the first 12 weights only: 9–10 minutes on 2 cores (2026-12-07: 26
            // epochs took 10 min 7 s; an epoch with α steps costs twice a weight epoch). The
            // GPT space has no batch norm: one peer per core gives the one-peer result, sooner.
            ("epochs", "24".to_string()),
            ("train_portion", "0.9".to_string()),
            ("out", "runs/nanogpt".to_string()),
        ],
    )
}

/// Parses the command line and runs the search.
pub fn main() {
    let cli: LmCli = parse(command());
    let a = cli.run;
    let result = (|| -> Result<()> {
        if cli.scale == 0 || 384 % cli.scale != 0 {
            return Err(ExperimentError::usage(format!(
                "--scale {} must divide 384",
                cli.scale
            )));
        }
        let job = LmJob {
            scale: cli.scale,
            context: cli.context,
            batch: cli.batch,
            steps: cli.steps,
            vocab: cli.vocab,
            sample: cli.sample,
            temperature: cli.temperature,
            lr: cli.lr,
            reference: cli.reference,
            alpha_warmup: cli.alpha_warmup,
            retrain: cli.retrain,
            args: a.clone(),
        };
        dispatch(&a, job, cli.budget)
    })();
    exit_on_error(result);
}
