//! Runs that would train nothing, or replace an earlier run, are refused before anything is
//! written: `--stop-after-epochs` at or below where the run stands (it exited 0 having trained
//! nothing), and a new run into a folder that holds an earlier one whose checkpoints were
//! deleted (its weights and logs were replaced).
//!
//! The only test in its binary: libtorch's random generator is process-global.

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
}
