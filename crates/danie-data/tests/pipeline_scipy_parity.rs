//! Resizing, rotation and TransUNet's RandomGenerator against scipy / numpy / torch, run at
//! test time through `$DANIE_PYTHON` (tests/python/augment_reference.py).
use std::path::Path;

use danie_data::augment::TransUnetOp;
use danie_data::preprocess::{resize_bilinear, rotate, zoom2d, zoom_labels, Interp};
use ndarray::{Array2, Array3};
use ndarray_npy::{read_npy, write_npy};
use rand::{Rng, SeedableRng};
use serde_json::json;

/// Runs the reference script on `dir`; fails the test with the reason when Python is missing.
fn run_reference(dir: &Path) {
    danie_testkit::run_python("augment_reference.py", &[dir]);
}

fn max_abs(a: &Array2<f32>, b: &Array2<f32>) -> f32 {
    assert_eq!(a.dim(), b.dim());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A smooth-plus-noise test image with a label map.
fn inputs(h: usize, w: usize, seed: u64) -> (Array2<f32>, Array2<u8>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let img = Array2::from_shape_fn((h, w), |(i, j)| {
        ((i as f32 * 0.3).sin() + (j as f32 * 0.17).cos()) * 0.25 + 0.5 + rng.gen_range(-0.1..0.1)
    });
    let lab = Array2::from_shape_fn((h, w), |(i, j)| ((i / 5 + j / 7) % 9) as u8);
    (img, lab)
}

fn setup(img: &Array2<f32>, lab: &Array2<u8>, ops: serde_json::Value) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_npy(dir.path().join("image.npy"), img).unwrap();
    write_npy(dir.path().join("label.npy"), lab).unwrap();
    std::fs::write(dir.path().join("ops.json"), ops.to_string()).unwrap();
    run_reference(dir.path());
    dir
}

fn out_image(dir: &Path, i: usize) -> Array2<f32> {
    read_npy(dir.join(format!("out_{i}_image.npy"))).unwrap()
}
fn out_label(dir: &Path, i: usize) -> Array2<u8> {
    read_npy(dir.join(format!("out_{i}_label.npy"))).unwrap()
}

#[test]
fn zoom_matches_scipy_all_orders_up_and_down() {
    let (img, lab) = inputs(37, 52, 1);
    let sizes = [(64, 64), (20, 31), (37, 52), (1, 5), (90, 17)];
    let mut ops = Vec::new();
    for &(h, w) in &sizes {
        for order in [0, 1, 3] {
            ops.push(json!({"op": "zoom", "order": order, "out": [h, w]}));
        }
        ops.push(json!({"op": "zoom_label", "out": [h, w]}));
    }
    let dir = setup(&img, &lab, json!(ops));
    let mut i = 0;
    for &size in &sizes {
        for interp in [Interp::Nearest, Interp::Bilinear, Interp::Cubic] {
            let ours = zoom2d(img.view(), size, interp);
            let err = max_abs(&ours, &out_image(dir.path(), i));
            assert!(err < 1e-4, "zoom {interp:?} to {size:?}: max error {err}");
            i += 1;
        }
        let ours = zoom_labels(lab.view(), size);
        let theirs: Array2<u8> = read_npy(dir.path().join(format!("out_{i}_image.npy")))
            .map(|a: Array2<f32>| a.mapv(|v| v as u8))
            .unwrap();
        assert_eq!(ours, theirs, "label zoom to {size:?}");
        i += 1;
    }
}

#[test]
fn rotate_matches_scipy_nearest_and_bilinear() {
    let (img, lab) = inputs(33, 48, 2);
    let angles = [-20, -13, -7, -1, 0, 3, 11, 19, 45, 90];
    let mut ops = Vec::new();
    for a in angles {
        for order in [0, 1] {
            ops.push(json!({"op": "rotate", "angle": a, "order": order}));
        }
    }
    let dir = setup(&img, &lab, json!(ops));
    let mut i = 0;
    for a in angles {
        for bilinear in [false, true] {
            let ours = rotate(img.view(), a as f64, bilinear);
            let err = max_abs(&ours, &out_image(dir.path(), i));
            assert!(
                err < 1e-5,
                "rotate {a} bilinear={bilinear}: max error {err}"
            );
            assert_eq!(
                rotate(lab.view(), a as f64, false),
                out_label(dir.path(), i),
                "label rotate {a}"
            );
            i += 1;
        }
    }
}

#[test]
fn transunet_random_generator_matches_python_on_fixed_draws() {
    let (img, lab) = inputs(48, 40, 3);
    let draws = [
        TransUnetOp::Identity,
        TransUnetOp::RotFlip { k: 0, axis: 1 },
        TransUnetOp::RotFlip { k: 1, axis: 0 },
        TransUnetOp::RotFlip { k: 3, axis: 1 },
        TransUnetOp::Rotate { angle: -20 },
        TransUnetOp::Rotate { angle: 17 },
    ];
    // up (as in the tests' small images) and down (as 512 -> 224 in training)
    for out in [(56, 56), (30, 22)] {
        let ops: Vec<_> = draws
            .iter()
            .map(|d| match *d {
                TransUnetOp::Identity => json!({"op": "transunet", "branch": "identity", "out": [out.0, out.1]}),
                TransUnetOp::RotFlip { k, axis } => {
                    json!({"op": "transunet", "branch": "rotflip", "k": k, "axis": axis, "out": [out.0, out.1]})
                }
                TransUnetOp::Rotate { angle } => {
                    json!({"op": "transunet", "branch": "rotate", "angle": angle, "out": [out.0, out.1]})
                }
            })
            .collect();
        let dir = setup(&img, &lab, json!(ops));
        let img3: Array3<f32> = img.clone().insert_axis(ndarray::Axis(0));
        for (i, d) in draws.iter().enumerate() {
            let (oi, ol) = d.apply(img3.view(), lab.view(), out, Interp::Cubic);
            let err = max_abs(
                &oi.index_axis(ndarray::Axis(0), 0).to_owned(),
                &out_image(dir.path(), i),
            );
            assert!(err < 1e-4, "{d:?} to {out:?}: image max error {err}");
            assert_eq!(ol, out_label(dir.path(), i), "{d:?} to {out:?}: label");
        }
    }
}

#[test]
fn bilinear_matches_torch_interpolate() {
    let (img, lab) = inputs(45, 61, 4);
    let sizes = [(32, 32), (90, 122), (45, 61), (17, 80)];
    let ops: Vec<_> = sizes
        .iter()
        .map(|s| json!({"op": "bilinear", "out": [s.0, s.1]}))
        .collect();
    let dir = setup(&img, &lab, json!(ops));
    for (i, &s) in sizes.iter().enumerate() {
        let err = max_abs(&resize_bilinear(img.view(), s), &out_image(dir.path(), i));
        assert!(err < 1e-5, "bilinear to {s:?}: max error {err}");
    }
}

#[test]
fn zoom_of_short_axes_uses_the_exact_boundary_sum() {
    // axes of at most 36 samples take the prefilter's exact mirror initialisation
    let (img, lab) = inputs(9, 30, 5);
    let sizes = [(20, 20), (5, 64), (9, 30)];
    let ops: Vec<_> = sizes
        .iter()
        .map(|s| json!({"op": "zoom", "order": 3, "out": [s.0, s.1]}))
        .collect();
    let dir = setup(&img, &lab, json!(ops));
    for (i, &s) in sizes.iter().enumerate() {
        let err = max_abs(
            &zoom2d(img.view(), s, Interp::Cubic),
            &out_image(dir.path(), i),
        );
        assert!(err < 1e-5, "cubic zoom to {s:?}: max error {err}");
    }
}
