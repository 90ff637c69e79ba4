//! EH: a non-local block (Wang et al. 2018, embedded Gaussian) on HAP's 1/16 features.
use tch::nn::{self, Module, ModuleT};
use tch::Tensor;

use crate::batch_norm::BatchNorm2d;

/// x + bn(w(softmax(theta(x)^T phi(x)) g(x))). Parameters `theta`, `phi`, `g`, `w` (1x1 convs)
/// and `bn` (gamma initialised to 0, so the block starts as the identity, as in the paper).
#[derive(Debug)]
pub struct NonLocal {
    theta: nn::Conv2D,
    phi: nn::Conv2D,
    g: nn::Conv2D,
    w: nn::Conv2D,
    bn: BatchNorm2d,
}

impl NonLocal {
    /// A block over `c` channels with inner width `inner`.
    pub fn new(p: nn::Path, c: i64, inner: i64) -> Self {
        let c1 = |name: &str, i, o| nn::conv2d(&p / name, i, o, 1, Default::default());
        let bn = BatchNorm2d::with_weight(&p / "bn", c, 0.0);
        Self {
            theta: c1("theta", c, inner),
            phi: c1("phi", c, inner),
            g: c1("g", c, inner),
            w: c1("w", inner, c),
            bn,
        }
    }
}

impl ModuleT for NonLocal {
    /// # Shapes
    /// (B, C, H, W) -> (B, C, H, W)
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let (_, _, h, w) = xs.size4().expect("EH input is 4-D");
        let tokens = |conv: &nn::Conv2D| conv.forward(xs).flatten(2, 3).transpose(1, 2); // (B, N, C')
        let (t, p, g) = (tokens(&self.theta), tokens(&self.phi), tokens(&self.g));
        // Embedded Gaussian: softmax(theta phi^T) g, no 1/sqrt(d) scaling.
        let y = Tensor::scaled_dot_product_attention::<Tensor>(
            &t, &p, &g, None, 0.0, false, 1.0, false,
        );
        let y = y.transpose(1, 2).unflatten(2, [h, w]); // (B, N, C') -> (B, C', H, W)
        xs + y.apply(&self.w).apply_t(&self.bn, train)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_as_identity() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let m = NonLocal::new(vs.root(), 8, 4);
        let x = Tensor::randn([2, 8, 4, 4], tch::kind::FLOAT_CPU);
        assert!(m.forward_t(&x, false).allclose(&x, 1e-6, 1e-6, false));
    }
}
