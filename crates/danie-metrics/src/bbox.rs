//! Axis-aligned bounding boxes of mask voxels, used to crop before the distance transform.
use ndarray::{Slice, SliceInfoElem};

/// A half-open box `lo[k] .. hi[k]` per axis; empty when any `lo[k] >= hi[k]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundingBox {
    /// First index inside the box, per axis.
    pub lo: Vec<usize>,
    /// One past the last index inside the box, per axis.
    pub hi: Vec<usize>,
}

impl BoundingBox {
    /// The empty box of an `ndim`-axis image.
    pub fn empty(ndim: usize) -> Self {
        Self {
            lo: vec![usize::MAX; ndim],
            hi: vec![0; ndim],
        }
    }

    /// True when the box holds no voxel.
    pub fn is_empty(&self) -> bool {
        self.lo.iter().zip(&self.hi).any(|(l, h)| l >= h)
    }

    /// Grows the box to hold the voxels `prefix ++ [j_lo ..= j_hi]` (a run along the last axis).
    #[inline]
    pub fn include_run(&mut self, prefix: &[usize], j_lo: usize, j_hi: usize) {
        let last = self.lo.len() - 1;
        for (k, &p) in prefix.iter().enumerate() {
            self.lo[k] = self.lo[k].min(p);
            self.hi[k] = self.hi[k].max(p + 1);
        }
        self.lo[last] = self.lo[last].min(j_lo);
        self.hi[last] = self.hi[last].max(j_hi + 1);
    }

    /// The smallest box holding both boxes.
    pub fn union(&self, other: &Self) -> Self {
        Self {
            lo: self
                .lo
                .iter()
                .zip(&other.lo)
                .map(|(a, b)| *a.min(b))
                .collect(),
            hi: self
                .hi
                .iter()
                .zip(&other.hi)
                .map(|(a, b)| *a.max(b))
                .collect(),
        }
    }

    /// The box grown by `margin` voxels on every side, clipped to an image of `shape`.
    pub fn expanded(&self, margin: usize, shape: &[usize]) -> Self {
        Self {
            lo: self.lo.iter().map(|l| l.saturating_sub(margin)).collect(),
            hi: self
                .hi
                .iter()
                .zip(shape)
                .map(|(h, n)| (h + margin).min(*n))
                .collect(),
        }
    }

    /// The box's extent per axis.
    pub fn shape(&self) -> Vec<usize> {
        self.lo
            .iter()
            .zip(&self.hi)
            .map(|(l, h)| h.saturating_sub(*l))
            .collect()
    }

    /// The ndarray slice selecting the box.
    pub fn slice_info(&self) -> Vec<SliceInfoElem> {
        self.lo
            .iter()
            .zip(&self.hi)
            .map(|(&l, &h)| SliceInfoElem::from(Slice::from(l..h)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_union_and_margin() {
        let mut b = BoundingBox::empty(3);
        assert!(b.is_empty());
        b.include_run(&[2, 5], 7, 9);
        b.include_run(&[4, 1], 3, 3);
        assert_eq!(b.lo, vec![2, 1, 3]);
        assert_eq!(b.hi, vec![5, 6, 10]);
        let g = b.expanded(1, &[5, 10, 10]);
        assert_eq!(g.lo, vec![1, 0, 2]);
        assert_eq!(g.hi, vec![5, 7, 10]);
        assert_eq!(g.shape(), vec![4, 7, 8]);
        let u = BoundingBox::empty(3).union(&b);
        assert_eq!(u, b);
    }
}
