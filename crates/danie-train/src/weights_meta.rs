//! What travels inside a weights file's safetensors metadata (key `danie`, one JSON string):
//! the full model config, the dataset it was trained on, its classes, input size and intensity
//! preprocessing. With it `danie predict --weights W` rebuilds the exact model and input
//! pipeline without the training config.
use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use danie_data::datasets::DatasetKind;
use danie_model::config::DanieConfig;
use serde::{Deserialize, Serialize};

/// The metadata key.
const KEY: &str = "danie";
/// Format tag, bumped when fields change meaning.
pub const FORMAT: &str = "danie-weights/1";

/// How raw input intensities are mapped to the model's range when predicting.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Intensity {
    /// Clip to [lo, hi] (HU) and scale to [0, 1] (TransUNet's Synapse preprocessing).
    CtWindow {
        /// Lower clip.
        lo: f32,
        /// Upper clip.
        hi: f32,
    },
    /// Per-volume min-max to [0, 1] (ACDC, as SSL4MIS).
    MinMax,
    /// 8-bit images divided by 255 (ISIC, GlaS).
    Unit8Bit,
}

impl Intensity {
    /// The preprocessing the dataset's published pipeline uses.
    pub fn for_dataset(kind: DatasetKind) -> Self {
        match kind {
            DatasetKind::Synapse | DatasetKind::SynapseRaw => Self::CtWindow {
                lo: -125.0,
                hi: 275.0,
            },
            DatasetKind::Acdc | DatasetKind::AcdcNpz => Self::MinMax,
            _ => Self::Unit8Bit,
        }
    }
}

/// The model and data facts stored with the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightsMeta {
    /// [`FORMAT`].
    pub format: String,
    /// The full model config (preset merged with overrides).
    pub model: DanieConfig,
    /// Dataset the model was trained on.
    pub dataset: DatasetKind,
    /// Class names, index = label id.
    pub class_names: Vec<String>,
    /// Side of the square model input.
    pub image_size: usize,
    /// Intensity preprocessing for raw inputs.
    pub intensity: Intensity,
    /// Epochs trained.
    pub epochs: usize,
    /// Optimiser steps trained.
    pub iterations: usize,
}

impl WeightsMeta {
    /// The safetensors metadata map.
    pub fn to_metadata(&self) -> anyhow::Result<BTreeMap<String, String>> {
        Ok(BTreeMap::from([(
            KEY.to_string(),
            serde_json::to_string(self)?,
        )]))
    }

    /// Reads it back from a metadata map; `path` names the file in errors.
    pub fn from_metadata(map: &BTreeMap<String, String>, path: &Path) -> anyhow::Result<Self> {
        let text = map.get(KEY).with_context(|| {
            format!(
                "{} has no `{KEY}` metadata: not a danie weights file (write one with `danie train`)",
                path.display()
            )
        })?;
        let meta: Self = serde_json::from_str(text)
            .with_context(|| format!("{}: the `{KEY}` metadata is corrupt", path.display()))?;
        anyhow::ensure!(
            meta.format == FORMAT,
            "{}: weights format {} is not {FORMAT}",
            path.display(),
            meta.format
        );
        Ok(meta)
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    #[cfg(test)]
    pub(crate) fn for_tests() -> Self {
        Self {
            format: FORMAT.into(),
            model: DanieConfig::preset("tiny").unwrap(),
            dataset: DatasetKind::Synapse,
            class_names: DatasetKind::Synapse
                .class_names()
                .iter()
                .map(|s| s.to_string())
                .collect(),
            image_size: 64,
            intensity: Intensity::for_dataset(DatasetKind::Synapse),
            epochs: 0,
            iterations: 0,
        }
    }
}
