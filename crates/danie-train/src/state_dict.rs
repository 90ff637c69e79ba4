//! Weights from PyTorch: a state_dict saved by reference/danie_ref.py's network (`torch.save`
//! `.pth` / `.pt`, or `.safetensors` without danie's metadata) loads into `danie predict`,
//! `danie eval` and `danie export`. Such a file holds only tensors, so the run config
//! (`--config`) names the network (`[model]`) and the data it was trained on (`[data]`); every
//! key is checked strictly: a missing or unexpected key is an error naming them all.
use std::path::Path;

use anyhow::Context;
use danie_model::Danie;
use tch::nn::VarStore;
use tch::Device;

use crate::config::{model_config, RunConfig};
use crate::model_io::{model_from_tensors, weights_meta, LoadedModel};
use crate::weights_meta::WeightsMeta;

/// The run config that names a state_dict's network, read for its `[model]` and `[data]`
/// (dataset, image_size) only: predicting or exporting needs no data folder, so unlike
/// [`RunConfig::load`] a missing `data.root` is not an error. Errors name the file.
pub fn read_network_config(path: &Path) -> anyhow::Result<RunConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--config {}: cannot read the config file", path.display()))?;
    let cfg = RunConfig::parse(&text, &path.display().to_string())?;
    model_config(&cfg).with_context(|| format!("--config {}", path.display()))?;
    Ok(cfg)
}

/// Whether `path` names a safetensors file (danie's own weights or a PyTorch state_dict).
fn is_safetensors(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"))
}

/// Loads weights onto `device`: danie's own file (the model config travels inside; `config` is
/// not needed and not used), or a bare PyTorch state_dict built into the network `config`
/// describes.
pub fn load_any_weights(
    path: &Path,
    config: Option<&RunConfig>,
    device: Device,
) -> anyhow::Result<LoadedModel> {
    anyhow::ensure!(
        path.is_file(),
        "weights file {} does not exist",
        path.display()
    );
    if is_safetensors(path) {
        let (tensors, metadata) = danie_model::weights::read_safetensors(path)?;
        if metadata.contains_key("danie") {
            let meta = WeightsMeta::from_metadata(&metadata, path)?;
            return model_from_tensors(tensors, meta, path, device);
        }
    }
    let cfg = config.with_context(|| {
        format!(
            "{}: a PyTorch state_dict without danie's metadata: give --config FILE, the run \
             config it was trained with ([model] preset and overrides, [data] dataset and \
             image_size), so danie knows which network the tensors belong to",
            path.display()
        )
    })?;
    load_state_dict(path, cfg, device)
}

/// A bare state_dict (`.safetensors`, `.pth`, `.pt`) into the network of `cfg`, strictly.
pub fn load_state_dict(
    path: &Path,
    cfg: &RunConfig,
    device: Device,
) -> anyhow::Result<LoadedModel> {
    let model_cfg = model_config(cfg)?;
    let meta = weights_meta(cfg, &model_cfg, 0, 0);
    let mut vs = VarStore::new(device);
    let model = Danie::try_new(vs.root(), &model_cfg)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    danie_model::weights::load_weights(&mut vs, path, true).with_context(|| {
        format!(
            "{} is not a state_dict of the network that [model] preset `{}` with {} channels \
             and {} classes builds",
            path.display(),
            cfg.model.preset,
            model_cfg.in_channels,
            model_cfg.num_classes
        )
    })?;
    // The layout load_model gives (memory_format): channels-last where danie runs so.
    if danie_model::memory_format::prefers_channels_last(device) {
        danie_model::memory_format::vars_channels_last(&vs);
    }
    Ok(LoadedModel { model, vs, meta })
}
