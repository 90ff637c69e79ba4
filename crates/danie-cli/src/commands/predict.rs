//! `danie predict --weights W -i IN -o OUT`: segment NIfTI volumes or 2D images.
use std::path::PathBuf;

use danie_train::device_spec::DeviceSpec;
use danie_train::predict::{predict_plan, PredictOptions, PredictPlan};
use danie_train::state_dict::{load_any_weights, read_network_config};

/// Arguments of `danie predict`.
#[derive(clap::Args)]
pub struct Args {
    /// Weights written by `danie train` (the model config travels inside), or a PyTorch
    /// state_dict (.pth / .pt / .safetensors) with --config.
    #[arg(long, short = 'w', value_name = "FILE")]
    weights: PathBuf,
    /// The run config a bare PyTorch state_dict was trained with (model preset, dataset).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// A .nii / .nii.gz volume, a .png / .jpg / .bmp image, or a folder of them.
    #[arg(long = "input", short = 'i', value_name = "PATH")]
    input: PathBuf,
    /// Output file (.nii.gz label map or .png mask) or, for a folder input, output folder.
    #[arg(long = "output", short = 'o', value_name = "PATH")]
    output: PathBuf,
    /// Flip test-time augmentation (mean softmax of identity, horizontal, vertical flips).
    #[arg(long)]
    tta: bool,
    /// Replace existing outputs (otherwise an existing output is an error).
    #[arg(long)]
    overwrite: bool,
    /// `auto`, `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Slices per forward pass.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// bf16 autocast (CUDA only).
    #[arg(long)]
    bf16: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let device = DeviceSpec::parse(&args.device)
        .map_err(|e| anyhow::anyhow!("--device: {e}"))?
        .resolve()?;
    // Output names first: a collision fails before the weights are read or anything written.
    let plan = PredictPlan::new(&args.input, &args.output, args.overwrite)?;
    let cfg = match &args.config {
        Some(p) => Some(read_network_config(p)?),
        None => None,
    };
    let loaded = load_any_weights(&args.weights, cfg.as_ref(), device)?;
    let written = predict_plan(
        &loaded,
        &plan,
        &PredictOptions {
            tta: args.tta,
            overwrite: args.overwrite,
            batch: args.batch.max(1),
            bf16: args.bf16,
        },
    )?;
    for w in &written {
        println!("wrote {}", w.display());
    }
    Ok(())
}
