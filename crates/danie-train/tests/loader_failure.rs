//! A training sample that cannot be read, or whose preparation panics, fails the run: an error
//! naming the file, no weights written after the failure, the last good checkpoint intact and
//! resumable. Before the fix, a worker's panic ended the epoch early and the run "succeeded"
//! after 0 iterations with an untrained model.safetensors.
use std::path::Path;

use danie_train::checkpoint::load_latest;
use danie_train::config::RunConfig;
use danie_train::trainer::{train, TrainOptions};

#[path = "common/acdc_bad_slice.rs"]
mod acdc_bad_slice;
#[path = "common/run_setup.rs"]
mod run_setup;
use acdc_bad_slice::{a_training_slice, acdc_dataset, damage, stem, Damage};

fn config(dir: &Path, root: &Path, run: &str) -> RunConfig {
    let path = acdc_bad_slice::run_config_file(dir, root, run);
    RunConfig::load(&path, &[]).expect("valid test config")
}

#[test]
fn a_bad_slice_fails_the_run_before_any_weights_are_written() {
    for how in [Damage::Garbage, Damage::Empty] {
        let dir = tempfile::tempdir().unwrap();
        let root = acdc_dataset(dir.path());
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
        let root = acdc_dataset(dir.path());
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
