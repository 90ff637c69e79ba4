//! `danie train --config FILE`: train DANIE as the run config says (see docs/training.md).
use std::path::PathBuf;

use anyhow::Context;
use danie_train::config::RunConfig;
use danie_train::trainer::{train, TrainOptions};

/// Arguments of `danie train`.
#[derive(clap::Args)]
pub struct Args {
    /// The run config (TOML), e.g. configs/synapse.toml.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: PathBuf,
    /// Continue the run in `output.run_dir` from its latest checkpoint.
    #[arg(long)]
    resume: bool,
    /// Override a config key (TOML value), e.g. `--set train.iterations=200`; repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Stop after this many epochs in total (with a checkpoint), keeping the configured
    /// schedule; continue later with --resume.
    #[arg(long, value_name = "N")]
    stop_after_epochs: Option<usize>,
    /// Start N processes of this command on this machine (ranks 0..N, as `torchrun
    /// --nproc-per-node N` does) and wait for them; not under torchrun or srun.
    #[arg(long, value_name = "N")]
    nproc_per_node: Option<usize>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(n) = args.nproc_per_node {
        return crate::launch::launch(n, crate::launch::timeout_for(&args.config, &args.set)?);
    }
    crate::launch::test_failure()?;
    let cfg = RunConfig::load(&args.config, &args.set)?;
    let out = train(
        &cfg,
        &TrainOptions {
            resume: args.resume,
            progress: true,
            stop_after_epochs: args.stop_after_epochs,
        },
    )
    .with_context(|| format!("training with {}", args.config.display()))?;
    if !out.is_main {
        return Ok(()); // rank 0 reports for the whole run
    }
    println!(
        "trained {} epochs / {} iterations; final loss {}; weights: {}",
        out.epochs_done,
        out.iteration,
        out.losses
            .last()
            .map_or("n/a".into(), |l| format!("{l:.4}")),
        out.weights.display()
    );
    if let Some(d) = out.last_val_dice {
        println!("last validation mean Dice: {:.2} %", 100.0 * d);
    }
    println!(
        "logs: {0}/log.csv, {0}/log.jsonl; curves: {0}/loss.png",
        cfg.output.run_dir.display()
    );
    Ok(())
}
