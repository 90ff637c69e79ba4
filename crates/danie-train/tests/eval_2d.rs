//! The 2D evaluation paths (ISIC 2018, GlaS): train the tiny preset briefly on a
//! generated dataset, evaluate its test split, then predict the same test images to PNG with
//! `predict_path` and score those files with numpy / medpy (tests/python/eval_2d_reference.py):
//! the evaluation's numbers must be the ones the papers' definitions give on what the model
//! predicts.

use std::path::{Path, PathBuf};

use danie_data::datasets::DatasetKind;
use danie_data::synthetic::{generate, SyntheticConfig};
use danie_metrics::Convention;
use danie_train::config::RunConfig;
use danie_train::evaluate::{evaluate_dataset, EvalOptions, EvalScores};
use danie_train::model_io::load_model;
use danie_train::predict::{predict_path, PredictOptions};
use danie_train::trainer::{train, TrainOptions};
use tch::Device;

/// Generates `kind` in `dir`, trains 30 iterations (enough for predictions that are neither all
/// background nor all foreground) and evaluates the test split; returns
/// (root, weights, scores).
fn trained_and_evaluated(dir: &Path, kind: &str) -> (PathBuf, PathBuf, EvalScores) {
    let root = dir.join(kind);
    let dataset: DatasetKind = kind.parse().unwrap();
    let cfg = SyntheticConfig {
        cases: Some(12),
        size: 40,
        slices: None,
        seed: 9,
        overwrite: false,
        progress: false,
    };
    generate(dataset, &root, &cfg).unwrap();
    let text = format!(
        "[data]\ndataset = \"{kind}\"\nroot = \"{}\"\nimage_size = 32\nbatch_size = 4\n\
         num_workers = 1\n\n[model]\npreset = \"tiny\"\n\n[train]\ndevice = \"cpu\"\nthreads = 1\n\
         iterations = 30\nval_every = 0\n\n[output]\nrun_dir = \"run-{kind}\"\n",
        root.display()
    );
    let p = dir.join(format!("{kind}.toml"));
    std::fs::write(&p, text).unwrap();
    let run = train(&RunConfig::load(&p, &[]).unwrap(), &TrainOptions::default()).unwrap();
    let loaded = load_model(&run.weights, Device::Cpu).unwrap();
    let opts = eval_opts(dir.join("eval"), &run.weights);
    let report = evaluate_dataset(&loaded, dataset, &root, &opts).unwrap();
    (root, run.weights, report.scores)
}

fn eval_opts(out: PathBuf, weights: &Path) -> EvalOptions {
    EvalOptions {
        out_dir: out,
        convention: Convention::TransUnet,
        predict: predict_opts(),
        overlay_cases: vec![],
        overlay_slice: None,
        baselines: Default::default(),
        baselines_source: "no baselines".into(),
        weights: weights.to_path_buf(),
    }
}

fn predict_opts() -> PredictOptions {
    PredictOptions {
        tta: false,
        overwrite: false,
        batch: 8,
        bf16: false,
    }
}

/// Predicts each (image, reference) pair's image to a PNG in `out`; returns the
/// [prediction, reference] pairs for the Python side.
fn predict_pairs(weights: &Path, pairs: &[(PathBuf, PathBuf)], out: &Path) -> Vec<[String; 2]> {
    let loaded = load_model(weights, Device::Cpu).unwrap();
    std::fs::create_dir_all(out).unwrap();
    pairs
        .iter()
        .map(|(img, gt)| {
            let stem = img.file_stem().unwrap().to_string_lossy();
            let pred = out.join(format!("{stem}.png"));
            predict_path(&loaded, img, &pred, &predict_opts()).unwrap();
            [pred.display().to_string(), gt.display().to_string()]
        })
        .collect()
}

/// The Python reference's scores of `pairs`.
fn reference(dir: &Path, kind: &str, pairs: &[[String; 2]]) -> serde_json::Value {
    let (input, output) = (
        dir.join(format!("{kind}-pairs.json")),
        dir.join(format!("{kind}-ref.json")),
    );
    std::fs::write(&input, serde_json::to_string(pairs).unwrap()).unwrap();
    danie_testkit::run_python("eval_2d_reference.py", &[Path::new(kind), &input, &output]);
    serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap()
}

fn close(what: &str, got: f64, want: &serde_json::Value) {
    let want = want
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: no reference value"));
    assert!(
        (got - want).abs() <= 1e-12 * want.abs().max(1.0),
        "{what}: danie eval {got}, reference {want}"
    );
}

#[test]
fn isic2018_eval_scores_are_the_pooled_confusion_of_the_predicted_masks() {
    let dir = tempfile::tempdir().unwrap();
    let (root, weights, scores) = trained_and_evaluated(dir.path(), "isic2018");
    let EvalScores::Pixels(s) = &scores else {
        panic!("pixel scores expected for ISIC")
    };
    // The test split: the last 20 % of the ids sorted by name (no lists/ folder here).
    let set = DatasetKind::Isic2018
        .open_slices(&root, danie_data::datasets::Split::Test)
        .unwrap();
    assert_eq!(s.n_images, set.len());
    let pairs: Vec<(PathBuf, PathBuf)> = (0..set.len())
        .map(|i| {
            let id = set.name(i);
            (
                root.join(format!("ISIC2018_Task1-2_Training_Input/{id}.jpg")),
                root.join(format!(
                    "ISIC2018_Task1_Training_GroundTruth/{id}_segmentation.png"
                )),
            )
        })
        .collect();
    let pairs = predict_pairs(&weights, &pairs, &dir.path().join("pred"));
    let want = reference(dir.path(), "isic", &pairs);
    // Neither all background nor all lesion: the comparison sees real predictions.
    let se = want["sensitivity"].as_f64().unwrap();
    assert!(se > 0.0 && se < 1.0, "degenerate predictions: {want}");
    let p = &s.pooled;
    close("dice", p.dice, &want["dice"]);
    close("sensitivity", p.sensitivity, &want["sensitivity"]);
    close("specificity", p.specificity, &want["specificity"]);
    close("accuracy", p.accuracy, &want["accuracy"]);
    close("iou", p.iou, &want["iou"]);
}

#[test]
fn glas_eval_scores_are_the_mean_medpy_scores_of_the_predicted_masks() {
    let dir = tempfile::tempdir().unwrap();
    let (root, weights, scores) = trained_and_evaluated(dir.path(), "glas");
    let EvalScores::Glas(s) = &scores else {
        panic!("GlaS scores expected")
    };
    // testA_* and testB_* with their instance maps.
    let mut pairs: Vec<(PathBuf, PathBuf)> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("test") && n.ends_with(".bmp") && !n.ends_with("_anno.bmp")
        })
        .map(|p| {
            let gt = p.with_file_name(format!(
                "{}_anno.bmp",
                p.file_stem().unwrap().to_string_lossy()
            ));
            (p, gt)
        })
        .collect();
    pairs.sort();
    assert_eq!(s.n_images, pairs.len());
    let pairs = predict_pairs(&weights, &pairs, &dir.path().join("pred"));
    let want = reference(dir.path(), "glas", &pairs);
    let dice = want["dice"].as_f64().unwrap();
    assert!(dice > 0.0 && dice < 1.0, "degenerate predictions: {want}");
    close("mDice", s.m_dice, &want["dice"]);
    close("mIoU", s.m_iou, &want["iou"]);
}
