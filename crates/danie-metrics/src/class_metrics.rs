//! The six metrics of one class in one case, under one convention.
use serde::{Deserialize, Serialize};

use crate::convention::Convention;
use crate::overlap::{OverlapCounts, Presence};
use crate::surface_distance::SurfaceDistances;

/// Dice, IoU, HD, HD95, ASD and ASSD: of one class in one case ([`ClassMetrics`]), or their
/// means over classes ([`crate::CohortSummary::mean`]).
///
/// Distances are in the unit of the spacing (mm with header spacing, voxels with unit spacing).
/// Values the convention leaves undefined are NaN, infinite ones inf; JSON writes them as the
/// strings `"NaN"` and `"inf"`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricValues {
    /// Dice coefficient.
    #[serde(with = "crate::nonfinite")]
    pub dice: f64,
    /// Intersection over union (Jaccard).
    #[serde(with = "crate::nonfinite")]
    pub iou: f64,
    /// Hausdorff distance (maximum).
    #[serde(with = "crate::nonfinite")]
    pub hd: f64,
    /// 95th-percentile Hausdorff distance, by the convention's definition.
    #[serde(with = "crate::nonfinite")]
    pub hd95: f64,
    /// Average surface distance from prediction to reference (directed).
    #[serde(with = "crate::nonfinite")]
    pub asd: f64,
    /// Average symmetric surface distance (both directions pooled).
    #[serde(with = "crate::nonfinite")]
    pub assd: f64,
}

impl MetricValues {
    /// From the six values in [`METRIC_NAMES`] order.
    pub fn from_array([dice, iou, hd, hd95, asd, assd]: [f64; 6]) -> Self {
        Self {
            dice,
            iou,
            hd,
            hd95,
            asd,
            assd,
        }
    }

    /// The six values in [`METRIC_NAMES`] order.
    pub fn values(&self) -> [f64; 6] {
        [self.dice, self.iou, self.hd, self.hd95, self.asd, self.assd]
    }
}

/// The six metrics of one class in one case, with the voxel counts behind them.
///
/// `presence` says which masks were empty. In JSON the metrics sit beside `label` and the
/// counts (one flat object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// The class label.
    pub label: u32,
    /// Which of prediction and reference hold the class.
    pub presence: Presence,
    /// Voxels of the class in the prediction.
    pub pred_voxels: u64,
    /// Voxels of the class in the reference.
    pub gt_voxels: u64,
    /// Dice, IoU, HD, HD95, ASD, ASSD.
    #[serde(flatten)]
    pub metrics: MetricValues,
}

/// The names of the six metrics, in field order.
pub const METRIC_NAMES: [&str; 6] = ["dice", "iou", "hd", "hd95", "asd", "assd"];

impl ClassMetrics {
    /// Applies `convention` to a class's voxel counts and surface distances.
    ///
    /// `distances` must come from the same masks (empty when either mask is empty).
    pub fn from_parts(
        label: u32,
        counts: OverlapCounts,
        distances: &SurfaceDistances,
        convention: Convention,
    ) -> Self {
        let presence = counts.presence();
        let nan = f64::NAN;
        let values = match (convention, presence) {
            (Convention::Medpy, Presence::Both) => [
                counts.dice_medpy(),
                counts.iou_medpy(),
                distances.hausdorff(),
                distances.hd95_medpy(),
                distances.asd(),
                distances.assd(),
            ],
            // medpy raises RuntimeError for the distances of an empty mask.
            (Convention::Medpy, _) => [counts.dice_medpy(), counts.iou_medpy(), nan, nan, nan, nan],
            (Convention::Monai, Presence::Both) => {
                let d = distances.rounded_to_f32();
                [
                    counts.dice_monai(),
                    counts.iou_monai(),
                    d.hausdorff(),
                    distances.hd95_monai(),
                    d.asd(),
                    d.assd(),
                ]
            }
            (Convention::Monai, Presence::Neither) => [nan; 6],
            // One empty mask: every distance is inf, so the maxima and means are inf and
            // torch.quantile of infs is NaN.
            (Convention::Monai, _) => {
                let inf = f64::INFINITY;
                [counts.dice_monai(), counts.iou_monai(), inf, nan, inf, inf]
            }
            (Convention::TransUnet, Presence::Both) => [
                counts.dice_medpy(),
                counts.iou_medpy(),
                distances.hausdorff(),
                distances.hd95_medpy(),
                distances.asd(),
                distances.assd(),
            ],
            (Convention::TransUnet, Presence::PredOnly) => [1.0, 1.0, 0.0, 0.0, 0.0, 0.0],
            (Convention::TransUnet, _) => [0.0; 6],
        };
        Self {
            label,
            presence,
            pred_voxels: counts.pred,
            gt_voxels: counts.gt,
            metrics: MetricValues::from_array(values),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_mask_rules_per_convention() {
        let none = SurfaceDistances::default();
        let fp = OverlapCounts {
            pred: 3,
            gt: 0,
            intersection: 0,
        };
        let miss = OverlapCounts {
            pred: 0,
            gt: 3,
            intersection: 0,
        };
        let m = ClassMetrics::from_parts(1, fp, &none, Convention::TransUnet);
        assert_eq!((m.metrics.dice, m.metrics.hd95), (1.0, 0.0));
        let m = ClassMetrics::from_parts(1, miss, &none, Convention::TransUnet);
        assert_eq!((m.metrics.dice, m.metrics.hd95), (0.0, 0.0));
        let m = ClassMetrics::from_parts(1, OverlapCounts::default(), &none, Convention::TransUnet);
        assert_eq!((m.metrics.dice, m.metrics.hd95), (0.0, 0.0));
        let m = ClassMetrics::from_parts(1, miss, &none, Convention::Monai);
        assert_eq!(m.metrics.dice, 0.0);
        assert!(
            m.metrics.hd.is_infinite() && m.metrics.hd95.is_nan() && m.metrics.assd.is_infinite()
        );
        let m = ClassMetrics::from_parts(1, fp, &none, Convention::Monai);
        assert!(m.metrics.dice.is_nan() && m.metrics.asd.is_infinite());
        let m = ClassMetrics::from_parts(1, OverlapCounts::default(), &none, Convention::Medpy);
        assert_eq!(m.metrics.dice, 1.0);
        assert!(m.metrics.hd95.is_nan());
        assert_eq!(m.presence, Presence::Neither);
    }

    #[test]
    fn json_is_one_flat_object_as_before_metric_values() {
        let m = ClassMetrics {
            label: 2,
            presence: Presence::Both,
            pred_voxels: 5,
            gt_voxels: 7,
            metrics: MetricValues::from_array([0.5, 0.25, 3.0, f64::NAN, 1.5, f64::INFINITY]),
        };
        let v = serde_json::to_value(&m).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        keys.sort_unstable();
        let mut want = vec!["label", "presence", "pred_voxels", "gt_voxels"];
        want.extend(METRIC_NAMES);
        want.sort_unstable();
        assert_eq!(keys, want);
        assert_eq!(
            (v["hd95"].as_str(), v["assd"].as_str()),
            (Some("NaN"), Some("inf"))
        );
        let back: ClassMetrics = serde_json::from_value(v).unwrap();
        assert_eq!(
            back.metrics.values().map(f64::to_bits),
            m.metrics.values().map(f64::to_bits)
        );
        assert_eq!((back.label, back.gt_voxels), (2, 7));
    }
}
