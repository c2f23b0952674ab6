//! Evolution vs random search at equal budget on spaces with a known best architecture.
//!
//! The "task" is a stand-in with a known optimum: an architecture's score is minus the number of
//! its active genes that differ from a hidden target architecture (so the best score is 0).
//! This isolates the search strategies from supernet training noise. For each space and seed,
//! both searches get the same number of evaluations; the table shows the best score each found.
//!
//! ```text
//! cargo run --release --example es_vs_rs
//! ```

use rand::{Rng, SeedableRng};
use tangle_core::{Architecture, SearchSpec};
use tangle_twostage::{evolution, random_search, EvolutionConfig, Genome};

/// mimalloc instead of glibc's malloc, as every example (docs/benchmarks.md, "The allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let spaces: Vec<(&str, SearchSpec)> = vec![
        ("toy conv-macro (6561)", tangle_spaces::conv_macro::spec()),
        ("NB201 (15625)", tangle_spaces::nb201::spec()),
        (
            "AutoFormer-T (30 decisions)",
            tangle_spaces::autoformer::AutoFormerConfig::tiny(32, 4, 10)
                .spec()
                .expect("valid"),
        ),
        (
            "MobileNetV3 (45 decisions)",
            tangle_spaces::mobilenet::spec(),
        ),
    ];
    let cfg = EvolutionConfig {
        population: 20,
        top_k: 5,
        mutations: 10,
        crossovers: 10,
        generations: 9,
        ..Default::default()
    };
    let budget = cfg.budget();
    println!(
        "budget {budget} evaluations per search; score = −(genes differing from the target)\n"
    );
    println!("| space | seed | random search best | evolution best |");
    println!("|---|---|---|---|");
    for (name, spec) in &spaces {
        let genome = Genome::new(spec);
        for seed in 0..4u64 {
            // A hidden target per (space, seed).
            let mut rng = rand::rngs::StdRng::seed_from_u64(1000 + seed);
            let target = genome.canonical(
                &spec
                    .decisions()
                    .iter()
                    .map(|d| rng.random_range(0..d.len()))
                    .collect::<Vec<_>>(),
            );
            let score = |a: &Architecture| -> tangle_twostage::Result<f32> {
                let idx = genome.canonical(&spec.indices(a)?);
                Ok(-(idx.iter().zip(&target).filter(|(x, y)| x != y).count() as f32))
            };
            let rs = random_search(spec, budget, None, seed, score).expect("random search");
            let es = evolution(spec, &cfg, None, seed, score).expect("evolution");
            println!(
                "| {name} | {seed} | {} | {} |",
                // + 0.0 prints −0 as 0.
                rs.best().expect("evaluated").score + 0.0,
                es.best().expect("evaluated").score + 0.0
            );
        }
    }
}
