//! `danie train` over a dataset with a bad training slice: a non-zero exit naming the file, no
//! weights written after the failure, the last checkpoint kept, and `--resume` from it once the
//! file is repaired. Before the fix a worker's panic ended the epoch early and the command
//! exited 0 after "0 iterations" with an untrained model.safetensors.
mod support;

use std::path::{Path, PathBuf};

#[path = "../../danie-train/tests/common/acdc_bad_slice.rs"]
mod acdc_bad_slice;
#[path = "../../danie-train/tests/common/run_setup.rs"]
mod run_setup;
use acdc_bad_slice::{a_training_slice, acdc_dataset, damage, run_config_file, stem, Damage};

/// The ACDC layout, its run config, the run folder and the slice to damage.
fn setup(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let root = acdc_dataset(dir);
    let config = run_config_file(dir, &root, "run");
    (config, dir.join("run"), a_training_slice(&root))
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
    damage(&slice, Damage::Garbage);
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
    damage(&slice, Damage::Empty);
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
