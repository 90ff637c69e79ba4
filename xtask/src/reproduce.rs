//! `cargo xtask reproduce`: the demo (no arguments), a paper protocol on a dataset folder, or
//! the paper's ablations; every output in one run folder that it names at the end.
//!
//! It orchestrates the release `danie` binary (built here after set-up, or `DANIE_BIN`):
//! - demo: `danie data generate` (synthetic Synapse layout) into `RUN/data`, a run config
//!   `RUN/config.toml` (tiny preset, CPU, a short schedule), `danie train`, `danie eval`;
//! - `--dataset D --data-root DIR`: `danie data check` first, then train and eval with
//!   `configs/D.toml` and `--set` overrides (variant, device, data root, run folder);
//! - `--seeds N` (default 1 for the demo, 3 with `--dataset`): N trainings with seeds base,
//!   base+1, ... (`seeds.rs`), reported as mean ± std per class and overall;
//! - `--ablation fusion|order|calibration|streams`: one shortened demo-size training per switch
//!   value (`ablation.rs`), collected into one table with paired tests against the base.
//!
//! The pieces both share (settings, data, config, one training) are in `protocol.rs`.
use std::path::Path;
use std::time::Instant;

use anyhow::Result;

use crate::ablation::Ablation;
use crate::protocol::{danie_binary, prepare_config, Settings};
use crate::run_folder::RunFolder;
use crate::seeds::{train_seeds, CSV_HEADER};

#[derive(clap::Args, Clone)]
pub struct Args {
    #[command(flatten)]
    pub settings: Settings,
    /// Run an ablation of the paper instead (on the demo data, or on --dataset when given).
    #[arg(long, value_enum)]
    pub ablation: Option<Ablation>,
}

pub fn run(args: &Args) -> Result<()> {
    let danie = danie_binary()?;
    let settings = &args.settings;
    if let Some(ab) = args.ablation {
        return crate::ablation::run(&danie, ab, settings);
    }
    let run = RunFolder::create(match settings.dataset {
        Some(d) => d.as_str(),
        None => "demo",
    })?;
    run.discard_if_empty_on_error(run_in(&danie, settings, &run))
}

/// The demo or a dataset's protocol in the (new) run folder `run`.
fn run_in(danie: &Path, args: &Settings, run: &RunFolder) -> Result<()> {
    let start = Instant::now();
    let config = prepare_config(danie, args, run.path())?;
    let n = args.seed_count();
    let seeds = train_seeds(danie, &config, run.path(), &[], n, "")?;
    let minutes = start.elapsed().as_secs_f64() / 60.0;
    let overall = seeds.overall();
    if let [one] = seeds.runs.as_slice() {
        // One seed: eval's own table, beside the published rows.
        println!("{}", one.summary.table_md.trim_end());
        println!(
            "\n{} in {minutes:.1} min (data, training and evaluation; build excluded)",
            one.summary.headline()
        );
    } else {
        println!("{}", seeds.markdown().trim_end());
        let mut line = format!("\nmean DSC {} %", overall.dsc_percent.text());
        if let (Some(h), Some(u)) = (overall.hd95, seeds.hd95_unit()) {
            line += &format!(", mean HD95 {} {u}", h.text());
        }
        println!(
            "{line} over {n} seeds in {minutes:.1} min (data, training and evaluation; build excluded)"
        );
    }
    if args.dataset.is_none() {
        println!(
            "(demo: synthetic phantoms, not CT; the published rows are real Synapse results and are shown for layout only, not for comparison)"
        );
    }
    let mut json = seeds.to_json();
    json["command"] = serde_json::json!(std::env::args().collect::<Vec<_>>());
    json["config"] = serde_json::json!(config);
    json["minutes"] = serde_json::json!(minutes);
    danie_fs::write_bytes(
        &run.path().join("reproduce.json"),
        serde_json::to_string_pretty(&json)?,
    )?;
    danie_fs::write_bytes(
        &run.path().join("reproduce.csv"),
        format!("{CSV_HEADER}\n{}", seeds.csv_rows("")),
    )?;
    println!("run folder: {}", run.path().display());
    Ok(())
}
