//! From the run config and the loader's batches to the tensors a model takes: the loader
//! settings of a run (training and validation) and the upload of a batch to the device.
use danie_data::augment::Augment;
use danie_data::loader::{Batch, LoaderConfig};
use danie_model::memory_format::{channels_last, prefers_channels_last};
use tch::{Device, Tensor};

use crate::config::RunConfig;

/// The run's loader settings.
pub fn loader_config(cfg: &RunConfig, shuffle_and_augment: bool) -> LoaderConfig {
    let kind = cfg.data.dataset;
    LoaderConfig {
        batch_size: cfg.data.batch_size,
        image_size: cfg.data.image_size,
        augment: if shuffle_and_augment && cfg.data.augment {
            kind.default_augment()
        } else {
            Augment::None
        },
        interp: kind.default_interp(),
        shuffle: shuffle_and_augment,
        seed: cfg.train.seed,
        drop_last: false,
        prefetch: 2,
        threads: cfg.data.num_workers,
        shard: Default::default(),
    }
}

/// Batch arrays to tensors on `device`.
///
/// # Shapes
/// images (B, C, H, W) f32, labels (B, H, W) i64
pub fn batch_tensors(b: &Batch, device: Device) -> (Tensor, Tensor) {
    let dims = |s: &[usize]| s.iter().map(|&d| d as i64).collect::<Vec<_>>();
    let img = b.images.as_standard_layout();
    let lab = b.labels.as_standard_layout();
    let x = Tensor::from_slice(img.as_slice().expect("standard layout"))
        .view(dims(b.images.shape()).as_slice());
    let x = if prefers_channels_last(device) {
        channels_last(&x) // (B, C, H, W) in NHWC memory, as the weights
    } else {
        x
    };
    let y = Tensor::from_slice(lab.as_slice().expect("standard layout"))
        .view(dims(b.labels.shape()).as_slice());
    // Non-blocking: from pageable memory the copy is staged before the call returns, so the
    // host buffer may go, and the GPU is not drained (a blocking copy synchronises the stream).
    let upload = |t: Tensor| match device {
        Device::Cpu => t,
        d => t.to_device_(d, t.kind(), true, false),
    };
    (upload(x), upload(y))
}
