//! The optimiser of a run: PyTorch-exact [`sgd`] or [`adamw`] over one packed [`param_group`],
//! behind one type whose state is a list of named tensors for the checkpoint.
pub mod adamw;
pub mod param_group;
pub mod sgd;

use tch::nn::VarStore;
use tch::Tensor;

pub use adamw::{AdamW, AdamWConfig};
pub use sgd::{Sgd, SgdConfig};

use crate::config::{OptimizerKind, TrainSection};

/// Prefix of SGD momentum buffers in the optimizer state file.
const MOMENTUM: &str = "momentum.";

/// SGD or AdamW.
pub enum Optimizer {
    /// torch.optim.SGD.
    Sgd(Sgd),
    /// torch.optim.AdamW.
    AdamW(AdamW),
}

impl Optimizer {
    /// Builds the optimiser `train.optimizer` names over the trainable variables of `vs`.
    pub fn new(vs: &VarStore, t: &TrainSection) -> Self {
        match t.optimizer {
            OptimizerKind::Sgd => Self::Sgd(Sgd::new(
                vs,
                SgdConfig {
                    lr: t.lr,
                    momentum: t.momentum,
                    dampening: 0.0,
                    weight_decay: t.weight_decay,
                    nesterov: false,
                },
            )),
            OptimizerKind::Adamw => Self::AdamW(AdamW::new(
                vs,
                t.lr,
                AdamWConfig {
                    betas: (t.betas[0], t.betas[1]),
                    eps: t.eps,
                    weight_decay: t.weight_decay,
                },
            )),
        }
    }

    /// Zeroes the gradients.
    pub fn zero_grad(&mut self) {
        match self {
            Self::Sgd(o) => o.zero_grad(),
            Self::AdamW(o) => o.zero_grad(),
        }
    }

    /// The gradients the next update reads ([`param_group::ParamGroup::gradients`]).
    pub fn gradients(&self) -> Vec<Tensor> {
        match self {
            Self::Sgd(o) => o.group().gradients(),
            Self::AdamW(o) => o.group().gradients(),
        }
    }

    /// One update at learning rate `lr`.
    pub fn step(&mut self, lr: f64) {
        match self {
            Self::Sgd(o) => {
                o.set_lr(lr);
                o.step()
            }
            Self::AdamW(o) => {
                o.set_lr(lr);
                o.step()
            }
        }
    }

    /// One update at the rate a 0-dim device tensor holds (for a captured CUDA graph, which
    /// must not bake the rate in). SGD only: AdamW's bias corrections are host numbers.
    pub fn step_lr_tensor(&mut self, lr: &Tensor) -> anyhow::Result<()> {
        match self {
            Self::Sgd(o) => {
                o.step_lr_tensor(lr);
                Ok(())
            }
            Self::AdamW(_) => anyhow::bail!("AdamW cannot take its learning rate from a tensor"),
        }
    }

    /// The state to checkpoint.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        match self {
            Self::Sgd(o) => o
                .momentum_buffers()
                .into_iter()
                .filter_map(|(n, b)| b.map(|b| (format!("{MOMENTUM}{n}"), b.shallow_clone())))
                .collect(),
            Self::AdamW(o) => o.state(),
        }
    }

    /// Restores a checkpointed state.
    pub fn load_state(&mut self, state: &[(String, Tensor)]) -> anyhow::Result<()> {
        match self {
            Self::Sgd(o) => {
                let mut bufs = Vec::with_capacity(state.len());
                for (n, t) in state {
                    let name = n.strip_prefix(MOMENTUM).ok_or_else(|| {
                        anyhow::anyhow!(
                            "`{n}` is not an SGD momentum buffer (was the run trained with adamw?)"
                        )
                    })?;
                    bufs.push((name.to_string(), t.shallow_clone()));
                }
                let unused = o.set_momentum_buffers(&bufs).map_err(anyhow::Error::msg)?;
                anyhow::ensure!(
                    unused.is_empty(),
                    "momentum buffers for variables the model does not have: {unused:?}"
                );
                Ok(())
            }
            Self::AdamW(o) => o.load_state(state),
        }
    }
}
