//! `danie data check` validates a dataset folder; `danie data generate` writes a synthetic one.
//!
//! `check` opens every split the layout has, reads every sample (in parallel), and reports
//! counts, shapes, label ids present against those allowed, and intensity ranges, as a table
//! (and JSON with `--json`). Every problem (missing partner, empty list, bad label id,
//! shape mismatch, NaN, unreadable file) is listed with its file, one line each; a missing file
//! fails only its own case (`open_keeping_missing`), so the good cases are still counted. Any
//! problem exits non-zero.
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::bail;
use danie_data::datasets::{open_keeping_missing, DatasetKind, Split};
use danie_data::synthetic::{generate, SyntheticConfig};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;

/// Arguments of `danie data`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: DataCommand,
}

#[derive(clap::Subcommand)]
enum DataCommand {
    /// Validate a dataset folder: counts, missing partners, label ids, shapes.
    Check(CheckArgs),
    /// Write a small synthetic dataset in a published layout.
    Generate(GenerateArgs),
}

/// Arguments of `danie data check`.
#[derive(clap::Args)]
struct CheckArgs {
    /// Layout: synapse, synapse-raw, acdc, acdc-npz, isic2017, isic2018, glas.
    #[arg(long)]
    dataset: DatasetKind,
    /// Dataset folder.
    #[arg(long)]
    root: PathBuf,
    /// Also write the summary as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Arguments of `danie data generate`.
#[derive(clap::Args)]
struct GenerateArgs {
    /// Layout: synapse, synapse-raw, acdc, acdc-npz, isic2017, isic2018, glas.
    #[arg(long)]
    dataset: DatasetKind,
    /// Output folder (must be empty or absent unless --overwrite).
    #[arg(long)]
    out: PathBuf,
    /// Number of patients (Synapse, ACDC: default 30, 20) or images (ISIC, GlaS: 40, 30).
    #[arg(long)]
    cases: Option<usize>,
    /// Image side in pixels.
    #[arg(long, default_value_t = 128)]
    size: usize,
    /// Slices per volume (default: Synapse 16, ACDC 8).
    #[arg(long)]
    slices: Option<usize>,
    /// Random seed.
    #[arg(long, default_value_t = 1234)]
    seed: u64,
    /// Write into a non-empty folder, replacing files of the same names.
    #[arg(long)]
    overwrite: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        DataCommand::Check(a) => check(a),
        DataCommand::Generate(a) => run_generate(a),
    }
}

fn run_generate(a: GenerateArgs) -> anyhow::Result<()> {
    let config = SyntheticConfig {
        cases: a.cases,
        size: a.size,
        slices: a.slices,
        seed: a.seed,
        overwrite: a.overwrite,
        progress: true,
    };
    let start = std::time::Instant::now();
    let g = generate(a.dataset, &a.out, &config)?;
    let parts: Vec<String> = g.cases.iter().map(|(s, n)| format!("{s} {n}")).collect();
    println!(
        "wrote {} ({} files; {}: {}) to {} in {:.1} s",
        g.kind,
        g.files,
        if g.kind.is_volumetric() {
            "patients"
        } else {
            "images"
        },
        parts.join(", "),
        g.root.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Summary of one split.
#[derive(Serialize, Default)]
struct SplitReport {
    split: String,
    /// Items read: `unit` says what they are.
    read: usize,
    /// `volumes`, `slices` (TransUNet's Synapse / MT-UNet's ACDC training slices) or `images`.
    unit: &'static str,
    /// 2D slices (or images) in total.
    slices: usize,
    /// Distinct shapes seen (at most 5 kept).
    shapes: BTreeSet<Vec<usize>>,
    /// Label ids present.
    labels: BTreeSet<u8>,
    /// Intensity range after preprocessing.
    min: f32,
    max: f32,
    /// Problems, each naming its file.
    problems: Vec<String>,
}

#[derive(Serialize)]
struct CheckReport {
    dataset: String,
    root: PathBuf,
    classes: Vec<String>,
    splits: Vec<SplitReport>,
}

fn check(a: CheckArgs) -> anyhow::Result<()> {
    let kind = a.dataset;
    let mut report = CheckReport {
        dataset: kind.to_string(),
        root: a.root.clone(),
        classes: kind.class_names().iter().map(|s| s.to_string()).collect(),
        splits: Vec::new(),
    };
    for &split in kind.splits() {
        report.splits.push(check_split(kind, &a.root, split));
    }
    print_report(&report);
    if let Some(path) = &a.json {
        let text = serde_json::to_string_pretty(&report)?;
        danie_fs::write_bytes(path, text)?;
    }
    let problems: usize = report.splits.iter().map(|s| s.problems.len()).sum();
    if problems > 0 {
        bail!("{problems} problem(s) in {} ({kind})", a.root.display());
    }
    Ok(())
}

/// Reads every sample of one split, collecting what it finds.
fn check_split(kind: DatasetKind, root: &std::path::Path, split: Split) -> SplitReport {
    let rep = Mutex::new(SplitReport {
        split: split.to_string(),
        min: f32::INFINITY,
        max: f32::NEG_INFINITY,
        ..Default::default()
    });
    let record = |shape: Vec<usize>, slices: usize, labels: &BTreeSet<u8>, lo: f32, hi: f32| {
        let mut r = rep.lock().expect("report lock");
        r.read += 1;
        r.slices += slices;
        if r.shapes.len() < 5 {
            r.shapes.insert(shape);
        }
        r.labels.extend(labels);
        r.min = r.min.min(lo);
        r.max = r.max.max(hi);
    };
    let problem = |msg: String| rep.lock().expect("report lock").problems.push(msg);
    let bar = |n: usize| {
        let pb = ProgressBar::new(n as u64);
        pb.set_style(
            ProgressStyle::with_template("checking {msg} [{bar:30}] {pos}/{len}")
                .expect("valid template"),
        );
        pb.set_message(format!("{kind} {split}"));
        pb
    };
    let range = |v: &mut dyn Iterator<Item = f32>| {
        v.fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        })
    };
    let use_volumes = kind.has_volumes(split);
    rep.lock().expect("report lock").unit = match (use_volumes, kind.is_volumetric()) {
        (true, _) => "volumes",
        (false, true) => "slices",
        (false, false) => "images",
    };
    if use_volumes {
        match open_keeping_missing(|| kind.open_volumes(root, split)) {
            Err(e) => problem(e.to_string()),
            Ok(ds) => {
                let pb = bar(ds.len());
                (0..ds.len()).into_par_iter().for_each(|i| {
                    match ds.volume(i) {
                        Ok(v) => {
                            let labels: BTreeSet<u8> = v.label.iter().copied().collect();
                            let (lo, hi) = range(&mut v.image.iter().copied());
                            record(
                                v.image.shape().to_vec(),
                                v.image.shape()[0],
                                &labels,
                                lo,
                                hi,
                            );
                        }
                        Err(e) => problem(e.to_string()),
                    }
                    pb.inc(1);
                });
                pb.finish_and_clear();
            }
        }
    } else {
        match open_keeping_missing(|| kind.open_slices(root, split)) {
            Err(e) => problem(e.to_string()),
            Ok(ds) => {
                let pb = bar(ds.len());
                (0..ds.len()).into_par_iter().for_each(|i| {
                    match ds.sample(i) {
                        Ok(s) => {
                            let labels: BTreeSet<u8> = s.label.iter().copied().collect();
                            let (lo, hi) = range(&mut s.image.iter().copied());
                            record(s.image.shape().to_vec(), 1, &labels, lo, hi);
                        }
                        Err(e) => problem(e.to_string()),
                    }
                    pb.inc(1);
                });
                pb.finish_and_clear();
            }
        }
    }
    let mut r = rep.into_inner().expect("report lock");
    r.problems.sort();
    if r.read == 0 {
        r.min = 0.0;
        r.max = 0.0;
    }
    r
}

fn print_report(r: &CheckReport) {
    println!("dataset {} at {}", r.dataset, r.root.display());
    let classes: Vec<String> = r
        .classes
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{i} {c}"))
        .collect();
    println!("classes: {}", classes.join(", "));
    println!(
        "{:<6} {:>13} {:>7}  {:<28} {:<20} {:<17} {:>8}",
        "split", "read", "slices", "shapes", "label ids", "intensity", "problems"
    );
    for s in &r.splits {
        let shapes: Vec<String> = s.shapes.iter().map(|v| format!("{v:?}")).collect();
        let mut shapes = shapes.join(" ");
        if shapes.len() > 28 {
            shapes.truncate(25);
            shapes.push_str("...");
        }
        let labels: Vec<String> = s.labels.iter().map(|l| l.to_string()).collect();
        println!(
            "{:<6} {:>13} {:>7}  {:<28} {:<20} {:<17} {:>8}",
            s.split,
            format!("{} {}", s.read, s.unit),
            s.slices,
            shapes,
            labels.join(","),
            format!("[{:.3}, {:.3}]", s.min, s.max),
            s.problems.len()
        );
    }
    for s in &r.splits {
        for p in &s.problems {
            println!("problem ({}): {p}", s.split);
        }
    }
}
