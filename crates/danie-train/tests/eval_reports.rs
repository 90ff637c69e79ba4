//! What an evaluation report says: the distance unit follows the data (voxels where the data
//! has no spacing, mm where it has), ISIC / GlaS evaluations write a per-image `cases.csv`
//! whose rows give the summary's per-image means, and the report names its baselines' source.
#[path = "common/run_setup.rs"]
mod run_setup;

use std::path::{Path, PathBuf};

use danie_data::datasets::DatasetKind;
use danie_data::synthetic::{generate, SyntheticConfig};
use danie_metrics::Convention;
use danie_train::baselines::shipped_baselines;
use danie_train::config::RunConfig;
use danie_train::evaluate::{evaluate_dataset, EvalOptions, EvalScores};
use danie_train::model_io::load_model;
use danie_train::predict::PredictOptions;
use danie_train::trainer::{train, TrainOptions};
use run_setup::{synapse_dataset, tiny_config};
use tch::Device;

fn synthetic(kind: DatasetKind, root: &Path, cases: usize, size: usize) {
    generate(
        kind,
        root,
        &SyntheticConfig {
            cases: Some(cases),
            size,
            slices: Some(3),
            seed: 3,
            overwrite: false,
            progress: false,
        },
    )
    .unwrap();
}

fn opts(out: PathBuf, weights: &Path, convention: Convention) -> EvalOptions {
    EvalOptions {
        out_dir: out,
        convention,
        predict: PredictOptions {
            tta: false,
            overwrite: true,
            batch: 8,
            bf16: false,
        },
        overlay_cases: vec![],
        overlay_slice: None,
        baselines: shipped_baselines(),
        baselines_source: "the shipped baselines".into(),
        weights: weights.to_path_buf(),
    }
}

fn summary_json(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn distances_are_in_voxels_without_spacing_and_in_mm_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let h5 = synapse_dataset(dir.path(), 2, 32, 3);
    let cfg = tiny_config(
        dir.path(),
        &h5,
        "run-units",
        "iterations = 2\nval_every = 0",
    );
    let run = train(&cfg, &TrainOptions::default()).unwrap();
    let loaded = load_model(&run.weights, Device::Cpu).unwrap();
    let nifti = dir.path().join("synapse-raw");
    synthetic(DatasetKind::SynapseRaw, &nifti, 2, 32);

    // (dataset, convention, unit): TransUNet's h5 test volumes carry no spacing.
    for (kind, root, convention, unit) in [
        (DatasetKind::Synapse, &h5, Convention::Medpy, "voxel"),
        (DatasetKind::Synapse, &h5, Convention::Monai, "voxel"),
        (DatasetKind::Synapse, &h5, Convention::TransUnet, "voxel"),
        (DatasetKind::SynapseRaw, &nifti, Convention::Medpy, "mm"),
        (
            DatasetKind::SynapseRaw,
            &nifti,
            Convention::TransUnet,
            "voxel",
        ),
    ] {
        let out = dir.path().join(format!("eval-{kind}-{convention}"));
        let report = evaluate_dataset(
            &loaded,
            kind,
            root,
            &opts(out.clone(), &run.weights, convention),
        )
        .unwrap();
        let EvalScores::Volumes(sum) = &report.scores else {
            panic!("volumes expected")
        };
        assert_eq!(sum.distance_unit, unit, "{kind} {convention}");
        let json = summary_json(&out);
        assert_eq!(json["scores"]["distance_unit"], unit, "{kind} {convention}");
        let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
        assert!(
            md.contains(&format!("(distances in {unit})"))
                && md.contains(&format!("HD95 ({unit})")),
            "{kind} {convention}: {md}"
        );
        if unit == "voxel" {
            assert!(!md.contains("mm"), "{kind} {convention}: {md}");
        }
        // The run was trained on synapse: the shipped baselines are printed, named as such.
        assert!(
            md.contains("Published numbers (from the shipped baselines): TransUNet"),
            "{md}"
        );
    }
}

/// Trains `kind` for 2 iterations and evaluates its test split; returns (out dir, scores).
fn evaluate_2d(dir: &Path, kind: DatasetKind) -> (PathBuf, EvalScores) {
    let root = dir.join(kind.as_str());
    synthetic(kind, &root, 10, 40);
    let text = format!(
        "[data]\ndataset = \"{kind}\"\nroot = \"{}\"\nimage_size = 32\nbatch_size = 4\n\
         num_workers = 1\n\n[model]\npreset = \"tiny\"\n\n[train]\ndevice = \"cpu\"\nthreads = 1\n\
         iterations = 2\nval_every = 0\n\n[output]\nrun_dir = \"run-{kind}\"\n",
        root.display()
    );
    let p = dir.join(format!("{kind}.toml"));
    std::fs::write(&p, text).unwrap();
    let run = train(&RunConfig::load(&p, &[]).unwrap(), &TrainOptions::default()).unwrap();
    let loaded = load_model(&run.weights, Device::Cpu).unwrap();
    let out = dir.join(format!("eval-{kind}"));
    let report = evaluate_dataset(
        &loaded,
        kind,
        &root,
        &opts(out.clone(), &run.weights, Convention::TransUnet),
    )
    .unwrap();
    (out, report.scores)
}

/// `cases.csv` as (header, rows of (case, values)).
fn cases(out: &Path) -> (String, Vec<(String, Vec<f64>)>) {
    let text = std::fs::read_to_string(out.join("cases.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().to_string();
    let rows = lines
        .map(|l| {
            let mut f = l.split(',');
            let name = f.next().unwrap().to_string();
            (name, f.map(|v| v.parse::<f64>().unwrap()).collect())
        })
        .collect();
    (header, rows)
}

/// The mean of a column, NaN (0/0) left out as the summaries leave it out.
fn mean(rows: &[(String, Vec<f64>)], col: usize) -> f64 {
    let v: Vec<f64> = rows
        .iter()
        .map(|r| r.1[col])
        .filter(|v| !v.is_nan())
        .collect();
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn isic_and_glas_write_per_image_cases() {
    let dir = tempfile::tempdir().unwrap();

    let (out, scores) = evaluate_2d(dir.path(), DatasetKind::Isic2018);
    let EvalScores::Pixels(p) = scores else {
        panic!("pixels expected")
    };
    let (header, rows) = cases(&out);
    assert_eq!(header, "case,dice,iou,sensitivity,specificity,accuracy");
    assert_eq!(rows.len(), p.n_images);
    assert!(p.n_images > 0);
    let m = &p.per_image_mean;
    for (col, want) in [m.dice, m.iou, m.sensitivity, m.specificity, m.accuracy]
        .into_iter()
        .enumerate()
    {
        assert!(
            (mean(&rows, col) - want).abs() < 1e-9,
            "column {col}: {} vs {want}",
            mean(&rows, col)
        );
    }
    let mut names: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    names.dedup();
    assert_eq!(names.len(), rows.len(), "one row per image: {names:?}");

    let (out, scores) = evaluate_2d(dir.path(), DatasetKind::Glas);
    let EvalScores::Glas(g) = scores else {
        panic!("glas expected")
    };
    let (header, rows) = cases(&out);
    assert_eq!(header, "case,dice,iou");
    assert_eq!(rows.len(), g.n_images);
    assert!((mean(&rows, 0) - g.m_dice).abs() < 1e-9);
    assert!((mean(&rows, 1) - g.m_iou).abs() < 1e-9);
}
