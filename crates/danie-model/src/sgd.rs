//! `Sgd`: stochastic gradient descent with exactly `torch.optim.SGD`'s update (momentum,
//! dampening, weight decay, Nesterov), with its momentum buffers exposed by variable name so a
//! trainer can checkpoint and restore them.
use tch::nn::VarStore;
use tch::Tensor;

/// Hyper-parameters, as `torch.optim.SGD`'s arguments.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SgdConfig {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor (0: plain SGD).
    pub momentum: f64,
    /// Dampening of the gradient added to the momentum buffer.
    pub dampening: f64,
    /// L2 penalty added to the gradient (`grad + weight_decay * param`).
    pub weight_decay: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
}

impl Default for SgdConfig {
    /// TransUNet's setting: lr 0.01, momentum 0.9, weight decay 1e-4.
    fn default() -> Self {
        Self {
            lr: 0.01,
            momentum: 0.9,
            dampening: 0.0,
            weight_decay: 1e-4,
            nesterov: false,
        }
    }
}

/// SGD over the trainable variables of a `VarStore` (sorted by name).
#[derive(Debug)]
pub struct Sgd {
    cfg: SgdConfig,
    params: Vec<(String, Tensor)>,
    buffers: Vec<Option<Tensor>>,
}

impl Sgd {
    /// An optimiser over every trainable variable of `vs`.
    pub fn new(vs: &VarStore, cfg: SgdConfig) -> Self {
        let mut params: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let buffers = params.iter().map(|_| None).collect();
        Self {
            cfg,
            params,
            buffers,
        }
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &SgdConfig {
        &self.cfg
    }

    /// Sets the learning rate (for a schedule such as TransUNet's poly decay).
    pub fn set_lr(&mut self, lr: f64) {
        self.cfg.lr = lr;
    }

    /// Zeroes every gradient (PyTorch's `zero_grad(set_to_none=False)` semantics).
    pub fn zero_grad(&mut self) {
        for (_, p) in &self.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.detach_().zero_();
            }
        }
    }

    /// One update: for each parameter with a gradient,
    /// `g = grad + wd * p; buf = g (first step) or momentum * buf + (1 - dampening) * g;
    /// p -= lr * (nesterov ? g + momentum * buf : buf)`.
    pub fn step(&mut self) {
        let c = self.cfg;
        tch::no_grad(|| {
            for ((_, p), buf) in self.params.iter_mut().zip(self.buffers.iter_mut()) {
                let grad = p.grad();
                if !grad.defined() {
                    continue;
                }
                let mut g = if c.weight_decay != 0.0 {
                    &grad + &*p * c.weight_decay
                } else {
                    grad
                };
                if c.momentum != 0.0 {
                    let b = match buf.as_mut() {
                        None => buf.insert(g.detach().copy()),
                        Some(b) => {
                            let _ = b.g_mul_scalar_(c.momentum);
                            let _ = b.g_add_(&(&g * (1.0 - c.dampening)));
                            b
                        }
                    };
                    g = if c.nesterov {
                        g + &*b * c.momentum
                    } else {
                        b.shallow_clone()
                    };
                }
                let _ = p.g_sub_(&(g * c.lr));
            }
        });
    }

    /// Momentum buffers by variable name (`None` before the variable's first update).
    pub fn momentum_buffers(&self) -> Vec<(&str, Option<&Tensor>)> {
        self.params
            .iter()
            .zip(&self.buffers)
            .map(|((n, _), b)| (n.as_str(), b.as_ref()))
            .collect()
    }

    /// Restores momentum buffers saved from [`Sgd::momentum_buffers`]; unknown names are
    /// returned, shape mismatches are errors.
    pub fn set_momentum_buffers(
        &mut self,
        saved: &[(String, Tensor)],
    ) -> Result<Vec<String>, String> {
        let mut unused = Vec::new();
        for (name, t) in saved {
            match self.params.iter().position(|(n, _)| n == name) {
                Some(i) => {
                    let p = &self.params[i].1;
                    if p.size() != t.size() {
                        return Err(format!(
                            "momentum buffer {name}: shape {:?} does not match the parameter's {:?}",
                            t.size(),
                            p.size()
                        ));
                    }
                    self.buffers[i] = Some(t.to_device(p.device()).to_kind(p.kind()).detach());
                }
                None => unused.push(name.clone()),
            }
        }
        Ok(unused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::{self, Module};

    #[test]
    fn matches_the_closed_form_of_two_momentum_steps() {
        let vs = VarStore::new(tch::Device::Cpu);
        let lin = nn::linear(vs.root() / "l", 3, 1, Default::default());
        let w0 = lin.ws.copy();
        let x = Tensor::ones([1, 3], tch::kind::FLOAT_CPU);
        let cfg = SgdConfig {
            lr: 0.1,
            momentum: 0.5,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        };
        let mut opt = Sgd::new(&vs, cfg);
        for _ in 0..2 {
            opt.zero_grad();
            lin.forward(&x).sum(tch::Kind::Float).backward(); // d/dw = 1
            opt.step();
        }
        // buf1 = 1, buf2 = 0.5 * 1 + 1 = 1.5: w = w0 - 0.1 * (1 + 1.5)
        let want = w0 - 0.25;
        assert!(lin.ws.allclose(&want, 1e-6, 1e-6, false));
        assert_eq!(opt.momentum_buffers().len(), 2);
    }
}
