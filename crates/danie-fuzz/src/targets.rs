//! The readers under test: each takes a file path, as the CLI does, and its result is dropped.
//! Only a panic, an abort, runaway memory or time counts as a finding; an error is the right
//! answer to a damaged file.
use std::collections::BTreeMap;
use std::path::Path;

/// A reader entry point and the file name its inputs need.
#[derive(Clone, Copy)]
pub struct Target {
    /// Short name, used on the command line and for `corpus/<name>/`.
    pub name: &'static str,
    /// Extension the case file gets (readers choose their format by it).
    pub ext: &'static str,
    /// What the bytes are, for the format-aware mutations.
    pub format: Format,
    /// Runs the reader(s) on a file.
    pub run: fn(&Path),
}

/// The structure the mutator knows about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// NIfTI-1 / NIfTI-2 header + data.
    Nifti,
    /// gzip around NIfTI.
    NiftiGz,
    /// `.npy`: magic, header dict, data.
    Npy,
    /// zip of `.npy` members.
    Npz,
    /// HDF5.
    Hdf5,
    /// PNG chunks.
    Png,
    /// JPEG segments.
    Jpeg,
    /// BMP headers.
    Bmp,
    /// torch.save zip: `data.pkl` + storages.
    TorchZip,
    /// 8-byte header length + JSON header + data.
    Safetensors,
    /// TOML text.
    Toml,
}

/// Every target, in a fixed order.
pub const TARGETS: &[Target] = &[
    Target {
        name: "nifti",
        ext: "nii",
        format: Format::Nifti,
        run: nifti,
    },
    Target {
        name: "nifti_gz",
        ext: "nii.gz",
        format: Format::NiftiGz,
        run: nifti,
    },
    Target {
        name: "npy",
        ext: "npy",
        format: Format::Npy,
        run: npy,
    },
    Target {
        name: "npz",
        ext: "npz",
        format: Format::Npz,
        run: npz,
    },
    Target {
        name: "hdf5",
        ext: "h5",
        format: Format::Hdf5,
        run: hdf5,
    },
    Target {
        name: "png",
        ext: "png",
        format: Format::Png,
        run: image,
    },
    Target {
        name: "jpeg",
        ext: "jpg",
        format: Format::Jpeg,
        run: image,
    },
    Target {
        name: "bmp",
        ext: "bmp",
        format: Format::Bmp,
        run: image,
    },
    Target {
        name: "pth",
        ext: "pth",
        format: Format::TorchZip,
        run: weights,
    },
    Target {
        name: "safetensors",
        ext: "safetensors",
        format: Format::Safetensors,
        run: safetensors,
    },
    Target {
        name: "train_config",
        ext: "toml",
        format: Format::Toml,
        run: train_config,
    },
    Target {
        name: "model_config",
        ext: "toml",
        format: Format::Toml,
        run: model_config,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

fn nifti(path: &Path) {
    let _ = danie_data::nifti::read_header(path);
    if let Ok(img) = danie_data::nifti::read(path) {
        // what `danie inspect` and the dataset readers do next
        let _ = img.affine();
        let _ = img.spacing();
        let _ = img.labels();
        let _ = img.data.stats();
    }
}

fn npy(path: &Path) {
    if let Ok(a) = danie_data::npy::read_npy(path) {
        let _ = a.stats();
        let _ = a.to_labels(path);
    }
}

fn npz(path: &Path) {
    let _ = danie_data::npy::npz_names(path);
    let _ = danie_data::npy::read_npz(path);
    // the dataset readers' pair read
    let _ = danie_data::npy::read_npz_arrays(path, ["image", "label"]);
}

fn hdf5(path: &Path) {
    if let Ok(names) = danie_data::h5::dataset_names(path) {
        for n in names.iter().take(8) {
            let _ = danie_data::h5::read_dataset(path, n);
        }
    }
}

fn image(path: &Path) {
    let _ = danie_data::image_io::read_image(path);
    let _ = danie_data::image_io::read_rgb(path);
    let _ = danie_data::image_io::read_mask(path);
}

fn weights(path: &Path) {
    let _ = danie_model::weights::read_tensors(path);
}

fn safetensors(path: &Path) {
    let _ = danie_model::weights::read_tensors(path);
    if let Ok((_, meta)) = danie_model::weights::read_safetensors(path) {
        metadata(&meta, path);
    }
}

/// The weights metadata danie's own files carry: parsed and its model config validated, as
/// `danie predict` does before building the network.
fn metadata(map: &BTreeMap<String, String>, path: &Path) {
    if let Ok(meta) = danie_train::weights_meta::WeightsMeta::from_metadata(map, path) {
        let _ = meta.model.validate();
    }
}

fn train_config(path: &Path) {
    if let Ok(cfg) = danie_train::config::RunConfig::load(path, &[]) {
        let _ = danie_train::config::model_config(&cfg);
        let _ = danie_train::batches::loader_config(&cfg, true).validate();
        let _ = cfg.epochs_for(7);
        let _ = cfg.max_iterations(7);
    }
    // The text alone too: `load` stops at a missing data folder before some checks.
    if let Ok(text) = std::fs::read_to_string(path) {
        if let Ok(cfg) = danie_train::config::RunConfig::parse(&text, "fuzz") {
            let _ = cfg.validate();
            let _ = danie_train::config::model_config(&cfg);
            let _ = danie_train::batches::loader_config(&cfg, true).validate();
        }
    }
}

fn model_config(path: &Path) {
    if let Ok(cfg) = danie_model::DanieConfig::from_file(path) {
        let _ = cfg.validate();
        let _ = cfg.hap_channels();
    }
}
