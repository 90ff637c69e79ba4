//! Runs that would train nothing, or replace an earlier run, are refused: `--stop-after-epochs`
//! at or below where the run stands (it exited 0 having trained nothing) and a new run into a
//! folder that holds an earlier one whose checkpoints were deleted (its weights and logs were
//! replaced), before anything is written; and a run whose steps change no weight, before its
//! first checkpoint.
//!
//! No test here compares values bit for bit, so sharing libtorch's global generator between
//! the two is harmless.

#[path = "common/run_setup.rs"]
mod run_setup;

use danie_train::trainer::{train, TrainOptions};

#[test]
fn a_stop_that_trains_nothing_and_a_run_over_an_earlier_one_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = run_setup::synapse_dataset(dir.path(), 3, 32, 4);
    let cfg = run_setup::tiny_config(dir.path(), &root, "run", "epochs = 2");
    let run_dir = &cfg.output.run_dir;
    let stop_after = |n: usize, resume: bool| TrainOptions {
        stop_after_epochs: Some(n),
        resume,
        ..Default::default()
    };

    // A fresh run stopped after 0 epochs: an error, and no run folder content.
    let e = format!("{:#}", train(&cfg, &stop_after(0, false)).unwrap_err());
    assert!(
        e.contains("--stop-after-epochs 0: the run is at epoch 0 already"),
        "{e}"
    );
    assert!(!run_dir.join("config.toml").exists() && !run_dir.join("log.csv").exists());

    let first = train(&cfg, &stop_after(1, false)).unwrap();
    assert_eq!(first.epochs_done, 1);
    // Resumed with a stop it has reached: nothing to train.
    let e = format!("{:#}", train(&cfg, &stop_after(1, true)).unwrap_err());
    assert!(e.contains("the run is at epoch 1 already"), "{e}");

    // The checkpoints deleted (to save space): the run's weights and logs are still its own.
    let weights = std::fs::read(run_dir.join("model.safetensors")).unwrap();
    let log = std::fs::read(run_dir.join("log.csv")).unwrap();
    std::fs::remove_dir_all(run_dir.join("checkpoints")).unwrap();
    let e = format!("{:#}", train(&cfg, &TrainOptions::default()).unwrap_err());
    assert!(
        e.contains("already holds a run") && e.contains("model.safetensors exists"),
        "{e}"
    );
    assert_eq!(
        std::fs::read(run_dir.join("model.safetensors")).unwrap(),
        weights
    );
    assert_eq!(std::fs::read(run_dir.join("log.csv")).unwrap(), log);

    // A run that failed before its first checkpoint left only its logs: it starts again.
    std::fs::remove_file(run_dir.join("model.safetensors")).unwrap();
    assert!(run_dir.join("log.csv").exists() && run_dir.join("pretrained.json").exists());
    let again = train(&cfg, &stop_after(1, false)).unwrap();
    assert_eq!(again.epochs_done, 1);
}

#[test]
fn a_run_whose_steps_change_no_weight_fails_before_its_first_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let root = run_setup::synapse_dataset(dir.path(), 3, 32, 4);
    // The config's own check refuses such a rate...
    let file = run_setup::tiny_config_file(dir.path(), "synapse", &root, "c", "run", "");
    let e = danie_train::config::RunConfig::load(&file, &["train.lr=1e-50".into()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("train.lr = 1e-50 is below 1e-10"), "{e}");
    // ...and a run reaching one another way (here: set after the check) stops, not succeeds:
    // float32 rounds every update of 1e-50 x the gradient away.
    let mut cfg = run_setup::tiny_config(dir.path(), &root, "still", "epochs = 1");
    (cfg.train.lr, cfg.train.weight_decay) = (1e-50, 0.0);
    let e = format!("{:#}", train(&cfg, &TrainOptions::default()).unwrap_err());
    assert!(
        e.contains("optimiser steps changed no weight") && e.contains("would learn nothing"),
        "{e}"
    );
    assert!(!cfg.output.run_dir.join("checkpoints/latest.json").exists());
    assert!(!cfg.output.run_dir.join("model.safetensors").exists());
    // The same run at a real rate trains and checkpoints.
    let mut cfg = run_setup::tiny_config(dir.path(), &root, "moving", "epochs = 1");
    cfg.train.weight_decay = 0.0;
    assert_eq!(
        train(&cfg, &TrainOptions::default()).unwrap().epochs_done,
        1
    );
}
