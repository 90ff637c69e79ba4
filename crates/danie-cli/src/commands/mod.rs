//! One file per subcommand: each has a clap `Args` and a `run`.
pub mod compare;
pub mod data;
pub mod eval;
pub mod export;
pub mod info;
pub mod inspect;
pub mod metrics;
pub mod predict;
pub mod train;
