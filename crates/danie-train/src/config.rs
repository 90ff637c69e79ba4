//! The run configuration: one TOML file (`configs/<dataset>.toml`) with the sections `[data]`,
//! `[model]`, `[train]`, `[eval]` and `[output]`.
//!
//! Every struct denies unknown fields, so a misspelt key is an error that names it; toml's
//! messages are re-worded to give the file, the dotted key path and the line. Relative paths
//! (`data.root`, `output.run_dir`) resolve against the folder of the config file, so a config
//! means the same thing from whatever directory it is run.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use danie_data::datasets::DatasetKind;
use danie_metrics::Convention;
use danie_model::DanieConfig;

/// A whole run configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Which dataset, where it lives, and how batches are made.
    pub data: DataSection,
    /// The model preset and any overrides of its fields.
    #[serde(default)]
    pub model: ModelSection,
    /// Loss, optimiser, schedule, length, checkpoints, device.
    #[serde(default)]
    pub train: TrainSection,
    /// How `danie eval` scores the test split.
    #[serde(default)]
    pub eval: EvalSection,
    /// Where the run writes its files.
    pub output: OutputSection,
}

/// `[data]`: the dataset and the batch pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// Dataset layout: `synapse` (TransUNet's npz/h5), `synapse-raw`, `acdc`, `acdc-npz`,
    /// `isic2017`, `isic2018` or `glas`.
    pub dataset: DatasetKind,
    /// Dataset folder in its published layout (relative paths: from the config file's folder).
    pub root: PathBuf,
    /// Side of the square model input in pixels (slices and images are resized to it).
    #[serde(default = "default_image_size")]
    pub image_size: usize,
    /// Images per training batch.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Loader threads that read and augment samples in parallel.
    #[serde(default = "default_num_workers")]
    pub num_workers: usize,
    /// Random augmentation during training (TransUNet's RandomGenerator for CT/MRI: rot90 + flip
    /// or a small rotation; flips and rotations for 2D images).
    #[serde(default = "yes")]
    pub augment: bool,
}

/// `[model]`: which DANIE preset to build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// Preset name from danie-model: `tiny`, `s`, `b` or `l`.
    #[serde(default = "default_preset")]
    pub preset: String,
    /// Overrides of the preset's fields, by the field names of danie-model's `DanieConfig`
    /// (e.g. `streams = "hap"`). `in_channels` / `num_classes` come from the dataset.
    #[serde(default)]
    pub overrides: toml::Table,
    /// Where the encoder streams start from: `"none"` (default), `"imagenet"` (the preset's
    /// pair) or `{ sap = SOURCE, hap = SOURCE }` (registry names or files); see
    /// danie-model's `pretrained` module.
    #[serde(default)]
    pub pretrained: danie_model::pretrained::Pretrained,
}

/// The optimiser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// SGD with momentum and L2 weight decay (torch.optim.SGD), TransUNet's choice.
    Sgd,
    /// AdamW with decoupled weight decay (torch.optim.AdamW).
    Adamw,
}

/// `[train]`: the optimisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    /// Training length in epochs (passes over the training split). Give `epochs` or `iterations`.
    pub epochs: Option<usize>,
    /// Training length in optimiser steps (the last epoch may be partial).
    pub iterations: Option<usize>,
    /// The one seed: data order, augmentation, weight initialisation (the network has no dropout).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Weight of the cross-entropy term.
    #[serde(default = "half")]
    pub ce_weight: f64,
    /// Weight of the Dice term (softmax Dice over every class, background included).
    #[serde(default = "half")]
    pub dice_weight: f64,
    /// `sgd` or `adamw`.
    #[serde(default = "default_optimizer")]
    pub optimizer: OptimizerKind,
    /// Base learning rate.
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// SGD momentum.
    #[serde(default = "default_momentum")]
    pub momentum: f64,
    /// Weight decay (L2 for SGD, decoupled for AdamW).
    #[serde(default = "default_weight_decay")]
    pub weight_decay: f64,
    /// AdamW (beta1, beta2).
    #[serde(default = "default_betas")]
    pub betas: [f64; 2],
    /// AdamW epsilon.
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// Poly schedule power: lr = base * (1 - iter / max_iter)^power; 0 keeps lr constant.
    #[serde(default = "default_poly_power")]
    pub poly_power: f64,
    /// Linear warm-up length in iterations (0: none).
    #[serde(default)]
    pub warmup_iters: usize,
    /// Learning-rate factor at the first warm-up step (torch LinearLR's start_factor).
    #[serde(default = "default_warmup_start")]
    pub warmup_start_factor: f64,
    /// Write a checkpoint every N epochs (and always at the end); 0: only at the end.
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: usize,
    /// Validate every N epochs where the dataset has a validation split; 0: never.
    #[serde(default = "one")]
    pub val_every: usize,
    /// Log a row every N iterations (epoch rows are always written).
    #[serde(default = "default_log_every")]
    pub log_every: usize,
    /// bf16 autocast for the forward pass on CUDA (ignored on CPU, with a warning).
    #[serde(default)]
    pub bf16: bool,
    /// Capture the training step as a CUDA graph after 3 eager warm-up steps and replay it
    /// (no per-op launch cost; see docs/performance-notes.md). CUDA and `optimizer = "sgd"`
    /// only; ignored on the CPU, with a warning. Batches of another shape than the first (an
    /// epoch's last, smaller batch) run eagerly.
    #[serde(default)]
    pub cuda_graphs: bool,
    /// `auto` (CUDA if present), `cpu`, `cuda` or `cuda:N`.
    #[serde(default = "default_device")]
    pub device: String,
    /// libtorch intra-op threads (0: libtorch's default).
    #[serde(default)]
    pub threads: usize,
    /// Data-parallel runs (docs/distributed.md): batch-norm statistics over the whole global
    /// batch (PyTorch's SyncBatchNorm) instead of each process's share of it (DDP's default).
    #[serde(default)]
    pub sync_bn: bool,
    /// Data-parallel runs: the c10d backend, `auto` (NCCL on CUDA, Gloo on the CPU), `gloo` or
    /// `nccl`.
    #[serde(default = "default_dist_backend")]
    pub dist_backend: String,
    /// Data-parallel runs: seconds a collective may wait for the other processes before the run
    /// stops naming the ones that did not answer (the environment variable
    /// DANIE_DIST_TIMEOUT_S overrides it).
    #[serde(default = "default_dist_timeout_s")]
    pub dist_timeout_s: f64,
}

/// `[eval]`: scoring the test split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSection {
    /// Metric convention: `transunet` (the published tables: medpy without spacing, special cases
    /// for empty masks), `medpy` or `monai`.
    #[serde(default = "default_convention")]
    pub convention: Convention,
    /// Test cases to draw as PNG overlays (image | reference | prediction).
    #[serde(default)]
    pub overlay_cases: Vec<String>,
    /// Slices per forward pass during volume inference.
    #[serde(default = "default_slice_batch")]
    pub slice_batch: usize,
    /// Flip test-time augmentation (mean softmax of identity, horizontal and vertical flips).
    #[serde(default)]
    pub tta: bool,
}

/// `[output]`: where a run writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSection {
    /// Run folder: checkpoints, logs, curves, evaluation tables (relative: from the config's folder).
    pub run_dir: PathBuf,
}

fn default_image_size() -> usize {
    224
}
fn default_batch_size() -> usize {
    24
}
fn default_num_workers() -> usize {
    4
}
fn yes() -> bool {
    true
}
fn one() -> usize {
    1
}
fn half() -> f64 {
    0.5
}
fn default_preset() -> String {
    "b".into()
}
fn default_seed() -> u64 {
    1234
}
fn default_optimizer() -> OptimizerKind {
    OptimizerKind::Sgd
}
fn default_lr() -> f64 {
    0.01
}
fn default_momentum() -> f64 {
    0.9
}
fn default_weight_decay() -> f64 {
    1e-4
}
fn default_betas() -> [f64; 2] {
    [0.9, 0.999]
}
fn default_eps() -> f64 {
    1e-8
}
fn default_poly_power() -> f64 {
    0.9
}
fn default_warmup_start() -> f64 {
    0.001
}
fn default_checkpoint_every() -> usize {
    10
}
fn default_log_every() -> usize {
    10
}
fn default_dist_backend() -> String {
    "auto".into()
}

fn default_dist_timeout_s() -> f64 {
    300.0
}

fn default_device() -> String {
    "auto".into()
}
fn default_convention() -> Convention {
    Convention::TransUnet
}
fn default_slice_batch() -> usize {
    32
}

impl Default for ModelSection {
    fn default() -> Self {
        Self {
            preset: default_preset(),
            overrides: toml::Table::new(),
            pretrained: Default::default(),
        }
    }
}

impl Default for TrainSection {
    fn default() -> Self {
        toml::from_str("").expect("every [train] key has a default")
    }
}

impl Default for EvalSection {
    fn default() -> Self {
        toml::from_str("").expect("every [eval] key has a default")
    }
}

/// A configuration error: the file and what is wrong, with the key path where there is one.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ConfigError {
    /// The config file (or a description of the text, e.g. after `--set`).
    pub file: String,
    /// What is wrong, naming the key.
    pub message: String,
}

/// Smallest `train.lr` accepted: below it a float32 weight of order 1e-2 keeps its value under
/// any gradient of order 1 (its spacing there is ~1e-9).
pub const MIN_LR: f64 = 1e-10;

impl RunConfig {
    /// Reads, parses and validates a config file, then applies `key=value` overrides
    /// (`train.iterations=20`, values in TOML syntax; bare words are taken as strings).
    /// Relative paths become absolute against the config file's folder.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let text =
            danie_fs::read_text(path, danie_fs::MAX_SMALL_TEXT).map_err(|e| ConfigError {
                file: file.clone(),
                message: format!("cannot read the config file: {e}"),
            })?;
        let mut cfg = Self::parse(&text, &file)?;
        if !overrides.is_empty() {
            let mut table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError {
                file: file.clone(),
                message: e.message().to_string(),
            })?;
            for kv in overrides {
                apply_override(&mut table, kv).map_err(|message| ConfigError {
                    file: format!("{file} (--set {kv})"),
                    message,
                })?;
            }
            let merged = toml::to_string(&table).map_err(|e| ConfigError {
                file: format!("{file} after --set overrides"),
                message: e.to_string(),
            })?;
            cfg = Self::parse(&merged, &format!("{file} after --set overrides"))?;
        }
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let base = if base.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            base
        };
        cfg.data.root = resolve(&base, &cfg.data.root);
        cfg.output.run_dir = resolve(&base, &cfg.output.run_dir);
        cfg.model.pretrained = cfg.model.pretrained.with_paths_under(&base);
        cfg.validate()
            .map_err(|message| ConfigError { file, message })?;
        Ok(cfg)
    }

    /// Parses config text; errors name `source`, the dotted key and the line.
    pub fn parse(text: &str, source: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError {
            file: source.to_string(),
            message: describe_toml_error(text, &e),
        })
    }

    /// Checks values serde cannot: ranges, exclusive keys, the data folder's existence.
    pub fn validate(&self) -> Result<(), String> {
        let t = &self.train;
        match (t.epochs, t.iterations) {
            (Some(_), Some(_)) => {
                return Err("train.epochs and train.iterations are exclusive: give one".into())
            }
            (Some(0), _) | (_, Some(0)) => {
                return Err("train.epochs / train.iterations must be at least 1".into())
            }
            _ => {}
        }
        // Counts: bounded so that products (epochs x batches) and the libtorch calls they feed
        // (set_num_threads takes an i32) cannot overflow, and a typo cannot start a thread storm.
        let count = |key: &str, v: usize, lo: usize, hi: usize| {
            if v < lo || v > hi {
                Err(format!(
                    "{key} = {v} is outside the supported range {lo}..={hi}"
                ))
            } else {
                Ok(())
            }
        };
        if let Some(e) = t.epochs {
            count("train.epochs", e, 1, MAX_EPOCHS)?;
        }
        if let Some(i) = t.iterations {
            count("train.iterations", i, 1, MAX_ITERATIONS)?;
        }
        count("data.batch_size", self.data.batch_size, 1, MAX_BATCH)?;
        count(
            "data.num_workers",
            self.data.num_workers,
            0,
            max_num_workers(),
        )
        .map_err(|e| format!("{e} (at most 8 per CPU core, and {MAX_WORKERS})"))?;
        count("train.threads", t.threads, 0, MAX_THREADS)?;
        count("train.warmup_iters", t.warmup_iters, 0, MAX_ITERATIONS)?;
        count(
            "train.checkpoint_every",
            t.checkpoint_every,
            0,
            MAX_ITERATIONS,
        )?;
        count("train.val_every", t.val_every, 0, MAX_ITERATIONS)?;
        count("train.log_every", t.log_every, 0, MAX_ITERATIONS)?;
        count("eval.slice_batch", self.eval.slice_batch, 1, MAX_BATCH)?;
        let max_side = danie_model::config::MAX_IMG_SIZE as usize;
        if self.data.image_size < 16
            || self.data.image_size > max_side
            || !self.data.image_size.is_multiple_of(16)
        {
            return Err(format!(
                "data.image_size = {} must be a multiple of 16 (the model's patch size) in \
                 16..={max_side}",
                self.data.image_size
            ));
        }
        if !matches!(t.dist_backend.as_str(), "auto" | "gloo" | "nccl") {
            return Err(format!(
                "train.dist_backend = \"{}\" is not one of \"auto\", \"gloo\", \"nccl\"",
                t.dist_backend
            ));
        }
        if !(t.dist_timeout_s >= 1.0 && t.dist_timeout_s <= 86_400.0) {
            return Err(format!(
                "train.dist_timeout_s = {} must be between 1 and 86400 seconds",
                t.dist_timeout_s
            ));
        }
        if !(t.lr > 0.0 && t.lr.is_finite()) {
            return Err(format!("train.lr = {} must be positive", t.lr));
        }
        if t.lr < MIN_LR {
            return Err(format!(
                "train.lr = {:e} is below {MIN_LR:e}: float32 weights would round every update away",
                t.lr
            ));
        }
        if !(0.0..1.0).contains(&t.momentum) {
            return Err(format!("train.momentum = {} must be in [0, 1)", t.momentum));
        }
        if !(t.weight_decay >= 0.0 && t.weight_decay.is_finite()) {
            return Err(format!(
                "train.weight_decay = {} must be >= 0",
                t.weight_decay
            ));
        }
        if t.betas.iter().any(|b| !(0.0..1.0).contains(b)) {
            return Err(format!("train.betas = {:?} must be in [0, 1)", t.betas));
        }
        if !(t.eps > 0.0 && t.eps.is_finite()) {
            return Err(format!("train.eps = {} must be positive", t.eps));
        }
        let loss_total = t.ce_weight + t.dice_weight;
        let weights_ok = t.ce_weight >= 0.0 && t.dice_weight >= 0.0 && loss_total.is_finite();
        if !weights_ok || loss_total == 0.0 {
            return Err(
                "train.ce_weight and train.dice_weight must be finite and >= 0, not both 0".into(),
            );
        }
        if !(t.poly_power >= 0.0 && t.poly_power.is_finite()) {
            return Err(format!("train.poly_power = {} must be >= 0", t.poly_power));
        }
        if !(t.warmup_start_factor > 0.0 && t.warmup_start_factor <= 1.0) {
            return Err(format!(
                "train.warmup_start_factor = {} must be in (0, 1]",
                t.warmup_start_factor
            ));
        }
        crate::device_spec::DeviceSpec::parse(&t.device)
            .map_err(|e| format!("train.device: {e}"))?;
        if t.cuda_graphs && t.optimizer != OptimizerKind::Sgd {
            // AdamW's bias corrections are host numbers that change every step: a captured step
            // would keep the first ones.
            return Err("train.cuda_graphs works with optimizer = \"sgd\" only".into());
        }
        // The model the run would build: preset, overrides and sizes within danie-model's
        // ranges, checked here so the error names the config file.
        let model = model_config(self).map_err(|e| format!("{e:#}"))?;
        self.model
            .pretrained
            .plan(&model)
            .map_err(|e| e.to_string())?;
        if !self.data.root.is_dir() {
            return Err(format!(
                "data.root: the data folder {} does not exist (relative roots resolve against the config file's folder)",
                self.data.root.display()
            ));
        }
        Ok(())
    }

    /// The training length in epochs, given the number of batches per epoch.
    pub fn epochs_for(&self, batches_per_epoch: usize) -> usize {
        match (self.train.epochs, self.train.iterations) {
            (_, Some(it)) => it.div_ceil(batches_per_epoch.max(1)),
            (Some(e), None) => e,
            (None, None) => 150,
        }
    }

    /// The training length in iterations (TransUNet's `max_iterations = epochs * len(loader)`).
    pub fn max_iterations(&self, batches_per_epoch: usize) -> usize {
        match self.train.iterations {
            Some(it) => it,
            None => self.epochs_for(batches_per_epoch) * batches_per_epoch,
        }
    }
}

/// Most epochs of one run.
pub const MAX_EPOCHS: usize = 1_000_000;
/// Most optimiser steps of one run (and bound of the other step counts).
pub const MAX_ITERATIONS: usize = 1_000_000_000;
/// Largest training batch and eval slice batch.
pub const MAX_BATCH: usize = 4096;
/// Most loader workers, whatever the machine.
pub const MAX_WORKERS: usize = 256;
/// Most libtorch intra-op threads.
pub const MAX_THREADS: usize = 1024;

/// Loader workers allowed here: 8 per core (I/O-bound readers gain from a few per core; more
/// only thrash), at least 16 so a config works across machines, at most [`MAX_WORKERS`].
pub fn max_num_workers() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_mul(8).clamp(16, MAX_WORKERS)
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// Sets `a.b.c = value` in a TOML table; the value is parsed as TOML, falling back to a string.
fn apply_override(table: &mut toml::Table, kv: &str) -> Result<(), String> {
    let (key, value) = kv
        .split_once('=')
        .ok_or_else(|| format!("`{kv}` is not of the form section.key=value"))?;
    let key = key.trim();
    let value = value.trim();
    let parsed: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("`{key}` is not a dotted key path"));
    }
    let mut cur = table;
    for p in &parts[..parts.len() - 1] {
        cur = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| format!("`{p}` in `{key}` is not a table"))?;
    }
    let last = parts[parts.len() - 1];
    // The training length is one of two exclusive keys: overriding one replaces the other, so
    // `--set train.iterations=200` works on a config that gives epochs.
    if parts.len() == 2 && parts[0] == "train" {
        match last {
            "iterations" => drop(cur.remove("epochs")),
            "epochs" => drop(cur.remove("iterations")),
            _ => {}
        }
    }
    cur.insert(last.to_string(), parsed);
    Ok(())
}

/// Rewords a toml error as `key `a.b`: problem (line N)`, the key found from the error's span:
/// the nearest `[table]` header above it plus the key on the span's line.
fn describe_toml_error(text: &str, err: &toml::de::Error) -> String {
    let msg = err.message().trim().to_string();
    let Some(span) = err.span() else {
        return msg;
    };
    let start = span.start.min(text.len());
    let line_no = text[..start].matches('\n').count() + 1;
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line = text[line_start..line_end].trim();
    // The table this line belongs to: the last header at or above it.
    let mut table = String::new();
    for l in text[..line_end].lines() {
        let l = l.trim();
        if l.starts_with('[') {
            table = l
                .trim_start_matches('[')
                .trim_end_matches(']')
                .trim()
                .to_string();
        }
    }
    if line.starts_with('[') {
        // The span covers a whole table (e.g. a missing field).
        return format!("in [{table}]: {msg} (line {line_no})");
    }
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .unwrap_or_else(|| line.to_string());
    let path = if table.is_empty() {
        key
    } else {
        format!("{table}.{key}")
    };
    format!("key `{path}`: {msg} (line {line_no})")
}

/// The model config of a run: the preset, the `[model.overrides]`, then `in_channels`,
/// `num_classes` and `img_size` from `[data]`.
pub fn model_config(cfg: &RunConfig) -> anyhow::Result<DanieConfig> {
    for key in ["in_channels", "num_classes", "img_size"] {
        anyhow::ensure!(
            !cfg.model.overrides.contains_key(key),
            "model.overrides.{key}: set by [data] (dataset and image_size), not by the model section"
        );
    }
    let text = toml::to_string(&cfg.model.overrides)?;
    let mut m = DanieConfig::from_toml_with_preset(&cfg.model.preset, &text)
        .map_err(|e| anyhow::anyhow!("[model] preset `{}`: {e}", cfg.model.preset))?;
    m.in_channels = cfg.data.dataset.in_channels() as i64;
    m.num_classes = cfg.data.dataset.num_classes() as i64;
    m.img_size = cfg.data.image_size as i64;
    m.validate().map_err(|e| {
        anyhow::anyhow!(
            "[model] with data.image_size = {}: {e}",
            cfg.data.image_size
        )
    })?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("c.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    const GOOD: &str =
        "[data]\ndataset = \"synapse\"\nroot = \"d\"\n\n[output]\nrun_dir = \"runs\"\n";

    #[test]
    fn defaults_follow_transunet_and_paths_resolve_against_the_config_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        let cfg = RunConfig::load(&write(dir.path(), GOOD), &[]).unwrap();
        assert_eq!(cfg.train.lr, 0.01);
        assert_eq!(cfg.train.momentum, 0.9);
        assert_eq!(cfg.train.weight_decay, 1e-4);
        assert_eq!(cfg.train.poly_power, 0.9);
        assert_eq!((cfg.train.ce_weight, cfg.train.dice_weight), (0.5, 0.5));
        assert_eq!(cfg.train.seed, 1234);
        assert_eq!(cfg.data.root, dir.path().join("d"));
        assert_eq!(cfg.output.run_dir, dir.path().join("runs"));
        assert_eq!(cfg.epochs_for(10), 150);
        assert_eq!(cfg.max_iterations(10), 1500);
    }

    #[test]
    fn unknown_key_is_named_with_its_table() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        let text = format!("{GOOD}\n[train]\nlearning_rate = 0.1\n");
        let e = RunConfig::load(&write(dir.path(), &text), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("train.learning_rate"), "{e}");
        assert!(e.contains("unknown field"), "{e}");
        assert!(e.contains("c.toml"), "{e}");
    }

    #[test]
    fn wrong_type_is_named_with_its_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        let text = GOOD.replace("root = \"d\"", "root = \"d\"\nbatch_size = \"big\"");
        let e = RunConfig::load(&write(dir.path(), &text), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("data.batch_size"), "{e}");
        assert!(e.contains("invalid type"), "{e}");
    }

    #[test]
    fn missing_data_folder_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let e = RunConfig::load(&write(dir.path(), GOOD), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("data.root"), "{e}");
        assert!(
            e.contains(&dir.path().join("d").display().to_string()),
            "{e}"
        );
    }

    #[test]
    fn overrides_apply_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        let p = write(dir.path(), GOOD);
        let cfg = RunConfig::load(
            &p,
            &["train.iterations=7".into(), "train.device=cpu".into()],
        )
        .unwrap();
        assert_eq!(cfg.train.iterations, Some(7));
        assert_eq!(cfg.epochs_for(3), 3);
        // Overriding the length in the other unit replaces the file's.
        let cfg = RunConfig::load(&p, &["train.epochs=4".into()]).unwrap();
        assert_eq!((cfg.train.epochs, cfg.train.iterations), (Some(4), None));
        let back =
            RunConfig::load(&p, &["train.epochs=4".into(), "train.iterations=9".into()]).unwrap();
        assert_eq!((back.train.epochs, back.train.iterations), (None, Some(9)));
        let e = RunConfig::load(&p, &["train.lr=\"fast\"".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("train.lr"), "{e}");
        // Both in the file is ambiguous.
        let both = write(
            dir.path(),
            &format!("{GOOD}\n[train]\nepochs = 2\niterations = 3\n"),
        );
        let e = RunConfig::load(&both, &[]).unwrap_err().to_string();
        assert!(e.contains("exclusive"), "{e}");
    }

    #[test]
    fn cuda_graphs_need_sgd() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        let p = write(dir.path(), GOOD);
        let on = RunConfig::load(&p, &["train.cuda_graphs=true".into()]).unwrap();
        assert!(on.train.cuda_graphs);
        assert!(
            !RunConfig::load(&p, &[]).unwrap().train.cuda_graphs,
            "off by default"
        );
        let e = RunConfig::load(
            &p,
            &[
                "train.cuda_graphs=true".into(),
                "train.optimizer=\"adamw\"".into(),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("train.cuda_graphs") && e.contains("sgd"), "{e}");
    }

    #[test]
    fn unbounded_values_are_errors_naming_the_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        let p = write(dir.path(), GOOD);
        for (set, key) in [
            ("data.num_workers=100000000", "data.num_workers"),
            ("train.threads=3000000000", "train.threads"),
            ("data.image_size=1099511627776", "data.image_size"),
            ("data.image_size=1", "data.image_size"),
            ("data.batch_size=0", "data.batch_size"),
            ("data.batch_size=1000000000", "data.batch_size"),
            ("train.epochs=1000000000000000000", "train.epochs"),
            ("train.iterations=1000000000000000000", "train.iterations"),
            (
                "train.warmup_iters=1000000000000000000",
                "train.warmup_iters",
            ),
            ("eval.slice_batch=0", "eval.slice_batch"),
            ("train.lr=nan", "train.lr"),
            ("train.eps=0", "train.eps"),
            ("train.weight_decay=inf", "train.weight_decay"),
            ("train.poly_power=nan", "train.poly_power"),
            ("train.ce_weight=inf", "train.ce_weight"),
            ("model.overrides.sap.embed_dim=100000000", "sap.embed_dim"),
            ("model.overrides.sap.depth=-1", "sap.depth"),
            ("model.overrides.hap.width=0", "hap.width"),
        ] {
            let e = RunConfig::load(&p, &[set.into()]).unwrap_err().to_string();
            assert!(e.contains("c.toml") && e.contains(key), "{set}: {e}");
        }
        // At the bounds: accepted.
        let ok = RunConfig::load(
            &p,
            &[
                "data.num_workers=16".into(),
                "train.threads=1024".into(),
                "data.image_size=1024".into(),
            ],
        );
        assert!(ok.is_ok(), "{:?}", ok.err());
    }
}
