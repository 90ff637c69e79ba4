//! CE + Dice against PyTorch: torch.nn.functional.cross_entropy and TransUNet's DiceLoss
//! (tests/python/train_ref.py) on the same random logits and labels.

use std::path::Path;

use danie_train::loss::CeDiceLoss;
use ndarray::{Array3, Array4};
use ndarray_npy::write_npy;
use rand::{Rng, SeedableRng};
use tch::Tensor;

#[test]
fn ce_and_dice_match_pytorch_to_1e6() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    for (b, c, h, w) in [
        (2usize, 9usize, 8usize, 8usize),
        (3, 4, 5, 7),
        (1, 2, 16, 16),
    ] {
        let logits = Array4::<f32>::from_shape_fn((b, c, h, w), |_| rng.gen_range(-4.0..4.0));
        // Leave the last class out of the labels: the absent-class branch is exercised too.
        let target =
            Array3::<i64>::from_shape_fn((b, h, w), |_| rng.gen_range(0..(c as i64 - 1).max(1)));
        let dir = tempfile::tempdir().unwrap();
        write_npy(dir.path().join("logits.npy"), &logits).unwrap();
        write_npy(dir.path().join("target.npy"), &target).unwrap();
        danie_testkit::run_python("train_ref.py", &[Path::new("loss"), dir.path()]);
        let want: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("out.json")).unwrap())
                .unwrap();

        let x = Tensor::from_slice(logits.as_slice().unwrap())
            .view([b as i64, c as i64, h as i64, w as i64]);
        let y = Tensor::from_slice(target.as_slice().unwrap()).view([b as i64, h as i64, w as i64]);
        let got = CeDiceLoss::new(c as i64, 0.5, 0.5).forward(&x, &y);
        let v = |t: &Tensor| t.double_value(&[]);
        for (name, g) in [
            ("ce", v(&got.ce)),
            ("dice", v(&got.dice)),
            ("total", v(&got.total)),
        ] {
            let w = want[name].as_f64().unwrap();
            assert!(
                (g - w).abs() <= 1e-6,
                "{name} ({b},{c},{h},{w}): danie {g}, torch {w}"
            );
        }
    }
}
