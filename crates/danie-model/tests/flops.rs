//! The analytic cost counter (danie_model::flops) equals torch.utils.flop_counter on the
//! PyTorch reference, block by block (FLOPs = 2 x MACs), and the parameter counts equal
//! PyTorch's, for every preset at 224 and for every switch on tiny.
mod common;

use common::run_python;
use danie_model::flops::model_cost;
use danie_model::{AttentionOrder, DanieConfig, Fusion, ResBlock, Streams};

#[test]
fn analytic_macs_and_params_equal_flop_counter_mode() {
    // 224 for tiny and B; S and L at 64 keep the reference run short (the formulas are the same).
    let mut cases: Vec<(String, DanieConfig, i64)> =
        [("tiny", 224), ("s", 64), ("b", 224), ("l", 64)]
            .iter()
            .map(|(p, s)| (p.to_string(), DanieConfig::preset(p).unwrap(), *s))
            .collect();
    let tiny = DanieConfig::preset("tiny").unwrap();
    let mut variants: Vec<(&str, DanieConfig)> = Vec::new();
    for (n, f) in [("add", Fusion::Add), ("concat", Fusion::Concat)] {
        let mut c = tiny.clone();
        c.jp.fusion = f;
        variants.push((n, c));
    }
    for (n, s) in [("sap", Streams::Sap), ("hap", Streams::Hap)] {
        let mut c = tiny.clone();
        c.streams = s;
        variants.push((n, c));
    }
    let mut c = tiny.clone();
    c.hap.calibration = false;
    c.hap.attention_order = AttentionOrder::SpatialFirst;
    c.hap.block = ResBlock::Bottleneck;
    c.sap.cls_token = true;
    c.in_channels = 1;
    variants.push(("no_calib_bottleneck_cls_gray", c));
    for (n, c) in variants {
        cases.push((n.to_string(), c, 96));
    }

    let dir = tempfile::tempdir().unwrap();
    let json: Vec<_> = cases
        .iter()
        .map(|(n, c, s)| serde_json::json!({"name": n, "config": c, "size": s}))
        .collect();
    let cases_path = dir.path().join("cases.json");
    let out_path = dir.path().join("flops.json");
    std::fs::write(&cases_path, serde_json::to_string(&json).unwrap()).unwrap();
    run_python(
        "model_flops.py",
        &[cases_path.to_str().unwrap(), out_path.to_str().unwrap()],
    );
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out_path).unwrap()).unwrap();

    for (name, cfg, size) in &cases {
        let r = &reference[name];
        let cost = model_cost(cfg, *size, *size).unwrap();
        for b in &cost.blocks {
            let want = r[&b.name]
                .as_i64()
                .unwrap_or_else(|| panic!("{name}: reference lacks {}", b.name));
            assert_eq!(
                2 * b.macs,
                want,
                "{name}: {} MACs x2 vs FlopCounterMode",
                b.name
            );
            let want_p = r[format!("{}_params", b.name)].as_i64().unwrap();
            assert_eq!(b.params, want_p, "{name}: {} params", b.name);
        }
        assert_eq!(
            2 * cost.total_macs,
            r["total"].as_i64().unwrap(),
            "{name}: total"
        );
        assert_eq!(
            cost.total_params,
            r["total_params"].as_i64().unwrap(),
            "{name}: total params"
        );
    }
}
