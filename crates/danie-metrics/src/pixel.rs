//! Pixel metrics of binary segmentation (ISIC 2017/2018): a confusion matrix pooled over the
//! whole test set, and the same scores averaged per image.
use ndarray::{ArrayViewD, Zip};
use serde::{Deserialize, Serialize};

use crate::error::check_pair;
use crate::error::Result;

/// True/false positives/negatives of a binary prediction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionCounts {
    /// Predicted and reference foreground.
    pub tp: u64,
    /// Predicted foreground, reference background.
    pub fp: u64,
    /// Predicted and reference background.
    pub tn: u64,
    /// Predicted background, reference foreground.
    pub fn_: u64,
}

/// Ratio with 0/0 = NaN (MONAI's `compute_confusion_matrix_metric`).
fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        f64::NAN
    } else {
        num as f64 / den as f64
    }
}

impl ConfusionCounts {
    /// Counts of a mask pair.
    ///
    /// # Shapes
    /// `pred`, `gt`: the same N-D shape.
    pub fn of(pred: ArrayViewD<bool>, gt: ArrayViewD<bool>) -> Result<Self> {
        check_pair(pred.shape(), gt.shape())?;
        Ok(Zip::from(&pred).and(&gt).par_fold(
            Self::default,
            |mut c, &p, &g| {
                match (p, g) {
                    (true, true) => c.tp += 1,
                    (true, false) => c.fp += 1,
                    (false, false) => c.tn += 1,
                    (false, true) => c.fn_ += 1,
                }
                c
            },
            |a, b| a.plus(&b),
        ))
    }

    /// The sum of two confusion matrices.
    pub fn plus(&self, o: &Self) -> Self {
        Self {
            tp: self.tp + o.tp,
            fp: self.fp + o.fp,
            tn: self.tn + o.tn,
            fn_: self.fn_ + o.fn_,
        }
    }

    /// Accuracy, sensitivity, specificity, Dice (F1) and IoU.
    pub fn scores(&self) -> PixelScores {
        let Self { tp, fp, tn, fn_ } = *self;
        PixelScores {
            accuracy: ratio(tp + tn, tp + tn + fp + fn_),
            sensitivity: ratio(tp, tp + fn_),
            specificity: ratio(tn, tn + fp),
            dice: ratio(2 * tp, 2 * tp + fp + fn_),
            iou: ratio(tp, tp + fp + fn_),
        }
    }
}

/// The ISIC scores (0/0 gives NaN).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PixelScores {
    /// (TP + TN) / all.
    #[serde(with = "crate::nonfinite")]
    pub accuracy: f64,
    /// TP / (TP + FN).
    #[serde(with = "crate::nonfinite")]
    pub sensitivity: f64,
    /// TN / (TN + FP).
    #[serde(with = "crate::nonfinite")]
    pub specificity: f64,
    /// 2 TP / (2 TP + FP + FN): F1 of the flattened arrays.
    #[serde(with = "crate::nonfinite")]
    pub dice: f64,
    /// TP / (TP + FP + FN).
    #[serde(with = "crate::nonfinite")]
    pub iou: f64,
}

impl PixelScores {
    fn values(&self) -> [f64; 5] {
        [
            self.accuracy,
            self.sensitivity,
            self.specificity,
            self.dice,
            self.iou,
        ]
    }
}

/// Pooled and per-image scores of a test set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PixelSummary {
    /// Number of images.
    pub n_images: usize,
    /// The confusion matrix summed over all pixels of all images.
    pub pooled_counts: ConfusionCounts,
    /// Scores of the pooled matrix (the ISIC papers' numbers).
    pub pooled: PixelScores,
    /// Per-image scores averaged over images (NaN images left out).
    pub per_image_mean: PixelScores,
}

/// Accumulates ISIC pixel metrics image by image.
#[derive(Debug, Clone, Default)]
pub struct PixelMetrics {
    per_image: Vec<ConfusionCounts>,
}

impl PixelMetrics {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one image's binary masks.
    pub fn update(
        &mut self,
        pred: ArrayViewD<bool>,
        gt: ArrayViewD<bool>,
    ) -> Result<ConfusionCounts> {
        let c = ConfusionCounts::of(pred, gt)?;
        self.push(c);
        Ok(c)
    }

    /// Adds one image's confusion matrix counted elsewhere (another process of a sharded
    /// evaluation), as [`Self::update`] would have.
    pub fn push(&mut self, counts: ConfusionCounts) {
        self.per_image.push(counts);
    }

    /// Adds one image's foreground scores, thresholded as `score >= threshold` (ISIC: 0.5).
    pub fn update_scores(
        &mut self,
        scores: ArrayViewD<f32>,
        gt: ArrayViewD<bool>,
        threshold: f32,
    ) -> Result<ConfusionCounts> {
        let pred = scores.mapv(|s| s >= threshold);
        self.update(pred.view(), gt)
    }

    /// The per-image confusion matrices so far.
    pub fn images(&self) -> &[ConfusionCounts] {
        &self.per_image
    }

    /// Pooled and per-image-mean scores.
    pub fn aggregate(&self) -> PixelSummary {
        let pooled_counts = self
            .per_image
            .iter()
            .fold(ConfusionCounts::default(), |a, b| a.plus(b));
        let per: Vec<[f64; 5]> = self.per_image.iter().map(|c| c.scores().values()).collect();
        let mean = |i: usize| crate::cohort::MetricStat::of(per.iter().map(|v| v[i])).mean;
        PixelSummary {
            n_images: self.per_image.len(),
            pooled_counts,
            pooled: pooled_counts.scores(),
            per_image_mean: PixelScores {
                accuracy: mean(0),
                sensitivity: mean(1),
                specificity: mean(2),
                dice: mean(3),
                iou: mean(4),
            },
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
    fn pooled_differs_from_per_image_mean() {
        let mut m = PixelMetrics::new();
        let p = array![[true, true], [false, false]].into_dyn();
        let g = array![[true, false], [false, false]].into_dyn();
        let c = m.update(p.view(), g.view()).unwrap();
        assert_eq!(
            c,
            ConfusionCounts {
                tp: 1,
                fp: 1,
                tn: 2,
                fn_: 0
            }
        );
        let s = array![[0.9f32, 0.2], [0.5, 0.1]].into_dyn();
        let g2 = array![[true, true], [true, true]].into_dyn();
        m.update_scores(s.view(), g2.view(), 0.5).unwrap();
        let a = m.aggregate();
        assert_eq!(
            a.pooled_counts,
            ConfusionCounts {
                tp: 3,
                fp: 1,
                tn: 2,
                fn_: 2
            }
        );
        assert_eq!(a.pooled.dice, 6.0 / 9.0);
        // Image 2 has no negatives: specificity NaN there, left out of the mean.
        assert_eq!(a.per_image_mean.specificity, 2.0 / 3.0);
        assert_eq!(a.per_image_mean.sensitivity, 0.75);
    }
}
