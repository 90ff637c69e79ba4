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
//!
//! Under a launcher each rank scores its cases ([`Share`]) and draws their overlays; the per-case
//! scores (`CaseScores`) are gathered on rank 0 in case order and accumulated there as one
//! process accumulates them, so rank 0's tables are byte-equal to a one-process evaluation's.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use danie_data::datasets::{DatasetKind, Split};
use danie_metrics::label_map::{apply_label_map, id_list, ids_outside};
use danie_metrics::{
    image_cases_csv, overlap_counts, CaseMetrics, ConfusionCounts, Convention, CumulativeMetric,
    GlasMetrics, MetricConfig, OverlapCounts, PixelMetrics,
};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{s, Array3, ArrayView3, Ix3};
use serde::{Deserialize, Serialize};

use crate::baselines::{Baseline, Baselines};
use crate::model_io::LoadedModel;
use crate::nifti_pair::{check_same_grid, read_label_map, Grid};
use crate::overlay::overlay_figure;
pub use crate::report::EvalScores;
use crate::report::{summary_markdown, PaperTable};
use crate::segmenter::{PredictOptions, Segmenter};
pub use crate::sharded::Share;
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

/// The progress bar of this share's cases of `n`; hidden on ranks other than 0, whose bars
/// would overwrite rank 0's on a shared terminal.
fn progress(share: &Share, n: usize, what: &str) -> ProgressBar {
    if !share.is_main() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(share.cases(n).len() as u64);
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
) -> anyhow::Result<CaseMetrics> {
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
    let case = metric
        .update(
            Some(name),
            pred.view().into_dyn(),
            gt.view().into_dyn(),
            &sp,
        )
        .with_context(|| format!("scoring {name}"))?;
    Ok(case.clone())
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

/// One case's scores as its rank computed them: what rank 0 needs to rebuild the cohort
/// exactly as one process would (the same values, accumulated in case order).
#[derive(Debug, Clone, Serialize, Deserialize)]
enum CaseScores {
    /// A volume's per-class metrics.
    Volume(CaseMetrics),
    /// An ISIC image's confusion matrix.
    Pixels {
        name: String,
        counts: ConfusionCounts,
    },
    /// A GlaS image's overlap counts.
    Glas { name: String, counts: OverlapCounts },
}

/// How a dataset is scored: per class per case (volumes), one pooled confusion matrix (ISIC),
/// per-image Dice and IoU (GlaS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scored {
    Volumes,
    Pixels,
    Glas,
}

impl Scored {
    fn of(kind: DatasetKind) -> Self {
        if kind.is_volumetric() {
            Self::Volumes
        } else if kind == DatasetKind::Glas {
            Self::Glas
        } else {
            Self::Pixels
        }
    }
}

/// Evaluates the test split of the dataset at `root` in one process.
pub fn evaluate_dataset(
    loaded: &LoadedModel,
    kind: DatasetKind,
    root: &Path,
    opts: &EvalOptions,
) -> anyhow::Result<EvalReport> {
    let report = evaluate_dataset_shared(loaded, kind, root, opts, &Share::whole())?;
    Ok(report.expect("one process writes the report"))
}

/// Every overlay case (`--case`, `eval.overlay_cases`) is one of the `len` cases `name` gives
/// (`what`): a misspelt name would otherwise draw nothing, silently.
fn check_overlay_cases(
    opts: &EvalOptions,
    len: usize,
    name: impl Fn(usize) -> String,
    what: &str,
) -> anyhow::Result<()> {
    if opts.overlay_cases.is_empty() {
        return Ok(());
    }
    let cases: std::collections::BTreeSet<String> = (0..len).map(name).collect();
    let unknown: Vec<&str> = opts
        .overlay_cases
        .iter()
        .filter(|c| !cases.contains(*c))
        .map(String::as_str)
        .collect();
    let shown: Vec<&str> = cases.iter().take(5).map(String::as_str).collect();
    anyhow::ensure!(
        unknown.is_empty(),
        "--case {}: not a case of {what} ({} cases: {}{})",
        unknown.join(", "),
        cases.len(),
        shown.join(", "),
        if cases.len() > shown.len() {
            ", ..."
        } else {
            ""
        }
    );
    Ok(())
}

/// Evaluates this share's cases of the test split (all of them, or a launched rank's) and
/// gathers every rank's scores: rank 0 (or the one process) writes the tables and returns the
/// report; other ranks return `None`, having written only the overlays of their cases.
pub fn evaluate_dataset_shared(
    loaded: &LoadedModel,
    kind: DatasetKind,
    root: &Path,
    opts: &EvalOptions,
    share: &Share,
) -> anyhow::Result<Option<EvalReport>> {
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
    let config = metric_config(loaded, opts.convention, has_spacing(kind));
    let names = &loaded.meta.class_names;
    // Every rank opens the split (a failure on one stops all), then scores its cases.
    let mine = if kind.is_volumetric() {
        let vols = share.agree(
            kind.open_volumes(root, Split::Test)
                .with_context(|| format!("opening the {kind} test split")),
        )?;
        let split = format!("the {kind} test split");
        check_overlay_cases(opts, vols.len(), |i| vols.name(i), &split)?;
        let mut metric = CumulativeMetric::new(config.clone());
        let bar = progress(share, vols.len(), "volumes");
        let mut mine = Vec::new();
        share.for_each(vols.len(), |i| {
            let v = vols.volume(i)?;
            bar.set_message(v.name.clone());
            let pred = seg.segment_volume(v.image.view());
            let case = score_volume(&mut metric, &v.name, &pred, &v.label, v.spacing, opts)?;
            overlay_volume(&v.name, v.image.view(), &pred, &v.label, names, opts)?;
            mine.push((i, CaseScores::Volume(case)));
            bar.inc(1);
            Ok(())
        })?;
        bar.finish_and_clear();
        (vols.len(), mine)
    } else {
        anyhow::ensure!(
            opts.overlay_slice.is_none() || opts.overlay_cases.is_empty(),
            "--slice picks a slice of a volume; {kind} test images are 2D (drop --slice)"
        );
        let set = share.agree(
            kind.open_slices(root, Split::Test)
                .with_context(|| format!("opening the {kind} test split")),
        )?;
        check_overlay_cases(
            opts,
            set.len(),
            |i| set.name(i),
            &format!("the {kind} test split"),
        )?;
        let bar = progress(share, set.len(), "images");
        let mut mine = Vec::new();
        share.for_each(set.len(), |i| {
            let sample = set.sample(i)?;
            let pred = seg
                .segment(&[sample.image.view()])
                .pop()
                .expect("one in, one out");
            let p = pred.mapv(|v| v > 0).into_dyn();
            let g = sample.label.mapv(|v| v > 0).into_dyn();
            let name = sample.name.clone();
            let scores = if kind == DatasetKind::Glas {
                overlap_counts(p.view(), g.view()).map(|counts| CaseScores::Glas { name, counts })
            } else {
                ConfusionCounts::of(p.view(), g.view())
                    .map(|counts| CaseScores::Pixels { name, counts })
            }
            .with_context(|| format!("scoring {}", sample.name))?;
            if opts.overlay_cases.contains(&sample.name) {
                let (img, _) = overlay_figure(
                    sample.image.view(),
                    sample.label.view(),
                    pred.view(),
                    names,
                    &sample.name,
                )?;
                save_overlay(&opts.out_dir, &sample.name, &img)?;
            }
            mine.push((i, scores));
            bar.inc(1);
            Ok(())
        })?;
        bar.finish_and_clear();
        (set.len(), mine)
    };
    let Some(cases) = gather_cases(share, mine)? else {
        return Ok(None);
    };
    let (scores, image_cases) = cohort_scores(Scored::of(kind), config, cases)?;
    finish(
        loaded,
        format!("{kind} test split"),
        scores,
        image_cases,
        opts,
    )
    .map(Some)
}

/// Every rank's `(case, scores)`, in case order, on rank 0 (or the one process); `None` on the
/// other ranks, which have nothing more to write.
fn gather_cases(
    share: &Share,
    (n, mine): (usize, Vec<(usize, CaseScores)>),
) -> anyhow::Result<Option<Vec<CaseScores>>> {
    let all = match share.dist() {
        Some(d) => d.gather_in_order(n, mine)?,
        None => {
            // A part without a process group has nobody to gather from: its table would be
            // a table of some cases, presented as the split's.
            anyhow::ensure!(
                share.count() == 1,
                "an evaluation is split over a launched run's ranks, not by --num-parts"
            );
            mine.into_iter().map(|(_, s)| s).collect()
        }
    };
    Ok(share.is_main().then_some(all))
}

/// The cohort's scores from every case's, accumulated in case order as one process does;
/// `cases.csv` for 2D images (volumes' comes from their cohort summary).
fn cohort_scores(
    scored: Scored,
    config: MetricConfig,
    cases: Vec<CaseScores>,
) -> anyhow::Result<(EvalScores, Option<String>)> {
    let mut metric = CumulativeMetric::new(config);
    let mut pixels = PixelMetrics::new();
    let mut glas = GlasMetrics::new();
    let mut rows: Vec<(String, Vec<f64>)> = Vec::new();
    for case in cases {
        match case {
            CaseScores::Volume(c) => metric.push(c)?,
            CaseScores::Pixels { name, counts } => {
                pixels.push(counts);
                let s = counts.scores();
                rows.push((
                    name,
                    vec![s.dice, s.iou, s.sensitivity, s.specificity, s.accuracy],
                ));
            }
            CaseScores::Glas { name, counts } => {
                let (dice, iou) = glas.push(counts);
                rows.push((name, vec![dice, iou]));
            }
        }
    }
    Ok(match scored {
        Scored::Volumes => (EvalScores::Volumes(metric.aggregate()), None),
        Scored::Glas => {
            let csv = image_cases_csv(&["dice", "iou"], &rows);
            (EvalScores::Glas(glas.aggregate()), Some(csv))
        }
        Scored::Pixels => {
            let columns = ["dice", "iou", "sensitivity", "specificity", "accuracy"];
            let csv = image_cases_csv(&columns, &rows);
            (EvalScores::Pixels(pixels.aggregate()), Some(csv))
        }
    })
}

/// Evaluates NIfTI (image, reference) pairs in one process; `label_map` maps reference ids to
/// the model's (unlisted ids become background); an empty map keeps the ids.
pub fn evaluate_nifti_pairs(
    loaded: &LoadedModel,
    pairs: &[(PathBuf, PathBuf)],
    label_map: &BTreeMap<u32, u8>,
    opts: &EvalOptions,
) -> anyhow::Result<EvalReport> {
    let report = evaluate_nifti_pairs_shared(loaded, pairs, label_map, opts, &Share::whole())?;
    Ok(report.expect("one process writes the report"))
}

/// [`evaluate_nifti_pairs`] over this share's pairs, gathered as [`evaluate_dataset_shared`]
/// gathers a split's cases.
pub fn evaluate_nifti_pairs_shared(
    loaded: &LoadedModel,
    pairs: &[(PathBuf, PathBuf)],
    label_map: &BTreeMap<u32, u8>,
    opts: &EvalOptions,
    share: &Share,
) -> anyhow::Result<Option<EvalReport>> {
    check_case_names(pairs)?;
    check_overlay_cases(
        opts,
        pairs.len(),
        |i| case_name(&pairs[i].0),
        "the --image files",
    )?;
    let seg = Segmenter::from_weights(loaded, &opts.predict);
    let config = metric_config(loaded, opts.convention, true);
    let mut metric = CumulativeMetric::new(config.clone());
    let bar = progress(share, pairs.len(), "volumes");
    let k = loaded.meta.num_classes() as u32;
    let mut mine = Vec::new();
    share.for_each(pairs.len(), |i| {
        let (image, reference) = &pairs[i];
        let name = case_name(image);
        bar.set_message(name.clone());
        let (img, vol) = read_nifti_volume(image, &loaded.meta)?;
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
        let case = score_volume(&mut metric, &name, &pred, &gt, [sp[2], sp[1], sp[0]], opts)?;
        let names = &loaded.meta.class_names;
        overlay_volume(&name, vol.view(), &pred, &gt, names, opts)?;
        mine.push((i, CaseScores::Volume(case)));
        bar.inc(1);
        Ok(())
    })?;
    bar.finish_and_clear();
    let Some(cases) = gather_cases(share, (pairs.len(), mine))? else {
        return Ok(None);
    };
    let (scores, _) = cohort_scores(Scored::Volumes, config, cases)?;
    finish(
        loaded,
        format!("{} NIfTI pair(s)", pairs.len()),
        scores,
        None,
        opts,
    )
    .map(Some)
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

#[cfg(test)]
mod gather_tests {
    use super::*;
    use danie_metrics::{ClassMetrics, MetricValues, Presence};
    use rand::{Rng, SeedableRng};

    /// Rank 0 rebuilds the cohort from what the ranks send as JSON: every float must come back
    /// with the same bits, or the two-rank table could differ from one process's in its last
    /// digit (serde_json parses exactly only with its `float_roundtrip` feature).
    #[test]
    fn case_scores_cross_between_ranks_bit_for_bit() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(14);
        let mut values = vec![f64::NAN, f64::INFINITY, 0.1 + 0.2, 1.0 / 3.0, 5e-324];
        values.extend((0..20_000).map(|_| rng.gen::<f64>() * 10f64.powi(rng.gen_range(-8..8))));
        let classes: Vec<ClassMetrics> = values
            .chunks(6)
            .enumerate()
            .map(|(i, v)| ClassMetrics {
                label: i as u32,
                presence: Presence::Both,
                pred_voxels: 1,
                gt_voxels: 1,
                metrics: MetricValues {
                    dice: v[0],
                    iou: v[1 % v.len()],
                    hd: v[2 % v.len()],
                    hd95: v[3 % v.len()],
                    asd: v[4 % v.len()],
                    assd: v[5 % v.len()],
                },
            })
            .collect();
        let sent = CaseScores::Volume(CaseMetrics {
            case: Some("case0001".into()),
            convention: Convention::Medpy,
            spacing: vec![values[7], values[8], values[9]],
            classes,
        });
        let json = serde_json::to_vec(&sent).unwrap();
        let got: CaseScores = serde_json::from_slice(&json).unwrap();
        let (CaseScores::Volume(a), CaseScores::Volume(b)) = (&sent, &got) else {
            panic!("{got:?}")
        };
        let bits = |c: &CaseMetrics| -> Vec<u64> {
            c.spacing
                .iter()
                .chain(c.classes.iter().flat_map(|k| {
                    let m = &k.metrics;
                    [&m.dice, &m.iou, &m.hd, &m.hd95, &m.asd, &m.assd]
                }))
                .map(|v| if v.is_nan() { 0 } else { v.to_bits() })
                .collect()
        };
        let (x, y) = (bits(a), bits(b));
        let differ = x.iter().zip(&y).filter(|(p, q)| p != q).count();
        assert_eq!(differ, 0, "{differ} of {} floats changed", x.len());
    }
}
