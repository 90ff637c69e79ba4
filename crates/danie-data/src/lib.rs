//! danie-data: medical image I/O and the datasets of the DANIE paper.
//!
//! - File formats: [`nifti`] (NIfTI-1/2, .nii/.nii.gz), [`npy`] (.npy/.npz), [`h5`] (HDF5),
//!   [`image_io`] (PNG, JPEG, BMP).
//! - Datasets in their published layouts: [`datasets`] (Synapse, ACDC, ISIC 2017/2018, GlaS).
//! - Pipeline: [`preprocess`] (resizing, intensity), [`augment`] (TransUNet's RandomGenerator and
//!   the usual 2D augmentations), [`loader`] (parallel, prefetching batches), [`shard`] (each
//!   data-parallel process's share of an epoch, as PyTorch's DistributedSampler).
//! - [`synthetic`]: small phantom datasets written in each exact layout, for tests and the demo.
pub mod augment;
pub mod datasets;
pub mod error;
pub mod h5;
pub mod image_io;
pub mod limits;
pub mod loader;
pub mod nifti;
pub mod npy;
pub mod preprocess;
pub mod shard;
pub mod synthetic;

pub use error::{DataError, Result};
