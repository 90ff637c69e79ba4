//! `cargo xtask bench` (placeholder until its issue lands; it fails loudly rather than pretend).
use anyhow::{bail, Result};

#[derive(clap::Args)]
pub struct Args {
    /// Remaining arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    rest: Vec<String>,
}

pub fn run(_args: &Args) -> Result<()> {
    bail!("`cargo xtask bench` is not implemented yet")
}
