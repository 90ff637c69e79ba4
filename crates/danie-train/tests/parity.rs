//! Rust forward pass and SGD steps equal the PyTorch reference (reference/danie_ref.py) with
//! shared weights, for every preset and every switch.
// The tensor helpers of danie-model's tests (the network's parity lives beside the optimiser
// that takes its two SGD steps).
#[path = "../../danie-model/tests/common/mod.rs"]
mod common;

use std::collections::HashMap;

use common::{read, rel_err, run_python};
use danie_model::weights::load_weights;
use danie_model::{AttentionOrder, Danie, DanieConfig, Fusion, ResBlock, Streams};
use danie_train::optim::{Sgd, SgdConfig};
use tch::nn::{ModuleT, VarStore};
use tch::{Device, Kind, Reduction, Tensor};

struct Case {
    name: String,
    cfg: DanieConfig,
    size: i64,
    batch: i64,
    steps: i64,
}

fn run_cases(cases: &[Case]) {
    let dir = tempfile::tempdir().unwrap();
    let json: Vec<serde_json::Value> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| {
            serde_json::json!({"name": c.name, "config": c.cfg, "size": c.size, "batch": c.batch,
                               "seed": i, "steps": c.steps})
        })
        .collect();
    let cases_path = dir.path().join("cases.json");
    std::fs::write(&cases_path, serde_json::to_string(&json).unwrap()).unwrap();
    let t = std::time::Instant::now();
    run_python(
        "model_parity.py",
        &[cases_path.to_str().unwrap(), dir.path().to_str().unwrap()],
    );
    eprintln!("python reference: {:.1}s", t.elapsed().as_secs_f64());
    for c in cases {
        let t = std::time::Instant::now();
        check_case(c, &dir.path().join(&c.name));
        eprintln!("{}: rust {:.1}s", c.name, t.elapsed().as_secs_f64());
    }
}

fn check_case(c: &Case, dir: &std::path::Path) {
    let mut vs = VarStore::new(Device::Cpu);
    let net = Danie::new(vs.root(), &c.cfg);
    let report = load_weights(&mut vs, &dir.join("weights.safetensors"), true)
        .unwrap_or_else(|e| panic!("{}: {e}", c.name));
    assert!(!report.loaded.is_empty());
    let io = read(&dir.join("io.safetensors"));
    let x = &io["x"];
    let y = tch::no_grad(|| net.forward_t(x, false));
    let e = rel_err(&y, &io["y_eval"]);
    assert!(e < 1e-5, "{}: eval forward rel err {e:e}", c.name);

    let before: HashMap<String, Tensor> = vs
        .variables()
        .into_iter()
        .map(|(k, v)| (k, v.copy()))
        .collect();
    let mut opt = Sgd::new(
        &vs,
        SgdConfig {
            lr: 0.01,
            momentum: 0.9,
            dampening: 0.0,
            weight_decay: 1e-4,
            nesterov: false,
        },
    );
    if c.steps == 0 {
        let y = tch::no_grad(|| net.forward_t(x, true));
        let e = rel_err(&y, &io["y_train1"]);
        assert!(e < 1e-5, "{}: train forward rel err {e:e}", c.name);
    }
    let mut losses = Vec::new();
    for step in 0..c.steps {
        opt.zero_grad();
        let y = net.forward_t(x, true);
        if step == 0 {
            let e = rel_err(&y, &io["y_train1"]);
            assert!(e < 1e-5, "{}: train forward rel err {e:e}", c.name);
        }
        let loss = y.cross_entropy_loss::<Tensor>(&io["target"], None, Reduction::Mean, -100, 0.0);
        loss.backward();
        opt.step();
        losses.push(loss.detach());
    }
    if c.steps == 0 {
        return;
    }
    let e = rel_err(&Tensor::stack(&losses, 0), &io["losses"]);
    assert!(e < 1e-5, "{}: losses rel err {e:e}", c.name);
    // Every parameter and running statistic after the steps (rel 1e-5); variables that start at
    // zero (biases) are all update, so they are held to an absolute 1e-6 (updates are ~1e-3).
    // The update of the whole model, concatenated, must agree to rel 1e-4.
    let (mut d_rust, mut d_ref) = (Vec::new(), Vec::new());
    for (k, v) in vs.variables() {
        let want = io
            .get(&format!("after.{k}"))
            .unwrap_or_else(|| panic!("{}: reference lacks {k}", c.name));
        let b = &before[&k];
        if b.abs().max().double_value(&[]) > 0.0 {
            let e = rel_err(&v, want);
            assert!(e < 1e-5, "{}: {k} after SGD rel err {e:e}", c.name);
        } else {
            let e = (&v - want).abs().max().double_value(&[]);
            assert!(
                e < 1e-6,
                "{}: {k} (zero-initialised) after SGD abs err {e:e}",
                c.name
            );
        }
        d_rust.push((&v - b).flatten(0, -1));
        d_ref.push((want - b).flatten(0, -1));
    }
    let worst_delta = rel_err(&Tensor::cat(&d_rust, 0), &Tensor::cat(&d_ref, 0));
    assert!(
        worst_delta < 1e-4,
        "{}: update rel err {worst_delta:e}",
        c.name
    );
    eprintln!("{}: ok (update rel err {worst_delta:.2e})", c.name);
    let _ = Kind::Float;
}

fn tiny() -> DanieConfig {
    let mut cfg = DanieConfig::preset("tiny").unwrap();
    cfg.img_size = 64;
    cfg.num_classes = 4;
    cfg
}

fn case(name: &str, cfg: DanieConfig, size: i64) -> Case {
    Case {
        name: name.into(),
        cfg,
        size,
        batch: 2,
        steps: 2,
    }
}

#[test]
fn tiny_every_switch_forward_and_two_sgd_steps() {
    let mut cases = vec![case("tiny", tiny(), 64)];
    let mut c = tiny();
    c.hap.attention_order = AttentionOrder::SpatialFirst;
    cases.push(case("spatial_first", c, 64));
    let mut c = tiny();
    c.hap.calibration = false;
    cases.push(case("no_calibration", c, 64));
    for (n, f) in [
        ("fusion_add", Fusion::Add),
        ("fusion_concat", Fusion::Concat),
    ] {
        let mut c = tiny();
        c.jp.fusion = f;
        cases.push(case(n, c, 64));
    }
    for (n, s) in [("streams_sap", Streams::Sap), ("streams_hap", Streams::Hap)] {
        let mut c = tiny();
        c.streams = s;
        cases.push(case(n, c, 64));
    }
    let mut c = tiny();
    c.hap.block = ResBlock::Bottleneck;
    c.sap.cls_token = true;
    c.in_channels = 1;
    cases.push(case("bottleneck_cls_gray", c, 64));
    // Another input size than img_size: the position embedding is resampled (with cls slot).
    let mut c = tiny();
    c.sap.cls_token = true;
    cases.push(case("pos_embed_resampled", c, 96));
    run_cases(&cases);
}

#[test]
fn presets_s_b_l_forward() {
    let cases: Vec<Case> = ["s", "b", "l"]
        .iter()
        .map(|p| {
            let mut cfg = DanieConfig::preset(p).unwrap();
            cfg.img_size = 32;
            Case {
                name: p.to_string(),
                cfg,
                size: 32,
                batch: 2,
                steps: 0,
            }
        })
        .collect();
    run_cases(&cases);
}
