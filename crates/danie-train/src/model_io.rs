//! A model from a weights file (its metadata holds the config) for eval and prediction, and
//! the metadata a run's weights carry. The model config of a run is [`crate::config::model_config`];
//! reading, writing and strict loading of tensors are `danie_model::weights`.
use std::path::Path;

use danie_model::weights::{assign_strict, read_safetensors};
use danie_model::{Danie, DanieConfig};
use tch::nn::VarStore;
use tch::{Device, Tensor};

use crate::config::RunConfig;
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
        started_from: Vec::new(),
    }
}

/// Loads a weights file written by `danie train` onto `device`.
pub fn load_model(path: &Path, device: Device) -> anyhow::Result<LoadedModel> {
    anyhow::ensure!(
        path.is_file(),
        "weights file {} does not exist",
        path.display()
    );
    let (tensors, metadata) = read_safetensors(path)?;
    let meta = WeightsMeta::from_metadata(&metadata, path)?;
    model_from_tensors(tensors, meta, path, device)
}

/// The model `meta` describes, its variables copied from `tensors` (read from `path`, named in
/// errors).
pub fn model_from_tensors(
    tensors: Vec<(String, Tensor)>,
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
    assign_strict(&vs, tensors, path)?;
    // Convolution weights channels-last where danie runs the network so
    // (Segmenter feeds NHWC input there; on the CPU 1.16-1.5x).
    if danie_model::memory_format::prefers_channels_last(device) {
        danie_model::memory_format::vars_channels_last(&vs);
    }
    Ok(LoadedModel { model, vs, meta })
}
