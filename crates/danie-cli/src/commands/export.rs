//! `danie export --weights W --format torchscript|onnx -o FILE`: the model as TorchScript or
//! ONNX, with the deploy JSON `FILE.json` beside it (docs/deploy.md).
use std::path::PathBuf;

use danie_train::export::{check_outputs, default_python, export, ExportFormat, ExportOptions};
use danie_train::state_dict::{load_any_weights, read_network_config};
use tch::Device;

/// The formats on the command line.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    /// TorchScript (torch.jit.load, libtorch).
    Torchscript,
    /// ONNX, opset 17, dynamic batch (onnxruntime, TensorRT, Triton); needs a Python with torch
    /// and onnx.
    Onnx,
}

/// Arguments of `danie export`.
#[derive(clap::Args)]
pub struct Args {
    /// Weights written by `danie train`, or a PyTorch state_dict (.pth / .pt / .safetensors)
    /// with --config.
    #[arg(long, short = 'w', value_name = "FILE")]
    weights: PathBuf,
    /// Output format.
    #[arg(long, value_enum)]
    format: Format,
    /// The model file to write; the deploy JSON goes to FILE.json.
    #[arg(long = "output", short = 'o', value_name = "FILE")]
    output: PathBuf,
    /// Replace existing files.
    #[arg(long)]
    overwrite: bool,
    /// The run config a bare PyTorch state_dict was trained with (model preset, dataset).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Python with torch and onnx for the ONNX export (default: $DANIE_PYTHON, else python3).
    #[arg(long, value_name = "PATH")]
    python: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let opts = ExportOptions {
        format: match args.format {
            Format::Torchscript => ExportFormat::TorchScript,
            Format::Onnx => ExportFormat::Onnx,
        },
        output: args.output,
        overwrite: args.overwrite,
        python: default_python(args.python.as_deref()),
    };
    // Output names first: a collision fails before the weights are read.
    check_outputs(&opts)?;
    let cfg = match &args.config {
        Some(p) => Some(read_network_config(p)?),
        None => None,
    };
    let loaded = load_any_weights(&args.weights, cfg.as_ref(), Device::Cpu)?;
    let report = export(loaded, &args.weights, &opts)?;
    let fmt = |checks: &[danie_train::export::BatchCheck]| {
        checks
            .iter()
            .map(|c| {
                format!(
                    "batch {}: {:.1e} (largest logit {:.1})",
                    c.batch, c.max_abs_diff, c.scale
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "TorchScript module vs danie, largest logit difference: {}",
        fmt(&report.torchscript_checks)
    );
    if opts.format == ExportFormat::Onnx {
        if report.onnx_checks.is_empty() {
            println!("onnxruntime is not installed in that Python: the ONNX model was checked by onnx.checker only");
        } else {
            println!(
                "onnxruntime vs TorchScript, largest logit difference: {}",
                fmt(&report.onnx_checks)
            );
        }
    }
    println!("wrote {}", report.model.display());
    println!("wrote {}", report.deploy_json.display());
    Ok(())
}
