//! Training-loader throughput: images/s at 224 with TransUNet's augmentation, batch 24.
//!
//! `cargo bench -p danie-data --bench loader_throughput -- --root DIR [--threads 2]
//! [--batches 40] [--step-ms 0] [--generate-size 512]`
//!
//! Reads the Synapse TransUNet layout at DIR (generated there first, at `--generate-size`
//! pixels like the real 512 x 512 slices, when DIR has no `train_npz/`). Prints one JSON line:
//! images/s, and with `--step-ms` a simulated training step per batch (sleep), the mean time the
//! consumer waited for each batch after the first: ~0 means the loader never leaves training
//! waiting. `scripts/bench_loader.py` runs this and TransUNet's Python pipeline on the same files.
use std::path::PathBuf;
use std::time::{Duration, Instant};

use danie_data::augment::Augment;
use danie_data::datasets::{DatasetKind, Split};
use danie_data::loader::{EpochLoader, LoaderConfig};
use danie_data::preprocess::Interp;
use danie_data::synthetic::{generate, SyntheticConfig};

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let root: PathBuf = arg(
        &args,
        "--root",
        std::env::temp_dir().join("danie_bench_synapse_v2"),
    );
    let threads: usize = arg(&args, "--threads", 2);
    let batches: usize = arg(&args, "--batches", 40);
    let step_ms: u64 = arg(&args, "--step-ms", 0);
    let size: usize = arg(&args, "--generate-size", 512);
    if !root.join("train_npz").is_dir() {
        let cfg = SyntheticConfig {
            cases: Some(20),
            size,
            slices: Some(24),
            seed: 1,
            ..Default::default()
        };
        let t = Instant::now();
        generate(DatasetKind::Synapse, &root, &cfg).expect("generate the bench dataset");
        eprintln!(
            "generated {} in {:.1} s",
            root.display(),
            t.elapsed().as_secs_f64()
        );
    }
    let train = DatasetKind::Synapse
        .open_slices(&root, Split::Train)
        .expect("open train_npz");
    // single-thread stage timings: reading vs augmenting one sample
    let probe = train.len().min(24);
    let t = Instant::now();
    let samples: Vec<_> = (0..probe)
        .map(|i| train.sample(i).expect("sample"))
        .collect();
    let read_ms = t.elapsed().as_secs_f64() * 1000.0 / probe as f64;
    let t = Instant::now();
    for (i, smp) in samples.iter().enumerate() {
        let mut rng = danie_data::augment::sample_rng(1, 0, i as u64);
        let _ = Augment::TransUnet.apply(
            smp.image.view(),
            smp.label.view(),
            (224, 224),
            Interp::Cubic,
            &mut rng,
        );
    }
    let augment_ms = t.elapsed().as_secs_f64() * 1000.0 / probe as f64;
    let config = LoaderConfig {
        batch_size: 24,
        image_size: 224,
        threads,
        prefetch: 3,
        ..Default::default()
    };
    let (mut images, mut waited) = (0usize, Duration::ZERO);
    let start = Instant::now();
    let mut seen = 0;
    // One loader across epochs, as the trainer uses it.
    let mut loader = EpochLoader::new(train.clone(), config, 0..u64::MAX).expect("loader");
    'outer: loop {
        let mut epoch = loader.next_epoch();
        loop {
            let t = Instant::now();
            let Some(batch) = epoch.next() else { break };
            if seen > 0 {
                waited += t.elapsed();
            }
            images += batch.expect("batch").images.shape()[0];
            seen += 1;
            if step_ms > 0 {
                std::thread::sleep(Duration::from_millis(step_ms));
            }
            if seen == batches {
                break 'outer;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let wait_ms = waited.as_secs_f64() * 1000.0 / (seen.max(2) - 1) as f64;
    println!(
        "{{\"impl\": \"danie\", \"images\": {images}, \"seconds\": {secs:.3}, \"images_per_s\": {:.2}, \"threads\": {threads}, \"step_ms\": {step_ms}, \"mean_wait_ms\": {wait_ms:.2}, \"read_ms\": {read_ms:.2}, \"augment_ms\": {augment_ms:.2}, \"train_slices\": {}}}",
        images as f64 / secs,
        train.len()
    );
}
