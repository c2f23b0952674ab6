//! `SinglePath` (a fixed network as the supernet's single path, no second topology) computes
//! what the extracted plain network computes, on three spaces, at mixed architectures.
mod common;
use common::*;

use burn::tensor::{Distribution, Int, Tensor};
use tangle_core::{Architecture, Extract, SearchSpec, SinglePath, Supernet};
use tangle_spaces::autoformer::AutoFormerConfig;
use tangle_spaces::gpt::GptConfig;
use tangle_spaces::nb201::Nb201Config;

/// The architecture taking candidate `(i + shift) mod n` of the i-th decision: not the largest,
/// not the smallest, different for each decision.
fn mixed_arch(spec: &SearchSpec, shift: usize) -> Architecture {
    let idx: Vec<usize> = spec
        .decisions()
        .iter()
        .enumerate()
        .map(|(i, d)| (i + shift) % d.candidates().len())
        .collect();
    spec.architecture(&idx).unwrap()
}

fn assert_close(a: Tensor<B, 2>, b: Tensor<B, 2>) {
    close(&vals(a), &vals(b), 1e-5);
}

#[test]
fn single_path_equals_the_extracted_network() {
    let d = Default::default();
    let vit = AutoFormerConfig {
        depths: vec![1, 2],
        ..AutoFormerConfig::tiny(16, 8, 10)
    }
    .init::<B>(&d)
    .unwrap();
    let x = Tensor::<B, 4>::random([2, 3, 16, 16], Distribution::Normal(0.0, 1.0), &d);
    for shift in 0..3 {
        let arch = mixed_arch(vit.spec(), shift);
        let plain = vit.extract(&arch).unwrap().forward(x.clone());
        let path = SinglePath::new(vit.clone(), &arch).unwrap();
        assert_close(path.forward(x.clone()).unwrap(), plain);
        assert_eq!(path.params().unwrap(), vit.params(&arch).unwrap());
    }

    // NB201 in training mode (batch statistics), as its own extraction test: its extracted
    // network is the benchmark's, whose affine batch norms are fresh. One forward pass first:
    // Burn draws lazily initialized weights at first use, so a clone taken before it (the
    // `SinglePath` below) would draw its own.
    let x = Tensor::<AB, 4>::random([4, 3, 16, 16], Distribution::Normal(0.0, 1.0), &d);
    let nb = warm(
        Nb201Config::new()
            .with_channels(4)
            .with_cells(1)
            .init::<AB>(&d)
            .unwrap(),
        x.clone(),
    );
    for shift in 0..3 {
        let arch = mixed_arch(nb.spec(), shift);
        let plain = nb.extract(&arch).unwrap().forward(x.clone()).unwrap();
        let path = SinglePath::new(nb.clone(), &arch).unwrap();
        let got = path.forward(x.clone()).unwrap();
        close(
            &got.into_data().to_vec::<f32>().unwrap(),
            &plain.into_data().to_vec::<f32>().unwrap(),
            1e-4,
        );
    }

    let gpt = GptConfig {
        embeds: vec![16, 24],
        heads: vec![2, 4],
        ratios: vec![2.0, 4.0],
        layers: vec![1, 2],
        ..GptConfig::table18(11, 8)
    }
    .init::<B>(&d)
    .unwrap();
    let ids =
        Tensor::<B, 2, Int>::from_data([[1, 2, 3, 4, 5, 6, 7, 8], [8, 7, 6, 5, 4, 3, 2, 1]], &d);
    for shift in 0..3 {
        let arch = mixed_arch(gpt.spec(), shift);
        let plain = gpt.extract(&arch).unwrap().forward(ids.clone()).unwrap();
        let path = SinglePath::new(gpt.clone(), &arch).unwrap();
        let got = path.forward(ids.clone()).unwrap();
        close(
            &got.into_data().to_vec::<f32>().unwrap(),
            &plain.into_data().to_vec::<f32>().unwrap(),
            1e-5,
        );
    }
}

#[test]
fn an_architecture_of_another_space_is_an_error_naming_the_decision() {
    let d = Default::default();
    let nb = Nb201Config::new()
        .with_channels(4)
        .with_cells(1)
        .init::<B>(&d)
        .unwrap();
    let vit = AutoFormerConfig::tiny(16, 8, 10).init::<B>(&d).unwrap();
    let err = SinglePath::new(nb, &vit.spec().largest())
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown decision"), "{err}");
}
