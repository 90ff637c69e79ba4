//! The learning-rate schedule: TransUNet's poly decay with an optional linear warm-up.
//!
//! TransUNet sets, *after* each optimiser step, `lr = base * (1 - iter_num / max_iterations)^0.9`
//! and only then increments `iter_num`. So step 0 and step 1 both run at `base`, and step k >= 1
//! runs at `base * (1 - (k - 1) / max)^power`. This reproduces that exactly. The warm-up is torch's
//! `LinearLR(start_factor, end_factor=1, total_iters=warmup)` multiplied onto the poly value
//! (a `ChainedScheduler` of the two).

/// The poly schedule with an optional warm-up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LrSchedule {
    /// Base learning rate.
    pub base_lr: f64,
    /// Total optimiser steps (TransUNet's `max_iterations`).
    pub max_iterations: usize,
    /// Poly power (0: constant).
    pub power: f64,
    /// Warm-up length in steps (0: none).
    pub warmup_iters: usize,
    /// Warm-up factor at step 0.
    pub warmup_start_factor: f64,
}

impl LrSchedule {
    /// The learning rate the optimiser uses at 0-based step `step`.
    pub fn lr_at(&self, step: usize) -> f64 {
        let poly = if step == 0 {
            self.base_lr
        } else {
            let done = (step - 1) as f64 / self.max_iterations.max(1) as f64;
            self.base_lr * (1.0 - done).max(0.0).powf(self.power)
        };
        poly * self.warmup_factor(step)
    }

    /// torch `LinearLR` factor at step `step`: start + (1 - start) * min(step, W) / W.
    fn warmup_factor(&self, step: usize) -> f64 {
        if self.warmup_iters == 0 || step >= self.warmup_iters {
            return 1.0;
        }
        let s = self.warmup_start_factor;
        s + (1.0 - s) * step as f64 / self.warmup_iters as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_two_steps_run_at_base_then_poly_decays_to_near_zero() {
        let s = LrSchedule {
            base_lr: 0.01,
            max_iterations: 100,
            power: 0.9,
            warmup_iters: 0,
            warmup_start_factor: 1.0,
        };
        assert_eq!(s.lr_at(0), 0.01);
        assert_eq!(s.lr_at(1), 0.01);
        assert!((s.lr_at(2) - 0.01 * 0.99f64.powf(0.9)).abs() < 1e-15);
        assert!(s.lr_at(99) < s.lr_at(50));
    }
}
