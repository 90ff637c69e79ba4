//! `danie train` (placeholder until its issue lands; it fails loudly rather than pretend).

/// Arguments of `danie train`.
#[derive(clap::Args)]
pub struct Args {
    /// Remaining arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    rest: Vec<String>,
}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`danie train` is not implemented yet")
}
