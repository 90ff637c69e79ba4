//! `danie info`: parameters and GFLOPs per block of a model preset (or config file), beside
//! the published sizes of TransUNet, Swin-UNet, HiFormer-B and MISSFormer.
use std::path::PathBuf;

use anyhow::Context;
use danie_model::flops::{model_cost, ModelCost, BASELINES, MAX_COST_SIZE};
use danie_model::DanieConfig;

/// Arguments of `danie info`.
#[derive(clap::Args)]
pub struct Args {
    /// Model preset: tiny, s, b or l.
    #[arg(long, default_value = "b")]
    model: String,
    /// A model config TOML (may start with `preset = "name"`); overrides --model.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Input height and width (a multiple of 16, at most 16384).
    #[arg(long, default_value_t = 224, allow_negative_numbers = true)]
    size: i64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Display names of the cost blocks.
fn label(name: &str) -> &str {
    match name {
        "sap" => "SAP (ViT)",
        "hap" => "HAP (ResNet + attention)",
        "hap_attention" => "  of which attention + calibration",
        "es" => "ES (channel attention)",
        "eh" => "EH (non-local)",
        "jp" => "JP aggregation",
        "decoder" => "Decoder + head",
        other => other,
    }
}

fn table(name: &str, cost: &ModelCost) -> String {
    let mut s = format!(
        "DANIE-{} at {}x{} (GFLOPs = multiply-accumulates / 1e9, the papers' convention)\n",
        name.to_uppercase(),
        cost.input[0],
        cost.input[1]
    );
    s.push_str(&format!(
        "{:<36} {:>12} {:>10}\n",
        "block", "params (M)", "GFLOPs"
    ));
    for b in &cost.blocks {
        s.push_str(&format!(
            "{:<36} {:>12.2} {:>10.2}\n",
            label(&b.name),
            b.params as f64 / 1e6,
            b.macs as f64 / 1e9
        ));
    }
    s.push_str(&format!(
        "{:<36} {:>12.2} {:>10.2}\n",
        "total",
        cost.total_params as f64 / 1e6,
        cost.total_macs as f64 / 1e9
    ));
    s.push_str("\npublished, at 224x224\n");
    for (n, p, g) in BASELINES {
        s.push_str(&format!("{:<36} {:>12.2} {:>10.2}\n", n, p, g));
    }
    s
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let cfg = match &args.config {
        Some(p) => DanieConfig::from_file(p)?,
        None => DanieConfig::preset(&args.model)?,
    };
    if !(16..=MAX_COST_SIZE).contains(&args.size) || args.size % 16 != 0 {
        anyhow::bail!(
            "--size must be a multiple of 16 in 16..={MAX_COST_SIZE}, got {}",
            args.size
        );
    }
    let cost = model_cost(&cfg, args.size, args.size)
        .with_context(|| format!("costing the model at --size {}", args.size))?;
    let name = if cfg.name.is_empty() {
        "custom".to_string()
    } else {
        cfg.name.clone()
    };
    if args.json {
        let baselines: Vec<_> = BASELINES
            .iter()
            .map(|(n, p, g)| serde_json::json!({"name": n, "params_m": p, "gflops": g}))
            .collect();
        let out = serde_json::json!({
            "model": name,
            "config": cfg,
            "gflops_convention": "multiply-accumulates / 1e9 (thop-style, as the papers report)",
            "cost": cost,
            "total_params_m": cost.total_params as f64 / 1e6,
            "total_gflops": cost.total_macs as f64 / 1e9,
            "baselines_224": baselines,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&out).context("serialising the cost")?
        );
    } else {
        print!("{}", table(&name, &cost));
    }
    Ok(())
}
