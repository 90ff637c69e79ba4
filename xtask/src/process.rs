//! Running child processes with the project's environment ([`Env`], which `cargo xtask setup`
//! establishes), and timing steps.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

/// The repository root (the parent of the xtask crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the repository root")
        .to_path_buf()
}

/// Prints a step header; returns a guard that prints the elapsed time when the step ends.
pub fn step(what: &str) -> Step {
    eprintln!("==> {what}");
    Step {
        what: what.to_string(),
        start: Instant::now(),
    }
}

pub struct Step {
    what: String,
    start: Instant,
}

impl Drop for Step {
    fn drop(&mut self) {
        eprintln!(
            "    ({} took {:.1} s)",
            self.what,
            self.start.elapsed().as_secs_f64()
        );
    }
}

/// Runs `cmd` with inherited stdio; a non-zero exit is an error naming the command.
pub fn run_checked(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed with {status}");
    }
    Ok(())
}

/// Runs `cmd` and returns its trimmed stdout, or None when it cannot run or fails.
pub fn output_of(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Paths the other tasks pass on to cargo and to the `danie` binary.
pub struct Env {
    /// libtorch root (holds include/ and lib/).
    pub libtorch: PathBuf,
    /// Python of the project's virtual environment (None when the user brought LIBTORCH and no
    /// .venv exists).
    pub python: Option<PathBuf>,
}

impl Env {
    pub fn apply(&self, cmd: &mut Command) {
        cmd.env("LIBTORCH", &self.libtorch);
        if let Some(p) = &self.python {
            cmd.env("DANIE_PYTHON", p);
        }
    }

    /// The Python interpreter, or an error saying how to get one.
    #[allow(dead_code)] // used by reproduce and bench
    pub fn python(&self) -> Result<&Path> {
        self.python
            .as_deref()
            .context("no project Python: run `cargo xtask setup` (it creates .venv)")
    }
}

/// A `cargo` command run from the repository root, with the environment the workspace needs.
pub fn cargo(env: &Env) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(repo_root());
    env.apply(&mut cmd);
    cmd
}
