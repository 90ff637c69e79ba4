//! Exact resume on CPU: 2 epochs straight equal 1 epoch, stop, resume 1 epoch — every
//! per-iteration loss and every final weight bit for bit, for SGD and AdamW.
//!
//! The only test in its binary: libtorch's random generator is process-global, so another
//! training test running in a parallel thread would perturb the draws.

#[path = "common/run_setup.rs"]
mod run_setup;

use danie_model::weights::read_safetensors;
use danie_train::trainer::{train, TrainOptions};

#[test]
fn resumed_run_equals_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = run_setup::synapse_dataset(dir.path(), 3, 32, 4);
    for opt in ["sgd", "adamw"] {
        let extra = format!("epochs = 2\noptimizer = \"{opt}\"\nlr = 0.005");
        let straight =
            run_setup::tiny_config(dir.path(), &root, &format!("{opt}_straight"), &extra);
        let split = run_setup::tiny_config(dir.path(), &root, &format!("{opt}_split"), &extra);
        let a = train(&straight, &TrainOptions::default()).unwrap();
        let b1 = train(
            &split,
            &TrainOptions {
                stop_after_epochs: Some(1),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(b1.epochs_done, 1);
        assert!(
            b1.iteration > 1 && b1.iteration < a.iteration,
            "{} of {}",
            b1.iteration,
            a.iteration
        );
        // Without --resume an existing run is never overwritten.
        let e = train(&split, &TrainOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("--resume"), "{e}");
        let b2 = train(
            &split,
            &TrainOptions {
                resume: true,
                ..Default::default()
            },
        )
        .unwrap();
        let resumed: Vec<f64> = b1.losses.iter().chain(&b2.losses).copied().collect();
        assert_eq!(
            a.losses, resumed,
            "{opt}: per-iteration losses differ after resume"
        );
        assert_eq!(b2.iteration, a.iteration);
        let (wa, _) = read_safetensors(&a.weights).unwrap();
        let (wb, _) = read_safetensors(&b2.weights).unwrap();
        assert_eq!(wa.len(), wb.len());
        for ((na, ta), (nb, tb)) in wa.iter().zip(&wb) {
            assert_eq!(na, nb);
            assert!(ta.equal(tb), "{opt}: weight {na} differs after resume");
        }
        // The resumed log reads as one run: iterations 1..=N once each.
        let rows =
            danie_train::run_log::read_rows(&split.output.run_dir.join("log.jsonl")).unwrap();
        let its: Vec<usize> = rows
            .iter()
            .filter(|r| r.kind == "iter")
            .map(|r| r.iteration)
            .collect();
        assert_eq!(its, (1..=a.iteration).collect::<Vec<_>>());
    }
}
