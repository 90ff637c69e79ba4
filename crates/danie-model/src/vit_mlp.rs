//! `VitMlp`: the two-layer GELU MLP of a ViT block (`mlp.fc1`, `mlp.fc2`).
use tch::nn::{self, Module};
use tch::Tensor;

/// Linear -> GELU (exact) -> Linear.
#[derive(Debug)]
pub struct VitMlp {
    fc1: nn::Linear,
    fc2: nn::Linear,
}

impl VitMlp {
    /// `dim` -> `hidden` -> `dim`.
    pub fn new(p: nn::Path, dim: i64, hidden: i64) -> Self {
        Self {
            fc1: nn::linear(&p / "fc1", dim, hidden, Default::default()),
            fc2: nn::linear(&p / "fc2", hidden, dim, Default::default()),
        }
    }
}

impl Module for VitMlp {
    /// # Shapes
    /// (B, N, D) -> (B, N, D)
    fn forward(&self, xs: &Tensor) -> Tensor {
        xs.apply(&self.fc1).gelu("none").apply(&self.fc2)
    }
}
