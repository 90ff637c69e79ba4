//! AdamW with torch.optim.AdamW's exact update (its single-tensor path, which CPU tensors take),
//! and its state as named tensors so that a checkpoint can save and restore it.
//!
//! Per parameter, at step t (counted from 1):
//! `p *= 1 - lr * wd; m = lerp(m, g, 1 - b1); v = v * b2 + (1 - b2) * g * g;
//!  p += -(lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`.
use super::param_group::ParamGroup;
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

/// AdamW over the trainable variables of a `VarStore` (sorted by name, as danie-model's Sgd),
/// updated as one packed buffer from the first step on ([`ParamGroup`]).
pub struct AdamW {
    cfg: AdamWConfig,
    lr: f64,
    group: ParamGroup,
    /// First and second moments of each variable; views into `flat` once packed.
    exp_avg: Vec<Tensor>,
    exp_avg_sq: Vec<Tensor>,
    /// The packed variables' (exp_avg, exp_avg_sq).
    flat: Option<(Tensor, Tensor)>,
    /// Steps taken (torch keeps one per parameter; they are always equal here).
    step: u64,
}

impl AdamW {
    /// An optimiser over every trainable variable of `vs`, moments zeroed as torch does.
    pub fn new(vs: &VarStore, lr: f64, cfg: AdamWConfig) -> Self {
        let group = ParamGroup::new(vs);
        let zeros = |g: &ParamGroup| (0..g.len()).map(|i| g.var(i).zeros_like()).collect();
        Self {
            cfg,
            lr,
            exp_avg: zeros(&group),
            exp_avg_sq: zeros(&group),
            group,
            flat: None,
            step: 0,
        }
    }

    /// The variables it updates.
    pub fn group(&self) -> &ParamGroup {
        &self.group
    }

    /// Sets the learning rate of the next steps.
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Zeroes every gradient (`zero_grad(set_to_none=False)`).
    pub fn zero_grad(&mut self) {
        self.group.zero_grad();
    }

    /// One update; parameters without a gradient are skipped (torch too).
    pub fn step(&mut self) {
        let _guard = tch::no_grad_guard();
        self.step += 1;
        if self.flat.is_none() && self.group.pack(|_| true) {
            let (m, v) = (&self.exp_avg, &self.exp_avg_sq);
            let flat = (
                self.group.flatten(|i| m[i].shallow_clone()),
                self.group.flatten(|i| v[i].shallow_clone()),
            );
            for &i in &self.group.packed().expect("packed").members {
                self.exp_avg[i] = self.group.view_of(&flat.0, i);
                self.exp_avg_sq[i] = self.group.view_of(&flat.1, i);
            }
            self.flat = Some(flat);
        }
        let t = Step::new(&self.cfg, self.lr, self.step);
        if let (Some(p), Some((m, v))) = (self.group.packed(), &self.flat) {
            for (off, n) in self.group.pieces() {
                let piece = |x: &Tensor| x.narrow(0, off, n);
                t.update(&piece(&p.params), &piece(&p.grads), &piece(m), &piece(v));
            }
        }
        for i in self.group.loose() {
            let p = self.group.var(i);
            let g = p.grad();
            if g.defined() {
                t.update(p, &g, &self.exp_avg[i], &self.exp_avg_sq[i]);
            }
        }
    }

    /// The state as named tensors: `exp_avg.<var>`, `exp_avg_sq.<var>` and `step`.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(2 * self.group.len() + 1);
        for ((name, m), v) in self
            .group
            .names()
            .iter()
            .zip(&self.exp_avg)
            .zip(&self.exp_avg_sq)
        {
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
        // Every check before any copy: a refused state leaves the optimiser as it was.
        let step = read_step(get("step")?)?;
        let _guard = tch::no_grad_guard();
        for (i, pname) in self.group.names().iter().enumerate() {
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
                dst.f_copy_(src)
                    .map_err(|e| anyhow::anyhow!("AdamW state `{name}`: {e}"))?;
            }
        }
        self.step = step;
        Ok(())
    }
}

/// The steps taken, from a state's `step`: one whole number, 0 or more (danie writes it as a
/// 1-element int64 tensor, PyTorch as a 0-dimensional float one; either is read).
fn read_step(t: &Tensor) -> anyhow::Result<u64> {
    anyhow::ensure!(
        t.numel() == 1,
        "the AdamW state's `step` holds {} values (shape {:?}), not one",
        t.numel(),
        t.size()
    );
    let v = t
        .f_to_kind(tch::Kind::Double)
        .and_then(|d| d.f_reshape([1]))
        .and_then(|d| d.f_double_value(&[0]))
        .map_err(|e| anyhow::anyhow!("the AdamW state's `step`: {e}"))?;
    // Beyond 2^53 a float no longer counts steps exactly (and no run takes that many).
    anyhow::ensure!(
        v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= 2f64.powi(53),
        "the AdamW state's `step` is {v}, not a count of steps"
    );
    Ok(v as u64)
}

/// One step's constants, and torch.optim.AdamW's single-tensor update.
struct Step {
    lr: f64,
    weight_decay: f64,
    b1: f64,
    b2: f64,
    eps: f64,
    step_size: f64,
    bias2_sqrt: f64,
}

impl Step {
    fn new(cfg: &AdamWConfig, lr: f64, step: u64) -> Self {
        let (b1, b2) = cfg.betas;
        let t = step as f64;
        Self {
            lr,
            weight_decay: cfg.weight_decay,
            b1,
            b2,
            eps: cfg.eps,
            step_size: lr / (1.0 - b1.powf(t)),
            bias2_sqrt: (1.0 - b2.powf(t)).sqrt(),
        }
    }

    /// Updates `p` and its moments in place (one variable or a packed buffer of many).
    fn update(&self, p: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor) {
        let (mut p, mut m, mut v) = (p.shallow_clone(), m.shallow_clone(), v.shallow_clone());
        if self.weight_decay != 0.0 {
            let _ = p.g_mul_scalar_(1.0 - self.lr * self.weight_decay);
        }
        let _ = m.lerp_(g, 1.0 - self.b1);
        // addcmul_(g, g, value=1-b2) evaluates (value * g) * g, then adds.
        let _ = v.g_mul_scalar_(self.b2);
        let _ = v.g_add_(&(g * (1.0 - self.b2) * g));
        let denom = v.sqrt() / self.bias2_sqrt + self.eps;
        // addcdiv_(m, denom, value=-step_size) evaluates (value * m) / denom, then adds.
        let _ = p.g_add_(&((&m * -self.step_size) / denom));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn adamw() -> (VarStore, AdamW) {
        let vs = VarStore::new(Device::Cpu);
        let _w = vs.root().zeros("w", &[3]);
        let cfg = AdamWConfig {
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.01,
        };
        let opt = AdamW::new(&vs, 1e-3, cfg);
        (vs, opt)
    }

    /// A complete state, its moments all ones, with `step`.
    fn state_with_step(step: Tensor) -> Vec<(String, Tensor)> {
        let (_vs, opt) = adamw();
        let mut state: Vec<(String, Tensor)> = opt
            .state()
            .into_iter()
            .filter(|(n, _)| n != "step")
            .map(|(n, t)| (n, t.ones_like()))
            .collect();
        state.push(("step".into(), step));
        state
    }

    #[test]
    fn a_saved_step_reads_back_in_danies_form_and_pytorchs() {
        let (_vs, mut opt) = adamw();
        opt.load_state(&state_with_step(Tensor::from_slice(&[7i64])))
            .unwrap();
        assert_eq!(opt.step, 7);
        // torch.optim.AdamW keeps `step` as a 0-dimensional float32 tensor.
        let torch_step = Tensor::from(12.0f32);
        assert_eq!(torch_step.dim(), 0);
        opt.load_state(&state_with_step(torch_step)).unwrap();
        assert_eq!(opt.step, 12);
        assert_eq!(opt.state().last().unwrap().1.int64_value(&[0]), 12);
    }

    #[test]
    fn a_step_that_is_no_count_is_an_error_not_a_panic() {
        let cases = [
            (
                Tensor::zeros([0], (Kind::Int64, Device::Cpu)),
                "holds 0 values",
            ),
            (Tensor::from_slice(&[1i64, 2]), "holds 2 values"),
            (Tensor::from_slice(&[-3i64]), "is -3, not a count"),
            (Tensor::from_slice(&[2.5f32]), "is 2.5, not a count"),
            (Tensor::from_slice(&[f32::NAN]), "not a count"),
        ];
        for (step, want) in cases {
            let (_vs, mut opt) = adamw();
            let e = opt
                .load_state(&state_with_step(step))
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{want}: {e}");
            // Refused whole: the moments stay as they were (zero), not the file's ones.
            let moved = opt.exp_avg[0].abs().sum(Kind::Float).double_value(&[]);
            assert_eq!(moved, 0.0, "{want}: the moments were overwritten");
        }
    }
}
