//! [`TypedArray`]: an n-d array of whichever numeric type a file holds, and [`Element`], the
//! numeric types it can hold. Shared by the NIfTI, npy/npz and HDF5 readers.
use std::collections::BTreeSet;
use std::path::Path;

use ndarray::{ArrayD, ArrayViewD};

use super::dtype::DType;
use super::value_stats::ValueStats;
use crate::error::{DataError, Result};

/// A plain numeric element type that files store.
pub trait Element: bytemuck::Pod + Send + Sync + PartialOrd + std::fmt::Debug + 'static {
    /// The on-disk type this Rust type stands for.
    const DTYPE: DType;
    /// The value as f64 (exact for every type but 64-bit integers beyond 2^53).
    fn to_f64(self) -> f64;
    /// The value with its bytes reversed (endianness conversion).
    fn swap_bytes(self) -> Self;
    /// Wraps an array of this type.
    fn wrap(array: ArrayD<Self>) -> TypedArray;
}

macro_rules! int_element {
    ($t:ty, $dt:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$dt;
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn swap_bytes(self) -> Self {
                <$t>::swap_bytes(self)
            }
            fn wrap(array: ArrayD<Self>) -> TypedArray {
                TypedArray::$dt(array)
            }
        }
    };
}
int_element!(u8, U8);
int_element!(i8, I8);
int_element!(i16, I16);
int_element!(u16, U16);
int_element!(i32, I32);
int_element!(u32, U32);
int_element!(i64, I64);
int_element!(u64, U64);

macro_rules! float_element {
    ($t:ty, $dt:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$dt;
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn swap_bytes(self) -> Self {
                <$t>::from_bits(self.to_bits().swap_bytes())
            }
            fn wrap(array: ArrayD<Self>) -> TypedArray {
                TypedArray::$dt(array)
            }
        }
    };
}
float_element!(f32, F32);
float_element!(f64, F64);

/// An n-d array of one of the supported element types, as read from a file (raw, unscaled).
///
/// Arrays read from NIfTI keep nibabel's index order `(x, y, z[, t])` in Fortran memory order
/// (no copy); arrays from npy keep the file's order. Use [`ndarray::ArrayBase::as_standard_layout`]
/// where C order matters.
#[derive(Debug, Clone, PartialEq)]
pub enum TypedArray {
    U8(ArrayD<u8>),
    I8(ArrayD<i8>),
    I16(ArrayD<i16>),
    U16(ArrayD<u16>),
    I32(ArrayD<i32>),
    U32(ArrayD<u32>),
    I64(ArrayD<i64>),
    U64(ArrayD<u64>),
    F32(ArrayD<f32>),
    F64(ArrayD<f64>),
}

/// Runs `$body` with `$a` bound to the inner array, whatever its type.
macro_rules! with_array {
    ($self:expr, $a:ident => $body:expr) => {
        match $self {
            TypedArray::U8($a) => $body,
            TypedArray::I8($a) => $body,
            TypedArray::I16($a) => $body,
            TypedArray::U16($a) => $body,
            TypedArray::I32($a) => $body,
            TypedArray::U32($a) => $body,
            TypedArray::I64($a) => $body,
            TypedArray::U64($a) => $body,
            TypedArray::F32($a) => $body,
            TypedArray::F64($a) => $body,
        }
    };
}
pub(crate) use with_array;

impl<T: Element> From<ArrayD<T>> for TypedArray {
    fn from(array: ArrayD<T>) -> Self {
        T::wrap(array)
    }
}

impl TypedArray {
    /// The element type.
    pub fn dtype(&self) -> DType {
        with_array!(self, a => element_dtype(a))
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        with_array!(self, a => a.shape())
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        with_array!(self, a => a.len())
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as f64 (same shape and memory order).
    pub fn to_f64(&self) -> ArrayD<f64> {
        with_array!(self, a => a.mapv(|v| v.to_f64()))
    }

    /// The values as f32 (same shape and memory order; rounds values f32 cannot hold).
    pub fn to_f32(&self) -> ArrayD<f32> {
        match self {
            TypedArray::F32(a) => a.clone(),
            _ => with_array!(self, a => a.mapv(|v| v.to_f64() as f32)),
        }
    }

    /// `raw * slope + inter` in f64, like nibabel's `get_fdata()`.
    pub fn scaled_f64(&self, slope: f64, inter: f64) -> ArrayD<f64> {
        with_array!(self, a => a.mapv(|v| v.to_f64() * slope + inter))
    }

    /// `raw * slope + inter` computed in f64 and stored as f32 (half the memory).
    pub fn scaled_f32(&self, slope: f64, inter: f64) -> ArrayD<f32> {
        with_array!(self, a => a.mapv(|v| (v.to_f64() * slope + inter) as f32))
    }

    /// The raw bytes in `endian` order, Fortran order (first index fastest, as NIfTI stores
    /// them) or C order.
    pub fn to_bytes(&self, endian: super::Endian, fortran: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len() * self.dtype().size());
        with_array!(self, a => {
            let view = if fortran { a.view().reversed_axes() } else { a.view() };
            super::element_io::write_elements(&mut out, view.iter(), endian)
        })
        .expect("writing to a Vec cannot fail");
        out
    }

    /// Min / max / mean ignoring NaN, and the NaN count.
    pub fn stats(&self) -> ValueStats {
        self.summary(None, 0).0
    }

    /// The sorted distinct values if every value is a whole number and there are at most
    /// `max_count` of them (a label map); `None` otherwise.
    pub fn label_values(&self, max_count: usize) -> Option<Vec<i64>> {
        match self {
            TypedArray::U8(_) | TypedArray::I8(_) | TypedArray::U16(_) | TypedArray::I16(_) => {
                self.summary(None, max_count).1
            }
            _ => with_array!(self, a => distinct_integers(memory_order(a), max_count)),
        }
    }

    /// [`TypedArray::stats`] and [`TypedArray::label_values`] of `raw * slope + inter` (of the
    /// raw values when `scaling` is `None`), as nibabel's `get_fdata()` would give them, without
    /// a scaled copy: one pass in memory order (a NIfTI volume is Fortran-ordered; walking it
    /// in index order misses the cache on every step), and for 8- and 16-bit data one histogram
    /// from which both come.
    pub fn summary(
        &self,
        scaling: Option<(f64, f64)>,
        max_labels: usize,
    ) -> (ValueStats, Option<Vec<i64>>) {
        let (slope, inter) = scaling.unwrap_or((1.0, 0.0));
        match self {
            TypedArray::U8(a) => histogram_summary(a, slope, inter, max_labels),
            TypedArray::I8(a) => histogram_summary(a, slope, inter, max_labels),
            TypedArray::U16(a) => histogram_summary(a, slope, inter, max_labels),
            TypedArray::I16(a) => histogram_summary(a, slope, inter, max_labels),
            _ => with_array!(self, a => {
                let scaled = |v: f64| if scaling.is_some() { v * slope + inter } else { v };
                let stats = ValueStats::of(memory_order(a).map(scaled));
                let labels = if max_labels == 0 {
                    None
                } else {
                    distinct_integers(memory_order(a).map(scaled), max_labels)
                };
                (stats, labels)
            }),
        }
    }

    /// The values as label ids, checking each is a whole number in `0..=65535`; the error names
    /// `path` and the first offending value.
    pub fn to_labels(&self, path: &Path) -> Result<ArrayD<u16>> {
        self.scaled_labels(path, 1.0, 0.0)
    }

    /// Like [`TypedArray::to_labels`] on `raw * slope + inter`.
    pub fn scaled_labels(&self, path: &Path, slope: f64, inter: f64) -> Result<ArrayD<u16>> {
        with_array!(self, a => labels_of(a.view(), path, slope, inter))
    }
}

fn element_dtype<T: Element>(_: &ArrayD<T>) -> DType {
    T::DTYPE
}

fn labels_of<T: Element>(
    a: ArrayViewD<T>,
    path: &Path,
    slope: f64,
    inter: f64,
) -> Result<ArrayD<u16>> {
    let mut bad: Option<f64> = None;
    let out = a.mapv(|v| {
        let x = v.to_f64() * slope + inter;
        if x.fract() == 0.0 && (0.0..=u16::MAX as f64).contains(&x) {
            x as u16
        } else {
            bad.get_or_insert(x);
            0
        }
    });
    match bad {
        None => Ok(out),
        Some(x) => Err(DataError::invalid(
            path,
            format!(
                "not a label map: holds the value {x} (label ids must be whole numbers in 0..=65535; \
                 found in {} data)",
                T::DTYPE
            ),
        )),
    }
}

/// The values of `a` as f64 in memory order (any order serves a statistic or a set).
fn memory_order<T: Element>(a: &ArrayD<T>) -> Box<dyn Iterator<Item = f64> + '_> {
    match a.as_slice_memory_order() {
        Some(s) => Box::new(s.iter().map(|v| v.to_f64())),
        None => Box::new(a.iter().map(|v| v.to_f64())),
    }
}

/// An 8- or 16-bit element as an index into a 65536-bin histogram, and back.
trait SmallInt: Element {
    fn bin(self) -> usize;
    fn from_bin(bin: usize) -> f64;
}

macro_rules! small_int {
    ($t:ty, $u:ty) => {
        impl SmallInt for $t {
            fn bin(self) -> usize {
                self as $u as usize
            }
            fn from_bin(bin: usize) -> f64 {
                bin as $u as $t as f64
            }
        }
    };
}
small_int!(u8, u8);
small_int!(i8, u8);
small_int!(u16, u16);
small_int!(i16, u16);

/// Stats and label values of an 8- or 16-bit array from its histogram: one increment per
/// element, then work per distinct value only.
fn histogram_summary<T: SmallInt>(
    a: &ArrayD<T>,
    slope: f64,
    inter: f64,
    max_labels: usize,
) -> (ValueStats, Option<Vec<i64>>) {
    let bins = 1 << (8 * std::mem::size_of::<T>());
    let mut counts = vec![0u64; bins];
    match a.as_slice_memory_order() {
        Some(s) => {
            // Four interleaved histograms: a run of equal values (air in a CT) would otherwise
            // make every increment wait for the one before.
            let mut four = vec![0u64; 4 * bins];
            let (quads, rest) = s.split_at(s.len() - s.len() % 4);
            for q in quads.chunks_exact(4) {
                for (lane, v) in q.iter().enumerate() {
                    four[lane * bins + v.bin()] += 1;
                }
            }
            rest.iter().for_each(|v| counts[v.bin()] += 1);
            for lane in four.chunks_exact(bins) {
                counts.iter_mut().zip(lane).for_each(|(c, l)| *c += l);
            }
        }
        None => a.iter().for_each(|v| counts[v.bin()] += 1),
    }
    let present = || {
        counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(bin, &c)| (T::from_bin(bin) * slope + inter, c))
    };
    // The same sums ValueStats::of makes, one term per distinct value.
    let (mut min, mut max, mut sum, mut count) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0usize);
    for (v, c) in present() {
        min = min.min(v);
        max = max.max(v);
        sum += v * c as f64;
        count += c as usize;
    }
    let stats = if count == 0 {
        ValueStats::of(std::iter::empty())
    } else {
        ValueStats {
            min,
            max,
            mean: sum / count as f64,
            nan_count: 0,
            count,
        }
    };
    let labels = if max_labels == 0 {
        None
    } else {
        distinct_integers(present().map(|(v, _)| v), max_labels)
    };
    (stats, labels)
}

/// Sorted distinct values if all are whole numbers and at most `max_count` differ. A label map
/// repeats its last value far more often than not, so that one is checked before the set.
pub(crate) fn distinct_integers(
    values: impl Iterator<Item = f64>,
    max_count: usize,
) -> Option<Vec<i64>> {
    let mut set = BTreeSet::new();
    let mut last = f64::NAN;
    for v in values {
        if v == last {
            continue;
        }
        // Beyond 2^53 a float is no exact integer, and `as i64` would merge values past i64's
        // range into one: not label values.
        if v.fract() != 0.0 || !v.is_finite() || v.abs() > 9_007_199_254_740_992.0 {
            return None;
        }
        last = v;
        if set.insert(v as i64) && set.len() > max_count {
            return None;
        }
    }
    Some(set.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{IxDyn, ShapeBuilder};

    #[test]
    fn whole_values_beyond_exact_integers_are_not_labels() {
        let labels = |v: &[f64]| distinct_integers(v.iter().copied(), 10);
        assert_eq!(labels(&[0.0, 2.0, 2.0, 7.0]), Some(vec![0, 2, 7]));
        // Both saturated to i64::MAX by `as`, they were listed as one label.
        assert_eq!(labels(&[1e300, 2e300]), None);
        assert_eq!(labels(&[0.0, 1.5]), None);
    }

    #[test]
    fn labels_reject_fractions_and_negatives() {
        let p = Path::new("seg.nii.gz");
        let a =
            TypedArray::from(ArrayD::from_shape_vec(IxDyn(&[3]), vec![0.0f32, 2.0, 1.5]).unwrap());
        let err = a.to_labels(p).unwrap_err().to_string();
        assert!(err.contains("seg.nii.gz") && err.contains("1.5"), "{err}");
        let a = TypedArray::from(ArrayD::from_shape_vec(IxDyn(&[2]), vec![-1i16, 3]).unwrap());
        assert!(a.to_labels(p).unwrap_err().to_string().contains("-1"));
        let a = TypedArray::from(ArrayD::from_shape_vec(IxDyn(&[2]), vec![7u8, 3]).unwrap());
        assert_eq!(a.to_labels(p).unwrap().as_slice().unwrap(), &[7, 3]);
    }

    #[test]
    fn summary_of_scaled_small_ints_matches_the_scaled_copy() {
        // Fortran order, negative slope: the histogram path against the plain definition.
        let raw: Vec<i16> = (0..60).map(|i| (i % 7) as i16 * 100 - 300).collect();
        let a = ArrayD::from_shape_vec(IxDyn(&[3, 4, 5]).f(), raw).unwrap();
        let t = TypedArray::from(a.clone());
        for scaling in [None, Some((-0.5, 10.0)), Some((2.0, -1024.0))] {
            let (slope, inter) = scaling.unwrap_or((1.0, 0.0));
            let copy = TypedArray::from(a.mapv(|v| v as f64 * slope + inter));
            let (stats, labels) = t.summary(scaling, 64);
            let (want_stats, want_labels) = copy.summary(None, 64);
            assert_eq!(
                (stats.min, stats.max, stats.count),
                (want_stats.min, want_stats.max, 60)
            );
            assert!((stats.mean - want_stats.mean).abs() < 1e-9, "{scaling:?}");
            assert_eq!(labels, want_labels, "{scaling:?}");
        }
        assert_eq!(t.label_values(3), None);
        let u =
            TypedArray::from(ArrayD::from_shape_vec(IxDyn(&[4]), vec![3u8, 0, 3, 255]).unwrap());
        assert_eq!(u.label_values(8), Some(vec![0, 3, 255]));
        let s = u.stats();
        assert_eq!((s.min, s.max, s.mean), (0.0, 255.0, 65.25));
        // a length that is not a multiple of the four interleaved histograms
        let u = TypedArray::from(
            ArrayD::from_shape_vec(IxDyn(&[7]), vec![1u8, 1, 1, 1, 1, 9, 2]).unwrap(),
        );
        let (s, l) = u.summary(None, 8);
        assert_eq!((s.count, s.min, s.max, s.mean), (7, 1.0, 9.0, 16.0 / 7.0));
        assert_eq!(l, Some(vec![1, 2, 9]));
    }

    #[test]
    fn label_values_need_whole_numbers_and_few_values() {
        let a = TypedArray::from(
            ArrayD::from_shape_vec(IxDyn(&[4]), vec![3.0f64, 0.0, 3.0, 1.0]).unwrap(),
        );
        assert_eq!(a.label_values(10), Some(vec![0, 1, 3]));
        assert_eq!(a.label_values(2), None);
        let a = TypedArray::from(ArrayD::from_shape_vec(IxDyn(&[2]), vec![0.5f32, 1.0]).unwrap());
        assert_eq!(a.label_values(10), None);
    }
}
