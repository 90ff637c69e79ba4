//! The seed corpus of each target: the real files in `tests/data/real`, the shipped configs,
//! small files generated here for formats without real ones, and `corpus/<target>/` (committed
//! seeds and the reproducers of past findings, re-checked on every run).
use std::path::{Path, PathBuf};

use danie_data::nifti::TypedArray;
use ndarray::{ArrayD, IxDyn};

use crate::mutate::gunzip;
use crate::targets::Target;

/// The repository root (the crate sits in `crates/danie-fuzz`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `crates/danie-fuzz/corpus/<target>`.
pub fn corpus_dir(target: &Target) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target.name)
}

/// Every seed of `target`, in a fixed order. `scratch` is a folder for generating files
/// through the writers (HDF5 needs a path).
pub fn seeds(target: &Target, scratch: &Path) -> Vec<Vec<u8>> {
    let mut out = generated(target, scratch);
    out.extend(files_in(&corpus_dir(target), |_| true));
    out.retain(|s| !s.is_empty());
    out
}

fn files_in(dir: &Path, keep: impl Fn(&Path) -> bool) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && keep(p))
        .filter(|p| !p.extension().is_some_and(|e| e == "txt" || e == "md"))
        .collect();
    paths.sort();
    paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

fn real(sub: &str, suffix: &str) -> Vec<Vec<u8>> {
    files_in(&repo_root().join("tests/data/real").join(sub), |p| {
        p.to_string_lossy().ends_with(suffix)
    })
}

fn generated(target: &Target, scratch: &Path) -> Vec<Vec<u8>> {
    match target.name {
        "nifti" => {
            let mut s = real("nifti", ".nii");
            // the smaller real .nii.gz files, decompressed: NIfTI-2 and big-endian among them
            for gz in real("nifti", ".nii.gz")
                .into_iter()
                .chain(real("totalseg", ".nii.gz"))
            {
                if gz.len() < 100_000 {
                    s.extend(gunzip(&gz));
                }
            }
            s
        }
        "nifti_gz" => {
            let mut s = real("nifti", ".nii.gz");
            s.extend(real("totalseg", ".nii.gz"));
            s
        }
        "npy" => arrays()
            .iter()
            .filter_map(|a| through(scratch, "a.npy", |p| danie_data::npy::write_npy(p, a)))
            .collect(),
        "npz" => [false, true]
            .iter()
            .filter_map(|&compressed| {
                let a = arrays();
                through(scratch, "a.npz", |p| {
                    danie_data::npy::write_npz(
                        p,
                        &[("image", &a[0]), ("label", &a[1]), ("other", &a[2])],
                        compressed,
                    )
                })
            })
            .collect(),
        "hdf5" => {
            let a = arrays();
            through(scratch, "a.h5", |p| {
                danie_data::h5::write_datasets(p, &[("image", &a[0]), ("label", &a[1])])
            })
            .into_iter()
            .collect()
        }
        "png" | "jpeg" | "bmp" => images(target.name),
        "safetensors" => safetensors(),
        "train_config" => files_in(&repo_root().join("configs"), |p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            n.ends_with(".toml") && n != "registry.toml" && n != "baselines.toml"
        }),
        "model_config" => danie_model::config::PRESETS
            .iter()
            .filter_map(|p| danie_model::DanieConfig::preset(p).ok())
            .map(|c| c.to_toml().into_bytes())
            .chain([b"preset = \"tiny\"\nnum_classes = 4\n[hap]\ncalibration = false\n".to_vec()])
            .collect(),
        _ => Vec::new(), // pth: committed seeds in corpus/pth
    }
}

/// Small arrays of the common element types and layouts.
fn arrays() -> Vec<TypedArray> {
    vec![
        TypedArray::from(ArrayD::from_shape_fn(IxDyn(&[6, 5]), |i| {
            i[0] as f32 * 0.5 - i[1] as f32
        })),
        TypedArray::from(ArrayD::from_shape_fn(IxDyn(&[6, 5]), |i| {
            ((i[0] + i[1]) % 3) as u8
        })),
        TypedArray::from(ArrayD::from_shape_fn(IxDyn(&[2, 3, 4]), |i| {
            (i[0] * 100 + i[1] * 10 + i[2]) as i16 - 50
        })),
    ]
}

/// The bytes a writer produces for a file named `name` in `scratch`.
fn through<E>(
    scratch: &Path,
    name: &str,
    write: impl FnOnce(&Path) -> Result<(), E>,
) -> Option<Vec<u8>> {
    let p = scratch.join(name);
    let _ = std::fs::remove_file(&p);
    write(&p).ok()?;
    std::fs::read(&p).ok()
}

fn images(kind: &str) -> Vec<Vec<u8>> {
    let fmt = match kind {
        "png" => image::ImageFormat::Png,
        "jpeg" => image::ImageFormat::Jpeg,
        _ => image::ImageFormat::Bmp,
    };
    let gray = image::DynamicImage::ImageLuma8(image::GrayImage::from_fn(9, 7, |x, y| {
        image::Luma([(x * 20 + y) as u8])
    }));
    let rgb = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(8, 6, |x, y| {
        image::Rgb([(x * 30) as u8, (y * 40) as u8, 128])
    }));
    [gray, rgb]
        .iter()
        .filter_map(|img| {
            let mut buf = std::io::Cursor::new(Vec::new());
            img.write_to(&mut buf, fmt).ok()?;
            Some(buf.into_inner())
        })
        .collect()
}

/// A plain safetensors file, and one carrying danie's weights metadata.
fn safetensors() -> Vec<Vec<u8>> {
    let file = |header: String, data: &[u8]| {
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend(header.into_bytes());
        out.extend_from_slice(data);
        out
    };
    let data: Vec<u8> = (0..10u32).flat_map(|v| (v as f32).to_le_bytes()).collect();
    let tensors = r#""w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"F32","shape":[4],"data_offsets":[24,40]}"#;
    let mut out = vec![file(format!("{{{tensors}}}"), &data)];
    if let Ok(model) = danie_model::DanieConfig::preset("tiny") {
        let meta = danie_train::weights_meta::WeightsMeta {
            format: danie_train::weights_meta::FORMAT.into(),
            model,
            dataset: danie_data::datasets::DatasetKind::Synapse,
            class_names: (0..9).map(|i| format!("c{i}")).collect(),
            image_size: 224,
            intensity: danie_train::weights_meta::Intensity::for_dataset(
                danie_data::datasets::DatasetKind::Synapse,
            ),
            epochs: 1,
            iterations: 10,
            started_from: Vec::new(),
        };
        if let Ok(map) = meta.to_metadata() {
            if let Ok(m) = serde_json::to_string(&map) {
                out.push(file(format!("{{\"__metadata__\":{m},{tensors}}}"), &data));
            }
        }
    }
    out
}
