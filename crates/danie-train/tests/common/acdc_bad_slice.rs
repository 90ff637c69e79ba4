//! A small MT-UNet ACDC layout, a 2-epoch CPU run config over it and ways to damage one training
//! slice: the setup of the bad-sample tests, shared by danie-train's `loader_failure` (the
//! library) and danie-cli's `train_bad_sample` (the `danie train` command). Needs `run_setup.rs`
//! beside it as the crate's `run_setup` module.
#![allow(dead_code)]
use std::path::{Path, PathBuf};

use danie_data::datasets::DatasetKind;
use danie_data::nifti::TypedArray;
use danie_data::npy::write_npz;
use danie_data::synthetic::{generate, SyntheticConfig};
use ndarray::{ArrayD, IxDyn};

/// Generates the layout in `dir/acdc`: 3 patients, 3 slices of 32 px per frame.
pub fn acdc_dataset(dir: &Path) -> PathBuf {
    let root = dir.join("acdc");
    generate(
        DatasetKind::AcdcNpz,
        &root,
        &SyntheticConfig {
            cases: Some(3),
            size: 32,
            slices: Some(3),
            seed: 9,
            overwrite: false,
            progress: false,
        },
    )
    .expect("synthetic ACDC");
    root
}

/// Writes `dir/<run>.toml`: a 2-epoch tiny-preset CPU run on `root` into `dir/<run>`, with a
/// checkpoint and a validation every epoch.
pub fn run_config_file(dir: &Path, root: &Path, run: &str) -> PathBuf {
    let run_dir = dir.join(run).display().to_string();
    let extra = "epochs = 2\nval_every = 1";
    crate::run_setup::tiny_config_file(dir, "acdc-npz", root, run, &run_dir, extra)
}

/// The second training slice file, by name.
pub fn a_training_slice(root: &Path) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("train"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files[1].clone()
}

#[derive(Clone, Copy, Debug)]
pub enum Damage {
    /// Not an archive at all: the reader's error.
    Garbage,
    /// A 0 x 0 slice: a worker panicked on it before the readers refused empty axes (a
    /// reader that rejects it cleanly must fail the run just the same).
    Empty,
}

pub fn damage(path: &Path, how: Damage) {
    match how {
        Damage::Garbage => std::fs::write(path, b"this is not an npz archive").unwrap(),
        Damage::Empty => {
            let img = TypedArray::from(ArrayD::<f32>::zeros(IxDyn(&[0, 0])));
            let lab = TypedArray::from(ArrayD::<u8>::zeros(IxDyn(&[0, 0])));
            std::fs::remove_file(path).unwrap();
            write_npz(path, &[("img", &img), ("label", &lab)], false).unwrap();
        }
    }
}

/// The file name without its extension: what the errors name.
pub fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}
