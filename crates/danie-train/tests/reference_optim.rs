//! AdamW and the learning-rate schedule against PyTorch (tests/python/train_ref.py):
//! torch.optim.AdamW on the same parameters and gradients, and TransUNet's training loop
//! (lr set after each step) with torch's LinearLR warm-up.

use std::path::Path;

use danie_train::optim::{AdamW, AdamWConfig};
use danie_train::schedule::LrSchedule;
use ndarray::{ArrayD, IxDyn};
use ndarray_npy::{read_npy, write_npy};
use rand::{Rng, SeedableRng};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

fn to_tensor(a: &ArrayD<f32>) -> Tensor {
    let shape: Vec<i64> = a.shape().iter().map(|&d| d as i64).collect();
    Tensor::from_slice(a.as_slice().unwrap()).view(shape.as_slice())
}

#[test]
fn adamw_matches_torch_over_several_steps() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let shapes: [(&str, Vec<usize>); 2] = [("a.weight", vec![3, 4]), ("b.bias", vec![5])];
    let vs = VarStore::new(Device::Cpu);
    let mut vars = Vec::new();
    for (name, shape) in &shapes {
        let init = ArrayD::<f32>::from_shape_fn(IxDyn(shape), |_| rng.gen_range(-1.0..1.0));
        write_npy(d.join(format!("p_{name}.npy")), &init).unwrap();
        let (module, leaf) = name.split_once('.').unwrap();
        let v = (vs.root() / module).var_copy(leaf, &to_tensor(&init));
        vars.push(v);
    }
    let steps = 6;
    let sched = LrSchedule {
        base_lr: 1e-3,
        max_iterations: steps,
        power: 0.9,
        warmup_iters: 3,
        warmup_start_factor: 0.1,
    };
    let lrs: Vec<f64> = (0..steps).map(|k| sched.lr_at(k)).collect();
    write_npy(d.join("lrs.npy"), &ndarray::Array1::from(lrs.clone())).unwrap();
    let hp = serde_json::json!({
        "names": shapes.iter().map(|s| s.0).collect::<Vec<_>>(),
        "betas": [0.9, 0.99], "eps": 1e-8, "weight_decay": 0.05,
    });
    std::fs::write(d.join("hp.json"), hp.to_string()).unwrap();
    let mut grads = Vec::new();
    for k in 0..steps {
        let mut gs = Vec::new();
        for (name, shape) in &shapes {
            let g = ArrayD::<f32>::from_shape_fn(IxDyn(shape), |_| rng.gen_range(-2.0..2.0));
            write_npy(d.join(format!("g_{name}_{k}.npy")), &g).unwrap();
            gs.push(to_tensor(&g));
        }
        grads.push(gs);
    }
    danie_testkit::run_python("train_ref.py", &[Path::new("adamw"), d]);

    let cfg = AdamWConfig {
        betas: (0.9, 0.99),
        eps: 1e-8,
        weight_decay: 0.05,
    };
    let mut opt = AdamW::new(&vs, lrs[0], cfg);
    for (k, lr) in lrs.iter().enumerate() {
        opt.zero_grad();
        // d/dp sum(p * g) = g: the gradient torch is given directly.
        let loss = vars
            .iter()
            .zip(&grads[k])
            .map(|(p, g)| (p * g).sum(Kind::Float))
            .fold(Tensor::zeros([], (Kind::Float, Device::Cpu)), |a, b| a + b);
        loss.backward();
        opt.set_lr(*lr);
        opt.step();
        for ((name, _), p) in shapes.iter().zip(&vars) {
            let want: ArrayD<f32> = read_npy(d.join(format!("p_{name}_{k}.out.npy"))).unwrap();
            let got = Vec::<f32>::try_from(p.flatten(0, -1)).unwrap();
            for (g, w) in got.iter().zip(want.iter()) {
                assert!(
                    (g - w).abs() <= 1e-6 * w.abs().max(1.0),
                    "step {k} {name}: danie {g}, torch {w}"
                );
            }
        }
    }
    assert_eq!(
        opt.state()
            .iter()
            .find(|(n, _)| n == "step")
            .unwrap()
            .1
            .int64_value(&[0]),
        steps as i64
    );
}

#[test]
fn poly_schedule_with_warmup_matches_transunet_loop_and_torch_linear_lr() {
    for (warmup, start) in [(0usize, 1.0f64), (5, 0.01)] {
        let dir = tempfile::tempdir().unwrap();
        let (max_iterations, steps) = (40usize, 40usize);
        let hp = serde_json::json!({
            "base_lr": 0.01, "max_iterations": max_iterations, "power": 0.9,
            "warmup_iters": warmup, "warmup_start_factor": start, "steps": steps,
        });
        std::fs::write(dir.path().join("hp.json"), hp.to_string()).unwrap();
        danie_testkit::run_python("train_ref.py", &[Path::new("schedule"), dir.path()]);
        let out: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("out.json")).unwrap())
                .unwrap();
        let want: Vec<f64> = out["lrs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let s = LrSchedule {
            base_lr: 0.01,
            max_iterations,
            power: 0.9,
            warmup_iters: warmup,
            warmup_start_factor: start,
        };
        for (k, w) in want.iter().enumerate() {
            let g = s.lr_at(k);
            assert!(
                (g - w).abs() <= 1e-12 * w.abs().max(1e-12) + 1e-15,
                "warm-up {warmup}, step {k}: {g} vs {w}"
            );
        }
    }
}
