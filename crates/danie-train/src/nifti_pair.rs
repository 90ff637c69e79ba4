//! A NIfTI pair (a prediction or an image, and its reference label map) as `danie metrics` and
//! `danie eval --image` both read it: the label map, each file's grid, and the one check that
//! the two share a grid before anything is scored.
use std::path::{Path, PathBuf};

use anyhow::Context;
use danie_data::nifti::{self, Affine, NiftiImage};
use ndarray::ArrayD;

/// Where a file's voxels lie: its path (named in errors), voxel shape `(x, y[, z])`,
/// voxel-to-world affine and voxel spacing (pixdim, one per axis).
#[derive(Debug, Clone)]
pub struct Grid {
    /// The file.
    pub path: PathBuf,
    /// Voxel shape, NIfTI axis order.
    pub shape: Vec<usize>,
    /// Voxel-to-world affine.
    pub affine: Affine,
    /// Voxel spacing per axis of `shape`.
    pub spacing: Vec<f64>,
}

impl Grid {
    /// The grid of `img`, read from `path`.
    pub fn of(path: &Path, img: &NiftiImage) -> anyhow::Result<Self> {
        let shape = img.shape().to_vec();
        let spacing = img.header.zooms().into_iter().take(shape.len()).collect();
        Ok(Self {
            path: path.to_path_buf(),
            shape,
            affine: img.affine()?,
            spacing,
        })
    }
}

/// A label map as read: voxels `(x, y[, z])` and its grid.
pub struct LabelMap {
    /// Label ids, NIfTI axis order.
    pub labels: ArrayD<u16>,
    /// Where they lie.
    pub grid: Grid,
}

/// Reads a 2-D or 3-D label map (whole numbers); errors name the file.
pub fn read_label_map(path: &Path) -> anyhow::Result<LabelMap> {
    let mut img = nifti::read(path)?; // its errors name the file
    if img.shape().len() > 3 {
        img.require_ndim(3)
            .with_context(|| format!("{}: a label map must be 2-D or 3-D", path.display()))?;
    }
    let labels = img
        .labels()
        .with_context(|| format!("{}: not a label map", path.display()))?;
    let grid = Grid::of(path, &img)?;
    Ok(LabelMap { labels, grid })
}

/// Errors unless `a` and `b` are one grid: the same voxel shape, equal and finite affines (to
/// 1e-4 mm), and finite, positive spacings. A damaged (NaN) or foreign affine, or a reference
/// of another shape, would score garbage.
pub fn check_same_grid(a: &Grid, b: &Grid) -> anyhow::Result<()> {
    let (a_name, b_name) = (a.path.display().to_string(), b.path.display().to_string());
    anyhow::ensure!(
        a.shape == b.shape,
        "shape mismatch: {a_name} is {:?} but {b_name} is {:?}",
        a.shape,
        b.shape
    );
    danie_metrics::geometry::check_same_space(&a.affine, &a_name, &b.affine, &b_name)?;
    danie_metrics::geometry::check_spacing(&a.spacing, &a_name)?;
    danie_metrics::geometry::check_spacing(&b.spacing, &b_name)?;
    Ok(())
}

/// Whether `p` names a NIfTI file (`.nii` or `.nii.gz`, any case).
pub fn is_nifti(p: &Path) -> bool {
    danie_data::nifti::nifti_file_name(p).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(shape: &[usize], spacing: &[f64], shift: f64) -> Grid {
        let mut affine = [[0.0; 4]; 4];
        for (i, row) in affine.iter_mut().enumerate() {
            row[i] = 1.0;
        }
        affine[0][3] = shift;
        Grid {
            path: PathBuf::from(format!("f{shift}.nii.gz")),
            shape: shape.to_vec(),
            affine,
            spacing: spacing.to_vec(),
        }
    }

    #[test]
    fn one_grid_passes_and_each_difference_is_named() {
        let a = grid(&[4, 5, 6], &[1.0, 1.0, 2.5], 0.0);
        check_same_grid(&a, &a.clone()).unwrap();
        let e = check_same_grid(&a, &grid(&[4, 5, 7], &[1.0, 1.0, 2.5], 0.0)).unwrap_err();
        assert!(e.to_string().contains("shape mismatch"), "{e}");
        let e = check_same_grid(&a, &grid(&[4, 5, 6], &[1.0, 1.0, 2.5], 3.0)).unwrap_err();
        assert!(e.to_string().contains("affine mismatch"), "{e}");
        let mut nan = a.clone();
        nan.affine[1][1] = f64::NAN;
        assert!(check_same_grid(&nan, &nan.clone()).is_err());
        let e = check_same_grid(&a, &grid(&[4, 5, 6], &[1.0, 0.0, 2.5], 0.0)).unwrap_err();
        assert!(e.to_string().contains("spacing"), "{e}");
    }

    #[test]
    fn nifti_names_are_recognised_in_any_case() {
        for yes in ["a.nii", "a.nii.gz", "A.NII.GZ", "dir/b.Nii"] {
            assert!(is_nifti(Path::new(yes)), "{yes}");
        }
        for no in ["a.nii.gz.bak", "a.gz", "a.nrrd", "nii"] {
            assert!(!is_nifti(Path::new(no)), "{no}");
        }
    }
}
