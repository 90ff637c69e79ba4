//! `danie metrics --label-map` as a user runs it: a raw 13-organ BTCV label against an 8-organ
//! Synapse prediction is named in a warning (the ids 9..13 the prediction cannot have); with
//! `--label-map` (the `danie eval` syntax) the scores equal those against a pre-mapped label.
mod support;

use std::path::{Path, PathBuf};

use danie_data::nifti;
use ndarray::{Array3, ArrayD};
use serde_json::Value;

/// BTCV raw ids -> Synapse's 8 organs (aorta, gallbladder, kidney L, kidney R, liver, pancreas,
/// spleen, stomach).
const SYNAPSE_MAP: &str = "8:1,4:2,3:3,2:4,6:5,11:6,1:7,7:8";

fn write(path: &Path, data: &ArrayD<u16>) {
    let mut header =
        nifti::read_header(support::real_dir().join("totalseg/example_seg_mr.nii.gz")).unwrap();
    header.set_shape(data.shape());
    nifti::write_array(path, &header, data.view()).unwrap();
}

/// A raw label with every id 0..=13 in stripes, its Synapse-mapped twin, and a prediction: the
/// mapped label with a corner cleared (so Dice is not 1 everywhere).
fn files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let raw = Array3::from_shape_fn((14, 12, 6), |(x, y, z)| ((x + y / 3 + z) % 14) as u16);
    let map = danie_metrics::label_map::parse_label_map(SYNAPSE_MAP).unwrap();
    let mapped = danie_metrics::label_map::apply_label_map(raw.view(), &map).mapv(u16::from);
    let mut pred = mapped.clone();
    pred.slice_mut(ndarray::s![..5, ..4, ..]).fill(0);
    std::fs::create_dir_all(dir.join("mapped")).unwrap();
    let (r, m, p) = (
        dir.join("case.nii.gz"),
        dir.join("mapped/case.nii.gz"),
        dir.join("pred.nii.gz"),
    );
    write(&r, &raw.into_dyn());
    write(&m, &mapped.into_dyn());
    write(&p, &pred.into_dyn());
    (r, m, p)
}

fn classes(stdout: &str) -> Value {
    let v: Value = serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    v["cases"][0]["classes"].clone()
}

#[test]
fn a_raw_btcv_label_warns_and_label_map_scores_as_a_pre_mapped_one() {
    let dir = tempfile::tempdir().unwrap();
    let (raw, mapped, pred) = files(dir.path());
    let (raw, mapped, pred) = (
        raw.to_str().unwrap(),
        mapped.to_str().unwrap(),
        pred.to_str().unwrap(),
    );

    // Raw ids: the warning names the reference, the foreign ids and --label-map.
    let o = support::run(&["metrics", "--pred", pred, "--gt", raw, "--json"], &[]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(
        o.stderr.contains("warning")
            && o.stderr.contains(raw)
            && o.stderr.contains("9, 10, 11, 12, 13")
            && o.stderr.contains("--label-map"),
        "{}",
        o.stderr
    );

    // Mapped through --label-map: the scores of the pre-mapped label, bit for bit; no warning.
    let o = support::run(
        &[
            "metrics",
            "--pred",
            pred,
            "--gt",
            raw,
            "--label-map",
            SYNAPSE_MAP,
            "--json",
        ],
        &[],
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(!o.stderr.contains("warning"), "{}", o.stderr);
    let with_map = classes(&o.stdout);
    let o = support::run(&["metrics", "--pred", pred, "--gt", mapped, "--json"], &[]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(!o.stderr.contains("warning"), "{}", o.stderr);
    let pre_mapped = classes(&o.stdout);
    assert_eq!(with_map.as_array().unwrap().len(), 8, "{with_map}");
    assert_eq!(with_map, pre_mapped);
    // The cleared corner makes some class imperfect; every Dice is a real number.
    let dice: Vec<f64> = with_map
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["dice"].as_f64().unwrap())
        .collect();
    assert!(
        dice.iter().any(|d| *d < 1.0) && dice.iter().all(|d| *d > 0.0),
        "{dice:?}"
    );

    // A malformed map is a clear error naming the flag.
    let o = support::run(
        &["metrics", "--pred", pred, "--gt", raw, "--label-map", "8-1"],
        &[],
    );
    assert_ne!(o.code, Some(0));
    assert!(
        o.stderr.contains("--label-map") && o.stderr.contains("8-1"),
        "{}",
        o.stderr
    );
}

#[test]
fn an_image_given_as_the_reference_is_refused_not_scored_label_by_label() {
    // 2000 distinct values, as an MR volume has: 2000 labels would each cost a pass.
    let dir = tempfile::tempdir().unwrap();
    let image = Array3::from_shape_fn((20, 10, 10), |(x, y, z)| (x * 100 + y * 10 + z + 1) as u16);
    let (gt, pred) = (dir.path().join("mr.nii.gz"), dir.path().join("pred.nii.gz"));
    write(&gt, &image.into_dyn());
    write(&pred, &ArrayD::<u16>::zeros(&[20, 10, 10][..]));
    let args = [
        "metrics",
        "--pred",
        pred.to_str().unwrap(),
        "--gt",
        gt.to_str().unwrap(),
    ];
    support::run(&args, &[]).assert_clean_failure(
        &[
            "mr.nii.gz",
            "hold 2000 distinct non-zero labels, more than the 1000 classes",
            "--labels",
        ],
        support::baseline_plus(256 * support::MIB),
    );
    // Chosen labels are scored as asked.
    let mut chosen = args.to_vec();
    chosen.extend(["--labels", "1,2", "--json"]);
    let o = support::run(&chosen, &[]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert_eq!(
        classes(&o.stdout).as_array().unwrap().len(),
        2,
        "{}",
        o.stdout
    );
}
