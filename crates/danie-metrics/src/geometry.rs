//! Whether a prediction and its reference occupy the same space: equal voxel-to-world affines,
//! every entry finite.
//!
//! A comparison alone passes a NaN (every comparison with NaN is false), so a header with a
//! NaN or infinite affine would be scored against any reference: non-finite entries are an
//! error naming the file first.
use crate::error::{MetricsError, Result};

/// A 4 x 4 voxel-to-world affine (nibabel's `img.affine`).
pub type Affine = [[f64; 4]; 4];

/// Errors unless every entry of `affine` is finite; `file` names the image in the error.
pub fn check_finite(affine: &Affine, file: &str) -> Result<()> {
    if affine.iter().flatten().all(|v| v.is_finite()) {
        return Ok(());
    }
    Err(MetricsError::Geometry(format!(
        "{file}: the affine has a non-finite entry (NaN or infinite): {affine:?}; the header's \
         qform/sform is damaged"
    )))
}

/// Errors unless both affines are finite and equal to `1e-4` relative (1e-4 mm below 1 mm).
pub fn check_same_space(pred: &Affine, pred_file: &str, gt: &Affine, gt_file: &str) -> Result<()> {
    check_finite(pred, pred_file)?;
    check_finite(gt, gt_file)?;
    let differs = pred
        .iter()
        .flatten()
        .zip(gt.iter().flatten())
        .any(|(a, b)| (a - b).abs() > 1e-4 * a.abs().max(b.abs()).max(1.0));
    if differs {
        return Err(MetricsError::Geometry(format!(
            "affine mismatch: the two images do not occupy the same space\n  {pred_file}: \
             {pred:?}\n  {gt_file}: {gt:?}"
        )));
    }
    Ok(())
}

/// Errors unless every spacing value is finite and positive; `file` names the image.
pub fn check_spacing(spacing: &[f64], file: &str) -> Result<()> {
    if spacing.iter().all(|v| v.is_finite() && *v > 0.0) {
        return Ok(());
    }
    let spacing = crate::spacing::shown_all(spacing);
    Err(MetricsError::Geometry(format!(
        "{file}: voxel spacing {spacing:?} must be finite and positive (pixdim is damaged)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eye() -> Affine {
        let mut a = [[0.0; 4]; 4];
        for (i, row) in a.iter_mut().enumerate() {
            row[i] = 1.0;
        }
        a
    }

    #[test]
    fn equal_affines_pass_and_moved_ones_fail() {
        assert!(check_same_space(&eye(), "p.nii", &eye(), "g.nii").is_ok());
        let mut moved = eye();
        moved[0][3] = 5.0;
        let e = check_same_space(&eye(), "p.nii", &moved, "g.nii")
            .unwrap_err()
            .to_string();
        assert!(e.contains("affine mismatch") && e.contains("g.nii"), "{e}");
    }

    #[test]
    fn non_finite_affine_is_an_error_naming_the_file() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut a = eye();
            a[1][1] = bad;
            // Both orders, and against itself: a NaN compares unequal to nothing.
            let e = check_same_space(&a, "p.nii", &eye(), "g.nii")
                .unwrap_err()
                .to_string();
            assert!(e.contains("p.nii") && e.contains("non-finite"), "{e}");
            let e = check_same_space(&eye(), "p.nii", &a, "g.nii")
                .unwrap_err()
                .to_string();
            assert!(e.contains("g.nii") && e.contains("non-finite"), "{e}");
            assert!(check_same_space(&a, "p.nii", &a, "g.nii").is_err());
        }
    }

    #[test]
    fn spacing_must_be_finite_and_positive() {
        assert!(check_spacing(&[0.8, 0.8, 2.5], "a.nii").is_ok());
        for bad in [f64::NAN, f64::INFINITY, 0.0, -1.0] {
            let e = check_spacing(&[1.0, bad, 1.0], "a.nii")
                .unwrap_err()
                .to_string();
            assert!(e.contains("a.nii"), "{e}");
        }
    }
}
