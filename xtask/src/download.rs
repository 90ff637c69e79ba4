//! `cargo xtask download dataset|weights [NAME]`: fetch what configs/registry.toml lists.
//!
//! Without NAME it lists the entries of that kind. Files land in `DEST/NAME/` (default `data/`
//! for datasets, `weights/` for weights, both ignored by git), verified by `fetch`. Weights
//! are kept as published (torchvision's `.pth`, timm's `.safetensors`): danie reads both
//! itself (its torch.save reader), by registry name from `weights/NAME/` (`[model] pretrained`).
//! Entries behind a login print their manual steps and exit non-zero.
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::fetch::{fetch, Outcome};
use crate::process::repo_root;
use crate::registry::{Entry, Kind, Registry};

#[derive(clap::Args)]
pub struct Args {
    /// What to fetch.
    #[arg(value_enum)]
    pub kind: Kind,
    /// Registry name (e.g. isic2018, resnet50); omitted: list the registry's entries of that kind.
    pub name: Option<String>,
    /// Folder to put files in (default: data/ or weights/ under the repository).
    #[arg(long)]
    pub dest: Option<PathBuf>,
    /// Registry file to read.
    #[arg(long, default_value_os_t = repo_root().join("configs/registry.toml"))]
    pub registry: PathBuf,
    /// Mirror to fetch from instead of each file's URL: BASE_URL/FILE_NAME.
    #[arg(long)]
    pub base_url: Option<String>,
}

pub fn run(args: &Args) -> Result<()> {
    let reg = Registry::load(&args.registry)?;
    let Some(name) = &args.name else {
        list(&reg, args.kind);
        return Ok(());
    };
    let entry = reg.find(args.kind, name)?;
    if let Some(steps) = &entry.manual {
        eprintln!(
            "{} ({}) cannot be downloaded automatically.",
            entry.name, entry.licence
        );
        eprintln!("{}", steps.trim_end());
        bail!("{} needs the manual steps above", entry.name);
    }
    let dest = args.dest.clone().unwrap_or_else(|| {
        repo_root().join(match args.kind {
            Kind::Dataset => "data",
            Kind::Weights => "weights",
        })
    });
    eprintln!("{} {}: {}", args.kind.as_str(), entry.name, entry.notes);
    eprintln!("    licence: {}", entry.licence);
    fetch_entry(entry, &dest, args.base_url.as_deref())?;
    println!("{}", dest.join(&entry.name).display());
    Ok(())
}

/// Fetches every file of `entry` into `dest/NAME/` (verified; files already there and
/// verified are not fetched again); returns their paths.
pub fn fetch_entry(entry: &Entry, dest: &Path, base_url: Option<&str>) -> Result<Vec<PathBuf>> {
    let dest = dest.join(&entry.name);
    let mut fetched = Vec::new();
    for file in &entry.files {
        let url = match base_url {
            Some(base) => format!("{}/{}", base.trim_end_matches('/'), file.local_name()),
            None => file.url.clone(),
        };
        eprintln!("==> {url}");
        let (outcome, verified) = fetch(file, &url, &dest)?;
        let path = dest.join(file.local_name());
        match outcome {
            Outcome::AlreadyPresent => eprintln!(
                "    {} is already there (verified: {}); not fetched again",
                path.display(),
                verified.what
            ),
            Outcome::Fetched => eprintln!(
                "    {} (verified by: {}; sha256 {})",
                path.display(),
                verified.what,
                verified.sha256
            ),
        }
        fetched.push(path);
    }
    Ok(fetched)
}

/// Prints the registry's entries of one kind as a table.
fn list(reg: &Registry, kind: Kind) {
    println!("| name | files | verified by | licence |");
    println!("|---|---|---|---|");
    for e in reg.entries.iter().filter(|e| e.kind == kind) {
        let how = if e.manual.is_some() {
            "manual download".to_string()
        } else if e.files.iter().all(|f| !f.sha256.is_empty()) {
            "sha256 + size".to_string()
        } else if e.files.iter().all(|f| !f.sha256_prefix.is_empty()) {
            "sha256 prefix, then pinned".to_string()
        } else {
            "pinned at first download".to_string()
        };
        println!("| {} | {} | {how} | {} |", e.name, e.files.len(), e.licence);
    }
}
