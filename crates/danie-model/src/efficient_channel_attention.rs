//! ES: global modelling over the channel dimension of SAP's tokens, with XCiT's transposed
//! ("cross-covariance") attention: a (D/h x D/h) attention map per head instead of (N x N).
use tch::nn::{self, Module};
use tch::Tensor;

/// x + proj(XCA(norm(x))): q and k L2-normalised along the tokens, a learned temperature per
/// head, attention over channels. Parameters `norm`, `qkv`, `proj`, `temperature`.
#[derive(Debug)]
pub struct EfficientChannelAttention {
    norm: nn::LayerNorm,
    qkv: nn::Linear,
    proj: nn::Linear,
    temperature: Tensor,
    num_heads: i64,
}

impl EfficientChannelAttention {
    /// ES over `dim`-wide tokens with `num_heads` heads.
    pub fn new(p: nn::Path, dim: i64, num_heads: i64, eps: f64) -> Self {
        let ln = nn::LayerNormConfig {
            eps,
            ..Default::default()
        };
        Self {
            norm: nn::layer_norm(&p / "norm", vec![dim], ln),
            qkv: nn::linear(&p / "qkv", dim, 3 * dim, Default::default()),
            proj: nn::linear(&p / "proj", dim, dim, Default::default()),
            temperature: p.var("temperature", &[num_heads, 1, 1], nn::Init::Const(1.0)),
            num_heads,
        }
    }
}

/// `x / max(||x||_2, 1e-12)` along the last dimension (PyTorch's `F.normalize`).
fn l2_normalize(x: &Tensor) -> Tensor {
    x / x
        .norm_scalaropt_dim(2, [-1].as_slice(), true)
        .clamp_min(1e-12)
}

impl Module for EfficientChannelAttention {
    /// # Shapes
    /// (B, N, D) -> (B, N, D)
    fn forward(&self, xs: &Tensor) -> Tensor {
        let (_, n, d) = xs.size3().expect("ES input is (B, N, D)");
        let qkv = self
            .qkv
            .forward(&xs.apply(&self.norm))
            .reshape([-1, n, 3, self.num_heads, d / self.num_heads]) // batch -1: free when traced
            .permute([2, 0, 3, 4, 1]); // (B, N, 3D) -> (3, B, heads, D/heads, N)
        let qkv = qkv.unbind(0);
        let q = l2_normalize(&qkv[0]) * &self.temperature; // (B, heads, D/heads, N)
        let k = l2_normalize(&qkv[1]);
        // Channels play the role of the sequence: softmax((q t) k^T) v, scale 1.
        let y = Tensor::scaled_dot_product_attention::<Tensor>(
            &q, &k, &qkv[2], None, 0.0, false, 1.0, false,
        );
        let y = y.permute([0, 3, 1, 2]).reshape([-1, n, d]); // (B, heads, D/h, N) -> (B, N, D)
        xs + y.apply(&self.proj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    #[test]
    fn equals_explicit_softmax_formula() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let m = EfficientChannelAttention::new(vs.root(), 8, 2, 1e-6);
        let x = Tensor::randn([2, 5, 8], tch::kind::FLOAT_CPU);
        let y = m.forward(&x);
        // Explicit (B, h, d, d) attention map, written independently of sdpa.
        let qkv = x
            .apply(&m.norm)
            .apply(&m.qkv)
            .reshape([2, 5, 3, 2, 4])
            .permute([2, 0, 3, 4, 1]);
        let (q, k, v) = (qkv.get(0), qkv.get(1), qkv.get(2));
        let q = &q
            / q.pow_tensor_scalar(2)
                .sum_dim_intlist(-1, true, Kind::Float)
                .sqrt();
        let k = &k
            / k.pow_tensor_scalar(2)
                .sum_dim_intlist(-1, true, Kind::Float)
                .sqrt();
        let attn = q.matmul(&k.transpose(-2, -1)).softmax(-1, Kind::Float); // (B, h, d, d)
        let want = &x
            + attn
                .matmul(&v)
                .permute([0, 3, 1, 2])
                .reshape([2, 5, 8])
                .apply(&m.proj);
        assert!(y.allclose(&want, 1e-5, 1e-6, false));
    }
}
