//! The voxel-to-world affine exactly as nibabel chooses it (`Nifti1Header.get_best_affine`):
//! the sform if `sform_code > 0`, else the qform if `qform_code > 0`, else the "base affine"
//! centred on the image from the voxel sizes.
use super::header::{NiftiHeader, NiftiVersion};

/// A 4x4 affine, row-major (`affine[row][col]`), mapping voxel (i, j, k, 1) to world (x, y, z, 1).
pub type Affine = [[f64; 4]; 4];

impl NiftiHeader {
    /// The affine nibabel's `get_best_affine()` returns.
    ///
    /// Errors (a message, no path) only for a qform whose quaternion is not unit length.
    pub fn best_affine(&self) -> Result<Affine, String> {
        if self.sform_code != 0 {
            Ok(self.sform_affine())
        } else if self.qform_code != 0 {
            self.qform_affine()
        } else {
            Ok(self.base_affine())
        }
    }

    /// The sform as a 4x4 affine (whatever `sform_code` says).
    pub fn sform_affine(&self) -> Affine {
        [
            self.srow[0],
            self.srow[1],
            self.srow[2],
            [0.0, 0.0, 0.0, 1.0],
        ]
    }

    /// The qform as a 4x4 affine: rotation from the quaternion (w filled in as nibabel's
    /// `fillpositive`), times diag(pixdim[1], pixdim[2], qfac * pixdim[3]), plus qoffset.
    pub fn qform_affine(&self) -> Result<Affine, String> {
        let [b, c, d] = self.quatern;
        // nibabel: threshold 3 * eps of the stored float type
        let threshold = match self.version {
            NiftiVersion::V1 => 3.0 * f32::EPSILON as f64,
            NiftiVersion::V2 => 3.0 * f64::EPSILON,
        };
        let w2 = 1.0 - (b * b + c * c + d * d);
        let a = if w2.abs() < threshold {
            0.0
        } else if w2 < 0.0 {
            return Err(format!(
                "qform quaternion (b, c, d) = ({b}, {c}, {d}) is longer than 1"
            ));
        } else {
            w2.sqrt()
        };
        let r = quat_to_matrix([a, b, c, d]);
        let qfac = if self.pixdim[0] == -1.0 { -1.0 } else { 1.0 };
        let zooms = [self.pixdim[1], self.pixdim[2], self.pixdim[3] * qfac];
        let mut out = identity();
        for (i, row) in r.iter().enumerate() {
            for (j, &rij) in row.iter().enumerate() {
                out[i][j] = rij * zooms[j];
            }
            out[i][3] = self.qoffset[i];
        }
        Ok(out)
    }

    /// nibabel's `get_base_affine()`: diag(-zx, zy, zz) with the origin at the image centre.
    pub fn base_affine(&self) -> Affine {
        let shape = self.shape();
        let zooms = self.zooms();
        let mut out = identity();
        for (i, row) in out.iter_mut().enumerate().take(3) {
            let (n, z) = (
                shape.get(i).copied().unwrap_or(1) as f64,
                zooms.get(i).copied().unwrap_or(1.0),
            );
            let z = if i == 0 { -z } else { z }; // nibabel's default x flip
            row[i] = z;
            row[3] = -((n - 1.0) / 2.0) * z;
        }
        out
    }

    /// Sets the sform to `affine` with `code` (as when saving a resampled image) and
    /// `pixdim[1..=3]` to its column norms. The qform is left as it is; with `code > 0` the sform
    /// is the affine readers use.
    pub fn set_sform(&mut self, affine: &Affine, code: i32) {
        self.srow = [affine[0], affine[1], affine[2]];
        self.sform_code = code;
        for (j, p) in self.pixdim[1..4].iter_mut().enumerate() {
            *p = affine[..3]
                .iter()
                .map(|row| row[j] * row[j])
                .sum::<f64>()
                .sqrt();
        }
    }
}

fn identity() -> Affine {
    let mut m = [[0.0; 4]; 4];
    for (i, row) in m.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    m
}

/// nibabel's `quat2mat` (accepts non-unit quaternions).
fn quat_to_matrix([w, x, y, z]: [f64; 4]) -> [[f64; 3]; 3] {
    let nq = w * w + x * x + y * y + z * z;
    if nq < f64::EPSILON {
        return [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    }
    let s = 2.0 / nq;
    let (xs, ys, zs) = (x * s, y * s, z * s);
    let (wx, wy, wz) = (w * xs, w * ys, w * zs);
    let (xx, xy, xz) = (x * xs, x * ys, x * zs);
    let (yy, yz, zz) = (y * ys, y * zs, z * zs);
    [
        [1.0 - (yy + zz), xy - wz, xz + wy],
        [xy + wz, 1.0 - (xx + zz), yz - wx],
        [xz - wy, yz + wx, 1.0 - (xx + yy)],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_affine_matches_nibabel_docstring() {
        // nibabel analyze.py: shape (3, 5, 7), zooms (3, 2, 1)
        let mut h = NiftiHeader::default();
        h.set_shape(&[3, 5, 7]);
        h.pixdim[1..4].copy_from_slice(&[3.0, 2.0, 1.0]);
        let a = h.base_affine();
        assert_eq!(a[0], [-3.0, 0.0, 0.0, 3.0]);
        assert_eq!(a[1], [0.0, 2.0, 0.0, -4.0]);
        assert_eq!(a[2], [0.0, 0.0, 1.0, -3.0]);
    }

    #[test]
    fn qform_180_degree_rotation_and_qfac() {
        // quaternion (0, 1, 0, 0): rotation by pi about x -> diag(1, -1, -1); qfac -1 flips z
        let mut h = NiftiHeader::default();
        h.qform_code = 1;
        h.quatern = [1.0, 0.0, 0.0];
        h.pixdim[0] = -1.0;
        h.pixdim[1..4].copy_from_slice(&[2.0, 3.0, 4.0]);
        let a = h.best_affine().unwrap();
        assert_eq!(a[0][..3], [2.0, 0.0, 0.0]);
        assert_eq!(a[1][..3], [0.0, -3.0, 0.0]);
        assert_eq!(a[2][..3], [0.0, 0.0, 4.0]);
        h.quatern = [1.0, 0.5, 0.0];
        assert!(h.qform_affine().is_err());
    }
}
