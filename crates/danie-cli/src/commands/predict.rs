//! `danie predict --weights W -i IN -o OUT`: segment NIfTI volumes or 2D images; a folder can be
//! split over processes (`--num-parts K --part-id I`, or the ranks of a torchrun launch).
use std::path::PathBuf;

use danie_train::device_spec::DeviceSpec;
use danie_train::distributed::{self, Backend, Dist};
use danie_train::predict::{predict_share, PredictOptions, PredictPlan, Share};
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
    /// Split the inputs (sorted by name) into K parts and write only part --part-id: inputs
    /// I, I + K, I + 2K, ... Run K such processes (any order, any machine sharing the folders)
    /// and every output is written once. Not with a launcher's WORLD_SIZE, whose ranks split
    /// the inputs the same way by themselves.
    #[arg(long, value_name = "K", requires = "part_id")]
    num_parts: Option<usize>,
    /// Which part of --num-parts this process writes, from 0 to K - 1.
    #[arg(long, value_name = "I", requires = "num_parts")]
    part_id: Option<usize>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let device = DeviceSpec::parse(&args.device)
        .map_err(|e| anyhow::anyhow!("--device: {e}"))?
        .resolve()?;
    let launched = std::env::var_os("WORLD_SIZE").is_some();
    let part = match (args.num_parts, args.part_id) {
        (Some(k), Some(i)) => {
            anyhow::ensure!(
                !launched,
                "--num-parts/--part-id split the inputs by hand, but WORLD_SIZE is set (a \
                 launcher such as torchrun), whose ranks split them already: drop \
                 --num-parts/--part-id, or unset WORLD_SIZE"
            );
            Some(Share::part(i, k)?)
        }
        (None, None) => None,
        // clap's `requires` refuses this first; kept for a caller that bypasses it.
        _ => anyhow::bail!("give --num-parts and --part-id together"),
    };
    let dist = match part {
        Some(_) => None,
        // Gloo whatever the device: the ranks exchange a few bytes per case in CPU tensors.
        None => Dist::join(
            Backend::Gloo,
            distributed::timeout(distributed::DEFAULT_TIMEOUT_S)?,
        )?,
    };
    let share = part.unwrap_or_else(|| Share::of(dist.as_ref()));
    let device = match &dist {
        Some(d) => d.device(device)?,
        None => device,
    };
    // Output names first: a collision fails before the weights are read or anything written.
    let plan = share.agree(PredictPlan::for_share(
        &args.input,
        &args.output,
        args.overwrite,
        &share,
    ))?;
    let loaded = share.agree((|| {
        let cfg = match &args.config {
            Some(p) => Some(read_network_config(p)?),
            None => None,
        };
        load_any_weights(&args.weights, cfg.as_ref(), device)
    })())?;
    let written = predict_share(
        &loaded,
        &plan,
        &PredictOptions {
            tta: args.tta,
            overwrite: args.overwrite,
            batch: args.batch.max(1),
            bf16: args.bf16,
        },
        &share,
    )?;
    if share.is_main() {
        for w in &written {
            println!("wrote {}", w.display());
        }
        if share.count() > 1 {
            // Under a launcher the last round's agreement says every rank finished; a part
            // knows only of itself.
            let (who, rest) = match dist {
                Some(_) => ("rank", "; every rank finished its share"),
                None => ("part", ""),
            };
            println!(
                "{who} {} of {} wrote {} of the {} outputs{rest}",
                share.index(),
                share.count(),
                written.len(),
                plan.total()
            );
        }
    }
    Ok(())
}
