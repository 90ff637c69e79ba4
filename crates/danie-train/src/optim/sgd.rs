//! `Sgd`: stochastic gradient descent with exactly `torch.optim.SGD`'s update (momentum,
//! dampening, weight decay, Nesterov), with its momentum buffers exposed by variable name so a
//! trainer can checkpoint and restore them.
use tch::nn::VarStore;
use tch::Tensor;

use super::param_group::ParamGroup;

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

/// SGD over the trainable variables of a `VarStore` (sorted by name), updated as one packed
/// buffer from the first step on ([`ParamGroup`]).
#[derive(Debug)]
pub struct Sgd {
    cfg: SgdConfig,
    group: ParamGroup,
    /// Momentum buffer of each variable (`None` before its first update); views into `flat_buf`
    /// for packed variables.
    buffers: Vec<Option<Tensor>>,
    /// The packed variables' momentum buffers, one buffer (`None` before the first update).
    flat_buf: Option<Tensor>,
}

impl Sgd {
    /// An optimiser over every trainable variable of `vs`.
    pub fn new(vs: &VarStore, cfg: SgdConfig) -> Self {
        let group = ParamGroup::new(vs);
        let buffers = (0..group.len()).map(|_| None).collect();
        Self {
            cfg,
            group,
            buffers,
            flat_buf: None,
        }
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &SgdConfig {
        &self.cfg
    }

    /// The variables it updates.
    pub fn group(&self) -> &ParamGroup {
        &self.group
    }

    /// Sets the learning rate (for a schedule such as TransUNet's poly decay).
    pub fn set_lr(&mut self, lr: f64) {
        self.cfg.lr = lr;
    }

    /// Zeroes every gradient (PyTorch's `zero_grad(set_to_none=False)` semantics).
    pub fn zero_grad(&mut self) {
        self.group.zero_grad();
    }

    /// One update: for each parameter with a gradient,
    /// `g = grad + wd * p; buf = g (first step) or momentum * buf + (1 - dampening) * g;
    /// p -= lr * (nesterov ? g + momentum * buf : buf)`.
    pub fn step(&mut self) {
        self.step_at(LearningRate::Value(self.cfg.lr));
    }

    /// [`Sgd::step`] at the rate `lr` holds: a 0-dim float tensor on the parameters' device, read
    /// by the update kernels themselves, so a captured CUDA graph of the step follows a schedule
    /// by refilling it (`lr * g` in float32 either way: the same values as [`Sgd::step`]).
    /// The first update (which creates the momentum buffers) must not be captured.
    pub fn step_lr_tensor(&mut self, lr: &Tensor) {
        self.step_at(LearningRate::Tensor(lr));
    }

    fn step_at(&mut self, lr: LearningRate) {
        let c = self.cfg;
        let _guard = tch::no_grad_guard();
        if self.group.packed().is_none() {
            // Pack the variables whose momentum state agrees with the majority's (all absent on
            // a fresh run, all present after a resume), so one buffer serves them all.
            let with_state = self.buffers.iter().any(Option::is_some);
            let buffers = &self.buffers;
            if self.group.pack(|i| buffers[i].is_some() == with_state) && with_state {
                let flat = self.group.flatten(|i| {
                    buffers[i]
                        .as_ref()
                        .expect("packed variables have state")
                        .shallow_clone()
                });
                self.adopt_flat_buffer(flat);
            }
        }
        if let Some(p) = self.group.packed() {
            // The first update sets the momentum to the gradient (torch's buf = g.clone()).
            let first = self.flat_buf.is_none() && c.momentum != 0.0;
            if first {
                let flat = p.params.zeros_like();
                self.adopt_flat_buffer(flat);
            }
            let p = self.group.packed().expect("packed");
            for (off, n) in self.group.pieces() {
                let buf = self.flat_buf.as_ref().map(|b| b.narrow(0, off, n));
                update(
                    &c,
                    &p.params.narrow(0, off, n),
                    &p.grads.narrow(0, off, n),
                    buf.as_ref(),
                    first,
                    lr,
                );
            }
        }
        let loose: Vec<usize> = self.group.loose().collect();
        for i in loose {
            let p = self.group.var(i);
            let grad = p.grad();
            if grad.defined() {
                let first = self.buffers[i].is_none() && c.momentum != 0.0;
                if first {
                    self.buffers[i] = Some(p.zeros_like());
                }
                update(&c, p, &grad, self.buffers[i].as_ref(), first, lr);
            }
        }
    }

    /// Makes `flat` the packed variables' momentum and their per-variable buffers views of it.
    fn adopt_flat_buffer(&mut self, flat: Tensor) {
        if let Some(p) = self.group.packed() {
            for &i in &p.members {
                self.buffers[i] = Some(self.group.view_of(&flat, i));
            }
        }
        self.flat_buf = Some(flat);
    }

    /// Momentum buffers by variable name (`None` before the variable's first update).
    pub fn momentum_buffers(&self) -> Vec<(&str, Option<&Tensor>)> {
        self.group
            .names()
            .iter()
            .zip(&self.buffers)
            .map(|(n, b)| (n.as_str(), b.as_ref()))
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
            match self.group.names().iter().position(|n| n == name) {
                Some(i) => {
                    let p = self.group.var(i);
                    if p.size() != t.size() {
                        return Err(format!(
                            "momentum buffer {name}: shape {:?} does not match the parameter's {:?}",
                            t.size(),
                            p.size()
                        ));
                    }
                    let t = t.to_device(p.device()).to_kind(p.kind()).detach();
                    match &mut self.buffers[i] {
                        // A view into the packed buffer: write through it.
                        Some(b) if self.group.is_packed(i) => {
                            tch::no_grad(|| b.copy_(&t));
                        }
                        b => *b = Some(t),
                    }
                }
                None => unused.push(name.clone()),
            }
        }
        Ok(unused)
    }
}

/// The learning rate of one update: a number, or a 0-dim tensor on the parameters' device.
#[derive(Clone, Copy)]
enum LearningRate<'a> {
    Value(f64),
    Tensor(&'a Tensor),
}

/// torch.optim.SGD's update of one tensor (or of a piece of a packed buffer) in place; `buf` is
/// the momentum buffer (`None` without momentum), set to the gradient on the `first` update.
fn update(
    c: &SgdConfig,
    p: &Tensor,
    grad: &Tensor,
    buf: Option<&Tensor>,
    first: bool,
    lr: LearningRate,
) {
    let mut g = if c.weight_decay != 0.0 {
        grad + p * c.weight_decay
    } else {
        grad.shallow_clone()
    };
    if let (Some(b), true) = (buf, c.momentum != 0.0) {
        let mut b = b.shallow_clone();
        if first {
            b.copy_(&g);
        } else {
            let _ = b.g_mul_scalar_(c.momentum);
            let _ = b.g_add_(&(&g * (1.0 - c.dampening)));
        }
        g = if c.nesterov { g + &b * c.momentum } else { b };
    }
    let step = match lr {
        LearningRate::Value(v) => g * v,
        LearningRate::Tensor(t) => g * t,
    };
    let _ = p.shallow_clone().g_sub_(&step);
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

    #[test]
    fn a_learning_rate_tensor_updates_exactly_as_the_number() {
        // Same init, same gradients, a changing rate: bit-identical weights either way. (No
        // global RNG: tests run in parallel threads.)
        let run = |as_tensor: bool| {
            let vs = VarStore::new(tch::Device::Cpu);
            let lin = nn::linear(vs.root() / "l", 5, 2, Default::default());
            tch::no_grad(|| {
                let w = Tensor::linspace(-1.0, 0.7, 10, tch::kind::FLOAT_CPU).view([2, 5]);
                lin.ws.shallow_clone().copy_(&w);
                let _ = lin.bs.as_ref().expect("bias").shallow_clone().fill_(0.25);
            });
            let x = Tensor::linspace(-2.0, 3.0, 20, tch::kind::FLOAT_CPU)
                .view([4, 5])
                .sin();
            let mut opt = Sgd::new(&vs, SgdConfig::default());
            let lr_t = Tensor::zeros([], tch::kind::FLOAT_CPU);
            for lr in [0.1, 0.05, 0.0123] {
                opt.zero_grad();
                lin.forward(&x).square().sum(tch::Kind::Float).backward();
                if as_tensor {
                    let _ = lr_t.shallow_clone().fill_(lr);
                    opt.step_lr_tensor(&lr_t);
                } else {
                    opt.set_lr(lr);
                    opt.step();
                }
            }
            lin.ws.copy()
        };
        let (a, b) = (run(false), run(true));
        assert!(a.equal(&b), "{a} vs {b}");
    }
}
