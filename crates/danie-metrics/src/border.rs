//! Mask surfaces as medpy and MONAI extract them: the mask XOR its erosion.
//!
//! The erosion uses the face-connected structure (connectivity 1: the 2N face neighbours in N
//! dimensions) and treats everything outside the array as background, so mask voxels on the
//! image edge are surface voxels (`scipy.ndimage.binary_erosion`'s `border_value=0`).
use ndarray::{ArrayD, ArrayViewD, Axis, Slice, Zip};

/// The surface voxels of `mask`: set voxels with at least one face neighbour unset or outside.
///
/// # Shapes
/// `mask`: any N-D shape; the result has the same shape, in standard layout.
pub fn surface(mask: ArrayViewD<bool>) -> ArrayD<bool> {
    let mut interior = mask.as_standard_layout().into_owned();
    for k in 0..mask.ndim() {
        let n = mask.len_of(Axis(k));
        if n < 2 {
            interior.fill(false);
            break;
        }
        // interior[i] &= mask[i - 1] and mask[i + 1] along axis k; the ends have an outside neighbour.
        Zip::from(interior.slice_axis_mut(Axis(k), Slice::from(1..)))
            .and(mask.slice_axis(Axis(k), Slice::from(..-1)))
            .for_each(|i, &m| *i &= m);
        Zip::from(interior.slice_axis_mut(Axis(k), Slice::from(..-1)))
            .and(mask.slice_axis(Axis(k), Slice::from(1..)))
            .for_each(|i, &m| *i &= m);
        interior.index_axis_mut(Axis(k), 0).fill(false);
        interior.index_axis_mut(Axis(k), n - 1).fill(false);
    }
    // surface = mask XOR erosion(mask); erosion ⊆ mask, so this is mask AND NOT interior.
    Zip::from(&mut interior)
        .and(&mask)
        .for_each(|i, &m| *i = m && !*i);
    interior
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, IxDyn};

    #[test]
    fn square_keeps_its_ring_and_image_edge_counts_as_border() {
        let m = array![
            [true, true, true, false],
            [true, true, true, false],
            [true, true, true, false],
            [true, true, true, false]
        ]
        .into_dyn();
        let s = surface(m.view());
        let want = array![
            [true, true, true, false],
            [true, false, true, false],
            [true, false, true, false],
            [true, true, true, false]
        ]
        .into_dyn();
        assert_eq!(s, want);
    }

    #[test]
    fn thin_axis_makes_every_voxel_surface() {
        let m = ArrayD::from_elem(IxDyn(&[1, 3, 3]), true);
        assert!(surface(m.view()).iter().all(|&b| b));
    }
}
