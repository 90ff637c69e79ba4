//! The loader: batch shapes, epoch order, drop_last, early stop, and identical batches
//! whatever the number of threads.
use std::sync::Arc;

use danie_data::augment::Augment;
use danie_data::datasets::{DatasetKind, Sample2d, SliceDataset, Split};
use danie_data::loader::{EpochLoader, Loader, LoaderConfig};
use danie_data::preprocess::Interp;
use danie_data::synthetic::{generate, SyntheticConfig};
use danie_data::Result;
use ndarray::{Array2, Array3};

/// In-memory samples of varied sizes with a label pattern that reveals geometry.
struct Toy(usize);

impl SliceDataset for Toy {
    fn len(&self) -> usize {
        self.0
    }
    fn name(&self, index: usize) -> String {
        format!("toy{index}")
    }
    fn sample(&self, index: usize) -> Result<Sample2d> {
        let (h, w) = (20 + index % 5, 24 + index % 3);
        Ok(Sample2d {
            image: Array3::from_shape_fn((1, h, w), |(_, i, j)| {
                (i * w + j) as f32 / (h * w) as f32
            }),
            label: Array2::from_shape_fn((h, w), |(i, j)| ((i / 4 + j / 4) % 4) as u8),
            name: self.name(index),
        })
    }
}

fn config(threads: usize) -> LoaderConfig {
    LoaderConfig {
        batch_size: 4,
        image_size: 32,
        augment: Augment::TransUnet,
        interp: Interp::Cubic,
        shuffle: true,
        seed: 7,
        drop_last: false,
        prefetch: 2,
        threads,
        shard: Default::default(),
    }
}

fn collect(
    ds: Arc<dyn SliceDataset>,
    cfg: LoaderConfig,
    epoch: u64,
) -> Vec<danie_data::loader::Batch> {
    Loader::new(ds, cfg, epoch)
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

#[test]
fn batches_are_identical_whatever_the_thread_count() {
    let ds: Arc<dyn SliceDataset> = Arc::new(Toy(11));
    let one = collect(ds.clone(), config(1), 3);
    let four = collect(ds.clone(), config(4), 3);
    let global = collect(ds, config(0), 3);
    assert_eq!(one.len(), 3);
    for ((a, b), c) in one.iter().zip(&four).zip(&global) {
        assert_eq!(a.indices, b.indices);
        assert_eq!(a.images, b.images);
        assert_eq!(a.labels, b.labels);
        assert_eq!(a.images, c.images);
    }
}

#[test]
fn epochs_shuffle_differently_and_cover_every_sample() {
    let ds: Arc<dyn SliceDataset> = Arc::new(Toy(11));
    let e0: Vec<usize> = collect(ds.clone(), config(2), 0)
        .iter()
        .flat_map(|b| b.indices.clone())
        .collect();
    let e1: Vec<usize> = collect(ds.clone(), config(2), 1)
        .iter()
        .flat_map(|b| b.indices.clone())
        .collect();
    assert_ne!(e0, e1);
    let mut sorted = e0.clone();
    sorted.sort();
    assert_eq!(sorted, (0..11).collect::<Vec<_>>());
    let batches = collect(ds, config(2), 0);
    assert_eq!(batches.last().unwrap().images.shape(), &[3, 1, 32, 32]);
    assert_eq!(batches[0].labels.shape(), &[4, 32, 32]);
    assert_eq!(batches[0].names[0], format!("toy{}", batches[0].indices[0]));
}

#[test]
fn drop_last_no_shuffle_and_augment_none() {
    let ds: Arc<dyn SliceDataset> = Arc::new(Toy(11));
    let cfg = LoaderConfig {
        drop_last: true,
        shuffle: false,
        augment: Augment::None,
        ..config(2)
    };
    let batches = collect(ds.clone(), cfg.clone(), 5);
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[0].indices, vec![0, 1, 2, 3]);
    // without augmentation, the epoch does not matter
    assert_eq!(batches[0].images, collect(ds, cfg, 9)[0].images);
}

#[test]
fn one_loader_across_epochs_gives_each_epochs_batches_and_skips_an_unfinished_epoch() {
    let ds: Arc<dyn SliceDataset> = Arc::new(Toy(11));
    let mut loader = EpochLoader::new(ds.clone(), config(2), 2..5).unwrap();
    assert_eq!(loader.batches_per_epoch(), 3);
    // Epoch 2 whole, epoch 3 left after one batch, epoch 4 whole: each equals its own loader's.
    let e2: Vec<_> = loader.next_epoch().map(|b| b.unwrap()).collect();
    let e3_first = {
        let mut third = loader.next_epoch();
        assert_eq!(third.epoch(), 3);
        third.next().unwrap().unwrap()
    };
    let e4: Vec<_> = loader.next_epoch().map(|b| b.unwrap()).collect();
    for (got, epoch) in [(e2, 2), (e4, 4)] {
        let want = collect(ds.clone(), config(2), epoch);
        assert_eq!(got.len(), want.len(), "epoch {epoch}");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.indices, w.indices, "epoch {epoch}");
            assert_eq!(g.images, w.images, "epoch {epoch}");
            assert_eq!(g.labels, w.labels, "epoch {epoch}");
        }
    }
    assert_eq!(e3_first.indices, collect(ds, config(2), 3)[0].indices);
    // Past the last epoch: nothing more.
    assert!(loader.next_epoch().next().is_none());
}

#[test]
fn dropping_the_loader_early_stops_its_worker() {
    let ds: Arc<dyn SliceDataset> = Arc::new(Toy(200));
    let mut loader = Loader::new(ds, config(2), 0).unwrap();
    assert_eq!(loader.num_batches(), 50);
    assert!(loader.next().unwrap().is_ok());
    drop(loader); // must not hang
}

#[test]
fn bad_config_and_failing_samples_are_errors() {
    let ds: Arc<dyn SliceDataset> = Arc::new(Toy(3));
    let e = Loader::new(
        ds.clone(),
        LoaderConfig {
            batch_size: 0,
            ..config(1)
        },
        0,
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("batch_size"), "{e}");
    let e = Loader::new(Arc::new(Toy(0)), config(1), 0).err().unwrap();
    assert!(e.to_string().contains("no samples"), "{e}");

    // a dataset whose file went missing after opening: the error reaches the consumer
    let dir = tempfile::tempdir().unwrap();
    let cfg = SyntheticConfig {
        cases: Some(3),
        size: 24,
        slices: Some(2),
        ..Default::default()
    };
    generate(DatasetKind::Synapse, dir.path(), &cfg).unwrap();
    let train = DatasetKind::Synapse
        .open_slices(dir.path(), Split::Train)
        .unwrap();
    let victim = dir.path().join(format!("train_npz/{}.npz", train.name(0)));
    std::fs::remove_file(&victim).unwrap();
    let lc = LoaderConfig {
        shuffle: false,
        ..config(1)
    };
    let first = Loader::new(train, lc, 0).unwrap().next().unwrap();
    let msg = first.unwrap_err().to_string();
    assert!(msg.contains(&victim.display().to_string()), "{msg}");
}

#[test]
fn synapse_loader_serves_model_ready_batches() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SyntheticConfig {
        cases: Some(3),
        size: 48,
        slices: Some(4),
        ..Default::default()
    };
    generate(DatasetKind::Synapse, dir.path(), &cfg).unwrap();
    let train = DatasetKind::Synapse
        .open_slices(dir.path(), Split::Train)
        .unwrap();
    let lc = LoaderConfig {
        batch_size: 3,
        image_size: 64,
        prefetch: 2,
        ..LoaderConfig::default()
    };
    let batches = collect(train, lc, 0);
    assert_eq!(batches.len(), 3);
    for b in &batches {
        assert_eq!(b.images.shape()[1..], [1, 64, 64]);
        assert!(b.labels.iter().all(|&l| (0..9).contains(&l)));
        assert!(b.images.iter().all(|v| v.is_finite()));
    }
}
