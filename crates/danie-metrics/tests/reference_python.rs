//! danie-metrics against medpy 0.5.2, MONAI 1.5, TransUNet's `calculate_metric_percase` and
//! scipy, run at test time by `tests/python/metrics_reference.py` on the same arrays.
//!
//! Values must agree to 1e-9 relative (HD95 interpolation included). The two documented
//! exceptions: MONAI's ASD/ASSD are float32 means (compared to 2e-6 relative, and to 1e-9 against
//! the float64 mean of MONAI's own distance tensors), and medpy's `dc` of two empty masks, which
//! is NaN under numpy 2 (0/0 on numpy integers) where medpy intends 1 (numpy 1.x): danie gives 1.
use std::path::{Path, PathBuf};

use danie_metrics::{evaluate_case, CaseMetrics, ClassMetrics, Convention, Presence};
use ndarray::{ArrayD, IxDyn};
use ndarray_npy::{read_npy, write_npy};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

const REL: f64 = 1e-9;
const REL_F32_MEAN: f64 = 2e-6;

/// Runs tests/python/metrics_reference.py; fails loudly when the Python side is missing or fails.
fn python(args: &[&str]) {
    danie_testkit::run_python("metrics_reference.py", args);
}

/// A reference value: a number (NaN and inf included) or a medpy exception.
#[derive(Debug, Clone, Copy)]
enum Ref {
    Num(f64),
    Raised,
}

fn parse(v: &Value) -> Ref {
    match v {
        Value::Number(n) => Ref::Num(n.as_f64().unwrap()),
        Value::String(s) if s == "error" => Ref::Raised,
        Value::String(s) => Ref::Num(match s.as_str() {
            "NaN" => f64::NAN,
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            other => panic!("unexpected reference value {other}"),
        }),
        other => panic!("unexpected reference value {other}"),
    }
}

fn close(ours: f64, theirs: f64, rel: f64) -> bool {
    if ours.is_nan() || theirs.is_nan() {
        return ours.is_nan() && theirs.is_nan();
    }
    if ours.is_infinite() || theirs.is_infinite() {
        return ours == theirs;
    }
    (ours - theirs).abs() <= rel * ours.abs().max(theirs.abs())
}

/// Compares one class under all three conventions; returns the number of values compared.
fn compare_class(
    what: &str,
    reference: &Value,
    ours: [&ClassMetrics; 3],
    bad: &mut Vec<String>,
) -> usize {
    let [medpy, monai, transunet] = ours;
    let mut n = 0;
    let mut check = |name: &str, o: f64, r: Ref, rel: f64| {
        n += 1;
        let ok = match r {
            Ref::Raised => o.is_nan(),
            Ref::Num(t) => close(o, t, rel),
        };
        if !ok {
            bad.push(format!("{what} {name}: danie {o} vs reference {r:?}"));
        }
    };
    let m = &reference["medpy"];
    if medpy.presence == Presence::Neither {
        // numpy 2 makes medpy's dc of two empty masks 0/0 = NaN; medpy means 1 (see module doc).
        check(
            "medpy dice (reference NaN under numpy 2)",
            f64::NAN,
            parse(&m["dice"]),
            REL,
        );
        check(
            "medpy dice (medpy's intent)",
            medpy.metrics.dice,
            Ref::Num(1.0),
            REL,
        );
    } else {
        check("medpy dice", medpy.metrics.dice, parse(&m["dice"]), REL);
    }
    for (name, v) in [
        ("iou", medpy.metrics.iou),
        ("hd", medpy.metrics.hd),
        ("hd95", medpy.metrics.hd95),
        ("asd", medpy.metrics.asd),
        ("assd", medpy.metrics.assd),
    ] {
        check(&format!("medpy {name}"), v, parse(&m[name]), REL);
    }
    let mo = &reference["monai"];
    for (name, v) in [
        ("dice", monai.metrics.dice),
        ("iou", monai.metrics.iou),
        ("hd", monai.metrics.hd),
        ("hd95", monai.metrics.hd95),
        ("asd", monai.metrics.asd),
        ("assd", monai.metrics.assd),
    ] {
        check(&format!("monai {name}"), v, parse(&mo[name]), REL);
    }
    for (name, v) in [("asd", monai.metrics.asd), ("assd", monai.metrics.assd)] {
        let f32_mean = parse(&mo[format!("{name}_f32").as_str()]);
        check(
            &format!("monai {name} (float32 mean)"),
            v,
            f32_mean,
            REL_F32_MEAN,
        );
    }
    let t = &reference["transunet"];
    for (name, v) in [
        ("dice", transunet.metrics.dice),
        ("hd95", transunet.metrics.hd95),
    ] {
        check(&format!("transunet {name}"), v, parse(&t[name]), REL);
    }
    n
}

/// Evaluates a pair under the three conventions and compares every class with `reference`.
fn compare_pair(
    what: &str,
    pred: &ArrayD<u8>,
    gt: &ArrayD<u8>,
    labels: &[u32],
    spacing: &[f64],
    reference: &Value,
    bad: &mut Vec<String>,
) -> usize {
    let cases: Vec<CaseMetrics> = Convention::ALL
        .iter()
        .map(|&c| evaluate_case(pred.view(), gt.view(), labels, spacing, c).unwrap())
        .collect();
    let mut n = 0;
    for (i, r) in reference.as_array().unwrap().iter().enumerate() {
        assert_eq!(r["label"].as_u64().unwrap() as u32, labels[i]);
        let ours = [
            &cases[0].classes[i],
            &cases[1].classes[i],
            &cases[2].classes[i],
        ];
        n += compare_class(&format!("{what} label {}", labels[i]), r, ours, bad);
    }
    n
}

fn spacing_of(v: &Value) -> Vec<f64> {
    v.as_array()
        .map(|a| a.iter().map(|x| x.as_f64().unwrap()).collect())
        .unwrap_or_default()
}

fn report(bad: Vec<String>, n: usize) {
    assert!(
        bad.is_empty(),
        "{} of {n} values differ from the references:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn real_label_maps_match_medpy_monai_and_transunet() {
    let dir = tempfile::tempdir().unwrap();
    python(&["real", dir.path().to_str().unwrap()]);
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("reference.json")).unwrap())
            .unwrap();
    let mut bad = Vec::new();
    let mut n = 0;
    let entries = reference.as_object().unwrap();
    assert!(entries.len() >= 8, "expected every copy of both maps");
    for (what, e) in entries {
        let pred: ArrayD<u8> = read_npy(dir.path().join(e["pred"].as_str().unwrap())).unwrap();
        let gt: ArrayD<u8> = read_npy(dir.path().join(e["gt"].as_str().unwrap())).unwrap();
        let labels: Vec<u32> = e["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_u64().unwrap() as u32)
            .collect();
        n += compare_pair(
            what,
            &pred,
            &gt,
            &labels,
            &spacing_of(&e["spacing"]),
            &e["classes"],
            &mut bad,
        );
    }
    report(bad, n);
}

/// A random label map: per label an ellipsoid (sometimes absent), drawn in label order.
fn blobs(
    rng: &mut ChaCha8Rng,
    shape: &[usize],
    centres: &[(Vec<f64>, Vec<f64>)],
    jitter: f64,
    absent: f64,
) -> ArrayD<u8> {
    let mut m = ArrayD::<u8>::zeros(IxDyn(shape));
    for (l, (c, r)) in centres.iter().enumerate() {
        if rng.gen_bool(absent) {
            continue;
        }
        let c: Vec<f64> = c
            .iter()
            .map(|x| x + rng.gen_range(-jitter..=jitter))
            .collect();
        let r: Vec<f64> = r
            .iter()
            .map(|x| x * rng.gen_range(1.0 - jitter / 4.0..=1.0 + jitter / 4.0))
            .collect();
        for (idx, v) in m.indexed_iter_mut() {
            let d: f64 = (0..shape.len())
                .map(|k| ((idx[k] as f64 - c[k]) / r[k]).powi(2))
                .sum();
            if d <= 1.0 {
                *v = l as u8 + 1;
            }
        }
    }
    // A few stray voxels: outliers that move HD and HD95.
    for _ in 0..rng.gen_range(0..4) {
        let idx: Vec<usize> = shape.iter().map(|&n| rng.gen_range(0..n)).collect();
        m[IxDyn(&idx)] = rng.gen_range(1..=centres.len() as u8);
    }
    m
}

#[test]
fn random_shapes_2d_3d_isotropic_and_anisotropic_match() {
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let dir = tempfile::tempdir().unwrap();
    let shapes: [&[usize]; 4] = [&[37, 52], &[64, 48], &[20, 31, 26], &[12, 40, 33]];
    let mut jobs = Vec::new();
    let mut pairs = Vec::new();
    for (i, shape) in shapes.iter().cycle().take(16).enumerate() {
        let centres: Vec<(Vec<f64>, Vec<f64>)> = (0..3)
            .map(|_| {
                let c = shape
                    .iter()
                    .map(|&n| rng.gen_range(0.0..n as f64))
                    .collect();
                let r = shape
                    .iter()
                    .map(|&n| rng.gen_range(1.0..n as f64 / 2.5))
                    .collect();
                (c, r)
            })
            .collect();
        let gt = blobs(&mut rng, shape, &centres, 0.0, 0.15);
        let pred = blobs(&mut rng, shape, &centres, 3.0, 0.15);
        let spacing: Vec<f64> = match i % 4 {
            0 => vec![],
            1 => vec![0.8; shape.len()],
            _ => shape.iter().map(|_| rng.gen_range(0.4..3.0)).collect(),
        };
        let (p, g) = (
            dir.path().join(format!("p{i}.npy")),
            dir.path().join(format!("g{i}.npy")),
        );
        write_npy(&p, &pred).unwrap();
        write_npy(&g, &gt).unwrap();
        let labels = vec![1u32, 2, 3];
        jobs.push(serde_json::json!({
            "pred": p, "gt": g, "labels": labels,
            "spacing": if spacing.is_empty() { Value::Null } else { serde_json::json!(spacing) },
        }));
        pairs.push((pred, gt, labels, spacing));
    }
    let (job, out) = (dir.path().join("job.json"), dir.path().join("out.json"));
    std::fs::write(&job, serde_json::to_string(&jobs).unwrap()).unwrap();
    python(&["pairs", job.to_str().unwrap(), out.to_str().unwrap()]);
    let reference: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let (mut bad, mut n) = (Vec::new(), 0);
    let mut presences = std::collections::HashSet::new();
    for (i, ((pred, gt, labels, spacing), r)) in
        pairs.iter().zip(reference.as_array().unwrap()).enumerate()
    {
        n += compare_pair(
            &format!("pair {i} {:?} spacing {spacing:?}", pred.shape()),
            pred,
            gt,
            labels,
            spacing,
            r,
            &mut bad,
        );
        let case =
            evaluate_case(pred.view(), gt.view(), labels, spacing, Convention::Medpy).unwrap();
        presences.extend(case.classes.iter().map(|c| format!("{:?}", c.presence)));
    }
    report(bad, n);
    assert!(
        presences.len() >= 3,
        "the random pairs should include empty masks: {presences:?}"
    );
}

#[test]
fn distance_transform_matches_scipy() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(Vec<usize>, Vec<f64>)> = vec![
        (vec![40, 33], vec![1.0, 1.0]),
        (vec![40, 33], vec![0.35, 2.2]),
        (vec![18, 25, 21], vec![3.0, 0.7, 1.15]),
        (vec![18, 25, 21], vec![1.0, 1.0, 1.0]),
    ];
    let mut jobs = Vec::new();
    let mut features = Vec::new();
    for (i, (shape, spacing)) in cases.iter().enumerate() {
        let f = ArrayD::from_shape_fn(IxDyn(shape), |_| rng.gen_bool(0.01));
        let path = dir.path().join(format!("f{i}.npy"));
        write_npy(&path, &f).unwrap();
        jobs.push(serde_json::json!({"feature": path, "spacing": spacing}));
        features.push(f);
    }
    let (job, out) = (dir.path().join("job.json"), dir.path().join("out.json"));
    std::fs::write(&job, serde_json::to_string(&jobs).unwrap()).unwrap();
    python(&["edt", job.to_str().unwrap(), out.to_str().unwrap()]);
    let paths: Vec<PathBuf> =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    for ((f, (_, spacing)), p) in features.iter().zip(&cases).zip(&paths) {
        let want: ArrayD<f64> = read_npy(Path::new(p)).unwrap();
        let got = danie_metrics::edt::distance_transform(f.view(), spacing);
        let worst = got
            .iter()
            .zip(want.iter())
            .map(|(a, b)| if a == b { 0.0 } else { (a - b).abs() / b.abs() })
            .fold(0.0, f64::max);
        assert!(
            worst <= 1e-15,
            "{spacing:?}: worst relative difference {worst}"
        );
    }
}

#[test]
fn pixel_and_glas_metrics_match_monai_and_medpy() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let dir = tempfile::tempdir().unwrap();
    let mut jobs = Vec::new();
    let mut pixel = danie_metrics::PixelMetrics::new();
    let mut glas = danie_metrics::GlasMetrics::new();
    let mut per_image = Vec::new();
    for i in 0..6 {
        let p_fg = [0.0, 0.3, 0.5, 0.5, 0.2, 0.6][i];
        let g_fg = [0.0, 0.4, 0.5, 0.0, 0.2, 0.5][i];
        let g = ArrayD::from_shape_fn(IxDyn(&[24, 31]), |_| rng.gen_bool(g_fg));
        let p = g.mapv(|v| {
            if rng.gen_bool(0.2) {
                rng.gen_bool(p_fg)
            } else {
                v
            }
        });
        let (pp, gp) = (
            dir.path().join(format!("p{i}.npy")),
            dir.path().join(format!("g{i}.npy")),
        );
        write_npy(&pp, &p).unwrap();
        write_npy(&gp, &g).unwrap();
        jobs.push(serde_json::json!({"pred": pp, "gt": gp}));
        let scores = pixel.update(p.view(), g.view()).unwrap().scores();
        per_image.push((scores, glas.update(p.view(), g.view()).unwrap()));
    }
    let (job, out) = (dir.path().join("job.json"), dir.path().join("out.json"));
    std::fs::write(&job, serde_json::to_string(&jobs).unwrap()).unwrap();
    python(&["pixel", job.to_str().unwrap(), out.to_str().unwrap()]);
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let (mut bad, mut n) = (Vec::new(), 0);
    let mut check = |what: String, o: f64, t: &Value| {
        n += 1;
        let Ref::Num(t) = parse(t) else {
            unreachable!()
        };
        // MONAI computes confusion-matrix ratios in float32 for float32 inputs.
        if !close(o, t, 1e-6) {
            bad.push(format!("{what}: danie {o} vs reference {t}"));
        }
    };
    let names = ["accuracy", "sensitivity", "specificity", "dice", "iou"];
    for (i, ((s, (dc, jc)), img)) in per_image
        .iter()
        .zip(r["images"].as_array().unwrap())
        .enumerate()
    {
        let v = [s.accuracy, s.sensitivity, s.specificity, s.dice, s.iou];
        for (name, o) in names.iter().zip(v) {
            check(format!("image {i} {name}"), o, &img["scores"][name]);
        }
        if i == 0 {
            // Both masks empty: medpy's dc is NaN under numpy 2 (0/0), 1 as medpy intends.
            assert_eq!(*dc, 1.0);
            assert_eq!(parse(&img["dc"]).num(), None);
        } else {
            check(format!("image {i} dc"), *dc, &img["dc"]);
        }
        check(format!("image {i} jc"), *jc, &img["jc"]);
    }
    let a = pixel.aggregate();
    let pooled = [
        a.pooled.accuracy,
        a.pooled.sensitivity,
        a.pooled.specificity,
        a.pooled.dice,
        a.pooled.iou,
    ];
    for (name, o) in names.iter().zip(pooled) {
        check(format!("pooled {name}"), o, &r["pooled"][name]);
    }
    let c = a.pooled_counts;
    assert_eq!(serde_json::json!([c.tp, c.fp, c.tn, c.fn_]), r["counts"]);
    report(bad, n);
}

impl Ref {
    /// The value when it is a finite or infinite number (not NaN, not an exception).
    fn num(self) -> Option<f64> {
        match self {
            Ref::Num(v) if !v.is_nan() => Some(v),
            _ => None,
        }
    }
}
