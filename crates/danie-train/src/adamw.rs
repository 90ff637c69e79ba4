//! AdamW with torch.optim.AdamW's exact update (its single-tensor path, which CPU tensors take),
//! and its state as named tensors so that a checkpoint can save and restore it.
//!
//! Per parameter, at step t (counted from 1):
//! `p *= 1 - lr * wd; m = lerp(m, g, 1 - b1); v = v * b2 + (1 - b2) * g * g;
//!  p += -(lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`.
use tch::nn::VarStore;
use tch::Tensor;

/// AdamW hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig {
    /// (beta1, beta2).
    pub betas: (f64, f64),
    /// Denominator epsilon.
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
}

/// AdamW over the trainable variables of a `VarStore` (sorted by name, as danie-model's Sgd).
pub struct AdamW {
    cfg: AdamWConfig,
    lr: f64,
    params: Vec<(String, Tensor)>,
    exp_avg: Vec<Tensor>,
    exp_avg_sq: Vec<Tensor>,
    /// Steps taken (torch keeps one per parameter; they are always equal here).
    step: u64,
}

impl AdamW {
    /// An optimiser over every trainable variable of `vs`, moments zeroed as torch does.
    pub fn new(vs: &VarStore, lr: f64, cfg: AdamWConfig) -> Self {
        let mut params: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let zeros = |ps: &[(String, Tensor)]| ps.iter().map(|(_, t)| t.zeros_like()).collect();
        Self {
            cfg,
            lr,
            exp_avg: zeros(&params),
            exp_avg_sq: zeros(&params),
            params,
            step: 0,
        }
    }

    /// Sets the learning rate of the next steps.
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Zeroes every gradient (`zero_grad(set_to_none=False)`).
    pub fn zero_grad(&mut self) {
        for (_, p) in &self.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.detach_().zero_();
            }
        }
    }

    /// One update; parameters without a gradient are skipped (torch too).
    pub fn step(&mut self) {
        let _guard = tch::no_grad_guard();
        self.step += 1;
        let lr = self.lr;
        let (b1, b2) = self.cfg.betas;
        let t = self.step as f64;
        let bias1 = 1.0 - b1.powf(t);
        let bias2_sqrt = (1.0 - b2.powf(t)).sqrt();
        let step_size = lr / bias1;
        for (((_, p), m), v) in self
            .params
            .iter_mut()
            .zip(self.exp_avg.iter_mut())
            .zip(self.exp_avg_sq.iter_mut())
        {
            let g = p.grad();
            if !g.defined() {
                continue;
            }
            if self.cfg.weight_decay != 0.0 {
                let _ = p.g_mul_scalar_(1.0 - lr * self.cfg.weight_decay);
            }
            let _ = m.lerp_(&g, 1.0 - b1);
            // addcmul_(g, g, value=1-b2) evaluates (value * g) * g, then adds.
            let _ = v.g_mul_scalar_(b2);
            let _ = v.g_add_(&(&g * (1.0 - b2) * &g));
            let denom = v.sqrt() / bias2_sqrt + self.cfg.eps;
            // addcdiv_(m, denom, value=-step_size) evaluates (value * m) / denom, then adds.
            let _ = p.g_add_(&((&*m * -step_size) / denom));
        }
    }

    /// The state as named tensors: `exp_avg.<var>`, `exp_avg_sq.<var>` and `step`.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(2 * self.params.len() + 1);
        for (((name, _), m), v) in self.params.iter().zip(&self.exp_avg).zip(&self.exp_avg_sq) {
            out.push((format!("exp_avg.{name}"), m.shallow_clone()));
            out.push((format!("exp_avg_sq.{name}"), v.shallow_clone()));
        }
        out.push(("step".into(), Tensor::from_slice(&[self.step as i64])));
        out
    }

    /// Restores a state written by [`AdamW::state`]; names and shapes must match.
    pub fn load_state(&mut self, state: &[(String, Tensor)]) -> anyhow::Result<()> {
        let get = |name: &str| {
            state
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t)
                .ok_or_else(|| anyhow::anyhow!("the AdamW state lacks `{name}`"))
        };
        let _guard = tch::no_grad_guard();
        for (i, (pname, _)) in self.params.iter().enumerate() {
            for (name, dst) in [
                (format!("exp_avg.{pname}"), &mut self.exp_avg[i]),
                (format!("exp_avg_sq.{pname}"), &mut self.exp_avg_sq[i]),
            ] {
                let src = get(&name)?;
                anyhow::ensure!(
                    src.size() == dst.size(),
                    "AdamW state `{name}` has shape {:?}, the parameter {:?}",
                    src.size(),
                    dst.size()
                );
                dst.copy_(src);
            }
        }
        self.step = get("step")?.int64_value(&[0]) as u64;
        Ok(())
    }
}
