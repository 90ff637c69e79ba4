//! `cargo xtask reproduce --ablation SWITCH`: the paper's ablations, one shortened training per
//! value of the switch, on the demo data (or on `--dataset`), collected into one table.
//!
//! | switch | values (model config field) |
//! |---|---|
//! | fusion | Joint Preservation, addition, concatenation (`jp.fusion`) |
//! | order | channel-first, spatial-first (`hap.attention_order`) |
//! | calibration | with, without dynamic calibration (`hap.calibration`) |
//! | streams | SAP only, HAP only, both (`streams`) |
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Result};

use crate::process::step;
use crate::reproduce::{
    check_dataset, generate_demo_data, train_and_eval, write_config, Args, DemoSize,
};
use crate::run_folder::RunFolder;

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

/// Runs every variant and prints the table (also RUN/ablation.md and RUN/ablation.json).
pub fn run(danie: &Path, ab: Ablation, args: &Args) -> Result<()> {
    let run = RunFolder::create(&format!("ablation-{}", ab.as_str()))?;
    run.discard_if_empty_on_error(run_in(danie, ab, args, &run))
}

/// The ablation in the (new) run folder `run`.
fn run_in(danie: &Path, ab: Ablation, args: &Args, run: &RunFolder) -> Result<()> {
    // One base config; each variant differs by `--set` overrides only.
    let config = match (args.dataset, &args.data_root) {
        (Some(d), Some(root)) => {
            check_dataset(danie, d, root)?;
            write_config(Some(d), root, args, run.path())?
        }
        (Some(d), None) => bail!("--dataset {} needs --data-root DIR", d.as_str()),
        (None, _) => {
            let data = generate_demo_data(danie, run.path(), &DemoSize::new(args.quick))?;
            write_config(None, &data, args, run.path())?
        }
    };
    let mut hd95_unit = None;
    let mut rows = Vec::new();
    for var in ab.variants() {
        let dir = run
            .path()
            .join(var.key.replace('.', "_") + "-" + var.value.trim_matches('"'));
        std::fs::create_dir_all(&dir)?;
        let _s = step(&format!(
            "ablation {}: {} ({} = {})",
            ab.as_str(),
            var.label,
            var.key,
            var.value
        ));
        let t = Instant::now();
        let sets = [
            format!("model.overrides.{}={}", var.key, var.value),
            format!("output.run_dir={}", dir.join("train").display()),
        ];
        let s = train_and_eval(danie, &config, &dir, &sets)?;
        hd95_unit = hd95_unit.or(s.hd95_unit());
        rows.push(serde_json::json!({
            "variant": var.label,
            "override": format!("{} = {}", var.key, var.value),
            "mean_dsc_percent": s.mean_dsc_percent(),
            "mean_hd95": s.mean_hd95,
            "hd95_unit": s.hd95_unit(),
            "minutes": t.elapsed().as_secs_f64() / 60.0,
            "folder": dir,
        }));
    }
    let mut md = format!(
        "Ablation: {} ({}, schedule of {})\n\n| variant | mean DSC (%) | mean HD95{} | minutes |\n|---|---|---|---|\n",
        ab.as_str(),
        args.dataset.map_or("synthetic demo data", |d| d.as_str()),
        config.display(),
        hd95_unit.map(|u| format!(" ({u})")).unwrap_or_default(),
    );
    for r in &rows {
        md += &format!(
            "| {} | {:.2} | {} | {:.1} |\n",
            r["variant"].as_str().unwrap_or("?"),
            r["mean_dsc_percent"].as_f64().unwrap_or(f64::NAN),
            r["mean_hd95"]
                .as_f64()
                .map_or("-".into(), |h| format!("{h:.2}")),
            r["minutes"].as_f64().unwrap_or(f64::NAN),
        );
    }
    danie_fs::write_bytes(&run.path().join("ablation.md"), &md)?;
    danie_fs::write_bytes(
        &run.path().join("ablation.json"),
        serde_json::to_string_pretty(
            &serde_json::json!({"ablation": ab.as_str(), "config": config, "rows": rows}),
        )?,
    )?;
    println!("{md}");
    println!("run folder: {}", run.path().display());
    Ok(())
}
