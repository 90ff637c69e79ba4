//! danie-fuzz: a structure-aware mutation fuzzer for every reader of danie, on stable Rust.
//!
//! - [`targets`]: the reader entry points (NIfTI, .nii.gz, npy, npz, HDF5, PNG / JPEG / BMP,
//!   torch.save, safetensors, the train and model configs), each `fn(&Path)`.
//! - [`seeds`]: the corpus, from `tests/data/real`, the shipped configs, small generated files
//!   and `corpus/<target>/` (reproducers of past findings among them).
//! - [`mutate`]: generic and format-aware mutations.
//! - [`driver`]: cases run in a child process under RLIMIT_AS and a per-case time limit; a
//!   panic, an abort, a crash or a hang is a finding, saved with a reproducer.
//!
//! `cargo xtask fuzz` runs it for longer; `docs/fuzzing.md` describes both runs.
pub mod driver;
pub mod mutate;
pub mod seeds;
pub mod targets;
