//! A non-finite loss or non-finite weights stop training with a message naming the iteration,
//! and the last good checkpoint stays loadable with finite weights.
#[path = "common/run_setup.rs"]
mod run_setup;

use danie_train::trainer::{train, TrainOptions};

#[test]
fn non_finite_loss_stops_and_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let root = run_setup::synapse_dataset(dir.path(), 2, 32, 2);
    // One batch per epoch (2 training slices, batch 4): step 0 runs at lr 1, step 1 at ~5e299,
    // which overflows the weights, so the run must stop before it checkpoints them.
    let cfg = run_setup::tiny_config(
        dir.path(),
        &root,
        "nan",
        "epochs = 5\nlr = 1e300\nwarmup_iters = 2\nwarmup_start_factor = 1e-300",
    );
    let err = train(&cfg, &TrainOptions::default()).unwrap_err();
    let e = err.to_string();
    let nf = err
        .downcast_ref::<danie_train::trainer::NonFinite>()
        .expect("a NonFinite error");
    assert!(
        e.contains("training stopped") && e.contains("last good checkpoint"),
        "{e}"
    );
    assert!(e.contains(&format!("iteration {}", nf.iteration)), "{e}");
    let ck = danie_train::checkpoint::load_latest(&cfg.output.run_dir).unwrap();
    assert!(
        ck.state.epochs_done >= 1 && ck.state.iteration < nf.iteration,
        "{:?}",
        ck.state
    );
    for (name, t) in &ck.model {
        assert!(
            t.isfinite().all().int64_value(&[]) == 1,
            "checkpointed variable {name} is not finite"
        );
    }
}
