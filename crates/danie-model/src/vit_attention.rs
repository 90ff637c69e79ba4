//! `VitAttention`: multi-head self-attention of a timm ViT block (`attn.qkv`, `attn.proj`).
use tch::nn::{self, Module};
use tch::Tensor;

/// Multi-head self-attention through `scaled_dot_product_attention`.
#[derive(Debug)]
pub struct VitAttention {
    qkv: nn::Linear,
    proj: nn::Linear,
    num_heads: i64,
}

impl VitAttention {
    /// `dim`-wide tokens, `num_heads` heads.
    pub fn new(p: nn::Path, dim: i64, num_heads: i64, qkv_bias: bool) -> Self {
        let qkv_cfg = nn::LinearConfig {
            bias: qkv_bias,
            ..Default::default()
        };
        Self {
            qkv: nn::linear(&p / "qkv", dim, 3 * dim, qkv_cfg),
            proj: nn::linear(&p / "proj", dim, dim, Default::default()),
            num_heads,
        }
    }
}

impl Module for VitAttention {
    /// # Shapes
    /// (B, N, D) -> (B, N, D)
    fn forward(&self, xs: &Tensor) -> Tensor {
        let (_, n, d) = xs.size3().expect("attention input is (B, N, D)");
        let qkv = self
            .qkv
            .forward(xs)
            .reshape([-1, n, 3, self.num_heads, d / self.num_heads]) // batch -1: free when traced
            .permute([2, 0, 3, 1, 4]); // (B, N, 3D) -> (3, B, heads, N, D/heads)
        let qkv = qkv.unbind(0);
        let y = Tensor::scaled_dot_product_attention::<Tensor>(
            &qkv[0], &qkv[1], &qkv[2], None, 0.0, false, None, false,
        ); // (B, heads, N, D/heads)
        y.transpose(1, 2).reshape([-1, n, d]).apply(&self.proj) // (B, N, D)
    }
}
