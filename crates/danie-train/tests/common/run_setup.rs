//! A generated Synapse dataset and a run config around it, for the training tests (and
//! danie-cli's, through `acdc_bad_slice.rs`).
#![allow(dead_code)]
use std::path::{Path, PathBuf};

use danie_data::datasets::DatasetKind;
use danie_data::synthetic::{generate, SyntheticConfig};
use danie_train::config::RunConfig;

/// Generates a small Synapse layout (`cases` cases of `slices` slices of `size` px) in `dir`.
pub fn synapse_dataset(dir: &Path, cases: usize, size: usize, slices: usize) -> PathBuf {
    let root = dir.join("synapse");
    generate(
        DatasetKind::Synapse,
        &root,
        &SyntheticConfig {
            cases: Some(cases),
            size,
            slices: Some(slices),
            seed: 5,
            overwrite: false,
            progress: false,
        },
    )
    .expect("synthetic Synapse");
    root
}

/// Writes `configs/…`-style TOML for a tiny-preset CPU run on `root` and loads it.
pub fn tiny_config(dir: &Path, root: &Path, run: &str, extra_train: &str) -> RunConfig {
    let p = tiny_config_file(dir, "synapse", root, run, run, extra_train);
    RunConfig::load(&p, &[]).expect("valid test config")
}

/// Writes `dir/<name>.toml`: a tiny-preset CPU run of `dataset` on `root` into `run_dir` (32 px,
/// batches of 4, one worker, a checkpoint and a log line every step), `extra_train` added to
/// `[train]`.
pub fn tiny_config_file(
    dir: &Path,
    dataset: &str,
    root: &Path,
    name: &str,
    run_dir: &str,
    extra_train: &str,
) -> PathBuf {
    let text = format!(
        r#"
[data]
dataset = "{dataset}"
root = "{root}"
image_size = 32
batch_size = 4
num_workers = 1

[model]
preset = "tiny"

[train]
device = "cpu"
threads = 1
checkpoint_every = 1
log_every = 1
{extra_train}

[output]
run_dir = "{run_dir}"
"#,
        root = root.display()
    );
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}
