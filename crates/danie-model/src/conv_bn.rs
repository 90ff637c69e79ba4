//! `ConvBn`: a bias-free convolution and the BatchNorm after it (HAP's stem, the ResNet blocks
//! and shortcuts, every `ConvBnRelu`; EH's non-local block keeps its own). In evaluation on the
//! CPU the pair runs as one convolution with the normalisation folded into its weights and bias,
//! as onnxruntime and torch.fx's `fuse` do: one pass over the activations fewer per pair (S's
//! forward 6 % faster at batch 8, measured on the reference; docs/performance-notes.md). The
//! folding is redone at every forward (4 ms for S's pairs on 2 threads, measured on the
//! reference), so weights that training changes between evaluations are always the
//! ones used; on a GPU its small kernels would outnumber the batch norms it saves, so the pair
//! runs unfolded there, as it does in training.
use tch::nn::{self, ModuleT};
use tch::{Device, Tensor};

use crate::batch_norm::BatchNorm2d;

/// Conv (`k`x`k`, padding `k/2`, no bias) -> BatchNorm. Variables: the convolution's `weight`
/// under its path, the BatchNorm's under its own (torchvision's `conv1` / `bn1`, or `0` / `1`).
#[derive(Debug)]
pub struct ConvBn {
    conv: nn::Conv2D,
    bn: BatchNorm2d,
    stride: i64,
    padding: i64,
}

impl ConvBn {
    /// `c_in` -> `c_out` channels, a `k`x`k` kernel strided by `stride`.
    pub fn new(conv: nn::Path, bn: nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64) -> Self {
        let cfg = nn::ConvConfig {
            stride,
            padding: k / 2,
            bias: false,
            ..Default::default()
        };
        Self {
            conv: nn::conv2d(conv, c_in, c_out, k, cfg),
            bn: BatchNorm2d::new(bn, c_out),
            stride,
            padding: k / 2,
        }
    }
}

impl ModuleT for ConvBn {
    /// # Shapes
    /// (B, C_in, H, W) -> (B, C_out, H/stride, W/stride)
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        if train || xs.device() != Device::Cpu {
            return xs.apply(&self.conv).apply_t(&self.bn, train);
        }
        let (weight, bias) = self.bn.folded_into(&self.conv.ws);
        // Both spatial dimensions spelled out (a 1-element list is broadcast by libtorch, but
        // a traced model carries it into ONNX, whose Conv then has the wrong rank).
        let (s, p) = (self.stride, self.padding);
        xs.conv2d(&weight, Some(&bias), [s, s], [p, p], [1, 1], 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn::Module, Kind};

    /// A pair with non-trivial running statistics and affine parameters, as after training.
    fn trained_pair(vs: &nn::VarStore, stride: i64) -> ConvBn {
        let m = ConvBn::new(vs.root() / "conv", vs.root() / "bn", 6, 8, 3, stride);
        tch::no_grad(|| {
            let x = Tensor::randn([4, 6, 12, 12], tch::kind::FLOAT_CPU) * 3.0 + 1.0;
            for _ in 0..5 {
                let _ = m.forward_t(&x, true); // running statistics move
            }
            for (name, v) in vs.variables() {
                if name.ends_with("bn.weight") || name.ends_with("bn.bias") {
                    let mut v = v;
                    v.copy_(&(Tensor::randn(v.size(), tch::kind::FLOAT_CPU) * 0.5 + 1.0));
                }
            }
        });
        m
    }

    #[test]
    fn evaluation_folds_to_the_unfolded_pair() {
        tch::manual_seed(3);
        for stride in [1, 2] {
            let vs = nn::VarStore::new(Device::Cpu);
            let m = trained_pair(&vs, stride);
            let x = Tensor::randn([2, 6, 12, 12], tch::kind::FLOAT_CPU);
            let folded = tch::no_grad(|| m.forward_t(&x, false));
            let unfolded = tch::no_grad(|| m.conv.forward(&x).apply_t(&m.bn, false));
            assert_eq!(folded.size(), [2, 8, 12 / stride, 12 / stride]);
            let scale = unfolded.abs().max().double_value(&[]);
            let diff = (&folded - &unfolded).abs().max().double_value(&[]);
            assert!(diff <= 1e-5 * scale, "stride {stride}: {diff:e} of {scale}");
            // and the folding is not the identity: the statistics are far from (0, 1)
            let raw = tch::no_grad(|| m.conv.forward(&x));
            assert!((&raw - &unfolded).abs().max().double_value(&[]) > 0.1 * scale);
        }
    }

    #[test]
    fn training_still_normalises_with_batch_statistics() {
        tch::manual_seed(4);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = ConvBn::new(vs.root() / "conv", vs.root() / "bn", 3, 5, 1, 1);
        let x = Tensor::randn([8, 3, 6, 6], tch::kind::FLOAT_CPU) * 4.0 + 2.0;
        let y = m.forward_t(&x, true);
        let mean = y.mean_dim(&[0i64, 2, 3][..], false, Kind::Float);
        assert!(mean.abs().max().double_value(&[]) < 1e-5); // batch mean 0 (weight 1, bias 0)
        let names: Vec<String> = vs.variables().into_keys().collect();
        for k in ["conv.weight", "bn.weight", "bn.running_mean"] {
            assert!(names.iter().any(|n| n == k), "{k} missing from {names:?}");
        }
    }
}
