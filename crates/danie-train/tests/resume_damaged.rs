//! Resuming from a damaged run folder: a `latest.json` that names a folder outside the run's
//! checkpoints, or a `state.json` past the config's schedule (which would train nothing and end
//! as a success), is an error naming the file; so is a resume whose batches do not fit, before
//! the run folder is written; the intact checkpoint then resumes.
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

    // A resume whose batches do not fit the memory budget fails before the run folder is
    // written: its config.toml still describes the run that ran.
    let saved = std::fs::read(cfg.output.run_dir.join("config.toml")).unwrap();
    let mut bigger = cfg.clone();
    bigger.data.batch_size = 1024; // 1024 x 32 x 32 x 33 B x 4 batches alive = 138 MB
                                   // SAFETY: this binary's only test, and no other thread reads the environment now.
    unsafe { std::env::set_var("DANIE_MAX_DECODED_BYTES", "64M") };
    let opts = TrainOptions {
        resume: true,
        ..Default::default()
    };
    let e = format!("{:#}", train(&bigger, &opts).unwrap_err());
    unsafe { std::env::remove_var("DANIE_MAX_DECODED_BYTES") };
    assert!(e.contains("of batches in memory, over the limit"), "{e}");
    assert_eq!(
        std::fs::read(cfg.output.run_dir.join("config.toml")).unwrap(),
        saved
    );

    // Intact again: the run resumes and completes its second epoch.
    let done = resume().unwrap();
    assert_eq!(done.epochs_done, 2);
    assert!(done.iteration > first.iteration);
    // Complete: resumed again (a requeued job), it trains nothing and rewrites nothing.
    let log = std::fs::read(cfg.output.run_dir.join("log.jsonl")).unwrap();
    let again = resume().unwrap();
    assert_eq!((again.epochs_done, again.iteration), (2, done.iteration));
    assert!(again.losses.is_empty());
    assert_eq!(
        std::fs::read(cfg.output.run_dir.join("log.jsonl")).unwrap(),
        log
    );
}
