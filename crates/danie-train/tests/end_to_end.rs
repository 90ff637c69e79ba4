//! End to end: generated Synapse layout -> train the tiny preset a few iterations -> eval on
//! the test split (paper-format table beside the published baselines) -> predict on the real
//! TotalSegmentator CT (shape and affine checked by nibabel) -> eval against its label map
//! mapped to the 8 Synapse organs -> 2D and folder prediction, refusal to overwrite.

#[path = "common/run_setup.rs"]
mod run_setup;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use danie_metrics::Convention;
use danie_train::baselines::read_baselines;
use danie_train::evaluate::{evaluate_dataset, evaluate_nifti_pairs, EvalOptions, EvalScores};
use danie_train::model_io::load_model;
use danie_train::predict::{predict_path, PredictOptions};
use danie_train::trainer::{train, TrainOptions};
use tch::Device;

const REAL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/data/real/totalseg"
);

/// TotalSegmentator CT ids of the 8 Synapse organs -> Synapse ids 1..8
/// (aorta, gallbladder, kidney left, kidney right, liver, pancreas, spleen, stomach).
fn ct_to_synapse() -> BTreeMap<u32, u8> {
    BTreeMap::from([
        (52, 1),
        (4, 2),
        (3, 3),
        (2, 4),
        (5, 5),
        (7, 6),
        (1, 7),
        (6, 8),
    ])
}

fn opts(out: PathBuf, weights: &Path, overlay: Vec<String>) -> EvalOptions {
    let baselines = read_baselines(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../configs/baselines.toml"
    )))
    .unwrap();
    EvalOptions {
        out_dir: out,
        convention: Convention::TransUnet,
        predict: PredictOptions {
            tta: false,
            overwrite: true,
            batch: 16,
            bf16: false,
        },
        overlay_cases: overlay,
        overlay_slice: None,
        baselines,
        baselines_source: "configs/baselines.toml".into(),
        weights: weights.to_path_buf(),
    }
}

#[test]
fn train_eval_predict_on_generated_and_real_data() {
    let dir = tempfile::tempdir().unwrap();
    let root = run_setup::synapse_dataset(dir.path(), 3, 48, 6);
    let cfg = run_setup::tiny_config(dir.path(), &root, "run", "iterations = 5");
    let out = train(&cfg, &TrainOptions::default()).unwrap();
    assert_eq!(out.iteration, 5);
    assert!(out.losses.iter().all(|l| l.is_finite()));
    let run = &cfg.output.run_dir;
    for f in [
        "model.safetensors",
        "log.csv",
        "log.jsonl",
        "loss.png",
        "config.toml",
        "checkpoints/latest.json",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    let csv = std::fs::read_to_string(run.join("log.csv")).unwrap();
    assert_eq!(csv.lines().filter(|l| l.starts_with("iter,")).count(), 5);
    // One epoch numbering: the log counts from 1, as the checkpoint folders do; epoch rows
    // carry no throughput of their own.
    let rows = danie_train::run_log::read_rows(&run.join("log.jsonl")).unwrap();
    let done = danie_train::checkpoint::load_latest(run)
        .unwrap()
        .state
        .epochs_done;
    assert_eq!(rows[0].epoch, 1);
    let last = rows.iter().rfind(|r| r.kind == "epoch").unwrap();
    assert_eq!((last.epoch, last.images_per_s), (done, None));
    assert!(run.join(format!("checkpoints/epoch_{done:04}")).is_dir());
    assert!(rows
        .iter()
        .filter(|r| r.kind == "iter")
        .all(|r| r.images_per_s.is_some()));
    // the run records the split it trained on: the training slices, in order
    let slices = danie_data::datasets::DatasetKind::Synapse
        .open_slices(&root, danie_data::datasets::Split::Train)
        .unwrap();
    let listed = std::fs::read_to_string(run.join("lists/train.txt")).unwrap();
    let want: Vec<String> = (0..slices.len()).map(|i| slices.name(i)).collect();
    assert_eq!(listed.lines().collect::<Vec<_>>(), want);
    assert!(want.iter().all(|n| n.starts_with("case")), "{want:?}");

    // Eval on the test split, with an overlay of the first test case.
    let loaded = load_model(&out.weights, Device::Cpu).unwrap();
    assert_eq!(loaded.meta.image_size, 32);
    let vols = danie_data::datasets::DatasetKind::Synapse
        .open_volumes(&root, danie_data::datasets::Split::Test)
        .unwrap();
    let case = vols.name(0);
    let report = evaluate_dataset(
        &loaded,
        cfg.data.dataset,
        &root,
        &opts(run.join("eval"), &out.weights, vec![case.clone()]),
    )
    .unwrap();
    let EvalScores::Volumes(sum) = &report.scores else {
        panic!("volumes expected")
    };
    assert_eq!(sum.n_cases, vols.len());
    assert_eq!(sum.classes.len(), 8);
    assert_eq!(sum.convention, Convention::TransUnet);
    let md = std::fs::read_to_string(run.join("eval/summary.md")).unwrap();
    for needle in [
        "DANIE (this run)",
        "TransUNet (published) | 77.48 | 31.69",
        "DAE-Former (published) | 82.43 | 17.46",
        "transunet",
        "liver",
    ] {
        assert!(md.contains(needle), "summary.md lacks {needle:?}:\n{md}");
    }
    for f in ["summary.json", "paper_table.csv", "cases.csv"] {
        assert!(run.join("eval").join(f).is_file(), "{f} missing");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval/summary.json")).unwrap())
            .unwrap();
    assert_eq!(json["scores"]["kind"], "volumes");
    let overlay = image::open(run.join("eval/overlays").join(format!("{case}.png"))).unwrap();
    let v0 = vols.volume(0).unwrap();
    // three panels of 48 px data upscaled 6x to 288 px, with titles and a legend around them
    let (_, h, w) = v0.image.dim();
    let scale = danie_train::overlay::panel_scale(h, w) as usize;
    assert_eq!(scale, 6);
    assert!(overlay.width() as usize > 3 * w * scale && overlay.height() as usize > h * scale);

    // Predict the real CT; nibabel reads the output with the input's shape and affine.
    let ct = Path::new(REAL).join("example_ct_sm.nii.gz");
    let pred = dir.path().join("pred.nii.gz");
    let popts = PredictOptions {
        tta: true,
        overwrite: false,
        batch: 16,
        bf16: false,
    };
    predict_path(&loaded, &ct, &pred, &popts).unwrap();
    let check: serde_json::Value = serde_json::from_str(&danie_testkit::run_python(
        "train_nifti_check.py",
        &[ct.as_path(), pred.as_path()],
    ))
    .unwrap();
    assert_eq!(check["in_shape"], check["out_shape"], "{check}");
    assert_eq!(check["in_affine"], check["out_affine"], "{check}");
    assert_eq!(check["out_dtype"], "uint8");
    assert!(
        check["labels"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v.as_u64().unwrap() < 9),
        "{check}"
    );
    // An existing output is refused without overwrite, replaced with it.
    let e = predict_path(&loaded, &ct, &pred, &popts)
        .unwrap_err()
        .to_string();
    assert!(e.contains("exists") && e.contains("--overwrite"), "{e}");
    predict_path(
        &loaded,
        &ct,
        &pred,
        &PredictOptions {
            overwrite: true,
            ..popts.clone()
        },
    )
    .unwrap();

    // Eval on the real pair, TotalSegmentator ids mapped to the 8 Synapse organs.
    let seg = Path::new(REAL).join("example_seg.nii.gz");
    let report = evaluate_nifti_pairs(
        &loaded,
        &[(ct.clone(), seg)],
        &ct_to_synapse(),
        &opts(dir.path().join("real_eval"), &out.weights, vec![]),
    )
    .unwrap();
    let EvalScores::Volumes(sum) = &report.scores else {
        panic!("volumes expected")
    };
    assert_eq!(sum.n_cases, 1);
    assert_eq!(sum.classes.len(), 8);
    assert!(
        report
            .markdown
            .contains("| Method | DSC | HD95 | mIoU | ASD |"),
        "{}",
        report.markdown
    );
    assert!(dir.path().join("real_eval/summary.md").is_file());

    // A folder in (a NIfTI and a PNG) -> a folder out.
    let inputs = dir.path().join("inputs");
    std::fs::create_dir(&inputs).unwrap();
    std::fs::copy(&ct, inputs.join("ct.nii.gz")).unwrap();
    let png =
        image::GrayImage::from_fn(40, 50, |x, y| image::Luma([((x * 5 + y * 3) % 256) as u8]));
    png.save(inputs.join("slice.png")).unwrap();
    let outs = predict_path(&loaded, &inputs, &dir.path().join("outputs"), &popts).unwrap();
    assert_eq!(outs.len(), 2);
    let mask = image::open(dir.path().join("outputs/slice.png")).unwrap();
    assert_eq!((mask.width(), mask.height()), (40, 50));
    assert!(dir.path().join("outputs/ct.nii.gz").is_file());
}
