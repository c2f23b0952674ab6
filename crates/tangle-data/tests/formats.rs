//! File formats, shipped data, transforms and served batches.
use std::path::PathBuf;

use burn::backend::Flex;
use burn::tensor::{Int, Tensor};
use tangle_core::SearchData;
use tangle_data::images::batch;
use tangle_data::text::{read_text, read_tokens};
use tangle_data::{shipped, CharVocab, DataError, ImageBatches, Images, TextBatches, Transform};

type B = Flex;

fn tmp(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tangle-data-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

fn ints(t: Tensor<B, 1, Int>) -> Vec<i64> {
    t.into_data().convert::<i64>().to_vec().unwrap()
}

fn floats<const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec().unwrap()
}

#[test]
fn shipped_data_is_real_mnist_and_shakespeare() {
    let train = shipped::mnist_train().unwrap();
    let test = shipped::mnist_test().unwrap();
    assert_eq!(
        (train.len(), train.height, train.width, train.channels),
        (6000, 28, 28, 1)
    );
    assert_eq!(test.len(), 1000);
    // MNIST's first training digit is a 5, its first test digit a 7.
    assert_eq!((train.labels[0], test.labels[0]), (5, 7));
    assert!(train.labels.iter().all(|&l| l < 10));
    let text = shipped::shakespeare().unwrap();
    assert!(text.starts_with("ALL'S WELL THAT ENDS WELL"));
    assert_eq!(CharVocab::from_text(&text).len(), 77);
}

#[test]
fn idx_files_raw_and_gzip_with_typed_errors() {
    let pixels: Vec<u8> = (0..2 * 2 * 3).map(|i| i as u8).collect();
    let img = tmp("img.idx", &idx(&[2, 2, 3], &pixels));
    let lbl = tmp("lbl.idx", &idx(&[2], &[3, 9]));
    let set = Images::from_idx(&img, &lbl).unwrap();
    assert_eq!(set.pixels, pixels);
    assert_eq!(set.labels, vec![3, 9]);
    assert_eq!((set.height, set.width), (2, 3));
    // Missing file: an I/O error naming it.
    let missing = img.with_file_name("nope.idx");
    match Images::from_idx(&missing, &lbl) {
        Err(DataError::Io { path, .. }) => assert_eq!(path, missing),
        other => panic!("{other:?}"),
    }
    // Truncated data, bad magic, label count, label range, corrupt gzip: format errors.
    let short = tmp("short.idx", &idx(&[2, 2, 3], &pixels[..5]));
    let bad_magic = tmp("magic.idx", &[1, 2, 3, 4, 5, 6, 7, 8]);
    let three = tmp("three.idx", &idx(&[3], &[1, 2, 3]));
    let range = tmp("range.idx", &idx(&[2], &[1, 10]));
    let gz = tmp("bad.gz", &[0x1f, 0x8b, 8, 0, 1, 2, 3]);
    for (i, l) in [
        (&short, &lbl),
        (&bad_magic, &lbl),
        (&img, &three),
        (&img, &range),
        (&gz, &lbl),
    ] {
        match Images::from_idx(i, l) {
            Err(DataError::Format { path, reason }) => {
                assert!(path == *i || path == *l, "{path:?}");
                assert!(!reason.is_empty());
            }
            other => panic!("{i:?} {l:?}: {other:?}"),
        }
    }
}

#[test]
fn cifar_records_and_errors() {
    let mut rec = vec![7u8];
    rec.extend((0..3072).map(|i| (i % 251) as u8));
    let mut two = rec.clone();
    two.extend(&rec);
    two[3073] = 2;
    let f = tmp("data_batch_1.bin", &two);
    let set = Images::from_cifar(std::slice::from_ref(&f), false).unwrap();
    assert_eq!(set.labels, vec![7, 2]);
    assert_eq!(set.pixels.len(), 2 * 3072);
    assert_eq!(&set.pixels[..3072], &rec[1..]);
    // CIFAR-100: coarse then fine label; the fine one is used.
    let mut r100 = vec![3u8, 42];
    r100.extend(vec![0u8; 3072]);
    let f100 = tmp("train.bin", &r100);
    assert_eq!(Images::from_cifar(&[f100], true).unwrap().labels, vec![42]);
    let bad = tmp("bad.bin", &two[..100]);
    assert!(matches!(
        Images::from_cifar(&[bad], false),
        Err(DataError::Format { .. })
    ));
    assert!(Images::from_cifar(&[], false).is_err());
}

#[test]
fn channels_padding_normalization_and_augmentation() {
    let set = Images {
        pixels: vec![255, 0, 0, 255],
        labels: vec![1],
        channels: 1,
        height: 2,
        width: 2,
        classes: 2,
    };
    let rgb = set.clone().with_channels(3).unwrap();
    assert_eq!(rgb.pixels, [255, 0, 0, 255].repeat(3));
    let big = set.clone().padded_to(4).unwrap();
    assert_eq!(
        big.pixels,
        vec![0, 0, 0, 0, 0, 255, 0, 0, 0, 0, 255, 0, 0, 0, 0, 0]
    );
    assert!(set.clone().padded_to(1).is_err());
    let t = Transform {
        mean: vec![0.5],
        std: vec![0.5],
        crop_padding: 0,
        flip: false,
    };
    let device = Default::default();
    let (x, y) = batch::<B>(&set, &[0], &t, None, &device).unwrap();
    assert_eq!(floats(x), vec![1.0, -1.0, -1.0, 1.0]);
    assert_eq!(ints(y), vec![1]);
    // A flip of this image is its mirror: [0, 255, 255, 0].
    let flip = Transform {
        flip: true,
        ..t.clone()
    };
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let (x, _) = batch::<B>(&set, &[0], &flip, Some(&mut rng), &device).unwrap();
        seen.insert(floats(x).iter().map(|v| *v as i32).collect::<Vec<_>>());
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.contains(&vec![-1, 1, 1, -1]));
    assert!(batch::<B>(&set, &[0], &Transform::cifar10(), None, &device).is_err());
}

#[test]
fn image_batches_are_reproducible_and_split() {
    let device = Default::default();
    let mnist = shipped::mnist_test()
        .unwrap()
        .with_channels(3)
        .unwrap()
        .padded_to(32)
        .unwrap();
    let data = ImageBatches::<B>::new(mnist, 0.5, 16, Transform::mnist(3), 0, &device).unwrap();
    assert_eq!(data.steps_per_epoch(), 500 / 16);
    let (x, y) = data.train(1, 2);
    assert_eq!(x.dims(), [16, 3, 32, 32]);
    let (x2, y2) = data.train(1, 2);
    assert_eq!(floats(x), floats(x2));
    assert_eq!(ints(y.clone()), ints(y2));
    assert_ne!(ints(y), ints(data.train(2, 2).1));
    assert!(ImageBatches::<B>::new(
        shipped::mnist_test().unwrap(),
        0.5,
        16,
        Transform::cifar10(),
        0,
        &device
    )
    .is_err());
}

#[test]
fn text_vocab_token_files_and_windows() {
    let v = CharVocab::from_text("hello world");
    assert_eq!(v.len(), 8);
    let ids = v.encode("world").unwrap();
    assert_eq!(v.decode(&ids), "world");
    assert!(v.encode("hi!").is_err());
    let f = tmp("train.bin", &[1, 0, 2, 1, 255, 255]);
    assert_eq!(read_tokens(&f).unwrap(), vec![1, 258, 65535]);
    let odd = tmp("odd.bin", &[1, 0, 2]);
    assert!(matches!(read_tokens(&odd), Err(DataError::Format { .. })));
    let txt = tmp("t.txt", "abc".as_bytes());
    assert_eq!(read_text(&txt).unwrap(), "abc");
    let device = Default::default();
    let stream: Vec<usize> = (0..100).collect();
    let data = TextBatches::<B>::split(stream, 0.9, 8, 4, 3, 0, &device).unwrap();
    let (x, y) = data.train(0, 1);
    assert_eq!(x.dims(), [4, 8]);
    let xs: Vec<i64> = x.into_data().convert::<i64>().to_vec().unwrap();
    let ys: Vec<i64> = y.into_data().convert::<i64>().to_vec().unwrap();
    assert!(xs.iter().zip(&ys).all(|(a, b)| b - a == 1));
    assert!(xs.iter().all(|&t| t < 90));
    let (xv, _) = data.valid(0, 1);
    assert!(xv
        .into_data()
        .convert::<i64>()
        .to_vec::<i64>()
        .unwrap()
        .iter()
        .all(|&t| t >= 90));
    assert!(TextBatches::<B>::split((0..10).collect(), 0.9, 8, 4, 3, 0, &device).is_err());
}
