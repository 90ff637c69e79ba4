//! `ChannelAttention`: CBAM's channel gate (avg- and max-pooled descriptors, shared MLP).
use tch::nn::{self, Module};
use tch::Tensor;

/// x * sigmoid(mlp(avgpool(x)) + mlp(maxpool(x))), MLP `fc1` (C -> C/r), ReLU, `fc2` (C/r -> C).
#[derive(Debug)]
pub struct ChannelAttention {
    fc1: nn::Linear,
    fc2: nn::Linear,
}

impl ChannelAttention {
    /// Gate over `c` channels with hidden width `max(c / reduction, 1)`.
    pub fn new(p: nn::Path, c: i64, reduction: i64) -> Self {
        let hidden = (c / reduction).max(1);
        let cfg = nn::LinearConfig {
            bias: false,
            ..Default::default()
        };
        Self {
            fc1: nn::linear(&p / "fc1", c, hidden, cfg),
            fc2: nn::linear(&p / "fc2", hidden, c, cfg),
        }
    }
}

impl Module for ChannelAttention {
    /// # Shapes
    /// (B, C, H, W) -> (B, C, H, W)
    ///
    /// The mean and max halves are split by `chunk`, not by a batch size read here, so a traced
    /// graph keeps the batch free.
    fn forward(&self, xs: &Tensor) -> Tensor {
        let flat = xs.flatten(2, 3); // (B, C, H*W)
        let desc = Tensor::cat(&[flat.mean_dim(-1, false, None), flat.amax(-1, false)], 0); // (2B, C)
        let a = desc.apply(&self.fc1).relu().apply(&self.fc2); // (2B, C)
        let halves = a.chunk(2, 0); // 2 x (B, C): mean, max
        let gate = (&halves[0] + &halves[1]).sigmoid(); // (B, C)
        xs * gate.unsqueeze(-1).unsqueeze(-1) // (B, C, 1, 1) broadcast
    }
}
