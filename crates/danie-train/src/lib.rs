//! danie-train: training, evaluation and prediction for DANIE, following the protocol of the
//! published Synapse / ACDC tables (TransUNet's), with what a modern trainer offers.
//!
//! The modules import one way (checked by xtask/tests/module_cycles.rs):
//! - [`config`]: the run file (`configs/<dataset>.toml`), strict and documented, and the model
//!   config it describes; [`device_spec`].
//! - Shared by training and inference: [`batches`] (loader settings, batches to tensors),
//!   [`weights_meta`] (the model config inside the weights file), [`model_io`] (a model from a
//!   weights file), [`volume`] (a NIfTI volume as the model's input), [`autocast`] (bf16), and
//!   [`segmenter`] (forward without gradients: validation's probabilities, slice-by-slice
//!   inference, flip TTA), [`distributed`] (the process group of a data-parallel run, cases
//!   split over ranks and gathered back).
//! - Training: [`loss`] (CE + Dice), [`optim`] (SGD / AdamW over a packed parameter group),
//!   [`schedule`] (poly, warm-up), [`checkpoint`] (exact resume), [`run_log`] (CSV + JSON lines),
//!   [`validation`], [`cuda_graph`] and [`graphed_step`] (steps replayed from a CUDA graph),
//!   [`trainer`].
//! - Using weights: [`evaluate`] (paper-format tables beside [`baselines`]), [`predict`]
//!   (NIfTI / PNG in, label maps out).
//! - Weights in and out: [`state_dict`] (PyTorch state_dicts in), [`export`] (TorchScript, ONNX).
//! - Pictures: [`overlay`] (image | reference | prediction), [`curves`] ([`line_plot`]).
pub mod autocast;
pub mod baselines;
pub mod batches;
pub mod checkpoint;
pub mod config;
pub mod cuda_graph;
pub mod curves;
pub mod device_spec;
pub mod distributed;
pub mod evaluate;
pub mod export;
pub mod graphed_step;
pub mod heap;
pub mod line_plot;
pub mod loss;
pub mod model_io;
pub mod nifti_pair;
pub mod optim;
pub mod overlay;
pub mod predict;
pub mod report;
pub mod run_log;
pub mod schedule;
pub mod segmenter;
pub mod sharded;
pub mod state_dict;
pub mod sync_bn;
pub mod trainer;
pub mod validation;
pub mod volume;
pub mod weights_meta;
