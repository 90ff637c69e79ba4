//! Resuming from a damaged run folder: a `latest.json` that names a folder outside the run's
//! checkpoints, or a `state.json` past the config's schedule (which would train nothing and end
//! as a success), is an error naming the file; the intact checkpoint then resumes.
//!
//! The only test in its binary: libtorch's random generator is process-global.

#[path = "common/run_setup.rs"]
mod run_setup;

use danie_train::trainer::{train, TrainOptions};

#[test]
fn a_damaged_latest_or_state_is_refused_and_the_intact_checkpoint_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let root = run_setup::synapse_dataset(dir.path(), 3, 32, 4);
    let cfg = run_setup::tiny_config(dir.path(), &root, "run", "epochs = 2");
    let first = train(
        &cfg,
        &TrainOptions {
            stop_after_epochs: Some(1),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(first.epochs_done, 1);
    let checkpoints = cfg.output.run_dir.join("checkpoints");
    let latest = checkpoints.join("latest.json");
    let state = checkpoints.join("epoch_0001/state.json");
    let (latest_text, state_text) = (
        std::fs::read_to_string(&latest).unwrap(),
        std::fs::read_to_string(&state).unwrap(),
    );
    let resume = || {
        let opts = TrainOptions {
            resume: true,
            ..Default::default()
        };
        train(&cfg, &opts)
    };

    // A checkpoint of another run, by a path outside this run's checkpoints/.
    let elsewhere = dir.path().join("other/checkpoints/epoch_0001");
    std::fs::create_dir_all(&elsewhere).unwrap();
    for named in [
        "../../other/checkpoints/epoch_0001",
        elsewhere.to_str().unwrap(),
    ] {
        std::fs::write(&latest, serde_json::json!({ "dir": named }).to_string()).unwrap();
        let e = format!("{:#}", resume().unwrap_err());
        assert!(
            e.contains("latest.json is corrupt") && e.contains("not a checkpoint folder"),
            "{named}: {e}"
        );
    }
    std::fs::write(&latest, &latest_text).unwrap();

    // Epochs and iterations far past the config's 2 epochs: nothing would be trained.
    let mut s: serde_json::Value = serde_json::from_str(&state_text).unwrap();
    s["epochs_done"] = (1u64 << 60).into();
    s["iteration"] = (1u64 << 60).into();
    std::fs::write(&state, s.to_string()).unwrap();
    let e = format!("{:#}", resume().unwrap_err());
    assert!(
        e.contains("epoch_0001") && e.contains("past this config's 2 epochs"),
        "{e}"
    );
    std::fs::write(&state, &state_text).unwrap();

    // Intact again: the run resumes and completes its second epoch.
    let done = resume().unwrap();
    assert_eq!(done.epochs_done, 2);
    assert!(done.iteration > first.iteration);
}
