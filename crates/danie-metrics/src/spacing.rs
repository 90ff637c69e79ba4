//! Voxel spacing checks: one finite positive value per image axis, in array-axis order, within
//! [`SPACING_RANGE`].
use crate::error::{MetricsError, Result};

/// `v` as a report prints it: a value that is a widened `f32` (NIfTI pixdim is float32, so
/// 0.8 reads as 0.800000011920929) becomes the `f64` of the `f32`'s shortest representation
/// (0.8); any other value is kept. For printing only: distances use the spacing as read.
pub fn shown(v: f64) -> f64 {
    let f = v as f32;
    if f64::from(f) == v && f.is_finite() {
        f.to_string().parse().unwrap_or(v)
    } else {
        v
    }
}

/// [`shown`] of every value.
pub fn shown_all(spacing: &[f64]) -> Vec<f64> {
    spacing.iter().map(|&v| shown(v)).collect()
}

/// Voxel sizes accepted, in the image's unit (mm for NIfTI): a nanometre to a kilometre, every
/// real scanner and microscope and far beyond. Outside it, the squared distances of the
/// distance transform overflow to infinity (past ~1e154) or vanish to 0 (below ~1e-160) in
/// f64, and HD, HD95 and ASD come out infinite, NaN or 0 with no error.
pub const SPACING_RANGE: std::ops::RangeInclusive<f64> = 1e-6..=1e6;

/// Checks `spacing` against `ndim` axes; an empty slice means unit spacing.
///
/// Returns the spacing to use (length `ndim`).
pub fn checked_spacing(spacing: &[f64], ndim: usize) -> Result<Vec<f64>> {
    if spacing.is_empty() {
        return Ok(vec![1.0; ndim]);
    }
    let bad = |why| MetricsError::BadSpacing {
        spacing: spacing.to_vec(),
        ndim,
        why,
    };
    if spacing.len() != ndim {
        return Err(bad("expected one value per axis"));
    }
    if spacing.iter().any(|s| !s.is_finite() || *s <= 0.0) {
        return Err(bad("every value must be finite and positive"));
    }
    if spacing.iter().any(|s| !SPACING_RANGE.contains(s)) {
        return Err(bad("every value must lie between 1e-6 and 1e6"));
    }
    Ok(spacing.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_means_unit_and_bad_values_are_rejected() {
        assert_eq!(checked_spacing(&[], 3).unwrap(), vec![1.0; 3]);
        assert!(checked_spacing(&[1.0, 2.0], 3).is_err());
        assert!(checked_spacing(&[1.0, 0.0, 1.0], 3).is_err());
        assert!(checked_spacing(&[1.0, f64::NAN, 1.0], 3).is_err());
        assert_eq!(checked_spacing(&[0.5, 2.0], 2).unwrap(), vec![0.5, 2.0]);
        // Squares overflow or vanish in f64 beyond the range: refused, not an inf / 0 HD.
        for v in [1e200, 1e-300, 1.1e6, 9e-7] {
            let e = checked_spacing(&[v, 1.0], 2).unwrap_err().to_string();
            assert!(e.contains("between 1e-6 and 1e6"), "{v}: {e}");
        }
        // A micro-CT's micrometre and a coarse 1 m voxel are real.
        assert!(checked_spacing(&[1e-3, 1e3], 2).is_ok());
    }

    #[test]
    fn widened_f32_values_show_as_the_f32() {
        assert_eq!(shown(f64::from(0.8f32)), 0.8);
        assert_eq!(shown(f64::from(2.5f32)), 2.5);
        assert_eq!(
            format!("{:?}", shown_all(&[f64::from(0.8f32), 0.8])),
            "[0.8, 0.8]"
        );
        // Not a widened f32: kept.
        assert_eq!(shown(0.123456789), 0.123456789);
        assert!(shown(f64::NAN).is_nan());
    }
}
