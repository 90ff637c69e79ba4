//! `StageAttention`: what follows each HAP stage: channel and spatial attention in a
//! switchable order, then (optionally) dynamic calibration against the stage's output.
use tch::nn::{self, Module};
use tch::Tensor;

use crate::channel_attention::ChannelAttention;
use crate::config::{AttentionOrder, HapConfig};
use crate::dynamic_calibration::DynamicCalibration;
use crate::spatial_attention::SpatialAttention;

/// Attention after one HAP stage: `channel`, `spatial`, and `calib` when calibration is on.
#[derive(Debug)]
pub struct StageAttention {
    channel: ChannelAttention,
    spatial: SpatialAttention,
    calib: Option<DynamicCalibration>,
    order: AttentionOrder,
}

impl StageAttention {
    /// Attention over `c` channels with the HAP switches of `cfg`.
    pub fn new(p: nn::Path, c: i64, cfg: &HapConfig) -> Self {
        Self {
            channel: ChannelAttention::new(&p / "channel", c, cfg.reduction),
            spatial: SpatialAttention::new(&p / "spatial", cfg.spatial_kernel),
            calib: cfg
                .calibration
                .then(|| DynamicCalibration::new(&p / "calib", c, cfg.reduction)),
            order: cfg.attention_order,
        }
    }
}

impl Module for StageAttention {
    /// # Shapes
    /// (B, C, H, W) -> (B, C, H, W)
    fn forward(&self, xs: &Tensor) -> Tensor {
        let attended = match self.order {
            AttentionOrder::ChannelFirst => self.spatial.forward(&self.channel.forward(xs)),
            AttentionOrder::SpatialFirst => self.channel.forward(&self.spatial.forward(xs)),
        };
        match &self.calib {
            Some(c) => c.mix(&attended, xs),
            None => attended,
        }
    }
}
