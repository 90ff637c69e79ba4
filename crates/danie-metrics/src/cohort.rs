//! Cohort summaries as the papers' tables report them: per class the mean over cases, then the
//! mean over classes (the mean IoU over classes is the mIoU).
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::case::CaseMetrics;
use crate::class_metrics::{ClassMetrics, MetricValues};
use crate::convention::Convention;

/// One metric over cases: mean and population standard deviation of the non-NaN values.
///
/// NaN values (undefined under the convention) are left out, as MONAI's `do_metric_reduction`
/// does; `n` counts the values used. An inf value makes the mean inf.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricStat {
    /// Mean of the non-NaN values (NaN when there is none).
    #[serde(with = "crate::nonfinite")]
    pub mean: f64,
    /// Population standard deviation of the non-NaN values.
    #[serde(with = "crate::nonfinite")]
    pub std: f64,
    /// Number of non-NaN values.
    pub n: usize,
}

impl MetricStat {
    /// The statistic of `values`, NaN ones left out.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let v: Vec<f64> = values.into_iter().filter(|x| !x.is_nan()).collect();
        let n = v.len();
        if n == 0 {
            return Self {
                mean: f64::NAN,
                std: f64::NAN,
                n,
            };
        }
        let mean = v.iter().sum::<f64>() / n as f64;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        Self {
            mean,
            std: var.sqrt(),
            n,
        }
    }
}

/// The six metrics of one class over the cohort.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassSummary {
    /// The class label.
    pub label: u32,
    /// The class name, when given.
    pub name: Option<String>,
    /// Cases in which the class was evaluated.
    pub n_cases: usize,
    /// Dice over cases.
    pub dice: MetricStat,
    /// IoU over cases.
    pub iou: MetricStat,
    /// HD over cases.
    pub hd: MetricStat,
    /// HD95 over cases.
    pub hd95: MetricStat,
    /// ASD over cases.
    pub asd: MetricStat,
    /// ASSD over cases.
    pub assd: MetricStat,
}

impl ClassSummary {
    /// The six means in [`crate::METRIC_NAMES`] order.
    pub fn means(&self) -> [f64; 6] {
        [self.dice, self.iou, self.hd, self.hd95, self.asd, self.assd].map(|s| s.mean)
    }
}

/// A cohort's results: per class over cases, the mean over classes, and the cases themselves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CohortSummary {
    /// The convention every value follows.
    pub convention: Convention,
    /// Unit of the distances (`mm` with header spacing, `voxel` with unit spacing).
    pub distance_unit: String,
    /// Number of cases.
    pub n_cases: usize,
    /// Per class, in the order first met.
    pub classes: Vec<ClassSummary>,
    /// Mean over classes of the per-class means (NaN class means left out).
    pub mean: MetricValues,
    /// Every case's per-class values.
    pub cases: Vec<CaseMetrics>,
}

impl CohortSummary {
    /// Summarises `cases` (all of `convention`); `names` maps labels to class names.
    pub fn from_cases(
        cases: Vec<CaseMetrics>,
        convention: Convention,
        names: &BTreeMap<u32, String>,
        distance_unit: &str,
    ) -> Self {
        let mut order: Vec<u32> = Vec::new();
        let mut per_label: BTreeMap<u32, Vec<&ClassMetrics>> = BTreeMap::new();
        for c in cases.iter().flat_map(|c| &c.classes) {
            if !per_label.contains_key(&c.label) {
                order.push(c.label);
            }
            per_label.entry(c.label).or_default().push(c);
        }
        let classes: Vec<ClassSummary> = order
            .iter()
            .map(|label| {
                let ms = &per_label[label];
                let stat = |f: fn(&ClassMetrics) -> f64| MetricStat::of(ms.iter().map(|m| f(m)));
                ClassSummary {
                    label: *label,
                    name: names.get(label).cloned(),
                    n_cases: ms.len(),
                    dice: stat(|m| m.metrics.dice),
                    iou: stat(|m| m.metrics.iou),
                    hd: stat(|m| m.metrics.hd),
                    hd95: stat(|m| m.metrics.hd95),
                    asd: stat(|m| m.metrics.asd),
                    assd: stat(|m| m.metrics.assd),
                }
            })
            .collect();
        let over = |i: usize| MetricStat::of(classes.iter().map(|c| c.means()[i])).mean;
        let mean = MetricValues::from_array(std::array::from_fn(over));
        Self {
            convention,
            distance_unit: distance_unit.to_string(),
            n_cases: cases.len(),
            classes,
            mean,
            cases,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overlap::Presence;

    fn class(label: u32, dice: f64, hd95: f64) -> ClassMetrics {
        ClassMetrics {
            label,
            presence: Presence::Both,
            pred_voxels: 1,
            gt_voxels: 1,
            metrics: MetricValues::from_array([dice, dice, hd95, hd95, hd95, hd95]),
        }
    }

    #[test]
    fn mean_per_class_then_over_classes_leaving_out_nan() {
        let case = |a: f64, b: f64| CaseMetrics {
            case: None,
            convention: Convention::Monai,
            spacing: vec![1.0; 3],
            classes: vec![class(1, a, 2.0 * a), class(2, b, f64::NAN)],
        };
        let s = CohortSummary::from_cases(
            vec![case(0.5, 0.9), case(1.0, 0.7)],
            Convention::Monai,
            &BTreeMap::from([(1, "liver".to_string())]),
            "mm",
        );
        assert_eq!(s.classes[0].dice.mean, 0.75);
        assert_eq!(s.classes[0].dice.std, 0.25);
        assert_eq!(s.classes[0].name.as_deref(), Some("liver"));
        assert!(s.classes[1].hd95.mean.is_nan());
        assert_eq!(s.classes[1].hd95.n, 0);
        assert!((s.mean.dice - 0.775).abs() < 1e-15);
        assert_eq!(s.mean.hd95, 1.5);
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(
            serde_json::from_str::<CohortSummary>(&json)
                .unwrap()
                .classes[0],
            s.classes[0]
        );
    }
}
