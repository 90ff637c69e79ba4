//! danie-model: DANIE (Dual Attention Encoder with Joint Preservation) on libtorch via tch.
//!
//! One module per block, variable paths equal to the PyTorch reference's state_dict keys
//! (`reference/danie_ref.py`), so weights move both ways:
//! - [`sap`]: ViT stream (timm names) — [`patch_embed`], [`vit_block`], [`vit_attention`], [`vit_mlp`];
//! - [`batch_norm`]: every BatchNorm of the network (a cross-rank normaliser can serve them all),
//!   and [`conv_bn`], a convolution with its BatchNorm (folded into one in CPU evaluation);
//! - [`hap`]: ResNet stream (torchvision names) — [`resnet_stage`], [`basic_block`],
//!   [`bottleneck`], [`downsample`], then [`stage_attention`] ([`channel_attention`],
//!   [`spatial_attention`], [`dynamic_calibration`]);
//! - [`joint_preservation`]: ES ([`efficient_channel_attention`]), EH ([`non_local`]), fusion;
//! - [`decoder`] ([`decoder_block`]) and the whole [`danie`];
//! - [`config`] (presets, TOML), [`flops`] (analytic MAC counts), [`weights`] (safetensors,
//!   PyTorch state_dicts, timm/torchvision backbones), [`memory_format`] (channels-last on the
//!   CPU).
//!
//! Optimisers, mixed precision and CUDA graphs serve training and live in danie-train.
pub mod basic_block;
pub mod batch_norm;
pub mod bottleneck;
pub mod channel_attention;
pub mod config;
pub mod conv_bn;
pub mod conv_bn_relu;
pub mod danie;
pub mod decoder;
pub mod decoder_block;
pub mod downsample;
pub mod dynamic_calibration;
pub mod efficient_channel_attention;
pub mod error;
pub mod flops;
pub mod hap;
pub mod joint_preservation;
pub mod memory_format;
pub mod non_local;
pub mod patch_embed;
pub mod pretrained;
pub mod resnet_stage;
pub mod sap;
pub mod spatial_attention;
pub mod stage_attention;
pub mod torch_pickle;
pub mod vit_attention;
pub mod vit_block;
pub mod vit_mlp;
pub mod weights;

pub use config::{AttentionOrder, DanieConfig, Fusion, ResBlock, Streams};
pub use danie::Danie;
pub use error::ModelError;

/// The libtorch smoke test of the workspace: if this fails, tch, libtorch and the link set-up
/// (build/link_libtorch.rs) disagree, and nothing else in danie can be trusted.
#[cfg(test)]
mod tch_smoke {
    use tch::{Device, Kind, Tensor};

    /// A 3x3 convolution forward and backward on the CPU, checked against sums done by hand:
    /// for loss = sum(conv(x, w)) with no padding, dL/dw[i][j] is the sum of x over the window
    /// of valid output positions shifted by (i, j), and dL/dx counts the taps covering each pixel.
    #[test]
    fn conv_forward_and_backward_on_cpu() {
        let (h, w) = (5i64, 6i64);
        let x = Tensor::arange(h * w, (Kind::Float, Device::Cpu))
            .view([1, 1, h, w])
            .set_requires_grad(true);
        let weight = Tensor::ones([1, 1, 3, 3], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        // (1, 1, 5, 6) -> (1, 1, 3, 4)
        let y = x.conv2d(&weight, None::<Tensor>, [1, 1], [0, 0], [1, 1], 1);
        assert_eq!(y.size(), vec![1, 1, h - 2, w - 2]);
        let value = |r: i64, c: i64| (r * w + c) as f64;
        // Forward: each output is the sum of its 3x3 window.
        let top_left: f64 = (0..3).flat_map(|r| (0..3).map(move |c| value(r, c))).sum();
        assert_eq!(y.double_value(&[0, 0, 0, 0]), top_left);
        y.sum(Kind::Float).backward();
        let gw = weight.grad();
        for i in 0..3 {
            for j in 0..3 {
                let expected: f64 = (0..h - 2)
                    .flat_map(|r| (0..w - 2).map(move |c| value(r + i, c + j)))
                    .sum();
                assert_eq!(gw.double_value(&[0, 0, i, j]), expected, "dL/dw[{i}][{j}]");
            }
        }
        let gx = x.grad();
        for r in 0..h {
            for c in 0..w {
                let rows = (0..3).filter(|i| r - i >= 0 && r - i < h - 2).count();
                let cols = (0..3).filter(|j| c - j >= 0 && c - j < w - 2).count();
                assert_eq!(
                    gx.double_value(&[0, 0, r, c]),
                    (rows * cols) as f64,
                    "dL/dx[{r}][{c}]"
                );
            }
        }
    }
}
