//! One parallel pass over a prediction/reference pair: per-class voxel counts and bounding boxes.
//!
//! Every class's surface work is then confined to its box, so a 9-class volume costs one scan
//! of the full arrays plus work proportional to the organs' extents.
use std::collections::BTreeSet;

use ndarray::{ArrayView2, ArrayViewD};
use rayon::prelude::*;

use crate::bbox::BoundingBox;
use crate::label::LabelValue;
use crate::overlap::OverlapCounts;

/// Counts and union bounding box of one class.
#[derive(Debug, Clone)]
pub(crate) struct ClassExtent {
    /// Voxel counts of the class in prediction, reference and both.
    pub counts: OverlapCounts,
    /// Bounding box of the class in prediction ∪ reference.
    pub bbox: BoundingBox,
}

/// Maps a label value to its position in the requested label list.
pub(crate) struct LabelSlots {
    /// `table[label]` = slot + 1 (0: not requested), for labels below `table.len()`.
    table: Vec<u32>,
    /// Sorted (label, slot) pairs, used when some label is too large for the table.
    sorted: Vec<(u32, usize)>,
}

/// Largest label served by the direct lookup table.
const TABLE_LIMIT: u32 = 1 << 16;

impl LabelSlots {
    pub fn new(labels: &[u32]) -> Self {
        let max = labels.iter().copied().max().unwrap_or(0);
        if max < TABLE_LIMIT {
            let mut table = vec![0u32; max as usize + 1];
            for (slot, &l) in labels.iter().enumerate() {
                table[l as usize] = slot as u32 + 1;
            }
            Self {
                table,
                sorted: Vec::new(),
            }
        } else {
            let mut sorted: Vec<(u32, usize)> = labels.iter().copied().zip(0..).collect();
            sorted.sort_unstable();
            Self {
                table: Vec::new(),
                sorted,
            }
        }
    }

    #[inline]
    pub fn slot<T: LabelValue>(&self, v: T) -> Option<usize> {
        let l = v.label()?;
        if self.sorted.is_empty() {
            match self.table.get(l as usize) {
                Some(&s) if s > 0 => Some(s as usize - 1),
                _ => None,
            }
        } else {
            self.sorted
                .binary_search_by_key(&l, |p| p.0)
                .ok()
                .map(|i| self.sorted[i].1)
        }
    }
}

/// Per-thread accumulator: the extents, and per-row scratch for the run of each class.
struct Acc {
    extents: Vec<ClassExtent>,
    run_lo: Vec<usize>,
    run_hi: Vec<usize>,
    touched: Vec<usize>,
}

impl Acc {
    fn new(n_slots: usize, ndim: usize) -> Self {
        Self {
            extents: vec![
                ClassExtent {
                    counts: OverlapCounts::default(),
                    bbox: BoundingBox::empty(ndim),
                };
                n_slots
            ],
            run_lo: vec![usize::MAX; n_slots],
            run_hi: vec![0; n_slots],
            touched: Vec::with_capacity(n_slots),
        }
    }

    #[inline]
    fn touch(&mut self, slot: usize, j: usize) {
        if self.run_lo[slot] == usize::MAX {
            self.run_lo[slot] = j;
            self.touched.push(slot);
        }
        self.run_hi[slot] = j;
    }

    fn merge(mut self, other: Self) -> Self {
        for (a, b) in self.extents.iter_mut().zip(other.extents) {
            a.counts.add(&b.counts);
            a.bbox = a.bbox.union(&b.bbox);
        }
        self
    }
}

/// Counts and boxes of `n_slots` classes; `slot_of` maps a voxel value to its class, if any.
///
/// # Shapes
/// `pred`, `gt`: the same N-D shape (N >= 1), standard layout.
pub(crate) fn scan<T, F>(
    pred: &ArrayViewD<T>,
    gt: &ArrayViewD<T>,
    n_slots: usize,
    slot_of: F,
) -> Vec<ClassExtent>
where
    T: Copy + Sync,
    F: Fn(T) -> Option<usize> + Sync,
{
    let shape = pred.shape().to_vec();
    let ndim = shape.len();
    let n = shape[ndim - 1];
    let rows = pred.len() / n.max(1);
    if n == 0 || rows == 0 {
        return Acc::new(n_slots, ndim).extents;
    }
    // (…, n) -> (rows, n)
    let p2: ArrayView2<T> = pred
        .view()
        .into_shape_with_order((rows, n))
        .expect("standard layout");
    let g2: ArrayView2<T> = gt
        .view()
        .into_shape_with_order((rows, n))
        .expect("standard layout");
    let prefix_shape = &shape[..ndim - 1];
    (0..rows)
        .into_par_iter()
        .with_min_len(16)
        .fold(
            || Acc::new(n_slots, ndim),
            |mut acc, r| {
                let (pr, gr) = (p2.row(r), g2.row(r));
                for (j, (&pv, &gv)) in pr.iter().zip(gr.iter()).enumerate() {
                    let sp = slot_of(pv);
                    let sg = slot_of(gv);
                    if let Some(s) = sp {
                        acc.extents[s].counts.pred += 1;
                        acc.touch(s, j);
                    }
                    if let Some(s) = sg {
                        acc.extents[s].counts.gt += 1;
                        if sp == sg {
                            acc.extents[s].counts.intersection += 1;
                        } else {
                            acc.touch(s, j);
                        }
                    }
                }
                if !acc.touched.is_empty() {
                    let prefix = unravel(r, prefix_shape);
                    for i in 0..acc.touched.len() {
                        let s = acc.touched[i];
                        let (lo, hi) = (acc.run_lo[s], acc.run_hi[s]);
                        acc.extents[s].bbox.include_run(&prefix, lo, hi);
                        acc.run_lo[s] = usize::MAX;
                    }
                    acc.touched.clear();
                }
                acc
            },
        )
        .reduce(|| Acc::new(n_slots, ndim), Acc::merge)
        .extents
}

/// The multi-index of row `r` in an array of leading shape `shape` (C order).
fn unravel(mut r: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for k in (0..shape.len()).rev() {
        idx[k] = r % shape[k];
        r /= shape[k];
    }
    idx
}

/// The distinct labels in `map` (negative values ignored), ascending.
pub fn labels_present<T: LabelValue>(map: ArrayViewD<T>) -> Vec<u32> {
    let small = |v: T| v.label().filter(|l| *l < TABLE_LIMIT);
    let (seen, big) = map
        .as_standard_layout()
        .as_slice()
        .expect("standard layout")
        .par_chunks(1 << 16)
        .fold(
            || (vec![false; TABLE_LIMIT as usize], BTreeSet::new()),
            |(mut seen, mut big), chunk| {
                for &v in chunk {
                    match small(v) {
                        Some(l) => seen[l as usize] = true,
                        None => {
                            if let Some(l) = v.label() {
                                big.insert(l);
                            }
                        }
                    }
                }
                (seen, big)
            },
        )
        .reduce(
            || (vec![false; TABLE_LIMIT as usize], BTreeSet::new()),
            |(mut a, mut ba), (b, bb)| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x |= y);
                ba.extend(bb);
                (a, ba)
            },
        );
    (0..TABLE_LIMIT)
        .filter(|l| seen[*l as usize])
        .chain(big)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array3};

    #[test]
    fn counts_and_boxes_of_two_labels() {
        let mut p = Array3::<u8>::zeros((4, 5, 6));
        let mut g = Array3::<u8>::zeros((4, 5, 6));
        p[[1, 2, 3]] = 1;
        p[[2, 2, 3]] = 1;
        g[[2, 2, 3]] = 1;
        g[[3, 4, 0]] = 1;
        g[[0, 0, 5]] = 7;
        let slots = LabelSlots::new(&[1, 7]);
        let e = scan(&p.view().into_dyn(), &g.view().into_dyn(), 2, |v| {
            slots.slot(v)
        });
        assert_eq!(
            e[0].counts,
            OverlapCounts {
                pred: 2,
                gt: 2,
                intersection: 1
            }
        );
        assert_eq!(e[0].bbox.lo, vec![1, 2, 0]);
        assert_eq!(e[0].bbox.hi, vec![4, 5, 4]);
        assert_eq!(
            e[1].counts,
            OverlapCounts {
                pred: 0,
                gt: 1,
                intersection: 0
            }
        );
        assert_eq!(e[1].bbox.lo, vec![0, 0, 5]);
    }

    #[test]
    fn present_labels_and_big_label_lookup() {
        let m = array![[0i32, 3, -2], [70000, 3, 1]].into_dyn();
        assert_eq!(labels_present(m.view()), vec![0, 1, 3, 70000]);
        let slots = LabelSlots::new(&[70000, 3]);
        assert_eq!(slots.slot(70000i32), Some(0));
        assert_eq!(slots.slot(3i32), Some(1));
        assert_eq!(slots.slot(1i32), None);
    }
}
