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
    report_free_disk();
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

/// Prints the free space where the build goes, and warns when a clean build may not fit.
///
/// A clean `cargo xtask test` took 7.1 GB at its peak on a fresh clone (.venv 5.2 GB, target/
/// 1.7 GB); a full disk shows up as a linker crash ("Bus error") rather than a clear message.
fn report_free_disk() {
    let root = crate::process::repo_root();
    let Ok(out) = std::process::Command::new("df")
        .arg("-Pk")
        .arg(&root)
        .output()
    else {
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let free_kib = text
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(kib) = free_kib {
        let gib = kib as f64 / (1024.0 * 1024.0);
        eprintln!("disk: {gib:.1} GiB free at {}", root.display());
        if gib < 8.0 {
            eprintln!(
                "warning: a clean build and test run needs about 7 GiB (.venv 5.2 GB, target/ \
                 1.7 GB); linking may fail with a Bus error or 'No space left on device'"
            );
        }
    }
}
