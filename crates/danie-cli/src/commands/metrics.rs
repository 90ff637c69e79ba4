//! `danie metrics`: compare predicted and reference NIfTI label maps (Dice, IoU, HD, HD95, ASD,
//! ASSD) under the medpy, MONAI or TransUNet convention.
//!
//! ```text
//! danie metrics --pred P.nii.gz --gt G.nii.gz [--labels 1,2,3] [--convention medpy|monai|transunet]
//!               [--spacing header|unit|X,Y,Z] [--label-map FROM:TO,...] [--json] [--csv FILE]
//! danie metrics --pred-dir DIR --gt-dir DIR [...]     (files matched by name, cases in parallel)
//! ```
//! Shapes, affines and spacings of each pair must agree (`danie_train::nifti_pair`, the check
//! `danie eval --image` makes too); label maps must hold whole numbers. Without
//! `--labels`, every non-zero label found in the files is evaluated. Empty masks give what the
//! convention says (a number, NaN or inf), stated in the table and JSON.
//!
//! `--label-map 1:8,2:4,...` maps the reference's ids to the prediction's classes (unlisted ids
//! become background), as `danie eval --label-map` does. Without it, reference ids above every id
//! of the prediction (a raw 13-organ BTCV label against an 8-organ Synapse prediction) are named
//! in a warning on stderr: their Dice compares different organs' numbers.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use danie_metrics::label_map::{
    apply_label_map, id_list, ids_outside, parse_label_map, LabelMapping,
};
use danie_metrics::{evaluate_case, labels_present, CaseMetrics, CohortSummary, Convention};
use danie_train::nifti_pair::{check_same_grid, is_nifti, read_label_map, LabelMap};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

/// Arguments of `danie metrics`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Predicted label map (.nii / .nii.gz).
    #[arg(long, requires = "gt", conflicts_with_all = ["pred_dir", "gt_dir"])]
    pub pred: Option<PathBuf>,
    /// Reference label map (.nii / .nii.gz).
    #[arg(long, requires = "pred")]
    pub gt: Option<PathBuf>,
    /// Folder of predicted label maps, matched by file name with --gt-dir.
    #[arg(long, requires = "gt_dir")]
    pub pred_dir: Option<PathBuf>,
    /// Folder of reference label maps.
    #[arg(long, requires = "pred_dir")]
    pub gt_dir: Option<PathBuf>,
    /// Labels to evaluate, e.g. `1,2,3` (default: every non-zero label in the files).
    #[arg(long, value_delimiter = ',')]
    pub labels: Option<Vec<u32>>,
    /// Metric convention: medpy (default), monai or transunet.
    #[arg(long, default_value = "medpy")]
    pub convention: Convention,
    /// Voxel spacing for distances: `header` (pixdim, mm), `unit` (voxels, as TransUNet), or `X,Y,Z`.
    #[arg(long, default_value = "header")]
    pub spacing: String,
    /// Map reference ids to the prediction's classes, e.g. `8:1,4:2`; unlisted ids become
    /// background (as `danie eval --label-map`).
    #[arg(long, value_name = "FROM:TO,...")]
    pub label_map: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write one CSV row per case and class to this file.
    #[arg(long)]
    pub csv: Option<PathBuf>,
}

/// Where distances' spacing comes from.
#[derive(Debug, Clone, PartialEq)]
enum SpacingChoice {
    Header,
    Unit,
    Given(Vec<f64>),
}

impl SpacingChoice {
    fn parse(s: &str) -> Result<Self> {
        match s.trim() {
            "header" => Ok(Self::Header),
            "unit" => Ok(Self::Unit),
            list => {
                let v: Vec<f64> = list
                    .split(',')
                    .map(|x| x.trim().parse::<f64>())
                    .collect::<std::result::Result<_, _>>()
                    .with_context(|| {
                        format!(
                            "--spacing `{s}`: expected header, unit or numbers like 0.8,0.8,2.5"
                        )
                    })?;
                if v.iter().any(|x| !x.is_finite() || *x <= 0.0) {
                    bail!("--spacing `{s}`: every value must be finite and positive");
                }
                Ok(Self::Given(v))
            }
        }
    }

    fn unit_name(&self) -> &'static str {
        match self {
            Self::Unit => "voxel",
            _ => "mm",
        }
    }
}

/// Evaluates one pair; `labels` None means every non-zero label in either file.
fn evaluate_pair(
    pred_path: &Path,
    gt_path: &Path,
    labels: Option<&[u32]>,
    spacing: &SpacingChoice,
    convention: Convention,
    label_map: &LabelMapping,
) -> Result<CaseMetrics> {
    let (pred, mut gt) = (read_label_map(pred_path)?, read_label_map(gt_path)?);
    check_same_grid(&pred.grid, &gt.grid)?;
    if label_map.is_empty() {
        warn_foreign_ids(&pred, &gt);
    } else {
        gt.labels = apply_label_map(gt.labels.view(), label_map).mapv(u16::from);
    }
    let found = || -> Vec<u32> {
        let mut s: BTreeSet<u32> = labels_present(gt.labels.view()).into_iter().collect();
        s.extend(labels_present(pred.labels.view()));
        s.into_iter().filter(|l| *l != 0).collect()
    };
    let labels = labels.map(<[u32]>::to_vec).unwrap_or_else(found);
    // Each label costs a pass over the volume: an image given as a label map (a uint16 MR's
    // 65535 values) would run for hours. A danie model has at most MAX_CLASSES classes.
    let most = danie_model::config::MAX_CLASSES as usize;
    if labels.len() > most {
        bail!(
            "{} and {} hold {} distinct non-zero labels, more than the {most} classes a model \
             can have: is one of them an image rather than a label map? (pass --labels to \
             score chosen labels)",
            pred_path.display(),
            gt_path.display(),
            labels.len()
        );
    }
    if labels.is_empty() {
        bail!(
            "{} and {} hold no non-zero label; pass --labels",
            pred_path.display(),
            gt_path.display()
        );
    }
    let spacing = match spacing {
        SpacingChoice::Header => gt.grid.spacing.clone(),
        SpacingChoice::Unit => vec![1.0; gt.labels.ndim()],
        SpacingChoice::Given(v) => {
            if v.len() != gt.labels.ndim() {
                bail!(
                    "--spacing has {} values but {} has {} axes",
                    v.len(),
                    gt_path.display(),
                    gt.labels.ndim()
                );
            }
            v.clone()
        }
    };
    // NIfTI data are Fortran-ordered (x, y, z): the reversed-axis view is C-ordered, so no copy;
    // distances do not depend on the axis order once the spacing is reversed with it.
    let reversed: Vec<f64> = spacing.iter().rev().copied().collect();
    let mut case = evaluate_case(
        pred.labels.t(),
        gt.labels.t(),
        &labels,
        &reversed,
        convention,
    )
    .with_context(|| {
        format!(
            "evaluating {} against {}",
            pred_path.display(),
            gt_path.display()
        )
    })?;
    case.spacing = danie_metrics::spacing::shown_all(&spacing);
    let name = gt_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(case.named(name))
}

/// Warns on stderr when the reference holds ids above every id of the prediction: a prediction
/// with classes `0..=max` cannot have them, so the two likely number their labels differently.
fn warn_foreign_ids(pred: &LabelMap, gt: &LabelMap) {
    let max = pred.labels.iter().copied().max().unwrap_or(0);
    let foreign = ids_outside(gt.labels.view(), u32::from(max) + 1);
    if !foreign.is_empty() {
        eprintln!(
            "warning: {}: label id(s) {} are above every id of the prediction {} (0..{max}); \
             if the two number their labels differently (e.g. a raw 13-organ BTCV label against \
             an 8-organ Synapse prediction), the scores compare different structures: give \
             --label-map FROM:TO,...",
            gt.grid.path.display(),
            id_list(&foreign),
            pred.grid.path.display()
        );
    }
}

fn nifti_names(dir: &Path) -> Result<BTreeSet<String>> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("reading folder {}", dir.display()))?;
    let mut names = BTreeSet::new();
    for e in entries {
        let p = e
            .with_context(|| format!("reading folder {}", dir.display()))?
            .path();
        if p.is_file() && is_nifti(&p) {
            names.insert(
                p.file_name()
                    .expect("a file has a name")
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    Ok(names)
}

/// The file names both folders hold; a file without its partner is an error naming it.
fn matched_names(pred_dir: &Path, gt_dir: &Path) -> Result<Vec<String>> {
    let (p, g) = (nifti_names(pred_dir)?, nifti_names(gt_dir)?);
    let no_pred: Vec<&String> = g.difference(&p).collect();
    let no_gt: Vec<&String> = p.difference(&g).collect();
    if !no_pred.is_empty() || !no_gt.is_empty() {
        let mut msg = String::from("the folders' NIfTI files do not pair up by name:");
        for n in no_pred {
            msg += &format!(
                "\n  {} has no prediction {}",
                gt_dir.join(n).display(),
                pred_dir.join(n).display()
            );
        }
        for n in no_gt {
            msg += &format!(
                "\n  {} has no reference {}",
                pred_dir.join(n).display(),
                gt_dir.join(n).display()
            );
        }
        bail!(msg);
    }
    if g.is_empty() {
        bail!("{} holds no .nii / .nii.gz file", gt_dir.display());
    }
    Ok(g.into_iter().collect())
}

/// Evaluates every case the arguments name and summarises them.
pub fn evaluate(args: &Args) -> Result<CohortSummary> {
    let spacing = SpacingChoice::parse(&args.spacing)?;
    let labels = args.labels.as_deref();
    let map = match &args.label_map {
        Some(s) => parse_label_map(s).map_err(anyhow::Error::msg)?,
        None => LabelMapping::new(),
    };
    let cases: Vec<CaseMetrics> = match (&args.pred, &args.gt, &args.pred_dir, &args.gt_dir) {
        (Some(p), Some(g), None, None) => {
            vec![evaluate_pair(
                p,
                g,
                labels,
                &spacing,
                args.convention,
                &map,
            )?]
        }
        (None, None, Some(pd), Some(gd)) => {
            let names = matched_names(pd, gd)?;
            let bar = ProgressBar::new(names.len() as u64).with_style(
                ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} cases {elapsed} (eta {eta}) {msg}",
                )
                .expect("valid template"),
            );
            let cases = names
                .par_iter()
                .map(|n| {
                    let r = evaluate_pair(
                        &pd.join(n),
                        &gd.join(n),
                        labels,
                        &spacing,
                        args.convention,
                        &map,
                    );
                    bar.inc(1);
                    r
                })
                .collect::<Result<Vec<_>>>()?;
            bar.finish_and_clear();
            cases
        }
        _ => bail!("give either --pred and --gt, or --pred-dir and --gt-dir"),
    };
    warn_about_labels(&cases);
    Ok(CohortSummary::from_cases(
        cases,
        args.convention,
        &BTreeMap::new(),
        spacing.unit_name(),
    ))
}

/// Notes on stderr the requested labels that no file holds.
fn warn_about_labels(cases: &[CaseMetrics]) {
    let mut seen: BTreeMap<u32, bool> = BTreeMap::new();
    for c in cases.iter().flat_map(|c| &c.classes) {
        *seen.entry(c.label).or_default() |= c.pred_voxels + c.gt_voxels > 0;
    }
    let absent: Vec<String> = seen
        .iter()
        .filter(|(_, s)| !**s)
        .map(|(l, _)| l.to_string())
        .collect();
    if !absent.is_empty() {
        eprintln!(
            "note: label(s) {} appear in no file; their values follow the empty-mask rules",
            absent.join(", ")
        );
    }
}

pub fn run(args: Args) -> Result<()> {
    let summary = evaluate(&args)?;
    if let Some(csv) = &args.csv {
        danie_fs::write_bytes(csv, summary.cases_csv())?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else if summary.cases.len() == 1 {
        print!("{}", summary.cases[0].to_markdown(&summary.distance_unit));
    } else {
        print!("{}", summary.to_markdown());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use danie_data::nifti;
    use ndarray::{Array3, ArrayD, Axis};

    const REAL: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/real/totalseg/example_seg_mr.nii.gz"
    );

    fn args(pred: &Path, gt: &Path) -> Args {
        Args {
            pred: Some(pred.into()),
            gt: Some(gt.into()),
            pred_dir: None,
            gt_dir: None,
            labels: Some(vec![1, 2, 5, 60]),
            convention: Convention::Monai,
            spacing: "header".into(),
            label_map: None,
            json: false,
            csv: None,
        }
    }

    /// Writes `data` with the real file's header (so its affine and spacing).
    fn write(dir: &Path, name: &str, data: &ArrayD<u16>) -> PathBuf {
        let header = nifti::read(REAL).unwrap().header;
        let p = dir.join(name);
        nifti::write_array(&p, &header, data.view()).unwrap();
        p
    }

    #[test]
    fn a_pair_and_a_folder_give_the_library_values() {
        let dir = tempfile::tempdir().unwrap();
        let gt = nifti::read(REAL).unwrap().labels().unwrap();
        let mut pred = gt.clone();
        // Shift by one voxel along x.
        pred.slice_axis_mut(Axis(0), ndarray::Slice::from(1..))
            .assign(&gt.slice_axis(Axis(0), ndarray::Slice::from(..-1)));
        let (pd, gd) = (dir.path().join("pred"), dir.path().join("gt"));
        std::fs::create_dir_all(&pd).unwrap();
        std::fs::create_dir_all(&gd).unwrap();
        let p = write(&pd, "case1.nii.gz", &pred);
        let g = write(&gd, "case1.nii.gz", &gt);
        write(&pd, "case2.nii.gz", &gt);
        write(&gd, "case2.nii.gz", &gt);
        let s = evaluate(&args(&p, &g)).unwrap();
        let want = evaluate_case(
            pred.view(),
            gt.view(),
            &[1, 2, 5, 60],
            &[3.0, 3.0, 3.0],
            Convention::Monai,
        )
        .unwrap();
        assert_eq!(s.cases[0].classes.len(), 4);
        for (a, b) in s.cases[0].classes.iter().zip(&want.classes) {
            assert_eq!(
                a.metrics.values().map(f64::to_bits),
                b.metrics.values().map(f64::to_bits)
            );
        }
        assert_eq!(s.cases[0].spacing, vec![3.0, 3.0, 3.0]);
        // Label 60 is in neither file: MONAI gives NaN, stated, no panic.
        assert!(s.cases[0].classes[3].metrics.dice.is_nan());
        let folder = Args {
            pred: None,
            gt: None,
            pred_dir: Some(pd.clone()),
            gt_dir: Some(gd.clone()),
            spacing: "unit".into(),
            ..args(&p, &g)
        };
        let s = evaluate(&folder).unwrap();
        assert_eq!(s.n_cases, 2);
        assert_eq!(s.distance_unit, "voxel");
        assert_eq!(s.cases[1].classes[0].metrics.dice, 1.0);
        // A missing partner is an error naming the file.
        write(&pd, "case3.nii.gz", &gt);
        let e = format!("{:#}", evaluate(&folder).unwrap_err());
        assert!(
            e.contains("case3.nii.gz") && e.contains("has no reference"),
            "{e}"
        );
    }

    #[test]
    fn mismatched_pairs_and_bad_arguments_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let gt = nifti::read(REAL).unwrap().labels().unwrap();
        let g = write(dir.path(), "gt.nii.gz", &gt);
        let small = Array3::<u16>::zeros((4, 5, 6)).into_dyn();
        let p = write(dir.path(), "small.nii.gz", &small);
        let e = format!("{:#}", evaluate(&args(&p, &g)).unwrap_err());
        assert!(
            e.contains("shape mismatch") && e.contains("small.nii.gz"),
            "{e}"
        );
        // Same voxels, moved affine.
        let mut header = nifti::read(REAL).unwrap().header;
        let mut affine = header.best_affine().unwrap();
        affine[0][3] += 10.0;
        header.set_sform(&affine, 2);
        let moved = dir.path().join("moved.nii.gz");
        nifti::write_array(&moved, &header, gt.view()).unwrap();
        let e = format!("{:#}", evaluate(&args(&moved, &g)).unwrap_err());
        assert!(e.contains("affine mismatch"), "{e}");
        // A float map with a fraction is not a label map.
        let frac = gt.mapv(|v| v as f32 + 0.5);
        let f = dir.path().join("frac.nii.gz");
        nifti::write_array(&f, &nifti::read(REAL).unwrap().header, frac.view()).unwrap();
        let e = format!("{:#}", evaluate(&args(&f, &g)).unwrap_err());
        assert!(e.contains("frac.nii.gz"), "{e}");
        let missing = dir.path().join("nope.nii.gz");
        assert!(format!("{:#}", evaluate(&args(&missing, &g)).unwrap_err()).contains("nope.nii.gz"));
        let bad_spacing = Args {
            spacing: "1,2".into(),
            ..args(&g, &g)
        };
        assert!(
            format!("{:#}", evaluate(&bad_spacing).unwrap_err()).contains("--spacing has 2 values")
        );
        assert!(SpacingChoice::parse("1,-2,3").is_err());
        assert_eq!(
            SpacingChoice::parse("0.5,1,2").unwrap(),
            SpacingChoice::Given(vec![0.5, 1.0, 2.0])
        );
    }
}
