//! Plain functions in the manner of `medpy.metric.binary`: one metric of one mask pair.
//!
//! Each computes the pair's surface distances; to get several metrics of the same pair, call
//! [`crate::evaluate_masks`] (or [`crate::surface_distances`]) once instead.
use ndarray::ArrayViewD;

use crate::case::evaluate_masks;
use crate::convention::Convention;
use crate::error::Result;

/// Hausdorff distance (maximum) under `convention`.
pub fn hd(
    pred: ArrayViewD<bool>,
    gt: ArrayViewD<bool>,
    spacing: &[f64],
    convention: Convention,
) -> Result<f64> {
    Ok(evaluate_masks(pred, gt, spacing, convention)?.metrics.hd)
}

/// HD95 under `convention` (medpy/transunet: pooled percentile; monai: larger directed one).
pub fn hd95(
    pred: ArrayViewD<bool>,
    gt: ArrayViewD<bool>,
    spacing: &[f64],
    convention: Convention,
) -> Result<f64> {
    Ok(evaluate_masks(pred, gt, spacing, convention)?.metrics.hd95)
}

/// Average surface distance from prediction to reference under `convention`.
pub fn asd(
    pred: ArrayViewD<bool>,
    gt: ArrayViewD<bool>,
    spacing: &[f64],
    convention: Convention,
) -> Result<f64> {
    Ok(evaluate_masks(pred, gt, spacing, convention)?.metrics.asd)
}

/// Average symmetric surface distance under `convention`.
pub fn assd(
    pred: ArrayViewD<bool>,
    gt: ArrayViewD<bool>,
    spacing: &[f64],
    convention: Convention,
) -> Result<f64> {
    Ok(evaluate_masks(pred, gt, spacing, convention)?.metrics.assd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};

    #[test]
    fn single_voxels_two_apart() {
        let mut p = ArrayD::from_elem(IxDyn(&[1, 5]), false);
        let mut g = p.clone();
        p[[0, 0]] = true;
        g[[0, 2]] = true;
        for c in Convention::ALL {
            assert_eq!(hd(p.view(), g.view(), &[1.0, 0.5], c).unwrap(), 1.0);
            assert_eq!(hd95(p.view(), g.view(), &[], c).unwrap(), 2.0);
            assert_eq!(asd(p.view(), g.view(), &[], c).unwrap(), 2.0);
            assert_eq!(assd(p.view(), g.view(), &[], c).unwrap(), 2.0);
        }
    }
}
