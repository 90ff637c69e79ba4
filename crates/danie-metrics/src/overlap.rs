//! Voxel counts of a prediction/reference pair and the overlap scores built from them.
use ndarray::{ArrayViewD, Zip};
use serde::{Deserialize, Serialize};

use crate::error::check_pair;
use crate::error::Result;

/// Which of the two masks hold any voxel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// Both masks are non-empty: every metric is defined.
    Both,
    /// Only the prediction has voxels (a false positive class).
    PredOnly,
    /// Only the reference has voxels (a missed class).
    GtOnly,
    /// Both masks are empty.
    Neither,
}

/// Voxel counts of one class in one case.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlapCounts {
    /// Voxels in the prediction mask.
    pub pred: u64,
    /// Voxels in the reference mask.
    pub gt: u64,
    /// Voxels in both.
    pub intersection: u64,
}

impl OverlapCounts {
    /// Which masks are non-empty.
    pub fn presence(&self) -> Presence {
        match (self.pred > 0, self.gt > 0) {
            (true, true) => Presence::Both,
            (true, false) => Presence::PredOnly,
            (false, true) => Presence::GtOnly,
            (false, false) => Presence::Neither,
        }
    }

    /// medpy `dc`: 2|A∩B| / (|A| + |B|); two empty masks give 1.
    pub fn dice_medpy(&self) -> f64 {
        let den = self.pred + self.gt;
        if den == 0 {
            1.0
        } else {
            2.0 * self.intersection as f64 / den as f64
        }
    }

    /// medpy `jc`: |A∩B| / |A∪B|; two empty masks give 1.
    pub fn iou_medpy(&self) -> f64 {
        let union = self.pred + self.gt - self.intersection;
        if union == 0 {
            1.0
        } else {
            self.intersection as f64 / union as f64
        }
    }

    /// MONAI `compute_dice` (float32, `ignore_empty=True`): NaN when the reference is empty.
    pub fn dice_monai(&self) -> f64 {
        if self.gt == 0 {
            return f64::NAN;
        }
        // (2 * sum(y[y_pred])) / (sum(y) + sum(y_pred)), all float32
        let num = 2.0f32 * self.intersection as f32;
        let den = self.gt as f32 + self.pred as f32;
        f64::from(num / den)
    }

    /// MONAI `compute_iou` (float32, `ignore_empty=True`): NaN when the reference is empty.
    pub fn iou_monai(&self) -> f64 {
        if self.gt == 0 {
            return f64::NAN;
        }
        let inter = self.intersection as f32;
        let union = (self.gt as f32 + self.pred as f32) - inter;
        f64::from(inter / union)
    }

    /// Adds another pair's counts.
    pub fn add(&mut self, other: &Self) {
        self.pred += other.pred;
        self.gt += other.gt;
        self.intersection += other.intersection;
    }
}

/// Voxel counts of two boolean masks.
///
/// # Shapes
/// `pred`, `gt`: the same N-D shape.
pub fn overlap_counts(pred: ArrayViewD<bool>, gt: ArrayViewD<bool>) -> Result<OverlapCounts> {
    check_pair(pred.shape(), gt.shape())?;
    let c = Zip::from(&pred).and(&gt).par_fold(
        OverlapCounts::default,
        |mut c, &p, &g| {
            c.pred += u64::from(p);
            c.gt += u64::from(g);
            c.intersection += u64::from(p && g);
            c
        },
        |mut a, b| {
            a.add(&b);
            a
        },
    );
    Ok(c)
}

/// medpy `dc` of two boolean masks (two empty masks: 1).
pub fn dice(pred: ArrayViewD<bool>, gt: ArrayViewD<bool>) -> Result<f64> {
    Ok(overlap_counts(pred, gt)?.dice_medpy())
}

/// medpy `jc` (IoU) of two boolean masks (two empty masks: 1).
pub fn iou(pred: ArrayViewD<bool>, gt: ArrayViewD<bool>) -> Result<f64> {
    Ok(overlap_counts(pred, gt)?.iou_medpy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_rules() {
        let none = OverlapCounts::default();
        assert_eq!(none.dice_medpy(), 1.0);
        assert_eq!(none.iou_medpy(), 1.0);
        assert!(none.dice_monai().is_nan());
        let fp = OverlapCounts {
            pred: 4,
            gt: 0,
            intersection: 0,
        };
        assert_eq!(fp.dice_medpy(), 0.0);
        assert!(fp.iou_monai().is_nan());
        let c = OverlapCounts {
            pred: 3,
            gt: 5,
            intersection: 2,
        };
        assert_eq!(c.dice_medpy(), 0.5);
        assert_eq!(c.iou_medpy(), 2.0 / 6.0);
        assert_eq!(c.presence(), Presence::Both);
    }
}
