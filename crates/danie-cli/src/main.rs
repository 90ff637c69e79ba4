//! `danie`: train, evaluate and apply DANIE, and the data and metric tools around it.
//!
//! The commands follow nnU-Net's few predictable verbs (train, predict, evaluate) plus the
//! inspection tools a researcher reaches for: `metrics`, `inspect`, `data check|generate`, `info`.
//! Each subcommand lives in its own file under `commands/`.
use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;
mod launch;
mod version;

#[derive(Parser)]
#[command(
    name = "danie",
    about = "DANIE medical image segmentation: train, eval, predict, metrics",
    disable_version_flag = true,
    arg_required_else_help = true
)]
struct Cli {
    /// Print danie and libtorch versions and the devices libtorch sees (CUDA is probed only here,
    /// so other commands do not pay for it).
    #[arg(short = 'V', long)]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model from a TOML config.
    Train(commands::train::Args),
    /// Evaluate trained weights on a dataset's test split and print the paper-format table.
    ///
    /// Under a launcher (torchrun's RANK, WORLD_SIZE, ... set) the processes split the cases and
    /// rank 0 alone writes and prints the tables, equal to one process's (docs/distributed.md).
    Eval(commands::eval::Args),
    /// Segment NIfTI volumes or 2D images with trained weights.
    ///
    /// A folder can be split over processes: --num-parts K --part-id I, or the ranks of a
    /// launcher (torchrun's RANK, WORLD_SIZE, ... set); every output is written once.
    Predict(commands::predict::Args),
    /// Export trained weights as TorchScript or ONNX, with a deploy JSON beside them.
    Export(commands::export::Args),
    /// Compare predicted and reference label maps (Dice, IoU, HD, HD95, ASD, ASSD).
    Metrics(commands::metrics::Args),
    /// Compare two evaluated runs case by case: Dice, difference, Wilcoxon p, bootstrap CI.
    Compare(commands::compare::Args),
    /// Print shape, dtype, spacing, affine, intensity range and labels of an image file.
    Inspect(commands::inspect::Args),
    /// Validate or generate dataset folders.
    Data(commands::data::Args),
    /// Print a model preset's parameters and GFLOPs per block.
    Info(commands::info::Args),
    /// Print danie and libtorch versions and the devices libtorch sees.
    Version,
}

fn main() -> ExitCode {
    restore_sigpipe();
    // Before any thread: large tensors reuse freed pages (danie_train::heap).
    danie_train::heap::keep_freed_memory();
    let cli = Cli::parse();
    let Some(command) = cli.command else {
        println!("{}", version::long_version());
        return ExitCode::SUCCESS;
    };
    let result = match command {
        Command::Train(a) => commands::train::run(a),
        Command::Eval(a) => commands::eval::run(a),
        Command::Predict(a) => commands::predict::run(a),
        Command::Export(a) => commands::export::run(a),
        Command::Metrics(a) => commands::metrics::run(a),
        Command::Compare(a) => commands::compare::run(a),
        Command::Inspect(a) => commands::inspect::run(a),
        Command::Data(a) => commands::data::run(a),
        Command::Info(a) => commands::info::run(a),
        Command::Version => {
            println!("{}", version::long_version());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One write: `eprintln!` sends each piece of the chain separately, and a line of
            // another process sharing the stream (a launcher's other ranks) could split it.
            let _ = std::io::stderr().write_all(format!("error: {e:#}\n").as_bytes());
            ExitCode::FAILURE
        }
    }
}

/// Rust starts programs with SIGPIPE ignored, so writing to a closed pipe (`danie inspect f |
/// head`) fails with EPIPE and `println!` panics. Restoring the default disposition makes danie
/// end quietly there, as `cat` and `ls` do (the shell sees status 141 and prints nothing). One
/// call covers the output of every command, and loses nothing: each file danie writes goes
/// through a temporary renamed into place, so being ended mid-run never leaves a partial file.
#[cfg(unix)]
fn restore_sigpipe() {
    // SAFETY: the first statement of main, before any thread or pipe exists; SIG_DFL is a
    // valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn restore_sigpipe() {}
