//! `BatchNorm2d`: every BatchNorm of the network, in one place, so that a data-parallel run can
//! swap the per-process batch statistics for statistics over every rank (PyTorch's
//! SyncBatchNorm) without touching the blocks.
//!
//! The cross-rank normaliser is process-wide ([`install_cross_rank`]): the trainer installs one
//! (danie-train's `sync_bn`, over danie-dist) when `[train] sync_bn` is set; it is used in
//! training mode only, as SyncBatchNorm is (evaluation uses the running statistics). Without
//! one, the layer is tch's BatchNorm.
use std::sync::{Arc, RwLock};

use tch::nn::{self, ModuleT};
use tch::Tensor;

/// Batch normalisation with batch statistics gathered from every rank of a data-parallel run.
pub trait CrossRankNorm: Send + Sync {
    /// Normalises `x` with the statistics of the global batch, updates `running_mean` and
    /// `running_var` in place (PyTorch's momentum rule, unbiased variance), and keeps `x`,
    /// `weight` and `bias` in the autograd graph.
    ///
    /// # Shapes
    /// x (N, C, H, W), weight, bias, running_mean, running_var (C) -> (N, C, H, W)
    #[allow(clippy::too_many_arguments)]
    fn forward(
        &self,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        running_mean: &Tensor,
        running_var: &Tensor,
        momentum: f64,
        eps: f64,
    ) -> Tensor;
}

static CROSS_RANK: RwLock<Option<Arc<dyn CrossRankNorm>>> = RwLock::new(None);

/// Installs (`Some`) or removes (`None`) the normaliser every [`BatchNorm2d`] of this process
/// uses in training mode.
pub fn install_cross_rank(norm: Option<Arc<dyn CrossRankNorm>>) {
    // A poisoned lock only means a panic elsewhere while it was held; the value is still whole.
    *CROSS_RANK.write().unwrap_or_else(|e| e.into_inner()) = norm;
}

fn cross_rank() -> Option<Arc<dyn CrossRankNorm>> {
    CROSS_RANK.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// PyTorch's BatchNorm2d defaults.
const MOMENTUM: f64 = 0.1;
const EPS: f64 = 1e-5;

/// A BatchNorm2d with PyTorch's defaults (weight 1, bias 0, momentum 0.1, eps 1e-5). Variables
/// `weight`, `bias`, `running_mean`, `running_var` (PyTorch's state_dict keys).
#[derive(Debug)]
pub struct BatchNorm2d {
    bn: nn::BatchNorm,
}

impl BatchNorm2d {
    /// `c` channels, weight 1.
    pub fn new(p: nn::Path, c: i64) -> Self {
        Self::with_weight(p, c, 1.0)
    }

    /// `c` channels, weight `gamma` (0 makes a residual branch start as the identity).
    pub fn with_weight(p: nn::Path, c: i64, gamma: f64) -> Self {
        let cfg = nn::BatchNormConfig {
            ws_init: nn::Init::Const(gamma),
            momentum: MOMENTUM,
            eps: EPS,
            ..Default::default()
        };
        Self {
            bn: nn::batch_norm2d(p, c, cfg),
        }
    }

    /// The weight and bias of one convolution equal, in evaluation, to the bias-free
    /// convolution `conv_weight` followed by this layer: `conv_weight * s` per output channel
    /// and `beta - running_mean * s`, with `s = gamma / sqrt(running_var + eps)`.
    ///
    /// # Shapes
    /// conv_weight (C, C_in, k, k) -> ((C, C_in, k, k), (C))
    pub fn folded_into(&self, conv_weight: &Tensor) -> (Tensor, Tensor) {
        let bn = &self.bn;
        let inv_std = (&bn.running_var + EPS).rsqrt();
        let s = match &bn.ws {
            Some(gamma) => gamma * inv_std,
            None => inv_std,
        };
        let shift = -(&bn.running_mean * &s);
        let bias = match &bn.bs {
            Some(beta) => beta + shift,
            None => shift,
        };
        (conv_weight * s.reshape([-1, 1, 1, 1]), bias)
    }
}

impl ModuleT for BatchNorm2d {
    /// Batch statistics over every rank when a cross-rank normaliser is installed and `train`;
    /// this process's batch (`train`) or the running statistics otherwise.
    ///
    /// # Shapes
    /// (B, C, H, W) -> (B, C, H, W)
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        if train {
            if let (Some(norm), Some(ws), Some(bs)) = (cross_rank(), &self.bn.ws, &self.bn.bs) {
                return norm.forward(
                    xs,
                    ws,
                    bs,
                    &self.bn.running_mean,
                    &self.bn.running_var,
                    MOMENTUM,
                    EPS,
                );
            }
        }
        self.bn.forward_t(xs, train)
    }
}
