//! GlaS gland segmentation: per-image Dice and IoU of the binarised masks, averaged.
//!
//! The `_anno` images are instance maps; segmentation papers score `anno > 0`. Per image the
//! scores are medpy's `dc` and `jc` (two empty masks score 1).
use ndarray::ArrayViewD;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::label::LabelValue;
use crate::overlap::{overlap_counts, OverlapCounts};

/// Mean per-image Dice (mDice) and IoU (mIoU) of a GlaS test set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GlasSummary {
    /// Number of images.
    pub n_images: usize,
    /// Mean over images of the per-image Dice.
    #[serde(with = "crate::nonfinite")]
    pub m_dice: f64,
    /// Mean over images of the per-image IoU.
    #[serde(with = "crate::nonfinite")]
    pub m_iou: f64,
}

/// Accumulates GlaS per-image scores.
#[derive(Debug, Clone, Default)]
pub struct GlasMetrics {
    per_image: Vec<OverlapCounts>,
}

impl GlasMetrics {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one image's binary prediction and reference masks; returns its (Dice, IoU).
    pub fn update(&mut self, pred: ArrayViewD<bool>, gt: ArrayViewD<bool>) -> Result<(f64, f64)> {
        Ok(self.push(overlap_counts(pred, gt)?))
    }

    /// Adds one image's counts computed elsewhere (another process of a sharded evaluation), as
    /// [`Self::update`] would have; returns its (Dice, IoU).
    pub fn push(&mut self, counts: OverlapCounts) -> (f64, f64) {
        self.per_image.push(counts);
        (counts.dice_medpy(), counts.iou_medpy())
    }

    /// Adds one image whose reference is an instance map (glands `> 0`).
    pub fn update_instances<T: LabelValue>(
        &mut self,
        pred: ArrayViewD<bool>,
        gt_instances: ArrayViewD<T>,
    ) -> Result<(f64, f64)> {
        let gt = gt_instances.mapv(|v| v.label().is_some_and(|l| l > 0));
        self.update(pred, gt.view())
    }

    /// mDice and mIoU over the images so far.
    pub fn aggregate(&self) -> GlasSummary {
        let n = self.per_image.len();
        let mean =
            |f: fn(&OverlapCounts) -> f64| self.per_image.iter().map(f).sum::<f64>() / n as f64;
        GlasSummary {
            n_images: n,
            m_dice: mean(OverlapCounts::dice_medpy),
            m_iou: mean(OverlapCounts::iou_medpy),
        }
    }

    /// Forgets every image.
    pub fn reset(&mut self) {
        self.per_image.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn instance_maps_are_binarised_and_empty_pairs_score_one() {
        let mut m = GlasMetrics::new();
        let p = array![[true, true, false, false]].into_dyn();
        let g = array![[3u8, 0, 7, 0]].into_dyn();
        assert_eq!(
            m.update_instances(p.view(), g.view()).unwrap(),
            (0.5, 1.0 / 3.0)
        );
        let e = array![[false, false]].into_dyn();
        assert_eq!(m.update(e.view(), e.view()).unwrap(), (1.0, 1.0));
        let s = m.aggregate();
        assert_eq!((s.m_dice, s.m_iou), (0.75, 2.0 / 3.0));
    }
}
