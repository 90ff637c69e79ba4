//! Building the model: from a run config (preset + overrides + the dataset's channels and
//! classes) for training, or from a weights file (its metadata holds the config) for eval and
//! prediction.
use std::path::Path;

use anyhow::Context;
use danie_model::{Danie, DanieConfig};
use tch::nn::VarStore;
use tch::{Device, Tensor};

use crate::config::RunConfig;
use crate::tensor_file::read_tensors;
use crate::weights_meta::{Intensity, WeightsMeta, FORMAT};

/// A model with its variables and what it was trained for.
pub struct LoadedModel {
    /// The network.
    pub model: Danie,
    /// Its variables; on the CPU, convolution weights are channels-last (see
    /// `danie_model::memory_format`).
    pub vs: VarStore,
    /// Dataset, classes, input size, intensity preprocessing.
    pub meta: WeightsMeta,
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

/// The metadata a run's weights carry.
pub fn weights_meta(
    cfg: &RunConfig,
    model: &DanieConfig,
    epochs: usize,
    iterations: usize,
) -> WeightsMeta {
    let kind = cfg.data.dataset;
    WeightsMeta {
        format: FORMAT.into(),
        model: model.clone(),
        dataset: kind,
        class_names: kind.class_names().iter().map(|s| s.to_string()).collect(),
        image_size: cfg.data.image_size,
        intensity: Intensity::for_dataset(kind),
        epochs,
        iterations,
    }
}

/// Every variable of `vs` by name, for saving.
pub fn named_variables(vs: &VarStore) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Copies saved variables into `vs`; a missing, extra or mis-shaped variable is an error
/// naming it and `source`.
pub fn copy_variables(
    vs: &VarStore,
    saved: &[(String, Tensor)],
    source: &Path,
) -> anyhow::Result<()> {
    let mut vars = vs.variables();
    let _guard = tch::no_grad_guard();
    for (name, t) in saved {
        let dst = vars.get_mut(name).with_context(|| {
            format!(
                "{}: variable `{name}` does not exist in the model",
                source.display()
            )
        })?;
        anyhow::ensure!(
            dst.size() == t.size(),
            "{}: variable `{name}` has shape {:?}, the model expects {:?}",
            source.display(),
            t.size(),
            dst.size()
        );
        dst.copy_(t);
    }
    let saved_names: std::collections::HashSet<&str> =
        saved.iter().map(|(n, _)| n.as_str()).collect();
    let mut missing: Vec<&String> = vars
        .keys()
        .filter(|k| !saved_names.contains(k.as_str()))
        .collect();
    missing.sort();
    anyhow::ensure!(
        missing.is_empty(),
        "{}: the file lacks {} model variables: {:?}{}",
        source.display(),
        missing.len(),
        &missing[..missing.len().min(8)],
        if missing.len() > 8 { ", ..." } else { "" }
    );
    Ok(())
}

/// Loads a weights file written by `danie train` onto `device`.
pub fn load_model(path: &Path, device: Device) -> anyhow::Result<LoadedModel> {
    anyhow::ensure!(
        path.is_file(),
        "weights file {} does not exist",
        path.display()
    );
    let (tensors, metadata) = read_tensors(path)?;
    let meta = WeightsMeta::from_metadata(&metadata, path)?;
    model_from_tensors(&tensors, meta, path, device)
}

/// The model `meta` describes, its variables copied from `tensors` (read from `path`, named in
/// errors).
pub fn model_from_tensors(
    tensors: &[(String, Tensor)],
    meta: WeightsMeta,
    path: &Path,
    device: Device,
) -> anyhow::Result<LoadedModel> {
    // The network must be about as large as the values the file holds (every variable is
    // copied from it): a config within the ranges but far larger than the file is refused
    // before it is allocated.
    let stored: u64 = tensors.iter().map(|(_, t)| t.numel() as u64).sum();
    let wanted = meta.model.estimated_params();
    anyhow::ensure!(
        wanted <= 2.0 * stored as f64 + 1e6,
        "{}: the `danie` metadata describes a model of about {:.0} values but the file holds \
         only {}: the metadata does not belong to these weights",
        path.display(),
        wanted,
        stored
    );
    let vs = VarStore::new(device);
    let model = Danie::try_new(vs.root(), &meta.model)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    copy_variables(&vs, tensors, path)?;
    // Convolution weights channels-last where danie runs the network so
    // (Segmenter feeds NHWC input there; on the CPU 1.16-1.5x).
    if danie_model::memory_format::prefers_channels_last(device) {
        danie_model::memory_format::vars_channels_last(&vs);
    }
    Ok(LoadedModel { model, vs, meta })
}
