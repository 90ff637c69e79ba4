//! `cargo xtask test`: the whole suite, as CI runs it.
//!
//! Set-up (with the Python test references), then `cargo fmt --check`, clippy with warnings as
//! errors, and `cargo test --workspace`, with DANIE_PYTHON pointing at the project's Python so
//! that tests can run medpy, MONAI, nibabel and PyTorch on the same inputs.
use anyhow::Result;

use crate::process::{cargo, run_checked, step};

#[derive(clap::Args)]
pub struct Args {
    /// Skip `cargo fmt --check` and clippy (for a quick local run; CI runs them).
    #[arg(long)]
    pub no_lint: bool,
    /// Extra arguments passed to `cargo test` (after `--`), e.g. a test name filter.
    #[arg(last = true)]
    pub cargo_args: Vec<String>,
}

pub fn run(args: &Args) -> Result<()> {
    let env = {
        let _s = step("set-up (libtorch, HDF5, Python test references)");
        crate::setup::run(&crate::setup::Args { test_deps: true })?
    };
    if !args.no_lint {
        let _s = step("cargo fmt --all --check");
        run_checked(cargo(&env).args(["fmt", "--all", "--check"]))?;
        drop(_s);
        let _s = step("cargo clippy --workspace --all-targets -- -D warnings");
        run_checked(cargo(&env).args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))?;
    }
    let _s = step("cargo test --workspace");
    run_checked(
        cargo(&env)
            .args(["test", "--workspace"])
            .args(&args.cargo_args),
    )
}
