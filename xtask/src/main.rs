//! `cargo xtask`: the project's automation, in Rust so that it needs nothing but cargo.
//!
//! This crate must build before libtorch exists (it installs it), so it never depends on tch.
use anyhow::Result;
use clap::{Parser, Subcommand};

mod ablation;
mod bench;
mod docs;
mod download;
mod fetch;
mod fuzz;
mod process;
mod protocol;
mod registry;
mod reproduce;
mod run_folder;
mod run_summary;
mod seeds;
mod setup;
mod start_weights;
mod test;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "danie project tasks: setup, test, reproduce, download, bench, fuzz, docs"
)]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what the workspace needs: a .venv with PyTorch 2.11.0 (libtorch), system HDF5.
    Setup(setup::Args),
    /// Run the whole suite: fmt, clippy -D warnings, and every test (with its Python references).
    Test(test::Args),
    /// Run the demo (no arguments) or a paper protocol on a dataset folder.
    Reproduce(reproduce::Args),
    /// Fetch a dataset or pretrained weights listed in configs/registry.toml, verified by sha256.
    Download(download::Args),
    /// Run the criterion benches and the side-by-side comparisons with the Python references.
    Bench(bench::Args),
    /// Fuzz every file reader for a while (docs/fuzzing.md); the short run is part of `test`.
    Fuzz(fuzz::Args),
    /// Check (or with --write, update) the demo figures README.md and docs/ quote, on the current code.
    Docs(docs::Args),
}

fn main() {
    let cli = Cli::parse();
    let result: Result<()> = match cli.command {
        Task::Setup(a) => setup::run(&a).map(|_| ()),
        Task::Test(a) => test::run(&a),
        Task::Reproduce(a) => reproduce::run(&a),
        Task::Download(a) => download::run(&a),
        Task::Bench(a) => bench::run(&a),
        Task::Fuzz(a) => fuzz::run(&a),
        Task::Docs(a) => docs::run(&a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
