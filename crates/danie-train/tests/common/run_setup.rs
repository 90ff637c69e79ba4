//! A generated Synapse dataset and a run config around it, for the training tests.
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
    let text = format!(
        r#"
[data]
dataset = "synapse"
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
run_dir = "{run}"
"#,
        root = root.display()
    );
    let p = dir.join(format!("{run}.toml"));
    std::fs::write(&p, text).unwrap();
    RunConfig::load(&p, &[]).expect("valid test config")
}
