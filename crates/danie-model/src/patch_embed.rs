//! `PatchEmbed`: the ViT's convolutional patch embedding (timm `patch_embed.proj`).
use tch::nn::{self, Module};
use tch::Tensor;

/// A `patch`x`patch` convolution with stride `patch`, flattened to tokens.
#[derive(Debug)]
pub struct PatchEmbed {
    proj: nn::Conv2D,
}

impl PatchEmbed {
    /// `in_chans` image channels to `dim`-wide tokens.
    pub fn new(p: nn::Path, in_chans: i64, dim: i64, patch: i64) -> Self {
        let cfg = nn::ConvConfig {
            stride: patch,
            ..Default::default()
        };
        Self {
            proj: nn::conv2d(&p / "proj", in_chans, dim, patch, cfg),
        }
    }

    /// Tokens and the token grid.
    ///
    /// # Shapes
    /// (B, C, H, W) -> (B, H/P * W/P, D), (H/P, W/P)
    pub fn tokens(&self, xs: &Tensor) -> (Tensor, (i64, i64)) {
        let y = self.proj.forward(xs); // (B, D, h, w)
        let (_, _, h, w) = y.size4().expect("patch embedding output is 4-D");
        (y.flatten(2, 3).transpose(1, 2), (h, w)) // (B, D, h*w) -> (B, h*w, D)
    }
}
