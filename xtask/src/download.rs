//! `cargo xtask download dataset|weights [NAME]`: fetch what configs/registry.toml lists.
//!
//! Without NAME it lists the entries of that kind. Files land in `DEST/NAME/` (default `data/`
//! for datasets, `weights/` for weights, both ignored by git), verified by `fetch`. Weights
//! whose entry says `convert = "pth-to-safetensors"` are converted on arrival to
//! `DEST/NAME/NAME.safetensors` with reference/convert_weights.py (the project's Python), which
//! is what danie loads. Entries behind a login print their manual steps and exit non-zero.
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::fetch::{fetch, Outcome};
use crate::process::{repo_root, run_checked};
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
    let dest = args
        .dest
        .clone()
        .unwrap_or_else(|| {
            repo_root().join(match args.kind {
                Kind::Dataset => "data",
                Kind::Weights => "weights",
            })
        })
        .join(&entry.name);
    eprintln!("{} {}: {}", args.kind.as_str(), entry.name, entry.notes);
    eprintln!("    licence: {}", entry.licence);
    let mut fetched = Vec::new();
    for file in &entry.files {
        let url = match &args.base_url {
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
    if entry.convert.is_some() {
        for src in &fetched {
            convert(entry, src)?;
        }
    }
    println!("{}", dest.display());
    Ok(())
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

/// Converts a downloaded .pth to `NAME.safetensors` beside it (unless that is newer already).
fn convert(entry: &Entry, src: &Path) -> Result<()> {
    let out = src.with_file_name(format!("{}.safetensors", entry.name));
    let newer = |a: &Path, b: &Path| -> bool {
        let t = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
        matches!((t(a), t(b)), (Some(x), Some(y)) if x >= y)
    };
    if out.exists() && newer(&out, src) {
        eprintln!("    {} is already converted", out.display());
        return Ok(());
    }
    let python = std::env::var_os("DANIE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    let script = repo_root().join("reference/convert_weights.py");
    // Python writes into an exclusive temporary beside `out` (danie_fs), renamed on success.
    danie_fs::write_atomic_via_path(&out, |tmp| {
        let mut cmd = Command::new(&python);
        cmd.arg(&script)
            .arg("--in")
            .arg(src)
            .arg("--out")
            .arg(tmp)
            .arg("--prefix")
            .arg(&entry.key_prefix);
        for d in &entry.drop_prefixes {
            cmd.arg("--drop").arg(d);
        }
        // Its JSON summary goes to stderr: stdout carries only the destination folder.
        cmd.stdout(std::process::Stdio::from(std::io::stderr()));
        run_checked(&mut cmd)
    })
    .map_err(|e| match e {
        danie_fs::AtomicError::Write(e) => e,
        danie_fs::AtomicError::Io(e) => e.into(),
    })
    .with_context(|| {
        format!(
            "converting {} to safetensors with {} (set DANIE_PYTHON to a Python with torch and safetensors, or run `cargo xtask setup --test-deps`)",
            src.display(),
            python.display()
        )
    })?;
    eprintln!("    converted to {}", out.display());
    Ok(())
}
