//! `VitBlock`: a pre-norm transformer block (timm `blocks.N`: norm1, attn, norm2, mlp).
use tch::nn::{self, Module};
use tch::Tensor;

use crate::vit_attention::VitAttention;
use crate::vit_mlp::VitMlp;

/// x + attn(norm1(x)); x + mlp(norm2(x)).
#[derive(Debug)]
pub struct VitBlock {
    norm1: nn::LayerNorm,
    attn: VitAttention,
    norm2: nn::LayerNorm,
    mlp: VitMlp,
}

impl VitBlock {
    /// A block of width `dim` with `num_heads` heads and MLP width `mlp_hidden`.
    pub fn new(
        p: nn::Path,
        dim: i64,
        num_heads: i64,
        mlp_hidden: i64,
        qkv_bias: bool,
        eps: f64,
    ) -> Self {
        let ln = nn::LayerNormConfig {
            eps,
            ..Default::default()
        };
        Self {
            norm1: nn::layer_norm(&p / "norm1", vec![dim], ln),
            attn: VitAttention::new(&p / "attn", dim, num_heads, qkv_bias),
            norm2: nn::layer_norm(&p / "norm2", vec![dim], ln),
            mlp: VitMlp::new(&p / "mlp", dim, mlp_hidden),
        }
    }
}

impl Module for VitBlock {
    /// # Shapes
    /// (B, N, D) -> (B, N, D)
    fn forward(&self, xs: &Tensor) -> Tensor {
        let xs = xs + self.attn.forward(&xs.apply(&self.norm1));
        &xs + self.mlp.forward(&xs.apply(&self.norm2))
    }
}
