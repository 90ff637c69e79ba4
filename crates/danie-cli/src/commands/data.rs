//! `danie data` (placeholder until its issue lands; it fails loudly rather than pretend).

/// Arguments of `danie data`.
#[derive(clap::Args)]
pub struct Args {
    /// Remaining arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    rest: Vec<String>,
}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`danie data` is not implemented yet")
}
