//! The training loss: weighted cross-entropy plus TransUNet's soft Dice.
//!
//! TransUNet trains with `0.5 * CE + 0.5 * Dice`, where the Dice loss softmaxes the logits,
//! one-hot encodes every class (background included) and, per class over the whole batch,
//! takes `1 - (2 * sum(p * g) + 1e-5) / (sum(p^2) + sum(g^2) + 1e-5)`, then averages the classes.
//! Both terms are computed in float32 whatever the forward pass's precision.
use tch::{Kind, Reduction, Tensor};

/// Smoothing constant of TransUNet's `DiceLoss`.
const DICE_SMOOTH: f64 = 1e-5;

/// TransUNet's `DiceLoss(n_classes)(logits, target, softmax=True)`.
#[derive(Debug, Clone, Copy)]
pub struct DiceLoss {
    /// Classes including background.
    pub num_classes: i64,
}

impl DiceLoss {
    /// Mean over classes of the per-class soft Dice loss.
    ///
    /// # Shapes
    /// - `logits`: (B, C, H, W), any float kind
    /// - `target`: (B, H, W), integer labels in 0..C
    /// - returns a scalar float32
    pub fn forward(&self, logits: &Tensor, target: &Tensor) -> Tensor {
        let (intersect, z_sum, y_sum) = self.class_sums(logits, target);
        dice_from_sums(&intersect, &z_sum, &y_sum)
    }

    /// The per-class sums the loss is made of, over the batch: `sum(p * g)`, `sum(p^2)`,
    /// `sum(g^2)`.
    ///
    /// # Shapes
    /// - `logits`: (B, C, H, W); `target`: (B, H, W)
    /// - returns three (C,) float32 tensors
    pub fn class_sums(&self, logits: &Tensor, target: &Tensor) -> (Tensor, Tensor, Tensor) {
        let probs = logits.to_kind(Kind::Float).softmax(1, Kind::Float); // (B, C, H, W)
        let onehot = target
            .to_kind(Kind::Int64)
            .one_hot(self.num_classes) // (B, H, W) -> (B, H, W, C)
            .permute([0, 3, 1, 2]) // -> (B, C, H, W)
            .to_kind(Kind::Float);
        let dims: &[i64] = &[0, 2, 3];
        let intersect = (&probs * &onehot).sum_dim_intlist(dims, false, Kind::Float); // (C,)
        let z_sum = (&probs * &probs).sum_dim_intlist(dims, false, Kind::Float); // (C,)
        let y_sum = (&onehot * &onehot).sum_dim_intlist(dims, false, Kind::Float); // (C,)
        (intersect, z_sum, y_sum)
    }
}

/// `mean_c(1 - (2 I_c + s) / (Z_c + Y_c + s))` from the per-class sums.
fn dice_from_sums(intersect: &Tensor, z_sum: &Tensor, y_sum: &Tensor) -> Tensor {
    let dice = (intersect * 2.0 + DICE_SMOOTH) / (z_sum + y_sum + DICE_SMOOTH);
    (-dice + 1.0).mean(Kind::Float)
}

/// The terms of one loss evaluation, kept apart for logging. All three stay on the device:
/// reading a value waits for the GPU, so a trainer reads them in batches (see the trainer).
#[derive(Debug)]
pub struct LossTerms {
    /// The tensor to back-propagate: (). One process: `ce_weight * ce + dice_weight * dice`;
    /// one of several, see [`CeDiceLoss::forward_across_ranks`].
    pub total: Tensor,
    /// `ce_weight * ce + dice_weight * dice` (detached): ().
    pub value: Tensor,
    /// Cross-entropy (detached): ().
    pub ce: Tensor,
    /// Dice loss (detached): ().
    pub dice: Tensor,
}

impl LossTerms {
    /// (total, ce, dice) detached and stacked: (3,), for reading several steps at once.
    pub fn stacked(&self) -> Tensor {
        Tensor::stack(
            &[
                self.value.shallow_clone(),
                self.ce.shallow_clone(),
                self.dice.shallow_clone(),
            ],
            0,
        )
    }
}

/// `ce_weight * CE + dice_weight * Dice`.
#[derive(Debug, Clone, Copy)]
pub struct CeDiceLoss {
    /// Weight of the cross-entropy term (TransUNet: 0.5).
    pub ce_weight: f64,
    /// Weight of the Dice term (TransUNet: 0.5).
    pub dice_weight: f64,
    /// The Dice term.
    pub dice: DiceLoss,
}

impl CeDiceLoss {
    /// A loss over `num_classes` classes with the given weights.
    pub fn new(num_classes: i64, ce_weight: f64, dice_weight: f64) -> Self {
        Self {
            ce_weight,
            dice_weight,
            dice: DiceLoss { num_classes },
        }
    }

    /// Evaluates both terms.
    ///
    /// # Shapes
    /// - `logits`: (B, C, H, W); `target`: (B, H, W) integer labels
    pub fn forward(&self, logits: &Tensor, target: &Tensor) -> LossTerms {
        let target = target.to_kind(Kind::Int64);
        let logits = logits.to_kind(Kind::Float);
        // (B, C, H, W) logits with (B, H, W) targets: torch.nn.functional.cross_entropy, mean.
        let ce = logits.cross_entropy_loss::<Tensor>(&target, None, Reduction::Mean, -100, 0.0);
        let dice = self.dice.forward(&logits, &target);
        let total = &ce * self.ce_weight + &dice * self.dice_weight;
        LossTerms {
            value: total.detach(),
            ce: ce.detach(),
            dice: dice.detach(),
            total,
        }
    }

    /// The loss of one of `world` data-parallel processes, such that the gradients averaged
    /// over the processes are the gradients one process would get from the whole global batch
    /// (local batches of equal size): the cross-entropy is this process's mean (averaging gives
    /// the global mean), and the Dice is taken from per-class sums totalled over the processes
    /// by `sum_over_ranks` (TransUNet's Dice is over the whole batch, so a per-process Dice
    /// would change the loss with the world size). The Dice's gradient reaches only this
    /// process's predictions (the others' sums enter as constants), which is its share of the
    /// global gradient; it is scaled by `world` because the gradient average divides by it.
    /// [`LossTerms::ce`] is this process's, [`LossTerms::dice`] the global batch's.
    ///
    /// # Shapes
    /// - `logits`: (B / world, C, H, W); `target`: (B / world, H, W) integer labels
    pub fn forward_across_ranks(
        &self,
        logits: &Tensor,
        target: &Tensor,
        world: usize,
        sum_over_ranks: impl FnOnce(&mut Tensor) -> anyhow::Result<()>,
    ) -> anyhow::Result<LossTerms> {
        let target = target.to_kind(Kind::Int64);
        let logits = logits.to_kind(Kind::Float);
        let ce = logits.cross_entropy_loss::<Tensor>(&target, None, Reduction::Mean, -100, 0.0);
        let (i, z, y) = self.dice.class_sums(&logits, &target);
        let local = Tensor::stack(&[i, z, y], 0); // (3, C)
        let mut global = local.detach().contiguous();
        sum_over_ranks(&mut global)?;
        // Forward value: the global sums; gradient: this process's part.
        let sums = &global + (&local - local.detach());
        let dice = dice_from_sums(&sums.get(0), &sums.get(1), &sums.get(2));
        let total = &ce * self.ce_weight + &dice * (self.dice_weight * world as f64);
        let value = (&ce * self.ce_weight + &dice * self.dice_weight).detach();
        Ok(LossTerms {
            value,
            ce: ce.detach(),
            dice: dice.detach(),
            total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_one_hot_logits_give_near_zero_dice_and_ce() {
        let target = Tensor::from_slice(&[0i64, 1, 2, 1]).view([1, 2, 2]);
        // Very confident correct logits: (B, H, W, C) one-hot * 50 -> (B, C, H, W).
        let logits = target.one_hot(3).permute([0, 3, 1, 2]).to_kind(Kind::Float) * 50.0;
        let t = CeDiceLoss::new(3, 0.5, 0.5).forward(&logits, &target);
        let v = t.stacked();
        let (ce, dice) = (v.double_value(&[1]), v.double_value(&[2]));
        assert!(ce < 1e-6, "{ce}");
        assert!(dice < 1e-5, "{dice}");
        assert_eq!(v.double_value(&[0]), t.total.double_value(&[]));
    }

    #[test]
    fn absent_class_with_zero_probability_counts_as_perfect() {
        // Class 2 absent from target and (almost) from the prediction: its Dice term is
        // (0 + 1e-5) / (~0 + 0 + 1e-5) ~ 1, so loss ~ 0, as in TransUNet.
        let target = Tensor::from_slice(&[0i64, 1, 0, 1]).view([1, 2, 2]);
        let logits = target.one_hot(3).permute([0, 3, 1, 2]).to_kind(Kind::Float) * 50.0;
        let d = DiceLoss { num_classes: 3 }
            .forward(&logits, &target)
            .double_value(&[]);
        assert!(d < 1e-5, "{d}");
    }
}
