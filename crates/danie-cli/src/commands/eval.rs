//! `danie eval --config FILE [--weights W]`: score weights on the dataset's test split, or
//! `danie eval --weights W --image CT.nii.gz --reference SEG.nii.gz --out DIR` on NIfTI pairs;
//! writes summary.md / summary.json / paper_table.csv / cases.csv and prints the table. Under a
//! launcher (torchrun's WORLD_SIZE, RANK, ...) the ranks split the cases and rank 0 writes and
//! prints the tables, equal to one process's.
use std::collections::BTreeMap;
use std::path::PathBuf;

use danie_metrics::Convention;
use danie_train::baselines::{read_baselines, shipped_baselines};
use danie_train::config::RunConfig;
use danie_train::device_spec::DeviceSpec;
use danie_train::distributed::{self, Backend, Dist};
use danie_train::evaluate::{
    evaluate_dataset_shared, evaluate_nifti_pairs_shared, EvalOptions, Share,
};
use danie_train::predict::PredictOptions;
use danie_train::state_dict::load_any_weights;

/// Arguments of `danie eval`.
#[derive(clap::Args)]
pub struct Args {
    /// The run config: dataset, convention, overlays, run folder.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Weights (default: `model.safetensors` in the config's run folder); a PyTorch
    /// state_dict (.pth / .pt / .safetensors) takes its network from --config.
    #[arg(long, short = 'w', value_name = "FILE")]
    weights: Option<PathBuf>,
    /// Output folder (default: `eval/` in the config's run folder).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// NIfTI image to score instead of a dataset (repeatable, paired with --reference).
    #[arg(long, value_name = "FILE")]
    image: Vec<PathBuf>,
    /// Reference label map for each --image.
    #[arg(long, value_name = "FILE")]
    reference: Vec<PathBuf>,
    /// Map reference ids to model classes, e.g. `52:1,4:2`; unlisted ids become background.
    #[arg(long, value_name = "FROM:TO,...")]
    label_map: Option<String>,
    /// Metric convention (`transunet`, `medpy`, `monai`; default: the config's, else transunet).
    #[arg(long)]
    convention: Option<Convention>,
    /// Published baselines to print beside the scores, a TOML file in the format of
    /// configs/baselines.toml (default: that file, shipped with danie).
    #[arg(long, value_name = "FILE")]
    baselines: Option<PathBuf>,
    /// Draw this test case as an overlay PNG (repeatable; adds to the config's
    /// eval.overlay_cases): image, reference and prediction panels with a class legend.
    #[arg(long = "case", value_name = "NAME")]
    cases: Vec<String>,
    /// The slice (z, from 0) of each overlaid volume to draw (default: the slice with the most
    /// reference foreground).
    #[arg(long, value_name = "K")]
    slice: Option<usize>,
    /// Flip test-time augmentation.
    #[arg(long)]
    tta: bool,
    /// `auto`, `cpu`, `cuda` or `cuda:N` (default: the config's train.device, else auto).
    #[arg(long)]
    device: Option<String>,
    /// Override a config key, e.g. `--set eval.slice_batch=8`; repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

fn parse_label_map(s: &str) -> anyhow::Result<BTreeMap<u32, u8>> {
    danie_metrics::label_map::parse_label_map(s).map_err(anyhow::Error::msg)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.set.is_empty() || args.config.is_some(),
        "--set overrides keys of a run config: give --config too (without one, nothing reads it)"
    );
    let cfg = match &args.config {
        Some(p) => Some(RunConfig::load(p, &args.set)?),
        None => None,
    };
    anyhow::ensure!(
        args.image.len() == args.reference.len(),
        "give one --reference per --image ({} images, {} references)",
        args.image.len(),
        args.reference.len()
    );
    let pairs_mode = !args.image.is_empty();
    anyhow::ensure!(
        pairs_mode || cfg.is_some(),
        "give --config (to score a dataset's test split) or --image/--reference pairs"
    );
    let weights = match (&args.weights, &cfg) {
        (Some(w), _) => w.clone(),
        (None, Some(c)) => c.output.run_dir.join("model.safetensors"),
        (None, None) => anyhow::bail!("give --weights"),
    };
    let out_dir = match (&args.out, &cfg) {
        (Some(o), _) => o.clone(),
        (None, Some(c)) => c.output.run_dir.join("eval"),
        (None, None) => anyhow::bail!("give --out (the folder for the tables)"),
    };
    let device = args
        .device
        .clone()
        .or_else(|| cfg.as_ref().map(|c| c.train.device.clone()))
        .unwrap_or_else(|| "auto".into());
    let device = DeviceSpec::parse(&device)
        .map_err(|e| anyhow::anyhow!("device: {e}"))?
        .resolve()?;
    // A launched run. Gloo whatever the device and train.dist_backend: the ranks exchange a
    // few bytes per case in CPU tensors, which NCCL cannot carry. The config's timeout.
    let timeout_s = cfg
        .as_ref()
        .map_or(distributed::DEFAULT_TIMEOUT_S, |c| c.train.dist_timeout_s);
    let dist = Dist::join(Backend::Gloo, distributed::timeout(timeout_s)?)?;
    let share = Share::of(dist.as_ref());
    let device = match &dist {
        Some(d) => d.device(device)?,
        None => device,
    };
    let (baselines, baselines_source) = match &args.baselines {
        Some(b) => (read_baselines(b)?, b.display().to_string()),
        None => (shipped_baselines(), "the shipped baselines".to_string()),
    };
    let ev = cfg.as_ref().map(|c| c.eval.clone()).unwrap_or_default();
    // The config's overlay cases name its dataset's cases; --image files are named by --case.
    let mut overlay_cases = if pairs_mode {
        Vec::new()
    } else {
        ev.overlay_cases.clone()
    };
    overlay_cases.extend(args.cases);
    anyhow::ensure!(
        args.slice.is_none() || !overlay_cases.is_empty(),
        "--slice picks the slice of an overlay: name the case with --case NAME"
    );
    let opts = EvalOptions {
        out_dir,
        convention: args.convention.unwrap_or(ev.convention),
        predict: PredictOptions {
            tta: args.tta || ev.tta,
            overwrite: true,
            batch: ev.slice_batch,
            bf16: cfg.as_ref().is_some_and(|c| c.train.bf16),
        },
        overlay_cases,
        overlay_slice: args.slice,
        baselines,
        baselines_source,
        weights: weights.clone(),
    };
    let loaded = share.agree(load_any_weights(&weights, cfg.as_ref(), device))?;
    let report = if pairs_mode {
        let map = match &args.label_map {
            Some(s) => parse_label_map(s)?,
            None => BTreeMap::new(),
        };
        let pairs: Vec<(PathBuf, PathBuf)> = args.image.into_iter().zip(args.reference).collect();
        evaluate_nifti_pairs_shared(&loaded, &pairs, &map, &opts, &share)?
    } else {
        let c = cfg.as_ref().expect("checked above");
        evaluate_dataset_shared(&loaded, c.data.dataset, &c.data.root, &opts, &share)?
    };
    // Ranks other than 0 have written their cases' overlays and have nothing to print.
    let Some(report) = report else {
        return Ok(());
    };
    println!("{}", report.markdown);
    println!("tables written to {}", opts.out_dir.display());
    Ok(())
}
