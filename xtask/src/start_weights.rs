//! The pretrained checkpoints a protocol starts from: `cargo xtask reproduce --dataset D`
//! fetches the registry names that configs/D.toml's `[model] pretrained` names (with
//! `"imagenet"`, the preset's pair from configs/pretrained.toml) before training, verified
//! through the registry; files already there and verified are not fetched again. `danie train`
//! then finds them by name in the same folder (`DANIE_WEIGHTS_DIR`, set for it here).
//!
//! Without network it stops with the one manual step: download URL to PATH, then rerun.
//!
//! Environment: `DANIE_WEIGHTS_DIR` (default `weights/` under the repository), `DANIE_REGISTRY`
//! (default configs/registry.toml).
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::download::fetch_entry;
use crate::process::repo_root;
use crate::registry::{Kind, Registry};

/// Each preset's (name, SAP, HAP) registry names from configs/pretrained.toml.
pub fn imagenet_pairs() -> Result<Vec<(String, String, String)>> {
    let path = repo_root().join("configs/pretrained.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let t: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let mut v = Vec::new();
    for (preset, pair) in &t {
        let get = |k: &str| {
            pair.get(k)
                .and_then(toml::Value::as_str)
                .map(String::from)
                .with_context(|| format!("{}: [{preset}] lacks {k}", path.display()))
        };
        v.push((preset.clone(), get("sap")?, get("hap")?));
    }
    Ok(v)
}

/// Whether a `pretrained` source names a file rather than a registry entry (as danie decides:
/// a path separator or a weight-file extension).
fn is_path(source: &str) -> bool {
    source.contains('/')
        || source.contains('\\')
        || [".safetensors", ".pth", ".pt", ".bin", ".ckpt"]
            .iter()
            .any(|e| source.to_ascii_lowercase().ends_with(e))
}

/// The (stream, registry name) pairs a run config starts from; `variant` replaces its preset.
pub fn registry_names(
    config: &toml::Table,
    variant: Option<&str>,
) -> Result<Vec<(String, String)>> {
    let model = config.get("model").and_then(toml::Value::as_table);
    let preset = variant
        .map(String::from)
        .or_else(|| {
            model
                .and_then(|m| m.get("preset"))
                .and_then(toml::Value::as_str)
                .map(String::from)
        })
        .unwrap_or_else(|| "b".into());
    let named: Vec<(String, String)> = match model.and_then(|m| m.get("pretrained")) {
        None => vec![],
        Some(toml::Value::String(s)) if s == "none" => vec![],
        Some(toml::Value::String(s)) if s == "imagenet" => {
            let pairs = imagenet_pairs()?;
            let Some((_, sap, hap)) = pairs.into_iter().find(|(p, _, _)| *p == preset) else {
                bail!("preset {preset:?} has no ImageNet checkpoints in configs/pretrained.toml");
            };
            vec![("sap".into(), sap), ("hap".into(), hap)]
        }
        Some(toml::Value::Table(t)) => ["sap", "hap"]
            .iter()
            .filter_map(|k| {
                t.get(*k)
                    .and_then(toml::Value::as_str)
                    .map(|s| (k.to_string(), s.to_string()))
            })
            .collect(),
        Some(other) => {
            bail!("[model] pretrained = {other} is not \"none\", \"imagenet\" or a table")
        }
    };
    Ok(named.into_iter().filter(|(_, s)| !is_path(s)).collect())
}

/// The folder weights are fetched into and danie reads registry names from.
pub fn weights_dir() -> PathBuf {
    std::env::var_os("DANIE_WEIGHTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("weights"))
}

/// Fetches the checkpoints `config` (a run config file) starts from, says which, and points
/// the `danie` processes started afterwards at them (`DANIE_WEIGHTS_DIR`).
pub fn fetch_for(config: &Path, variant: Option<&str>) -> Result<()> {
    let text =
        std::fs::read_to_string(config).with_context(|| format!("reading {}", config.display()))?;
    let t: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", config.display()))?;
    let names = registry_names(&t, variant)
        .with_context(|| format!("{}: [model] pretrained", config.display()))?;
    if names.is_empty() {
        eprintln!(
            "pretrained: none ({} trains from scratch)",
            config.display()
        );
        return Ok(());
    }
    let registry = std::env::var_os("DANIE_REGISTRY")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("configs/registry.toml"));
    let reg = Registry::load(&registry)?;
    let dest = weights_dir();
    for (stream, name) in &names {
        let entry = reg.find(Kind::Weights, name)?;
        if let Some(steps) = &entry.manual {
            bail!(
                "{name} cannot be downloaded automatically:\n{}",
                steps.trim_end()
            );
        }
        let files = fetch_entry(entry, &dest, None).map_err(|e| {
            let steps: Vec<String> = entry
                .files
                .iter()
                .map(|f| {
                    let check = if f.sha256.is_empty() {
                        String::new()
                    } else {
                        format!(" (sha256 {})", f.sha256)
                    };
                    format!("download {} to {}{check}", f.url, dest.join(&entry.name).join(f.local_name()).display())
                })
                .collect();
            anyhow::anyhow!(
                "cannot fetch the {stream} checkpoint {name}: {e:#}\nwithout network: {}, then rerun this command",
                steps.join("; ")
            )
        })?;
        for f in files {
            eprintln!("pretrained {stream}: {name} ({})", f.display());
        }
    }
    // The danie processes this command starts read registry names from the same folder.
    std::env::set_var("DANIE_WEIGHTS_DIR", &dest);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_pair_is_a_registry_weights_entry() {
        let reg = Registry::load(&repo_root().join("configs/registry.toml")).unwrap();
        for (_, sap, hap) in imagenet_pairs().unwrap() {
            reg.find(Kind::Weights, &sap).unwrap();
            reg.find(Kind::Weights, &hap).unwrap();
        }
    }

    #[test]
    fn names_come_from_the_config_and_the_preset() {
        let t = |s: &str| -> toml::Table { toml::from_str(s).unwrap() };
        assert!(registry_names(&t("[model]\npreset = \"tiny\""), None)
            .unwrap()
            .is_empty());
        let b = registry_names(
            &t("[model]\npreset = \"b\"\npretrained = \"imagenet\""),
            None,
        )
        .unwrap();
        assert_eq!(
            b,
            [
                ("sap".to_string(), "vit_small_patch16_224".to_string()),
                ("hap".to_string(), "resnet18".to_string())
            ]
        );
        let l = registry_names(
            &t("[model]\npreset = \"b\"\npretrained = \"imagenet\""),
            Some("l"),
        )
        .unwrap();
        assert_eq!(l[1].1, "resnet50");
        let files = t("[model]\npretrained = { sap = \"my/vit.pth\", hap = \"resnet34\" }");
        assert_eq!(
            registry_names(&files, None).unwrap(),
            [("hap".to_string(), "resnet34".to_string())]
        );
        assert!(registry_names(
            &t("[model]\npreset = \"tiny\"\npretrained = \"imagenet\""),
            None
        )
        .is_err());
    }

    #[test]
    fn shipped_protocols_start_from_imagenet_and_the_demo_from_scratch() {
        for d in ["synapse", "acdc", "isic2017", "isic2018", "glas"] {
            let p = repo_root().join(format!("configs/{d}.toml"));
            let t: toml::Table = toml::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            assert_eq!(registry_names(&t, None).unwrap().len(), 2, "{d}");
        }
        let p = repo_root().join("configs/demo.toml");
        let t: toml::Table = toml::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert!(registry_names(&t, None).unwrap().is_empty());
    }
}
