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

/// How raw input intensities are mapped to the model's range (a dataset fact, kept in
/// danie-data with each dataset's choice, [`Intensity::for_dataset`]).
pub use danie_data::preprocess::Intensity;

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
    /// The pretrained checkpoints the encoder streams started from (source and sha256); empty
    /// for a model trained from scratch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub started_from: Vec<danie_model::pretrained::StartCheckpoint>,
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
        meta.validate()
            .map_err(|e| anyhow::anyhow!("{}: the `{KEY}` metadata: {e}", path.display()))?;
        Ok(meta)
    }

    /// Checks the metadata before any network is built from it: the model config within
    /// danie-model's ranges, and the data facts consistent with it and with the dataset (the
    /// class names index the model's outputs, the image size is the model's input).
    pub fn validate(&self) -> Result<(), String> {
        self.model.validate().map_err(|e| format!("model: {e}"))?;
        let classes = self.class_names.len();
        if i64::try_from(classes).ok() != Some(self.model.num_classes) {
            return Err(format!(
                "class_names lists {classes} classes, model.num_classes is {}",
                self.model.num_classes
            ));
        }
        if classes != self.dataset.num_classes() {
            return Err(format!(
                "class_names lists {classes} classes, dataset {} has {}",
                self.dataset,
                self.dataset.num_classes()
            ));
        }
        if i64::try_from(self.dataset.in_channels()).ok() != Some(self.model.in_channels) {
            return Err(format!(
                "model.in_channels is {}, dataset {} has {}-channel images",
                self.model.in_channels,
                self.dataset,
                self.dataset.in_channels()
            ));
        }
        if i64::try_from(self.image_size).ok() != Some(self.model.img_size) {
            return Err(format!(
                "image_size = {} differs from model.img_size = {}",
                self.image_size, self.model.img_size
            ));
        }
        danie_model::pretrained::validate_records(&self.started_from)
            .map_err(|e| format!("started_from: {e}"))?;
        if let Intensity::CtWindow { lo, hi } = self.intensity {
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return Err(format!(
                    "intensity window [{lo}, {hi}] must be finite with lo < hi"
                ));
            }
        }
        Ok(())
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// A valid metadata: the tiny preset on Synapse slices of 64 px (1 channel, 9 classes), for
    /// the tests of this crate and of danie-cli (the one copy of it).
    #[doc(hidden)]
    pub fn for_tests() -> Self {
        let mut model = DanieConfig::preset("tiny").unwrap();
        (model.in_channels, model.img_size) = (1, 64); // Synapse slices at 64 px
        Self {
            format: FORMAT.into(),
            model,
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
            started_from: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut v = serde_json::to_value(WeightsMeta::for_tests()).unwrap();
        edit(&mut v);
        let map = BTreeMap::from([(KEY.to_string(), v.to_string())]);
        match WeightsMeta::from_metadata(&map, Path::new("w.safetensors")) {
            Ok(_) => "ok".into(),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn metadata_is_validated_before_use() {
        assert_eq!(check(|_| {}), "ok");
        for (edit, needle) in [
            (
                (|v: &mut serde_json::Value| v["model"]["sap"]["embed_dim"] = 1_000_000.into())
                    as fn(&mut serde_json::Value),
                "sap.embed_dim",
            ),
            (
                |v| v["model"]["sap"]["depth"] = 1_000_000.into(),
                "sap.depth",
            ),
            (|v| v["model"]["img_size"] = 1.into(), "img_size"),
            (|v| v["image_size"] = 128.into(), "image_size = 128"),
            (|v| v["model"]["num_classes"] = 4.into(), "class_names"),
            (
                |v| v["class_names"] = serde_json::json!(["a"]),
                "class_names",
            ),
            (|v| v["model"]["in_channels"] = 3.into(), "in_channels"),
            (
                |v| v["intensity"] = serde_json::json!({"kind": "ct_window", "lo": 5.0, "hi": 5.0}),
                "intensity",
            ),
        ] {
            let e = check(edit);
            assert!(
                e.contains("w.safetensors") && e.contains(needle),
                "{needle}: {e}"
            );
        }
    }
}
