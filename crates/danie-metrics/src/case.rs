//! One case (a volume or an image): every requested class evaluated, classes in parallel.
use ndarray::ArrayViewD;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::class_metrics::ClassMetrics;
use crate::convention::Convention;
use crate::error::{check_pair, MetricsError, Result};
use crate::label::LabelValue;
use crate::label_scan::{scan, LabelSlots};
use crate::overlap::{overlap_counts, Presence};
use crate::spacing::checked_spacing;
use crate::surface_distance::{crop_box, distances_in_box, surface_distances, SurfaceDistances};

/// The metrics of every requested class of one case, and how they were computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseMetrics {
    /// The case's name (e.g. the file name), when known.
    pub case: Option<String>,
    /// The convention the values follow.
    pub convention: Convention,
    /// Voxel spacing used for the distances, per array axis.
    pub spacing: Vec<f64>,
    /// One entry per requested label, in the order requested.
    pub classes: Vec<ClassMetrics>,
}

impl CaseMetrics {
    /// The metrics of `label`, if it was requested.
    pub fn class(&self, label: u32) -> Option<&ClassMetrics> {
        self.classes.iter().find(|c| c.label == label)
    }

    /// Names the case.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.case = Some(name.into());
        self
    }
}

/// Evaluates the classes `labels` of a label-map pair (TransUNet: `pred == i` for each i).
///
/// `spacing` has one value per axis (empty: unit spacing, as TransUNet's Synapse test uses).
/// Classes are evaluated in parallel; each class's surface work is cropped to its extent.
///
/// # Shapes
/// `pred`, `gt`: the same N-D shape (N >= 1), any memory layout.
pub fn evaluate_case<T: LabelValue>(
    pred: ArrayViewD<T>,
    gt: ArrayViewD<T>,
    labels: &[u32],
    spacing: &[f64],
    convention: Convention,
) -> Result<CaseMetrics> {
    check_pair(pred.shape(), gt.shape())?;
    check_labels(labels)?;
    let spacing = checked_spacing(spacing, pred.ndim())?;
    let (pred, gt) = (pred.as_standard_layout(), gt.as_standard_layout());
    let slots = LabelSlots::new(labels);
    let extents = scan(&pred.view(), &gt.view(), labels.len(), |v: T| slots.slot(v));
    let classes = labels
        .par_iter()
        .zip(extents.par_iter())
        .map(|(&label, e)| {
            let distances = if e.counts.presence() == Presence::Both {
                let info = crop_box(&e.bbox, pred.shape()).slice_info();
                let is = |v: &T| v.label() == Some(label);
                let pm = pred.slice(info.as_slice()).map(is);
                let gm = gt.slice(info.as_slice()).map(is);
                distances_in_box(pm, gm, &spacing)
            } else {
                SurfaceDistances::default()
            };
            ClassMetrics::from_parts(label, e.counts, &distances, convention)
        })
        .collect();
    Ok(CaseMetrics {
        case: None,
        convention,
        // As reports print it (0.8, not 0.800000011920929); distances used the value as read.
        spacing: crate::spacing::shown_all(&spacing),
        classes,
    })
}

/// Evaluates one pair of boolean masks (reported as label 1).
///
/// # Shapes
/// `pred`, `gt`: the same N-D shape (N >= 1).
pub fn evaluate_masks(
    pred: ArrayViewD<bool>,
    gt: ArrayViewD<bool>,
    spacing: &[f64],
    convention: Convention,
) -> Result<ClassMetrics> {
    let distances = surface_distances(pred.view(), gt.view(), spacing)?;
    let counts = overlap_counts(pred, gt)?;
    Ok(ClassMetrics::from_parts(1, counts, &distances, convention))
}

/// Errors on an empty or repeated label list.
fn check_labels(labels: &[u32]) -> Result<()> {
    let bad = |why| MetricsError::BadLabels {
        labels: labels.to_vec(),
        why,
    };
    if labels.is_empty() {
        return Err(bad("no label to evaluate"));
    }
    let mut sorted = labels.to_vec();
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return Err(bad("a label is repeated"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Array3};

    #[test]
    fn label_map_classes_match_their_binary_masks() {
        let mut p = Array3::<u8>::zeros((6, 7, 8));
        let mut g = Array3::<u8>::zeros((6, 7, 8));
        p.slice_mut(ndarray::s![1..4, 1..5, 2..6]).fill(1);
        g.slice_mut(ndarray::s![1..5, 2..5, 2..7]).fill(1);
        g.slice_mut(ndarray::s![5.., .., ..2]).fill(2);
        p.slice_mut(ndarray::s![4.., 5.., ..3]).fill(2);
        let sp = [2.0, 0.7, 1.3];
        for conv in Convention::ALL {
            let case = evaluate_case(
                p.view().into_dyn(),
                g.view().into_dyn(),
                &[2, 1, 3],
                &sp,
                conv,
            )
            .unwrap();
            assert_eq!(
                case.classes.iter().map(|c| c.label).collect::<Vec<_>>(),
                vec![2, 1, 3]
            );
            for label in [1u32, 2] {
                let pm = p.mapv(|v| u32::from(v) == label).into_dyn();
                let gm = g.mapv(|v| u32::from(v) == label).into_dyn();
                let want = evaluate_masks(pm.view(), gm.view(), &sp, conv).unwrap();
                let got = case.class(label).unwrap();
                assert_eq!(
                    got.metrics.values().map(f64::to_bits),
                    want.metrics.values().map(f64::to_bits)
                );
            }
            assert_eq!(case.class(3).unwrap().presence, Presence::Neither);
        }
    }

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        let a = Array2::<u8>::zeros((3, 3)).into_dyn();
        let b = Array2::<u8>::zeros((3, 4)).into_dyn();
        assert!(evaluate_case(a.view(), b.view(), &[1], &[], Convention::Medpy).is_err());
        assert!(evaluate_case(a.view(), a.view(), &[], &[], Convention::Medpy).is_err());
        assert!(evaluate_case(a.view(), a.view(), &[1, 1], &[], Convention::Medpy).is_err());
        assert!(evaluate_case(a.view(), a.view(), &[1], &[1.0], Convention::Medpy).is_err());
        let t = a.t();
        assert!(evaluate_case(t.view(), a.view(), &[1], &[], Convention::Monai).is_ok());
    }
}
