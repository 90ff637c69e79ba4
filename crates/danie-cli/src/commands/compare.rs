//! `danie compare RUN_A RUN_B`: two evaluations of the same cases compared case by case — per
//! class and overall, the mean Dice of each, the difference B - A, the two-sided paired Wilcoxon
//! signed-rank p-value and a bootstrap 95 % interval of the mean difference
//! (docs/training.md, "Comparing two runs").
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use danie_metrics::stats::paired::{csv_row, markdown_table, name_classes, CSV_HEADER};
use danie_metrics::stats::{compare_runs, CaseDice, BOOTSTRAP_RESAMPLES};

/// Arguments of `danie compare`.
#[derive(clap::Args)]
pub struct Args {
    /// Run A: an eval folder (with cases.csv), a run folder with eval/cases.csv, or a cases.csv.
    #[arg(value_name = "RUN_A")]
    run_a: PathBuf,
    /// Run B, the same way; differences are B - A.
    #[arg(value_name = "RUN_B")]
    run_b: PathBuf,
    /// Print JSON (Dice in percent, keys say so) instead of the table.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print CSV (one row per class, then `overall`) instead of the table.
    #[arg(long)]
    csv: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let (path_a, path_b) = (cases_csv(&args.run_a)?, cases_csv(&args.run_b)?);
    let (a, b) = (read(&path_a)?, read(&path_b)?);
    let (name_a, name_b) = (path_a.display().to_string(), path_b.display().to_string());
    let mut rows = compare_runs(&a, &b, &name_a, &name_b)?;
    // Class names from eval's summary.json beside either cases.csv, where it has them.
    let names = class_names(&path_a);
    let names = if names.is_empty() {
        class_names(&path_b)
    } else {
        names
    };
    name_classes(&mut rows, &names);
    if args.json {
        let j = serde_json::json!({
            "run_a": name_a,
            "run_b": name_b,
            "difference": "B - A, Dice in percentage points",
            "test": "two-sided paired Wilcoxon signed-rank (scipy.stats.wilcoxon defaults)",
            "interval": format!("95 % percentile bootstrap of the mean difference, {BOOTSTRAP_RESAMPLES} resamples"),
            "rows": rows.iter().map(|r| r.to_json()).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&j)?);
    } else if args.csv {
        println!("{CSV_HEADER}");
        for r in &rows {
            println!("{}", csv_row(r));
        }
    } else {
        print!("{}", markdown_table(&rows, &name_a, &name_b));
        println!(
            "Cases paired by name; `overall` compares each case's mean Dice over its classes. \
             p: two-sided Wilcoxon signed-rank test; CI: 95 % bootstrap interval of the mean \
             difference ({BOOTSTRAP_RESAMPLES} resamples)."
        );
    }
    Ok(())
}

/// The cases.csv a RUN argument names (the file, DIR/cases.csv or DIR/eval/cases.csv).
fn cases_csv(p: &Path) -> anyhow::Result<PathBuf> {
    if p.is_file() {
        return Ok(p.to_path_buf());
    }
    if !p.exists() {
        bail!("{} does not exist", p.display());
    }
    for c in [p.join("cases.csv"), p.join("eval").join("cases.csv")] {
        if c.is_file() {
            return Ok(c);
        }
    }
    bail!(
        "{} has no cases.csv (nor eval/cases.csv): give an evaluation folder written by `danie eval`",
        p.display()
    )
}

fn read(path: &Path) -> anyhow::Result<CaseDice> {
    let text = danie_fs::read_text(path, 1 << 30)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(CaseDice::parse(&text, &path.display().to_string())?)
}

/// Label -> class name from `summary.json` beside `cases_csv` (empty when absent or unnamed).
fn class_names(cases_csv: &Path) -> BTreeMap<String, String> {
    let Some(dir) = cases_csv.parent() else {
        return BTreeMap::new();
    };
    let Ok(text) = danie_fs::read_text(&dir.join("summary.json"), 64 << 20) else {
        return BTreeMap::new();
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return BTreeMap::new();
    };
    v["scores"]["classes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            Some((
                c["label"].as_u64()?.to_string(),
                c["name"].as_str()?.to_string(),
            ))
        })
        .collect()
}
