//! `cargo xtask fuzz`: the long fuzz run (docs/fuzzing.md). Builds `danie-fuzz` in release and
//! runs every target (or `--target`) for `--seconds` each, saving findings with their
//! reproducers; exits non-zero when there are findings. `cargo xtask test` runs the short,
//! fixed-case version (crates/danie-fuzz/tests/short_run.rs).
use anyhow::{bail, Result};

use crate::process::{cargo, repo_root, step};

#[derive(clap::Args)]
pub struct Args {
    /// Fuzz only this target (repeatable); `danie-fuzz list` names them.
    #[arg(long)]
    pub target: Vec<String>,
    /// Seconds per target.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Seed of the mutations (a new seed explores new cases).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where findings go (default: target/fuzz-findings).
    #[arg(long)]
    pub findings: Option<std::path::PathBuf>,
    /// A case running longer than this many milliseconds is a finding.
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
}

pub fn run(args: &Args) -> Result<()> {
    let env = {
        let _s = step("set-up (libtorch, HDF5)");
        crate::setup::run(&crate::setup::Args { test_deps: false })?
    };
    let findings = args
        .findings
        .clone()
        .unwrap_or_else(|| repo_root().join("target/fuzz-findings"));
    let _s = step("danie-fuzz (release)");
    let mut cmd = cargo(&env);
    cmd.args(["run", "--release", "-p", "danie-fuzz", "--", "run"])
        .args(["--seconds", &args.seconds.to_string()])
        .args(["--seed", &args.seed.to_string()])
        .args(["--timeout-ms", &args.timeout_ms.to_string()])
        .arg("--findings")
        .arg(&findings);
    for t in &args.target {
        cmd.args(["--target", t]);
    }
    let status = cmd.status()?;
    if !status.success() {
        bail!(
            "fuzzing found failures (or could not run): reproducers in {}; replay one with \
             `cargo run -p danie-fuzz -- repro --target T FILE`, and once fixed copy it into \
             crates/danie-fuzz/corpus/T/",
            findings.display()
        );
    }
    Ok(())
}
