//! `danie eval`: score weights on a dataset's test split (or on NIfTI image / reference pairs)
//! and write the tables.
//!
//! - Volumes (Synapse, ACDC, NIfTI pairs): slice-by-slice inference ([`Segmenter`]), then per
//!   class per case with danie-metrics ([`CumulativeMetric`]) under the chosen convention.
//!   `transunet` (the published tables) scores without voxel spacing, so distances are in
//!   voxels; `medpy` / `monai` use the volume's spacing in mm where the data has one (NIfTI:
//!   Synapse raw, ACDC, NIfTI pairs), and are in voxels where it has none (TransUNet's Synapse
//!   h5 volumes, MT-UNet's ACDC npz slices, read as 1 voxel = 1 unit).
//! - ISIC: DSC, SE, SP, ACC (and IoU) from one confusion matrix pooled over all test pixels.
//! - GlaS: mDice and mIoU over images.
//!
//! Outputs in the output folder: `summary.md` (the paper-format row beside the published
//! baselines, then the per-class table; written by [`crate::report`]), `summary.json`,
//! `paper_table.csv`, `cases.csv` (per case and class for volumes, per image for ISIC / GlaS),
//! and `overlays/<case>.png` for the cases asked for ([`crate::overlay`]).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use danie_data::datasets::{DatasetKind, Split};
use danie_metrics::label_map::{apply_label_map, id_list, ids_outside};
use danie_metrics::{
    image_cases_csv, Convention, CumulativeMetric, GlasMetrics, MetricConfig, PixelMetrics,
};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{s, Array3, ArrayView3, Ix3};
use serde::Serialize;

use crate::baselines::{Baseline, Baselines};
use crate::model_io::LoadedModel;
use crate::nifti_pair::{check_same_grid, read_label_map, Grid};
use crate::overlay::overlay_figure;
pub use crate::report::EvalScores;
use crate::report::{summary_markdown, PaperTable};
use crate::segmenter::{PredictOptions, Segmenter};
use crate::volume::read_nifti_volume;

/// Evaluation settings.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Folder for the tables and overlays (created).
    pub out_dir: PathBuf,
    /// Metric convention.
    pub convention: Convention,
    /// Inference settings (TTA, batch, bf16).
    pub predict: PredictOptions,
    /// Cases to draw as overlays.
    pub overlay_cases: Vec<String>,
    /// The slice (z, from 0) of each overlaid volume to draw; `None`: the slice with the most
    /// reference foreground.
    pub overlay_slice: Option<usize>,
    /// Published results to print beside this run's (by dataset name).
    pub baselines: Baselines,
    /// Where `baselines` came from, named in the report: a file's path, or
    /// `the shipped baselines` ([`crate::baselines::shipped_baselines`]).
    pub baselines_source: String,
    /// The weights file, named in the report.
    pub weights: PathBuf,
}

/// A finished evaluation, as written to `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// What was evaluated (`synapse test split`, `2 NIfTI pairs`).
    pub subject: String,
    /// Dataset the weights were trained on.
    pub dataset: DatasetKind,
    /// The weights file.
    pub weights: PathBuf,
    /// Flip TTA used.
    pub tta: bool,
    /// The scores.
    pub scores: EvalScores,
    /// The baselines printed beside them.
    pub baselines: Vec<Baseline>,
    /// `summary.md`'s text.
    #[serde(skip)]
    pub markdown: String,
}

fn progress(n: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(n as u64);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{elapsed_precise}} [{{bar:30}}] {{pos}}/{{len}} {what}  {{msg}}"
        ))
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar
}

/// Whether `kind`'s volumes carry a voxel spacing: NIfTI does; TransUNet's Synapse h5 test
/// volumes and MT-UNet's ACDC npz slices do not (their readers give 1 per axis).
pub fn has_spacing(kind: DatasetKind) -> bool {
    matches!(kind, DatasetKind::SynapseRaw | DatasetKind::Acdc)
}

/// The metric setup for a model's classes (labels 1..K, named); `spacing`: whether the data
/// has a voxel spacing (distances in mm) or not (in voxels).
fn metric_config(loaded: &LoadedModel, convention: Convention, spacing: bool) -> MetricConfig {
    let mut m = MetricConfig::new((1..loaded.meta.num_classes() as u32).collect(), convention);
    m.class_names = (1..loaded.meta.num_classes())
        .map(|i| (i as u32, loaded.meta.class_names[i].clone()))
        .collect();
    m.distance_unit = if convention == Convention::TransUnet || !spacing {
        "voxel"
    } else {
        "mm"
    }
    .into();
    m
}

/// Scores one predicted volume.
///
/// # Shapes
/// pred, gt: (D, H, W); spacing [z, y, x]
fn score_volume(
    metric: &mut CumulativeMetric,
    name: &str,
    pred: &Array3<u8>,
    gt: &Array3<u8>,
    spacing: [f64; 3],
    opts: &EvalOptions,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        pred.dim() == gt.dim(),
        "{name}: prediction shape {:?} differs from the reference's {:?}",
        pred.dim(),
        gt.dim()
    );
    let sp: Vec<f64> = if opts.convention == Convention::TransUnet {
        vec![]
    } else {
        spacing.to_vec()
    };
    metric
        .update(
            Some(name),
            pred.view().into_dyn(),
            gt.view().into_dyn(),
            &sp,
        )
        .with_context(|| format!("scoring {name}"))?;
    Ok(())
}

/// Draws the overlay of volume `name` if it is asked for: the chosen slice (`--slice`), else the
/// one with the most reference foreground.
///
/// # Shapes
/// image, pred, gt: (D, H, W)
fn overlay_volume(
    name: &str,
    image: ArrayView3<f32>,
    pred: &Array3<u8>,
    gt: &Array3<u8>,
    class_names: &[String],
    opts: &EvalOptions,
) -> anyhow::Result<()> {
    if opts.overlay_cases.iter().any(|c| c == name) {
        let depth = gt.dim().0;
        let z = match opts.overlay_slice {
            Some(z) if z < depth => z,
            Some(z) => anyhow::bail!(
                "--slice {z}: case {name} has {depth} slices (z from 0 to {})",
                depth.saturating_sub(1)
            ),
            // The slice with the most reference foreground.
            None => (0..depth)
                .max_by_key(|&z| gt.slice(s![z, .., ..]).iter().filter(|&&v| v > 0).count())
                .unwrap_or(0),
        };
        let (img, _) = overlay_figure(
            image.slice(s![z..z + 1, .., ..]),
            gt.slice(s![z, .., ..]),
            pred.slice(s![z, .., ..]),
            class_names,
            &format!("{name}: slice z = {z} of {depth} (from 0)"),
        )?;
        save_overlay(&opts.out_dir, name, &img)?;
    }
    Ok(())
}

/// Writes `out_dir/overlays/<name>.png`. The case name comes from a file (a list, a file
/// name): one that is not a single file name would put the overlay outside the folder.
fn save_overlay(out_dir: &Path, name: &str, img: &image::RgbImage) -> anyhow::Result<()> {
    let dir = out_dir.join("overlays");
    danie_fs::check_file_name(name).map_err(|why| {
        anyhow::anyhow!(
            "cannot name an overlay in {} after case {why}",
            dir.display()
        )
    })?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let p = dir.join(format!("{name}.png"));
    danie_fs::write_atomic_with(&p, |w| img.write_to(w, image::ImageFormat::Png))
        .with_context(|| format!("cannot write {}", p.display()))
}

/// Evaluates the test split of the dataset at `root`.
pub fn evaluate_dataset(
    loaded: &LoadedModel,
    kind: DatasetKind,
    root: &Path,
    opts: &EvalOptions,
) -> anyhow::Result<EvalReport> {
    anyhow::ensure!(
        kind.num_classes() == loaded.meta.num_classes() && kind.in_channels() as i64 == loaded.meta.model.in_channels,
        "the weights were trained on {} ({} classes, {} channels) and cannot score {kind} ({} classes, {} channels)",
        loaded.meta.dataset,
        loaded.meta.num_classes(),
        loaded.meta.model.in_channels,
        kind.num_classes(),
        kind.in_channels()
    );
    let seg = Segmenter::from_weights(loaded, &opts.predict);
    // cases.csv for 2D images (volumes' comes from their cohort summary).
    let mut image_cases = None;
    let scores = if kind.is_volumetric() {
        let vols = kind
            .open_volumes(root, Split::Test)
            .with_context(|| format!("opening the {kind} test split"))?;
        let mut metric =
            CumulativeMetric::new(metric_config(loaded, opts.convention, has_spacing(kind)));
        let bar = progress(vols.len(), "volumes");
        for i in 0..vols.len() {
            let v = vols.volume(i)?;
            bar.set_message(v.name.clone());
            let pred = seg.segment_volume(v.image.view());
            score_volume(&mut metric, &v.name, &pred, &v.label, v.spacing, opts)?;
            let names = &loaded.meta.class_names;
            overlay_volume(&v.name, v.image.view(), &pred, &v.label, names, opts)?;
            bar.inc(1);
        }
        bar.finish_and_clear();
        EvalScores::Volumes(metric.aggregate())
    } else {
        anyhow::ensure!(
            opts.overlay_slice.is_none() || opts.overlay_cases.is_empty(),
            "--slice picks a slice of a volume; {kind} test images are 2D (drop --slice)"
        );
        let set = kind
            .open_slices(root, Split::Test)
            .with_context(|| format!("opening the {kind} test split"))?;
        let mut pixels = PixelMetrics::new();
        let mut glas = GlasMetrics::new();
        let mut rows: Vec<(String, Vec<f64>)> = Vec::with_capacity(set.len());
        let bar = progress(set.len(), "images");
        for i in 0..set.len() {
            let sample = set.sample(i)?;
            let pred = seg
                .segment(&[sample.image.view()])
                .pop()
                .expect("one in, one out");
            let p = pred.mapv(|v| v > 0).into_dyn();
            let g = sample.label.mapv(|v| v > 0).into_dyn();
            let values = if kind == DatasetKind::Glas {
                glas.update(p.view(), g.view())
                    .map(|(dice, iou)| vec![dice, iou])
            } else {
                pixels.update(p.view(), g.view()).map(|c| {
                    let s = c.scores();
                    vec![s.dice, s.iou, s.sensitivity, s.specificity, s.accuracy]
                })
            }
            .with_context(|| format!("scoring {}", sample.name))?;
            rows.push((sample.name.clone(), values));
            if opts.overlay_cases.contains(&sample.name) {
                let (img, _) = overlay_figure(
                    sample.image.view(),
                    sample.label.view(),
                    pred.view(),
                    &loaded.meta.class_names,
                    &sample.name,
                )?;
                save_overlay(&opts.out_dir, &sample.name, &img)?;
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        let columns: &[&str] = if kind == DatasetKind::Glas {
            &["dice", "iou"]
        } else {
            &["dice", "iou", "sensitivity", "specificity", "accuracy"]
        };
        image_cases = Some(image_cases_csv(columns, &rows));
        if kind == DatasetKind::Glas {
            EvalScores::Glas(glas.aggregate())
        } else {
            EvalScores::Pixels(pixels.aggregate())
        }
    };
    finish(
        loaded,
        format!("{kind} test split"),
        scores,
        image_cases,
        opts,
    )
}

/// Evaluates NIfTI (image, reference) pairs; `label_map` maps reference ids to the model's
/// (unlisted ids become background); an empty map keeps the ids.
pub fn evaluate_nifti_pairs(
    loaded: &LoadedModel,
    pairs: &[(PathBuf, PathBuf)],
    label_map: &BTreeMap<u32, u8>,
    opts: &EvalOptions,
) -> anyhow::Result<EvalReport> {
    check_case_names(pairs)?;
    let seg = Segmenter::from_weights(loaded, &opts.predict);
    let mut metric = CumulativeMetric::new(metric_config(loaded, opts.convention, true));
    let bar = progress(pairs.len(), "volumes");
    let k = loaded.meta.num_classes() as u32;
    for (image, reference) in pairs {
        let name = case_name(image);
        bar.set_message(name.clone());
        let (img, vol) = read_nifti_volume(image, loaded.meta.intensity)?;
        let reference_map = read_label_map(reference)?;
        check_same_grid(&Grid::of(image, &img)?, &reference_map.grid)?;
        let ids = reference_map.labels;
        if label_map.is_empty() {
            let unknown = ids_outside(ids.view(), k);
            if !unknown.is_empty() {
                anyhow::bail!(
                    "{}: label(s) {} not a class of the model (0..{}); give --label-map",
                    reference.display(),
                    id_list(&unknown),
                    k - 1
                );
            }
        }
        let mapped = apply_label_map(ids.view(), label_map);
        let gt = mapped
            .into_dimensionality::<Ix3>()
            .with_context(|| format!("{} is not a 3D label map", reference.display()))?
            .permuted_axes([2, 1, 0])
            .as_standard_layout()
            .to_owned(); // (x, y, z) -> (z, y, x)
        let pred = seg.segment_volume(vol.view());
        let sp = img.spacing();
        score_volume(&mut metric, &name, &pred, &gt, [sp[2], sp[1], sp[0]], opts)?;
        let names = &loaded.meta.class_names;
        overlay_volume(&name, vol.view(), &pred, &gt, names, opts)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    finish(
        loaded,
        format!("{} NIfTI pair(s)", pairs.len()),
        EvalScores::Volumes(metric.aggregate()),
        None,
        opts,
    )
}

/// Cases are named after their image files: two of one name (`a/ct.nii.gz`, `b/ct.nii.gz`)
/// would share a table row and an overlay file, the second silently replacing the first.
fn check_case_names(pairs: &[(PathBuf, PathBuf)]) -> anyhow::Result<()> {
    let mut seen: BTreeMap<String, &Path> = BTreeMap::new();
    for (image, _) in pairs {
        let name = case_name(image);
        if let Some(first) = seen.insert(name.clone(), image) {
            anyhow::bail!(
                "{} and {} are both case `{name}`: their rows and overlays would be confused; \
                 rename one of them",
                first.display(),
                image.display()
            );
        }
    }
    Ok(())
}

/// `ct.nii.gz` -> `ct`.
fn case_name(p: &Path) -> String {
    match danie_data::nifti::nifti_file_name(p) {
        Some(n) => n.stem,
        None => p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned(),
    }
}

/// Writes the tables and returns the report; `image_cases`: `cases.csv` for 2D images.
fn finish(
    loaded: &LoadedModel,
    subject: String,
    scores: EvalScores,
    image_cases: Option<String>,
    opts: &EvalOptions,
) -> anyhow::Result<EvalReport> {
    std::fs::create_dir_all(&opts.out_dir)
        .with_context(|| format!("cannot create {}", opts.out_dir.display()))?;
    let dataset = loaded.meta.dataset;
    let family = dataset.family();
    let baselines = opts.baselines.get(family).cloned().unwrap_or_default();
    let table = PaperTable::new(&scores, &baselines);
    let md = summary_markdown(
        &format!(
            "# danie eval: {subject}\n\nWeights: `{}` (trained on {dataset}, {} epochs / {} iterations). Flip TTA: {}.",
            opts.weights.display(),
            loaded.meta.epochs,
            loaded.meta.iterations,
            if opts.predict.tta { "on" } else { "off" },
        ),
        &scores,
        &table,
        &baselines,
        family,
        &opts.baselines_source,
    );
    let csv = table.to_csv();
    let cases = match &scores {
        EvalScores::Volumes(sum) => Some(sum.cases_csv()),
        _ => image_cases,
    };
    if let Some(text) = cases {
        write_file(&opts.out_dir.join("cases.csv"), &text)?;
    }
    let report = EvalReport {
        subject,
        dataset,
        weights: opts.weights.clone(),
        tta: opts.predict.tta,
        scores,
        baselines,
        markdown: md,
    };
    write_file(&opts.out_dir.join("summary.md"), &report.markdown)?;
    write_file(&opts.out_dir.join("paper_table.csv"), &csv)?;
    write_file(
        &opts.out_dir.join("summary.json"),
        &serde_json::to_string_pretty(&report)?,
    )?;
    Ok(report)
}

fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    Ok(danie_fs::write_bytes(path, text)?)
}

#[cfg(test)]
mod write_tests {
    use super::*;

    #[test]
    fn overlay_names_that_would_leave_the_folder_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let img = image::RgbImage::new(3, 2);
        for bad in ["../../escape", "/abs/x", "a/b", "..", "x\0y"] {
            let e = save_overlay(dir.path(), bad, &img).unwrap_err().to_string();
            assert!(e.contains("overlays") && e.contains("case"), "{bad:?}: {e}");
        }
        assert!(!dir.path().join("escape.png").exists());
        save_overlay(dir.path(), "case0001", &img).unwrap();
        assert_eq!(
            image::open(dir.path().join("overlays/case0001.png"))
                .unwrap()
                .to_rgb8()
                .dimensions(),
            (3, 2)
        );
    }

    #[cfg(unix)]
    #[test]
    fn links_planted_at_table_and_overlay_names_are_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "precious").unwrap();
        std::fs::create_dir(dir.path().join("overlays")).unwrap();
        let table = dir.path().join("summary.md");
        let overlay = dir.path().join("overlays/c1.png");
        for p in [&table, &overlay] {
            std::os::unix::fs::symlink(&victim, p).unwrap();
        }
        write_file(&table, "| a |\n").unwrap();
        save_overlay(dir.path(), "c1", &image::RgbImage::new(2, 2)).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(std::fs::read_to_string(&table).unwrap(), "| a |\n");
        assert!(std::fs::symlink_metadata(&overlay)
            .unwrap()
            .file_type()
            .is_file());
    }

    #[test]
    fn two_cases_of_one_name_are_refused() {
        let p = |a: &str| (PathBuf::from(a), PathBuf::from("ref.nii.gz"));
        assert!(check_case_names(&[p("a/ct.nii.gz"), p("b/mr.nii.gz")]).is_ok());
        let e = check_case_names(&[p("a/ct.nii.gz"), p("b/ct.nii")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("a/ct.nii.gz") && e.contains("b/ct.nii") && e.contains("`ct`"),
            "{e}"
        );
    }
}
