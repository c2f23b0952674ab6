//! Decisions, search specs, architectures and mixture maps: validation and JSON.
use tangle_core::{Architecture, Choice, CoreError, Decision, DecisionKind, Mixtures, SearchSpec};

type B = burn::backend::Flex;

fn spec() -> SearchSpec {
    SearchSpec::new(vec![
        Decision::sizes("embed", &[192, 216, 240], 240).unwrap(),
        Decision::ratios("layer0.mlp_ratio", &[3.5, 4.0]).unwrap(),
        Decision::heads("layer0.heads", &[3, 4]).unwrap(),
        Decision::kernels("conv1.kernel", &[3, 5, 7]).unwrap(),
        Decision::depths("depth", &[12, 13, 14], 14).unwrap(),
        Decision::ops("edge0", &["skip_connect", "sep_conv_3x3"]).unwrap(),
    ])
    .unwrap()
}

#[test]
fn decision_validation_gives_typed_errors() {
    assert_eq!(
        Decision::sizes("c", &[], 8),
        Err(CoreError::Empty {
            decision: "c".into()
        })
    );
    assert!(matches!(
        Decision::sizes("c", &[4, 4], 8),
        Err(CoreError::Duplicate { .. })
    ));
    assert!(matches!(
        Decision::sizes("c", &[8, 4], 8),
        Err(CoreError::NotIncreasing { .. })
    ));
    assert_eq!(
        Decision::sizes("c", &[4, 16], 8),
        Err(CoreError::ExceedsMax {
            decision: "c".into(),
            value: "16".into(),
            max: "8".into()
        })
    );
    assert!(matches!(
        Decision::sizes("c", &[0, 4], 8),
        Err(CoreError::InvalidCandidate { .. })
    ));
    assert!(matches!(
        Decision::kernels("k", &[3, 4]),
        Err(CoreError::InvalidCandidate { .. })
    ));
    assert!(matches!(
        Decision::ratios("r", &[3.5, f64::NAN]),
        Err(CoreError::InvalidCandidate { .. })
    ));
    assert!(matches!(
        Decision::ratios("r", &[4.0, 3.5]),
        Err(CoreError::NotIncreasing { .. })
    ));
    assert!(matches!(
        Decision::depths("d", &[12, 15], 14),
        Err(CoreError::ExceedsMax { .. })
    ));
    assert!(matches!(
        Decision::ops("e", &["a", "a"]),
        Err(CoreError::Duplicate { .. })
    ));
    assert!(matches!(
        Decision::ops("e", &[]),
        Err(CoreError::Empty { .. })
    ));
    assert_eq!(
        Decision::heads_dividing("h", &[6, 8, 12], &[384, 576, 768])
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        Decision::heads_dividing("h", &[5, 6], &[384]),
        Err(CoreError::HeadsDoNotDivide {
            heads: 5,
            embed: 384
        })
    );
    let d = Decision::ratios("r", &[3.5, 4.0]).unwrap();
    assert_eq!(d.kind(), DecisionKind::Ratio);
    assert_eq!(d.index_of(&Choice::Int(4)).unwrap(), 1);
}

#[test]
fn spec_rejects_duplicate_names_and_counts_architectures() {
    let s = spec();
    assert_eq!(s.size(), 3 * 2 * 2 * 3 * 3 * 2);
    let err = SearchSpec::new(vec![
        Decision::sizes("a", &[1, 2], 2).unwrap(),
        Decision::sizes("a", &[1, 2], 2).unwrap(),
    ]);
    assert_eq!(err, Err(CoreError::DuplicateDecision("a".into())));
}

#[test]
fn architecture_json_round_trip_keeps_ratios_as_reals() {
    let s = spec();
    let arch = s.architecture(&[1, 0, 1, 2, 0, 1]).unwrap();
    let json = arch.to_json();
    assert!(json.contains("\"layer0.mlp_ratio\": 3.5"), "{json}");
    assert!(json.contains("\"edge0\": \"sep_conv_3x3\""), "{json}");
    let back = Architecture::from_json(&json, &s).unwrap();
    assert_eq!(back, arch);
    assert_eq!(s.indices(&back).unwrap(), vec![1, 0, 1, 2, 0, 1]);
    assert_eq!(s.indices(&s.largest()).unwrap(), vec![2, 1, 1, 2, 2, 1]);
}

#[test]
fn architecture_mismatches_are_typed_errors() {
    let s = spec();
    let mut arch = s.largest();
    arch.set("embed", 200usize);
    assert!(matches!(
        arch.validate(&s),
        Err(CoreError::InvalidChoice { .. })
    ));
    let mut arch = s.largest();
    arch.set("layer99.heads", 3usize);
    assert_eq!(
        arch.validate(&s),
        Err(CoreError::UnknownDecision("layer99.heads".into()))
    );
    let json = r#"{"embed": 192}"#;
    assert!(matches!(
        Architecture::from_json(json, &s),
        Err(CoreError::MissingChoice(_))
    ));
    assert!(matches!(
        Architecture::from_json("{not json", &s),
        Err(CoreError::Json(_))
    ));
    assert!(matches!(
        s.architecture(&[0, 0, 0, 0, 0, 5]),
        Err(CoreError::BadMixture { .. })
    ));
}

#[test]
fn mixtures_are_checked_against_the_spec() {
    let s = spec();
    let fixed = Mixtures::<B>::fixed(&s, &s.largest()).unwrap();
    assert!(matches!(
        fixed.get("depth").unwrap(),
        tangle_core::Mixture::Single { index: 2, .. }
    ));
    assert!(matches!(
        fixed.get("nope"),
        Err(CoreError::UnknownDecision(_))
    ));
    let too_few = Mixtures::<B>::new(&s, vec![tangle_core::Mixture::single(0)]);
    assert!(matches!(too_few, Err(CoreError::BadMixture { .. })));
}
