//! Voxel spacing checks: one finite positive value per image axis, in array-axis order.
use crate::error::{MetricsError, Result};

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
    }
}
