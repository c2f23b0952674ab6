//! Space configurations are Burn `Config`s: each saves and loads as JSON unchanged, the defaults
//! are the documented sizes, and the loaded configuration builds the same supernet.
use burn::config::{config_to_json, Config};
use tangle_spaces::autoformer::AutoFormerConfig;
use tangle_spaces::conv_macro::ConvMacroConfig;
use tangle_spaces::darts::DartsConfig;
use tangle_spaces::gpt::GptConfig;
use tangle_spaces::mobilenet::MobileNetConfig;
use tangle_spaces::nb201::Nb201Config;
use tangle_spaces::small_conv::SmallConvConfig;
use tangle_spaces::toy_cell::ToyCellConfig;

use tangle_core::Supernet;

type B = burn::backend::Flex;

fn round_trip<C: Config + PartialEq + std::fmt::Debug>(c: C) -> C {
    let json = config_to_json(&c);
    let back = C::load_binary(json.as_bytes()).unwrap();
    assert_eq!(back, c, "{json}");
    back
}

#[test]
fn every_space_config_saves_and_loads_as_json() {
    round_trip(AutoFormerConfig::small(224, 16, 1000));
    round_trip(GptConfig::table18(65, 224));
    round_trip(Nb201Config::new().with_channels(8));
    round_trip(DartsConfig::drnas());
    round_trip(MobileNetConfig::default());
    round_trip(SmallConvConfig::default());
    round_trip(ConvMacroConfig::new().with_dropout(0.3));
    round_trip(ToyCellConfig::default());
}

#[test]
fn defaults_are_the_documented_sizes() {
    let nb = Nb201Config::default();
    assert_eq!((nb.channels, nb.cells, nb.classes), (16, 5, 10));
    let darts = DartsConfig::default();
    assert_eq!((darts.channels, darts.layers, darts.partial), (16, 8, 1));
    let mb = MobileNetConfig::default();
    assert_eq!((mb.image_size, mb.classes, mb.dropout), (224, 1000, 0.1));
    let gpt = GptConfig::table18(65, 224);
    assert_eq!((gpt.dropout, gpt.tied), (0.0, false));
    assert_eq!(ConvMacroConfig::default().dropout, 0.5);
    assert_eq!(ToyCellConfig::default().dropout, 0.2);
}

#[test]
fn a_loaded_config_builds_the_same_supernet() {
    use burn::module::Module;
    let d = Default::default();
    let cfg = AutoFormerConfig {
        depths: vec![1, 2],
        ..AutoFormerConfig::tiny(16, 8, 10)
    };
    let loaded = round_trip(cfg.clone());
    let a = cfg.init::<B>(&d).unwrap();
    let b = loaded.init::<B>(&d).unwrap();
    assert_eq!(a.num_params(), b.num_params());
    assert_eq!(a.spec(), b.spec());
    let nb = Nb201Config::new().with_channels(4).with_cells(1);
    assert_eq!(
        nb.init::<B>(&d).unwrap().spec(),
        nb.init_ws::<B>(&d).unwrap().spec()
    );
}
