//! Inference as TransUNet's `test_single_volume`: each plane resized to the model's input size
//! (cubic spline as scipy `zoom` order 3 for CT / MRI, bilinear for RGB), softmax, argmax, the
//! label map resized back with nearest neighbour (scipy order 0). Planes go through the model in
//! batches, without gradients, BatchNorm in eval mode. Optional flip test-time augmentation
//! averages the softmax of the identity, horizontal and vertical flips.
//!
//! Everything that runs a model forward without training sits here: validation during training
//! ([`predict_probs`]), evaluation and prediction ([`Segmenter::from_weights`]).
use danie_data::preprocess::{resize_channels, zoom_labels, Interp};
use danie_model::conv_bn::with_constant_weights;
use danie_model::memory_format::{channels_last_input, prefers_channels_last};
use danie_model::Danie;
use ndarray::{s, Array2, Array3, ArrayView3, Axis};
use rayon::prelude::*;
use tch::nn::ModuleT;
use tch::{Device, Kind, Tensor};

use crate::autocast::{with_precision, Precision};
use crate::model_io::LoadedModel;

/// Settings of inference on files (prediction, and evaluation through it).
#[derive(Debug, Clone)]
pub struct PredictOptions {
    /// Flip test-time augmentation.
    pub tta: bool,
    /// Replace existing outputs.
    pub overwrite: bool,
    /// Slices per forward pass.
    pub batch: usize,
    /// bf16 autocast on CUDA.
    pub bf16: bool,
}

/// Softmax probabilities of the model for a batch, in eval mode, without gradients.
///
/// # Shapes
/// (B, C, H, W) -> (B, K, H, W) float32
pub fn predict_probs(model: &Danie, x: &Tensor, bf16: bool) -> Tensor {
    tch::no_grad(|| {
        with_precision(x.device(), Precision::from_bf16(bf16), || {
            model.forward_t(x, false)
        })
        .to_kind(Kind::Float)
        .softmax(1, Kind::Float)
    })
}

/// How to segment planes with a model.
pub struct Segmenter<'a> {
    /// The network.
    pub model: &'a Danie,
    /// Side of the square model input.
    pub size: usize,
    /// Interpolation of images to the input size.
    pub interp: Interp,
    /// Planes per forward pass.
    pub batch: usize,
    /// Flip test-time augmentation.
    pub tta: bool,
    /// bf16 autocast (CUDA only).
    pub bf16: bool,
    /// Where the model lives.
    pub device: Device,
}

impl<'a> Segmenter<'a> {
    /// The segmenter the weights describe: their input size and the interpolation of their
    /// dataset, on the device they were loaded to.
    pub fn from_weights(loaded: &'a LoadedModel, opts: &PredictOptions) -> Self {
        Segmenter {
            model: &loaded.model,
            size: loaded.meta.image_size,
            interp: loaded.meta.dataset.default_interp(),
            batch: opts.batch,
            tta: opts.tta,
            bf16: opts.bf16,
            device: loaded.vs.device(),
        }
    }

    /// Class probabilities, averaged over flips when `tta`.
    ///
    /// # Shapes
    /// (B, C, S, S) -> (B, K, S, S)
    pub fn probs(&self, x: &Tensor) -> Tensor {
        // NHWC where a loaded model's weights are (memory_format): oneDNN then runs no reorder
        // around each convolution.
        let x = &if prefers_channels_last(self.device) {
            channels_last_input(x)
        } else {
            x.shallow_clone()
        };
        let p = predict_probs(self.model, x, self.bf16);
        if !self.tta {
            return p;
        }
        // Flip W (dim 3) and H (dim 2), predict, flip back, average with the identity.
        let h = predict_probs(self.model, &x.flip([3]), self.bf16).flip([3]);
        let v = predict_probs(self.model, &x.flip([2]), self.bf16).flip([2]);
        (p + h + v) / 3.0
    }

    /// Label maps for planes of any sizes (each back at its own size).
    ///
    /// # Shapes
    /// each plane (C, H, W) -> (H, W)
    pub fn segment(&self, planes: &[ArrayView3<f32>]) -> Vec<Array2<u8>> {
        // One set of weights for all the batches (and flips): each BatchNorm folds once (CPU).
        with_constant_weights(|| self.segment_batches(planes))
    }

    fn segment_batches(&self, planes: &[ArrayView3<f32>]) -> Vec<Array2<u8>> {
        let (s, interp) = (self.size, self.interp);
        let mut out = Vec::with_capacity(planes.len());
        for chunk in planes.chunks(self.batch.max(1)) {
            let resized: Vec<Array3<f32>> = chunk
                .par_iter()
                .map(|p| {
                    if p.dim().1 == s && p.dim().2 == s {
                        p.to_owned()
                    } else {
                        resize_channels(*p, (s, s), interp)
                    }
                })
                .collect();
            let views: Vec<_> = resized.iter().map(|a| a.view()).collect();
            let stacked = ndarray::stack(Axis(0), &views).expect("planes share a channel count");
            let stacked = stacked.as_standard_layout();
            let c = stacked.dim().1 as i64;
            let x = Tensor::from_slice(stacked.as_slice().expect("standard layout"))
                .view([chunk.len() as i64, c, s as i64, s as i64]) // (B, C, S, S)
                .to_device(self.device);
            let labels = self
                .probs(&x)
                .argmax(1, false) // (B, K, S, S) -> (B, S, S)
                .to_kind(Kind::Uint8)
                .to_device(Device::Cpu)
                .contiguous();
            let flat = Vec::<u8>::try_from(labels.view([-1])).expect("u8 labels");
            let maps = ndarray::Array3::from_shape_vec((chunk.len(), s, s), flat)
                .expect("B * S * S labels");
            out.par_extend(chunk.par_iter().enumerate().map(|(i, p)| {
                let m = maps.slice(s![i, .., ..]);
                let (h, w) = (p.dim().1, p.dim().2);
                if (h, w) == (s, s) {
                    m.to_owned()
                } else {
                    zoom_labels(m, (h, w))
                }
            }));
        }
        out
    }

    /// A volume slice by slice along axis 0.
    ///
    /// # Shapes
    /// (D, H, W) -> (D, H, W)
    pub fn segment_volume(&self, volume: ArrayView3<f32>) -> Array3<u8> {
        let planes: Vec<ArrayView3<f32>> = (0..volume.dim().0)
            .map(|z| volume.slice(s![z..z + 1, .., ..])) // (1, H, W)
            .collect();
        let maps = self.segment(&planes);
        let views: Vec<_> = maps.iter().map(|m| m.view()).collect();
        ndarray::stack(Axis(0), &views).expect("slices share a size")
    }
}
