//! Checkpoints: everything needed to continue a run exactly.
//!
//! `run_dir/checkpoints/epoch_NNNN/` holds `model.safetensors` (weights + the [`WeightsMeta`]
//! that lets `danie predict` rebuild the model), `optimizer.safetensors` (momentum / moment
//! buffers and step count) and `state.json` ([`TrainState`]: epochs done, iteration, seed,
//! config hash). Each file is written through `danie_fs` (an exclusive temporary, renamed); `checkpoints/latest.json`
//! is written last and names the newest complete checkpoint, so a crash at any point leaves the
//! previous checkpoint usable. The two newest checkpoints are kept. `run_dir/model.safetensors`
//! is a copy of the newest weights, the file `danie eval` and `danie predict` read by default.
//!
//! No RNG state needs saving: data order and augmentation derive from (seed, epoch, index), and
//! libtorch's generator is re-seeded at the start of every epoch from (seed, epoch).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use danie_model::weights::{read_safetensors, write_safetensors};
use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::weights_meta::WeightsMeta;

/// Progress of a run at a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Completed epochs (the next epoch to run is this number, 0-based).
    pub epochs_done: usize,
    /// Optimiser steps done.
    pub iteration: usize,
    /// The run's seed.
    pub seed: u64,
    /// Hash of the config's data, model and train sections (resume warns when it differs).
    pub config_hash: String,
    /// Mean loss of the last completed epoch.
    pub last_epoch_loss: f64,
    /// danie version that wrote it.
    pub danie_version: String,
}

/// A loaded checkpoint.
pub struct Checkpoint {
    /// Progress.
    pub state: TrainState,
    /// Model variables by name (CPU).
    pub model: Vec<(String, Tensor)>,
    /// Optimiser state by name (CPU).
    pub optimizer: Vec<(String, Tensor)>,
    /// The folder it was read from.
    pub dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Latest {
    dir: String,
}

/// How many checkpoint folders to keep.
const KEEP: usize = 2;

/// Writes a checkpoint for `state.epochs_done` and points `latest.json` at it.
pub fn save_checkpoint(
    run_dir: &Path,
    state: &TrainState,
    model: &[(String, Tensor)],
    meta: &WeightsMeta,
    optimizer: &[(String, Tensor)],
) -> anyhow::Result<PathBuf> {
    let root = run_dir.join("checkpoints");
    let name = format!("epoch_{:04}", state.epochs_done);
    let dir = root.join(&name);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let meta_map = meta.to_metadata()?;
    write_safetensors(&dir.join("model.safetensors"), model, &meta_map)?;
    write_safetensors(
        &dir.join("optimizer.safetensors"),
        optimizer,
        &BTreeMap::new(),
    )?;
    let json = serde_json::to_vec_pretty(state)?;
    danie_fs::write_bytes(&dir.join("state.json"), &json)?;
    let latest = serde_json::to_vec(&Latest { dir: name.clone() })?;
    danie_fs::write_bytes(&root.join("latest.json"), &latest)?;
    write_safetensors(&run_dir.join("model.safetensors"), model, &meta_map)?;
    prune(&root, &name)?;
    Ok(dir)
}

/// Removes all but the [`KEEP`] newest `epoch_*` folders (never the current one).
fn prune(root: &Path, current: &str) -> anyhow::Result<()> {
    let mut dirs: Vec<String> = std::fs::read_dir(root)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("epoch_"))
        .collect();
    dirs.sort();
    let n = dirs.len();
    for d in dirs.into_iter().take(n.saturating_sub(KEEP)) {
        if d != current {
            std::fs::remove_dir_all(root.join(&d))
                .with_context(|| format!("cannot remove old checkpoint {d}"))?;
        }
    }
    Ok(())
}

/// Loads the newest complete checkpoint of `run_dir`, or says why there is none.
pub fn load_latest(run_dir: &Path) -> anyhow::Result<Checkpoint> {
    let root = run_dir.join("checkpoints");
    let latest_path = root.join("latest.json");
    let text = danie_fs::read_text(&latest_path, danie_fs::MAX_SMALL_TEXT).with_context(|| {
        format!(
            "no checkpoint to resume from: cannot read {}",
            latest_path.display()
        )
    })?;
    let latest: Latest = serde_json::from_str(&text)
        .with_context(|| format!("{} is corrupt", latest_path.display()))?;
    // Only a checkpoint of this run: `epoch_NNNN` beside latest.json, never a path elsewhere.
    let digits = latest.dir.strip_prefix("epoch_").unwrap_or_default();
    anyhow::ensure!(
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()),
        "{} is corrupt: it names `{}`, not a checkpoint folder `epoch_NNNN` of this run",
        latest_path.display(),
        latest.dir
    );
    let dir = root.join(&latest.dir);
    let state_path = dir.join("state.json");
    let state: TrainState = serde_json::from_str(
        &danie_fs::read_text(&state_path, danie_fs::MAX_SMALL_TEXT)
            .with_context(|| format!("cannot read {}", state_path.display()))?,
    )
    .with_context(|| format!("{} is corrupt", state_path.display()))?;
    let (model, _) = read_safetensors(&dir.join("model.safetensors"))?;
    let (optimizer, _) = read_safetensors(&dir.join("optimizer.safetensors"))?;
    Ok(Checkpoint {
        state,
        model,
        optimizer,
        dir,
    })
}

/// FNV-1a 64 of a string, as 16 hex digits (a stable, dependency-free config fingerprint).
pub fn fingerprint(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn meta() -> WeightsMeta {
        WeightsMeta::for_tests()
    }

    #[test]
    fn keeps_two_newest_and_latest_points_at_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let w = vec![(
            "w".to_string(),
            Tensor::ones([2], (Kind::Float, Device::Cpu)),
        )];
        for e in 1..=3 {
            let state = TrainState {
                epochs_done: e,
                iteration: 10 * e,
                seed: 1,
                config_hash: fingerprint("x"),
                last_epoch_loss: 0.5,
                danie_version: "t".into(),
            };
            save_checkpoint(dir.path(), &state, &w, &meta(), &[]).unwrap();
        }
        let ck = load_latest(dir.path()).unwrap();
        assert_eq!(ck.state.iteration, 30);
        assert!(!dir.path().join("checkpoints/epoch_0001").exists());
        assert!(dir.path().join("checkpoints/epoch_0002").exists());
        assert!(dir.path().join("model.safetensors").exists());
    }

    #[test]
    fn missing_checkpoint_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = format!("{:#}", load_latest(dir.path()).err().unwrap());
        assert!(e.contains("no checkpoint to resume from"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn links_planted_at_checkpoint_names_are_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir_all(run.join("checkpoints/epoch_0001")).unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "precious").unwrap();
        let planted = [
            run.join("model.safetensors"),
            run.join("checkpoints/latest.json"),
            run.join("checkpoints/epoch_0001/state.json"),
            run.join("checkpoints/epoch_0001/optimizer.safetensors"),
        ];
        for p in &planted {
            std::os::unix::fs::symlink(&victim, p).unwrap();
        }
        let w = vec![(
            "w".to_string(),
            Tensor::ones([2], (Kind::Float, Device::Cpu)),
        )];
        let state = TrainState {
            epochs_done: 1,
            iteration: 4,
            seed: 1,
            config_hash: fingerprint("x"),
            last_epoch_loss: 0.5,
            danie_version: "t".into(),
        };
        save_checkpoint(&run, &state, &w, &meta(), &[]).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        for p in &planted {
            let t = std::fs::symlink_metadata(p).unwrap().file_type();
            assert!(t.is_file(), "{} is still a link", p.display());
        }
        assert_eq!(load_latest(&run).unwrap().state, state);
    }
}
