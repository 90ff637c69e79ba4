//! Resizing, rotation and intensity preprocessing, matching the published Python pipelines.
//!
//! - [`zoom2d`] / [`zoom_labels`]: `scipy.ndimage.zoom` (scipy >= 1.6, `grid_mode=False`,
//!   `mode='constant'`): output index `i` samples input coordinate `i * (in - 1) / (out - 1)`.
//!   Order 3 is the cubic B-spline with scipy's mirror-boundary prefilter; order 0 rounds
//!   half up (`floor(x + 0.5)`), as scipy does.
//! - [`resize_bilinear`]: `torch.nn.functional.interpolate(mode="bilinear",
//!   align_corners=False)`, used for RGB images (ISIC, GlaS).
//! - [`rotate`]: `scipy.ndimage.rotate(reshape=False, mode='constant', cval=0)` with order 0
//!   (nearest) or 1 (bilinear).
//! - [`ct_window`] (clip HU and scale to `[0, 1]`) and [`minmax_normalise`].
use ndarray::{Array2, Array3, ArrayView2, ArrayView3, Axis, Zip};
use serde::{Deserialize, Serialize};

/// How images are resized (labels always use nearest).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interp {
    /// `scipy.ndimage.zoom` order 0.
    Nearest,
    /// Bilinear with half-pixel centres (`torch` `align_corners=False`).
    Bilinear,
    /// `scipy.ndimage.zoom` order 3 (cubic B-spline with prefilter).
    Cubic,
}

/// The cubic B-spline prefilter's pole.
const POLE3: f64 = -0.267_949_192_431_122_7; // sqrt(3) - 2

/// scipy's mirror index for a tap at `idx` on an axis of length `len`.
fn mirror(idx: i64, len: usize) -> usize {
    let len = len as i64;
    if len <= 1 {
        return 0;
    }
    let s2 = 2 * len - 2;
    let mut i = idx.rem_euclid(s2);
    if i >= len {
        i = s2 - i;
    }
    i as usize
}

/// Terms of the causal initial sum: beyond them `|z|^k < 1e-20`, below f64 resolution.
const INIT_TERMS: usize = 36;

/// Cubic B-spline prefilter (scipy's `_apply_filter`, mirror boundary) along axis 0 of a
/// row-major `(n, w)` buffer, for all `w` columns at once (`w = 1`: one line).
fn spline_prefilter_axis0(c: &mut [f64], n: usize, w: usize) {
    if n < 2 {
        return;
    }
    let z = POLE3;
    let gain = (1.0 - z) * (1.0 - 1.0 / z);
    c.iter_mut().for_each(|v| *v *= gain);
    // causal initialisation, mirror boundary; scipy sums every term, but those past
    // INIT_TERMS (and the mirrored ones when n is long) are below f64 resolution
    let z_n1 = z.powi(n as i32 - 1);
    let exact = n <= INIT_TERMS;
    let mut c0: Vec<f64> = (0..w)
        .map(|j| {
            c[j] + if exact {
                z_n1 * c[(n - 1) * w + j]
            } else {
                0.0
            }
        })
        .collect();
    let mut zi = z;
    for i in 1..(n - 1).min(INIT_TERMS) {
        for (j, acc) in c0.iter_mut().enumerate() {
            let mirrored = if exact {
                z_n1 * c[(n - 1 - i) * w + j]
            } else {
                0.0
            };
            *acc += zi * (c[i * w + j] + mirrored);
        }
        zi *= z;
    }
    let norm = if exact { 1.0 - z_n1 * z_n1 } else { 1.0 };
    for (j, acc) in c0.iter().enumerate() {
        c[j] = acc / norm;
    }
    // (n, w): row i += z * row i-1
    for i in 1..n {
        let (prev, cur) = c[(i - 1) * w..(i + 1) * w].split_at_mut(w);
        cur.iter_mut()
            .zip(prev.iter())
            .for_each(|(x, p)| *x += z * p);
    }
    // anticausal initialisation, mirror boundary
    for j in 0..w {
        c[(n - 1) * w + j] = (z * c[(n - 2) * w + j] + c[(n - 1) * w + j]) * z / (z * z - 1.0);
    }
    for i in (0..n - 1).rev() {
        let (cur, next) = c[i * w..(i + 2) * w].split_at_mut(w);
        cur.iter_mut()
            .zip(next.iter())
            .for_each(|(x, nx)| *x = z * (nx - *x));
    }
}

/// Taps of one output coordinate: first input index (mirrored) and weights.
struct Taps {
    idx: [usize; 4],
    w: [f64; 4],
}

/// scipy zoom's input coordinate of each output index on one axis.
fn zoom_coords(len_in: usize, len_out: usize) -> impl Iterator<Item = f64> {
    let step = if len_out > 1 {
        (len_in as f64 - 1.0) / (len_out as f64 - 1.0)
    } else {
        1.0
    };
    let max = len_in as f64 - 1.0;
    (0..len_out).map(move |i| (i as f64 * step).min(max))
}

fn cubic_taps(len_in: usize, len_out: usize) -> Vec<Taps> {
    zoom_coords(len_in, len_out)
        .map(|x| {
            let f = x.floor();
            let t = x - f;
            let start = f as i64 - 1;
            let t2 = t * t;
            let t3 = t2 * t;
            let w = [
                (1.0 - t).powi(3) / 6.0,
                (4.0 - 6.0 * t2 + 3.0 * t3) / 6.0,
                (1.0 + 3.0 * t + 3.0 * t2 - 3.0 * t3) / 6.0,
                t3 / 6.0,
            ];
            let idx = [0, 1, 2, 3].map(|k| mirror(start + k, len_in));
            Taps { idx, w }
        })
        .collect()
}

fn linear_taps(len_in: usize, len_out: usize) -> Vec<Taps> {
    zoom_coords(len_in, len_out)
        .map(|x| {
            let f = x.floor();
            let t = x - f;
            let i0 = f as usize;
            let i1 = (i0 + 1).min(len_in - 1);
            Taps {
                idx: [i0, i1, i1, i1],
                w: [1.0 - t, t, 0.0, 0.0],
            }
        })
        .collect()
}

/// Nearest input index of each output index (scipy order 0: `floor(x + 0.5)`).
fn nearest_index(len_in: usize, len_out: usize) -> Vec<usize> {
    zoom_coords(len_in, len_out)
        .map(|x| ((x + 0.5).floor() as usize).min(len_in - 1))
        .collect()
}

/// Applies per-axis taps separably: rows first, then columns.
///
/// # Shapes
/// `coef (H, W)` -> `(out_h, out_w)`
fn apply_taps(coef: &Array2<f64>, rows: &[Taps], cols: &[Taps]) -> Array2<f32> {
    let (h, _) = coef.dim();
    // (H, W) -> (H, out_w): interpolate along W
    let mut tmp = Array2::<f64>::zeros((h, cols.len()));
    Zip::from(tmp.rows_mut())
        .and(coef.rows())
        .for_each(|mut out, row| {
            for (o, t) in out.iter_mut().zip(cols) {
                *o = (0..4).map(|k| t.w[k] * row[t.idx[k]]).sum();
            }
        });
    // (H, out_w) -> (out_h, out_w): interpolate along H
    let mut out = Array2::<f32>::zeros((rows.len(), cols.len()));
    for (mut orow, t) in out.rows_mut().into_iter().zip(rows) {
        let r: [_; 4] = t.idx.map(|i| tmp.row(i));
        for (j, o) in orow.iter_mut().enumerate() {
            *o = (0..4).map(|k| t.w[k] * r[k][j]).sum::<f64>() as f32;
        }
    }
    out
}

/// `scipy.ndimage.zoom(image, (out_h / H, out_w / W), order)` for a 2D image.
///
/// [`Interp::Cubic`] is order 3, [`Interp::Nearest`] order 0; [`Interp::Bilinear`] here means
/// scipy's order 1 (corner-aligned), unlike [`resize_bilinear`].
///
/// # Shapes
/// `image (H, W)` -> `(out.0, out.1)`
pub fn zoom2d(image: ArrayView2<f32>, out: (usize, usize), interp: Interp) -> Array2<f32> {
    let (h, w) = image.dim();
    assert!(h > 0 && w > 0, "zoom2d of an empty image");
    match interp {
        Interp::Nearest => {
            let (ri, ci) = (nearest_index(h, out.0), nearest_index(w, out.1));
            Array2::from_shape_fn(out, |(i, j)| image[[ri[i], ci[j]]])
        }
        Interp::Bilinear => {
            let coef = image.mapv(f64::from);
            apply_taps(&coef, &linear_taps(h, out.0), &linear_taps(w, out.1))
        }
        Interp::Cubic => {
            let mut coef = image.mapv(f64::from);
            let buf = coef.as_slice_mut().expect("standard layout");
            // prefilter along W: each row is one contiguous line
            for row in buf.chunks_exact_mut(w) {
                spline_prefilter_axis0(row, w, 1);
            }
            // prefilter along H: all columns together, row by row
            spline_prefilter_axis0(buf, h, w);
            apply_taps(&coef, &cubic_taps(h, out.0), &cubic_taps(w, out.1))
        }
    }
}

/// `scipy.ndimage.zoom(labels, ..., order=0)`: nearest neighbour, rounding half up.
///
/// # Shapes
/// `labels (H, W)` -> `(out.0, out.1)`
pub fn zoom_labels<T: Copy>(labels: ArrayView2<T>, out: (usize, usize)) -> Array2<T> {
    let (h, w) = labels.dim();
    let (ri, ci) = (nearest_index(h, out.0), nearest_index(w, out.1));
    Array2::from_shape_fn(out, |(i, j)| labels[[ri[i], ci[j]]])
}

/// Resizes one evaluation slice to `out` with `interp` (cubic = scipy zoom order 3, as TransUNet
/// feeds slices to the model). Labels and predictions go back with [`zoom_labels`].
///
/// # Shapes
/// `image (H, W)` -> `(out.0, out.1)`
pub fn resize_slice(image: ArrayView2<f32>, out: (usize, usize), interp: Interp) -> Array2<f32> {
    match interp {
        Interp::Bilinear => resize_bilinear(image, out),
        _ => zoom2d(image, out, interp),
    }
}

/// Resizes every channel of `(C, H, W)` with `interp` (see [`resize_slice`]).
///
/// # Shapes
/// `image (C, H, W)` -> `(C, out.0, out.1)`
pub fn resize_channels(image: ArrayView3<f32>, out: (usize, usize), interp: Interp) -> Array3<f32> {
    let c = image.shape()[0];
    let mut res = Array3::<f32>::zeros((c, out.0, out.1));
    for (mut dst, src) in res.outer_iter_mut().zip(image.outer_iter()) {
        dst.assign(&resize_slice(src, out, interp));
    }
    res
}

/// Bilinear resize with half-pixel centres, as `torch.nn.functional.interpolate(...,
/// mode="bilinear", align_corners=False)` (no antialiasing).
///
/// # Shapes
/// `image (H, W)` -> `(out.0, out.1)`
pub fn resize_bilinear(image: ArrayView2<f32>, out: (usize, usize)) -> Array2<f32> {
    let (h, w) = image.dim();
    let axis = |len_in: usize, len_out: usize| -> Vec<(usize, usize, f32)> {
        let scale = len_in as f32 / len_out as f32;
        (0..len_out)
            .map(|o| {
                let x = ((o as f32 + 0.5) * scale - 0.5).max(0.0);
                let i0 = (x.floor() as usize).min(len_in - 1);
                let i1 = (i0 + 1).min(len_in - 1);
                (i0, i1, x - i0 as f32)
            })
            .collect()
    };
    let (ry, rx) = (axis(h, out.0), axis(w, out.1));
    Array2::from_shape_fn(out, |(i, j)| {
        let (y0, y1, ty) = ry[i];
        let (x0, x1, tx) = rx[j];
        let top = image[[y0, x0]] * (1.0 - tx) + image[[y0, x1]] * tx;
        let bot = image[[y1, x0]] * (1.0 - tx) + image[[y1, x1]] * tx;
        top * (1.0 - ty) + bot * ty
    })
}

/// `scipy.ndimage.rotate(image, angle_deg, reshape=False, order, mode='constant', cval=0)` in
/// the plane of a 2D array; `bilinear` selects order 1, otherwise order 0 (nearest).
///
/// Output pixel `(r, c)` reads input `(cos a * r + sin a * c + off_r, -sin a * r + cos a * c +
/// off_c)` with the offsets keeping the centre fixed; points outside `[0, len - 1]` are zero.
///
/// # Shapes
/// `image (H, W)` -> `(H, W)`
pub fn rotate<T>(image: ArrayView2<T>, angle_deg: f64, bilinear: bool) -> Array2<T>
where
    T: Copy + Default + Into<f64> + FromF64,
{
    let (h, w) = image.dim();
    let (s, c) = sin_cos_deg(angle_deg);
    let (ch, cw) = ((h as f64 - 1.0) / 2.0, (w as f64 - 1.0) / 2.0);
    // offset = in_centre - R @ out_centre
    let off_r = ch - (c * ch + s * cw);
    let off_c = cw - (-s * ch + c * cw);
    let (hmax, wmax) = (h as f64 - 1.0, w as f64 - 1.0);
    Array2::from_shape_fn((h, w), |(r, q)| {
        let (r, q) = (r as f64, q as f64);
        let ir = c * r + s * q + off_r;
        let iq = -s * r + c * q + off_c;
        if !(0.0..=hmax).contains(&ir) || !(0.0..=wmax).contains(&iq) {
            return T::default();
        }
        if !bilinear {
            return image[[(ir + 0.5).floor() as usize, (iq + 0.5).floor() as usize]];
        }
        let (r0, q0) = (ir.floor() as usize, iq.floor() as usize);
        let (r1, q1) = ((r0 + 1).min(h - 1), (q0 + 1).min(w - 1));
        let (tr, tq) = (ir - r0 as f64, iq - q0 as f64);
        let v = |a: usize, b: usize| -> f64 { image[[a, b]].into() };
        let top = v(r0, q0) * (1.0 - tq) + v(r0, q1) * tq;
        let bot = v(r1, q0) * (1.0 - tq) + v(r1, q1) * tq;
        T::from_f64(top * (1.0 - tr) + bot * tr)
    })
}

/// Conversion back from the `f64` that interpolation computes in.
pub trait FromF64 {
    /// Converts (rounding to nearest for integers).
    fn from_f64(v: f64) -> Self;
}
impl FromF64 for f32 {
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}
impl FromF64 for u8 {
    fn from_f64(v: f64) -> Self {
        v.round().clamp(0.0, 255.0) as u8
    }
}

/// `sin` and `cos` of an angle in degrees, exact at multiples of 90 (as `scipy.special.sindg`).
fn sin_cos_deg(deg: f64) -> (f64, f64) {
    let r = deg.rem_euclid(360.0);
    if r == 0.0 {
        (0.0, 1.0)
    } else if r == 90.0 {
        (1.0, 0.0)
    } else if r == 180.0 {
        (0.0, -1.0)
    } else if r == 270.0 {
        (-1.0, 0.0)
    } else {
        deg.to_radians().sin_cos()
    }
}

/// Clips CT intensities to `[lo, hi]` HU and scales to `[0, 1]`: `(clip(x) - lo) / (hi - lo)`
/// (TransUNet: `[-125, 275]`).
pub fn ct_window(hu: f32, lo: f32, hi: f32) -> f32 {
    (hu.clamp(lo, hi) - lo) / (hi - lo)
}

/// Per-volume min-max normalisation to `[0, 1]` (SSL4MIS for ACDC); a constant volume becomes 0.
pub fn minmax_normalise(volume: &mut Array3<f32>) {
    let (lo, hi) = volume
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let range = hi - lo;
    volume.mapv_inplace(|v| if range > 0.0 { (v - lo) / range } else { 0.0 });
}

/// Rotates a 2D array by `k` quarter turns counter-clockwise in the view, as `np.rot90(a, k)`.
///
/// # Shapes
/// `(H, W)` -> `(H, W)` for even `k`, `(W, H)` for odd `k`
pub fn rot90<T: Copy>(a: ArrayView2<T>, k: usize) -> Array2<T> {
    let mut v = a;
    for _ in 0..k % 4 {
        // np.rot90(m) == flip(m.T, axis 0)
        v = v.reversed_axes();
        v.invert_axis(Axis(0));
    }
    v.to_owned()
}

/// Reverses axis `axis` of a 2D array, as `np.flip(a, axis)`.
pub fn flip<T: Copy>(a: ArrayView2<T>, axis: usize) -> Array2<T> {
    let mut v = a;
    v.invert_axis(Axis(axis));
    v.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn rot90_matches_numpy_convention() {
        // np.rot90([[1, 2], [3, 4]]) == [[2, 4], [1, 3]]
        let a = array![[1, 2], [3, 4]];
        assert_eq!(rot90(a.view(), 1), array![[2, 4], [1, 3]]);
        assert_eq!(rot90(a.view(), 4), a);
        let b = array![[1, 2, 3], [4, 5, 6]];
        assert_eq!(rot90(b.view(), 1), array![[3, 6], [2, 5], [1, 4]]);
    }

    #[test]
    fn cubic_zoom_keeps_constants_and_identity() {
        let c = Array2::from_elem((9, 7), 0.25f32);
        let z = zoom2d(c.view(), (20, 15), Interp::Cubic);
        assert!(z.iter().all(|v| (v - 0.25).abs() < 1e-6));
        let a = Array2::from_shape_fn((6, 5), |(i, j)| (i * 5 + j) as f32 * 0.1);
        let same = zoom2d(a.view(), (6, 5), Interp::Cubic);
        assert!(same.iter().zip(&a).all(|(x, y)| (x - y).abs() < 1e-5));
    }

    #[test]
    fn window_clips_and_scales() {
        assert_eq!(ct_window(-1000.0, -125.0, 275.0), 0.0);
        assert_eq!(ct_window(75.0, -125.0, 275.0), 0.5);
        assert_eq!(ct_window(3000.0, -125.0, 275.0), 1.0);
    }
}
