//! `danie train` over a dataset with a bad training slice: a non-zero exit naming the file, no
//! weights written after the failure, the last checkpoint kept, and `--resume` from it once the
//! file is repaired. Before the fix a worker's panic ended the epoch early and the command
//! exited 0 after "0 iterations" with an untrained model.safetensors.
mod support;

use std::path::{Path, PathBuf};

use danie_data::datasets::DatasetKind;
use danie_data::nifti::TypedArray;
use danie_data::npy::write_npz;
use danie_data::synthetic::{generate, SyntheticConfig};
use ndarray::{ArrayD, IxDyn};

/// A small MT-UNet ACDC layout and a 2-epoch CPU run config over it.
fn setup(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
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
    let run = dir.join("run");
    let config = dir.join("run.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[data]
dataset = "acdc-npz"
root = "{}"
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

[output]
run_dir = "{}"
"#,
            root.display(),
            run.display()
        ),
    )
    .unwrap();
    let mut slices: Vec<PathBuf> = std::fs::read_dir(root.join("train"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    slices.sort();
    (config, run, slices[1].clone())
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

#[test]
fn an_unreadable_slice_in_epoch_2_fails_the_run_and_keeps_epoch_1() {
    let dir = tempfile::tempdir().unwrap();
    let (config, run, slice) = setup(dir.path());
    let config = config.to_str().unwrap();
    let first = support::run(&["train", "-c", config, "--stop-after-epochs", "1"], &[]);
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    let weights = std::fs::read(run.join("model.safetensors")).unwrap();

    let good = std::fs::read(&slice).unwrap();
    std::fs::write(&slice, b"this is not an npz archive").unwrap();
    let failed = support::run(&["train", "-c", config, "--resume"], &[]);
    failed.assert_clean_failure(
        &[
            &stem(&slice),
            "training stopped",
            "the last good checkpoint (epoch 1) is kept",
        ],
        support::baseline_plus(256 * support::MIB),
    );
    assert!(!failed.stdout.contains("trained"), "{}", failed.stdout);
    assert_eq!(
        std::fs::read(run.join("model.safetensors")).unwrap(),
        weights
    );
    assert!(!run.join("checkpoints/epoch_0002").exists());

    std::fs::write(&slice, good).unwrap();
    let resumed = support::run(&["train", "-c", config, "--resume"], &[]);
    assert_eq!(resumed.code, Some(0), "{}", resumed.stderr);
    assert!(
        resumed.stdout.contains("trained 2 epochs"),
        "{}",
        resumed.stdout
    );
}

#[test]
fn an_empty_slice_fails_the_run_with_no_weights() {
    let dir = tempfile::tempdir().unwrap();
    let (config, run, slice) = setup(dir.path());
    // 0 x 0: a worker panicked on it and the epoch ended early with exit 0; the reader now
    // refuses it and the run must fail on that error.
    let img = TypedArray::from(ArrayD::<f32>::zeros(IxDyn(&[0, 0])));
    let lab = TypedArray::from(ArrayD::<u8>::zeros(IxDyn(&[0, 0])));
    write_npz(&slice, &[("img", &img), ("label", &lab)], false).unwrap();
    let out = support::run(&["train", "-c", config.to_str().unwrap()], &[]);
    assert!(
        out.signal.is_none(),
        "killed by {:?}: {}",
        out.signal,
        out.stderr
    );
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains(&stem(&slice))
            && out.stderr.contains("training stopped")
            && out.stderr.contains("empty"),
        "{}",
        out.stderr
    );
    assert!(!run.join("model.safetensors").exists());
    assert!(!run.join("checkpoints/latest.json").exists());
}
