//! danie-train: training, evaluation and prediction for DANIE, following the protocol of the
//! published Synapse / ACDC tables (TransUNet's), with what a modern trainer offers.
//!
//! - [`config`]: the run file (`configs/<dataset>.toml`), strict and documented.
//! - Training: [`loss`] (CE + Dice), [`optimizer`] (SGD / [`adamw`]), [`schedule`] (poly,
//!   warm-up), [`checkpoint`] (exact resume), [`run_log`] (CSV + JSON lines), [`trainer`], [`graphed_step`]
//!   (steps replayed from a CUDA graph).
//! - Using weights: [`weights_meta`] (the model config inside the weights file), [`model_io`],
//!   [`segmenter`] (slice-by-slice inference, flip TTA), [`evaluate`] (paper-format tables
//!   beside [`baselines`]), [`predict`] (NIfTI / PNG in, label maps out).
//! - Weights in and out: [`state_dict`] (PyTorch state_dicts in), [`export`] (TorchScript, ONNX).
//! - Pictures: [`overlay`] (image | reference | prediction), [`curves`] ([`line_plot`]).
pub mod adamw;
pub mod baselines;
pub mod checkpoint;
pub mod config;
pub mod curves;
pub mod device_spec;
pub mod evaluate;
pub mod export;
pub mod graphed_step;
pub mod line_plot;
pub mod loss;
pub mod model_io;
pub mod optimizer;
pub mod overlay;
pub mod predict;
pub mod run_log;
pub mod schedule;
pub mod segmenter;
pub mod state_dict;
pub mod tensor_file;
pub mod trainer;
pub mod validation;
pub mod weights_meta;
