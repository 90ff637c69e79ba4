//! `cargo xtask reproduce --ablation SWITCH`: the paper's ablations, one shortened training per
//! value of the switch, on the demo data (or on `--dataset`), collected into one table.
//!
//! | switch | values (model config field) |
//! |---|---|
//! | fusion | Joint Preservation, addition, concatenation (`jp.fusion`) |
//! | order | channel-first, spatial-first (`hap.attention_order`) |
//! | calibration | with, without dynamic calibration (`hap.calibration`) |
//! | streams | SAP only, HAP only, both (`streams`) |
//!
//! Each variant trains `--seeds N` times (`seeds.rs`) and is reported as mean ± std over
//! seeds; each variant after the first is compared with the first (the full model) by a paired
//! per-case test on Dice: each case's Dice is first pooled as its mean over the seeds, then the
//! two-sided Wilcoxon signed-rank test and the bootstrap 95 % interval of the mean difference
//! run over the cases (`danie_metrics::stats`, as `danie compare` does).
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use danie_metrics::csv_field;
use danie_metrics::stats::paired::{self, OVERALL};
use danie_metrics::stats::{compare_runs, BOOTSTRAP_RESAMPLES};

use crate::protocol::{prepare_config, Settings};
use crate::run_folder::RunFolder;
use crate::seeds::{self, train_seeds};

/// Which ablation of the paper.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Ablation {
    /// Joint Preservation vs addition vs concatenation.
    Fusion,
    /// Channel-first vs spatial-first attention.
    Order,
    /// With and without dynamic calibration.
    Calibration,
    /// SAP only, HAP only, both.
    Streams,
}

/// One row of an ablation: a label and the model override that makes it.
pub struct Variant {
    pub label: &'static str,
    /// `[model.overrides]` key (dotted) and TOML value.
    pub key: &'static str,
    pub value: &'static str,
}

impl Ablation {
    pub fn as_str(self) -> &'static str {
        match self {
            Ablation::Fusion => "fusion",
            Ablation::Order => "order",
            Ablation::Calibration => "calibration",
            Ablation::Streams => "streams",
        }
    }

    /// The variants, the full model's setting first.
    pub fn variants(self) -> Vec<Variant> {
        let v = |label, key, value| Variant { label, key, value };
        match self {
            Ablation::Fusion => vec![
                v("Joint Preservation", "jp.fusion", "\"jp\""),
                v("addition", "jp.fusion", "\"add\""),
                v("concatenation", "jp.fusion", "\"concat\""),
            ],
            Ablation::Order => vec![
                v("channel first", "hap.attention_order", "\"channel_first\""),
                v("spatial first", "hap.attention_order", "\"spatial_first\""),
            ],
            Ablation::Calibration => vec![
                v("with dynamic calibration", "hap.calibration", "true"),
                v("without dynamic calibration", "hap.calibration", "false"),
            ],
            Ablation::Streams => vec![
                v("SAP + HAP", "streams", "\"both\""),
                v("SAP only", "streams", "\"sap\""),
                v("HAP only", "streams", "\"hap\""),
            ],
        }
    }
}

/// Runs every variant and prints the table (also RUN/ablation.md, .json and .csv).
pub fn run(danie: &Path, ab: Ablation, args: &Settings) -> Result<()> {
    let run = RunFolder::create(&format!("ablation-{}", ab.as_str()))?;
    run.discard_if_empty_on_error(run_in(danie, ab, args, &run))
}

/// The ablation in the (new) run folder `run`.
fn run_in(danie: &Path, ab: Ablation, args: &Settings, run: &RunFolder) -> Result<()> {
    // One base config; each variant differs by `--set` overrides only.
    let config = prepare_config(danie, args, run.path())?;
    let n = args.seed_count();
    let mut results = Vec::new();
    for var in ab.variants() {
        let dir = run
            .path()
            .join(var.key.replace('.', "_") + "-" + var.value.trim_matches('"'));
        let t = Instant::now();
        let sets = [format!("model.overrides.{}={}", var.key, var.value)];
        let label = format!(
            "ablation {}: {} ({} = {}), ",
            ab.as_str(),
            var.label,
            var.key,
            var.value
        );
        let runs = train_seeds(danie, &config, &dir, &sets, n, &label)?;
        results.push((var, dir, runs, t.elapsed().as_secs_f64() / 60.0));
    }

    // Each variant against the first, per case (pooled over seeds).
    let base = results[0].2.pooled_cases()?;
    let mut tests = Vec::new();
    for (var, _, runs, _) in &results[1..] {
        let mut rows = compare_runs(&base, &runs.pooled_cases()?, results[0].0.label, var.label)?;
        paired::name_classes(&mut rows, &runs.class_names());
        tests.push((var.label, rows));
    }

    let unit = results[0].2.hd95_unit();
    let seeds_text = results[0]
        .2
        .seeds()
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let mut md = format!(
        "Ablation: {} ({}, schedule of {}; seeds {seeds_text}{})\n\n\
         | variant | mean DSC (%) | mean HD95{} | vs {} (points) | 95 % CI | Wilcoxon p | minutes |\n\
         |---|---|---|---|---|---|---|\n",
        ab.as_str(),
        args.dataset.map_or("synthetic demo data", |d| d.as_str()),
        config.display(),
        if n > 1 { ": mean ± sample std over seeds" } else { "" },
        unit.as_ref().map(|u| format!(" ({u})")).unwrap_or_default(),
        results[0].0.label,
    );
    let mut rows_json = Vec::new();
    let mut csv = format!("variant,{}\n", seeds::CSV_HEADER);
    let mut tests_csv = format!("variant,base,{}\n", paired::CSV_HEADER);
    for (i, (var, dir, runs, minutes)) in results.iter().enumerate() {
        let o = runs.overall();
        let test = (i > 0).then(|| &tests[i - 1].1);
        let overall_test = test.and_then(|rows| rows.iter().find(|r| r.class == OVERALL));
        let (diff, ci, p) = match overall_test {
            Some(r) => (
                format!("{:+.2}", r.mean_diff * 100.0),
                r.ci95.map_or("-".into(), |(l, h)| {
                    format!("[{:+.2}, {:+.2}]", l * 100.0, h * 100.0)
                }),
                paired::p_text(r.wilcoxon.map(|w| w.p_value)),
            ),
            None => ("(base)".into(), "-".into(), "-".into()),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {diff} | {ci} | {p} | {minutes:.1} |",
            var.label,
            o.dsc_percent.text(),
            o.hd95.map_or("-".into(), |h| h.text()),
        );
        csv += &runs.csv_rows(&format!("{},", csv_field(var.label)));
        if let Some(rows) = test {
            for r in rows {
                tests_csv += &format!(
                    "{},{},{}\n",
                    csv_field(var.label),
                    csv_field(results[0].0.label),
                    paired::csv_row(r)
                );
            }
        }
        let mut row = runs.to_json();
        row["variant"] = serde_json::json!(var.label);
        row["override"] = serde_json::json!(format!("{} = {}", var.key, var.value));
        row["minutes"] = serde_json::json!(minutes);
        row["folder"] = serde_json::json!(dir);
        row["vs_base"] = serde_json::json!(
            test.map(|rows| rows.iter().map(|r| r.to_json()).collect::<Vec<_>>())
        );
        rows_json.push(row);
    }
    let _ = write!(
        md,
        "\nvs {}: difference of the mean Dice, case by case (each case's Dice pooled as its mean \
         over the seeds); p: two-sided Wilcoxon signed-rank test over the cases; CI: 95 % \
         bootstrap interval of the mean difference ({BOOTSTRAP_RESAMPLES} resamples). Per class \
         in ablation_tests.csv.\n",
        results[0].0.label
    );
    danie_fs::write_bytes(&run.path().join("ablation.md"), &md)?;
    danie_fs::write_bytes(&run.path().join("ablation.csv"), &csv)?;
    danie_fs::write_bytes(&run.path().join("ablation_tests.csv"), &tests_csv)?;
    danie_fs::write_bytes(
        &run.path().join("ablation.json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "ablation": ab.as_str(),
            "config": config,
            "seeds": results[0].2.seeds(),
            "test": "two-sided paired Wilcoxon signed-rank over cases, each case's Dice the mean over seeds; 95 % percentile bootstrap of the mean difference (variant - base)",
            "rows": rows_json,
        }))?,
    )?;
    println!("{md}");
    println!("run folder: {}", run.path().display());
    Ok(())
}
