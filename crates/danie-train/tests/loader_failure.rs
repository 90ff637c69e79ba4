//! A training sample that cannot be read, or whose preparation panics, fails the run: an error
//! naming the file, no weights written after the failure, the last good checkpoint intact and
//! resumable. Before the fix, a worker's panic ended the epoch early and the run "succeeded"
//! after 0 iterations with an untrained model.safetensors.
use std::path::{Path, PathBuf};

use danie_data::datasets::DatasetKind;
use danie_data::nifti::TypedArray;
use danie_data::npy::write_npz;
use danie_data::synthetic::{generate, SyntheticConfig};
use danie_train::checkpoint::load_latest;
use danie_train::config::RunConfig;
use danie_train::trainer::{train, TrainOptions};
use ndarray::{ArrayD, IxDyn};

/// A small MT-UNet ACDC layout: one training patient (2 frames x 3 slices of 32 px).
fn acdc(dir: &Path) -> PathBuf {
    let root = dir.join("acdc");
    generate(
        DatasetKind::AcdcNpz,
        &root,
        &SyntheticConfig {
            cases: Some(3),
            size: 32,
            slices: Some(3),
            seed: 9,
            overwrite: false,
            progress: false,
        },
    )
    .expect("synthetic ACDC");
    root
}

fn config(dir: &Path, root: &Path, run: &str) -> RunConfig {
    let text = format!(
        r#"
[data]
dataset = "acdc-npz"
root = "{root}"
image_size = 32
batch_size = 4
num_workers = 1

[model]
preset = "tiny"

[train]
device = "cpu"
threads = 1
epochs = 2
checkpoint_every = 1
val_every = 1
log_every = 1

[output]
run_dir = "{run}"
"#,
        root = root.display(),
        run = dir.join(run).display()
    );
    let p = dir.join(format!("{run}.toml"));
    std::fs::write(&p, text).unwrap();
    RunConfig::load(&p, &[]).expect("valid test config")
}

/// The second training slice file, by name.
fn a_training_slice(root: &Path) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("train"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files[1].clone()
}

#[derive(Clone, Copy, Debug)]
enum Damage {
    /// Not an archive at all: the reader's error.
    Garbage,
    /// A 0 x 0 slice: a worker panicked on it before the readers refused empty axes (a
    /// reader that rejects it cleanly must fail the run just the same).
    Empty,
}

fn damage(path: &Path, how: Damage) {
    match how {
        Damage::Garbage => std::fs::write(path, b"this is not an npz archive").unwrap(),
        Damage::Empty => {
            let img = TypedArray::from(ArrayD::<f32>::zeros(IxDyn(&[0, 0])));
            let lab = TypedArray::from(ArrayD::<u8>::zeros(IxDyn(&[0, 0])));
            std::fs::remove_file(path).unwrap();
            write_npz(path, &[("img", &img), ("label", &lab)], false).unwrap();
        }
    }
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

#[test]
fn a_bad_slice_fails_the_run_before_any_weights_are_written() {
    for how in [Damage::Garbage, Damage::Empty] {
        let dir = tempfile::tempdir().unwrap();
        let root = acdc(dir.path());
        let slice = a_training_slice(&root);
        damage(&slice, how);
        let cfg = config(dir.path(), &root, "run");
        let e = format!(
            "{:#}",
            train(&cfg, &TrainOptions::default()).expect_err("a run over a bad slice fails")
        );
        assert!(
            e.contains(&stem(&slice)) && e.contains("training stopped"),
            "{how:?}: {e}"
        );
        assert!(
            e.contains("no checkpoint had been written yet"),
            "{how:?}: {e}"
        );
        let run = &cfg.output.run_dir;
        assert!(
            !run.join("model.safetensors").exists(),
            "{how:?}: weights written"
        );
        assert!(!run.join("checkpoints/latest.json").exists(), "{how:?}");
    }
}

#[test]
fn a_slice_damaged_after_epoch_1_fails_epoch_2_keeps_the_checkpoint_and_resumes() {
    for how in [Damage::Garbage, Damage::Empty] {
        let dir = tempfile::tempdir().unwrap();
        let root = acdc(dir.path());
        let cfg = config(dir.path(), &root, "run");
        let run = cfg.output.run_dir.clone();
        let first = train(
            &cfg,
            &TrainOptions {
                stop_after_epochs: Some(1),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(first.epochs_done, 1);
        let weights = std::fs::read(run.join("model.safetensors")).unwrap();
        let ckpt = std::fs::read(run.join("checkpoints/epoch_0001/model.safetensors")).unwrap();
        let latest = std::fs::read(run.join("checkpoints/latest.json")).unwrap();

        let slice = a_training_slice(&root);
        let good = std::fs::read(&slice).unwrap();
        damage(&slice, how);
        let resume = TrainOptions {
            resume: true,
            ..Default::default()
        };
        let e = format!(
            "{:#}",
            train(&cfg, &resume).expect_err("epoch 2 reads the bad slice")
        );
        assert!(e.contains(&stem(&slice)), "{how:?}: {e}");
        assert!(
            e.contains("epoch 1") && e.contains("the last good checkpoint (epoch 1) is kept"),
            "{how:?}: {e}"
        );
        // Nothing written after the failure: the weights and the checkpoint are epoch 1's.
        assert_eq!(
            std::fs::read(run.join("model.safetensors")).unwrap(),
            weights
        );
        assert_eq!(
            std::fs::read(run.join("checkpoints/epoch_0001/model.safetensors")).unwrap(),
            ckpt
        );
        assert_eq!(
            std::fs::read(run.join("checkpoints/latest.json")).unwrap(),
            latest
        );
        assert!(!run.join("checkpoints/epoch_0002").exists(), "{how:?}");
        assert_eq!(load_latest(&run).unwrap().state.epochs_done, 1);

        // With the file repaired, the run continues from the kept checkpoint to the end.
        std::fs::write(&slice, &good).unwrap();
        let done = train(&cfg, &resume).unwrap();
        assert_eq!(done.epochs_done, 2);
        assert!(done.iteration > first.iteration);
        assert_ne!(
            std::fs::read(run.join("model.safetensors")).unwrap(),
            weights
        );
    }
}
