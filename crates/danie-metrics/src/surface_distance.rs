//! Surface distances of a mask pair: both directed lists, computed once and reused for HD,
//! HD95, ASD and ASSD under every convention.
//!
//! medpy computes `distance_transform_edt(~reference_border)` over the whole image and reads it
//! at the result border. Distances to the nearest reference-border voxel depend only on border
//! voxels, so the transform is computed inside the union bounding box of the two masks (grown by
//! one voxel so the erosion sees the background around them): the values are identical.
use ndarray::{ArrayD, ArrayViewD};

use crate::bbox::BoundingBox;
use crate::border::surface;
use crate::edt::distances_at;
use crate::error::{check_pair, Result};
use crate::label_scan::scan;
use crate::percentile::{percentile_numpy, percentile_torch_f32};
use crate::spacing::checked_spacing;

/// The distances from each surface voxel of one mask to the nearest surface voxel of the other.
///
/// Both lists are in C order of their surface voxels (as medpy returns them) and both are empty
/// when either mask is empty (medpy raises there; each [`crate::Convention`] decides).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SurfaceDistances {
    /// From each prediction surface voxel to the reference surface (medpy `asd`'s direction).
    pub pred_to_gt: Vec<f64>,
    /// From each reference surface voxel to the prediction surface.
    pub gt_to_pred: Vec<f64>,
}

impl SurfaceDistances {
    /// True when no distance exists (a mask was empty).
    pub fn is_empty(&self) -> bool {
        self.pred_to_gt.is_empty() || self.gt_to_pred.is_empty()
    }

    /// Hausdorff distance: the larger directed maximum (medpy `hd`, MONAI without percentile).
    pub fn hausdorff(&self) -> f64 {
        if self.is_empty() {
            return f64::NAN;
        }
        self.pred_to_gt
            .iter()
            .chain(&self.gt_to_pred)
            .copied()
            .fold(f64::NEG_INFINITY, f64::max)
    }

    /// medpy `hd95`: `numpy.percentile` of both directions pooled.
    pub fn hd95_medpy(&self) -> f64 {
        self.percentile_pooled(95.0)
            .expect("95 is a valid percentile")
    }

    /// `numpy.percentile(concatenate(both directions), q)`; NaN when empty.
    pub fn percentile_pooled(&self, q: f64) -> Result<f64> {
        if self.is_empty() {
            return Ok(f64::NAN);
        }
        let mut all = [self.pred_to_gt.as_slice(), self.gt_to_pred.as_slice()].concat();
        percentile_numpy(&mut all, q)
    }

    /// MONAI `compute_hausdorff_distance(percentile=95)`: the larger directed 95th percentile.
    pub fn hd95_monai(&self) -> f64 {
        self.percentile_directed_max_f32(95.0)
            .expect("95 is a valid percentile")
    }

    /// The larger of the two directed `torch.quantile` percentiles of the float32 distances
    /// (MONAI); NaN when empty.
    pub fn percentile_directed_max_f32(&self, q: f64) -> Result<f64> {
        if self.is_empty() {
            return Ok(f64::NAN);
        }
        let mut a = to_f32(&self.pred_to_gt);
        let mut b = to_f32(&self.gt_to_pred);
        let pa = percentile_torch_f32(&mut a, q)?;
        let pb = percentile_torch_f32(&mut b, q)?;
        Ok(f64::from(pa.max(pb)))
    }

    /// medpy `asd`: mean distance from the prediction surface to the reference surface.
    pub fn asd(&self) -> f64 {
        if self.is_empty() {
            return f64::NAN;
        }
        mean(&self.pred_to_gt)
    }

    /// medpy 0.5.2 `assd`: mean of both directions' distances pooled.
    pub fn assd(&self) -> f64 {
        if self.is_empty() {
            return f64::NAN;
        }
        (sum(&self.pred_to_gt) + sum(&self.gt_to_pred))
            / (self.pred_to_gt.len() + self.gt_to_pred.len()) as f64
    }

    /// The same distances rounded to float32, as MONAI stores them.
    pub fn rounded_to_f32(&self) -> Self {
        let round = |v: &[f64]| v.iter().map(|&x| f64::from(x as f32)).collect();
        Self {
            pred_to_gt: round(&self.pred_to_gt),
            gt_to_pred: round(&self.gt_to_pred),
        }
    }
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// Compensated (Neumaier) sum: independent of order to well below 1e-12 relative.
fn sum(v: &[f64]) -> f64 {
    let (mut s, mut c) = (0.0f64, 0.0f64);
    for &x in v {
        let t = s + x;
        c += if s.abs() >= x.abs() {
            (s - t) + x
        } else {
            (x - t) + s
        };
        s = t;
    }
    s + c
}

fn mean(v: &[f64]) -> f64 {
    sum(v) / v.len() as f64
}

/// Surface distances of two boolean masks with voxel `spacing` (empty slice: unit spacing).
///
/// # Shapes
/// `pred`, `gt`: the same N-D shape (N >= 1); `spacing`: N values or none.
pub fn surface_distances(
    pred: ArrayViewD<bool>,
    gt: ArrayViewD<bool>,
    spacing: &[f64],
) -> Result<SurfaceDistances> {
    check_pair(pred.shape(), gt.shape())?;
    let spacing = checked_spacing(spacing, pred.ndim())?;
    let (pred, gt) = (pred.as_standard_layout(), gt.as_standard_layout());
    let ext = scan(&pred.view(), &gt.view(), 1, |b: bool| b.then_some(0));
    let e = &ext[0];
    if e.counts.pred == 0 || e.counts.gt == 0 {
        return Ok(SurfaceDistances::default());
    }
    let crop = crop_box(&e.bbox, pred.shape());
    let info = crop.slice_info();
    let pm = pred.slice(info.as_slice()).to_owned();
    let gm = gt.slice(info.as_slice()).to_owned();
    Ok(distances_in_box(pm, gm, &spacing))
}

/// Distances of two non-empty masks cropped to a box that holds both (with background around
/// them, or the image edge).
///
/// # Shapes
/// `pred`, `gt`: the same N-D crop shape.
pub(crate) fn distances_in_box(
    pred: ArrayD<bool>,
    gt: ArrayD<bool>,
    spacing: &[f64],
) -> SurfaceDistances {
    let (pb, gb) = rayon::join(|| surface(pred.view()), || surface(gt.view()));
    drop((pred, gt));
    let (pred_to_gt, gt_to_pred) = rayon::join(
        || distances_at(gb.view(), pb.view(), spacing),
        || distances_at(pb.view(), gb.view(), spacing),
    );
    SurfaceDistances {
        pred_to_gt,
        gt_to_pred,
    }
}

/// The crop box of one class: its union box grown by one voxel, clipped to the image.
pub(crate) fn crop_box(bbox: &BoundingBox, shape: &[usize]) -> BoundingBox {
    bbox.expanded(1, shape)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, IxDyn};

    #[test]
    fn two_squares_one_voxel_apart() {
        // Squares [2..5)^2 and [3..6)^2 in a 8x8 image: a shift by (1, 1).
        let mut p = Array2::from_elem((8, 8), false);
        let mut g = Array2::from_elem((8, 8), false);
        p.slice_mut(ndarray::s![2..5, 2..5]).fill(true);
        g.slice_mut(ndarray::s![3..6, 3..6]).fill(true);
        let d = surface_distances(p.view().into_dyn(), g.view().into_dyn(), &[]).unwrap();
        assert_eq!(d.pred_to_gt.len(), 8);
        assert_eq!(d.gt_to_pred.len(), 8);
        // The far corner (2, 2) is sqrt(2) from (3, 3); symmetric.
        assert_eq!(d.hausdorff(), 2f64.sqrt());
        assert_eq!(d.asd(), d.assd());
    }

    #[test]
    fn empty_mask_gives_no_distances_and_shapes_are_checked() {
        let p = ArrayD::from_elem(IxDyn(&[4, 4]), false);
        let mut g = p.clone();
        g[[1, 1]] = true;
        let d = surface_distances(p.view(), g.view(), &[]).unwrap();
        assert!(d.is_empty() && d.hd95_medpy().is_nan() && d.asd().is_nan());
        let q = ArrayD::from_elem(IxDyn(&[4, 5]), false);
        assert!(matches!(
            surface_distances(p.view(), q.view(), &[]),
            Err(crate::MetricsError::ShapeMismatch { .. })
        ));
    }
}
