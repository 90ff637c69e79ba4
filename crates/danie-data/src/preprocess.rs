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
//! - [`ct_window`] (clip HU and scale to `[0, 1]`) and [`minmax_normalise`]; [`Intensity`] names
//!   the mapping a dataset uses.
use ndarray::{Array2, Array3, ArrayView, ArrayView2, ArrayView3, Axis, Dimension};
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

/// The same filter along axis 1 of a row-major `(rows, n)` buffer, each row one line, with the
/// same operations per element as [`spline_prefilter_axis0`] on that line. Rows go through in
/// blocks of 8 whose recursions interleave: one line is a chain of dependent multiply-adds,
/// eight lines are eight independent chains.
fn spline_prefilter_axis1(c: &mut [f64], n: usize) {
    if n < 2 {
        return;
    }
    const BLOCK: usize = 8;
    let z = POLE3;
    let gain = (1.0 - z) * (1.0 - 1.0 / z);
    c.iter_mut().for_each(|v| *v *= gain);
    let z_n1 = z.powi(n as i32 - 1);
    let exact = n <= INIT_TERMS;
    let norm = if exact { 1.0 - z_n1 * z_n1 } else { 1.0 };
    for block in c.chunks_mut(BLOCK * n) {
        let b = block.len() / n;
        for line in block.chunks_exact_mut(n) {
            // causal initialisation, mirror boundary
            let mut acc = line[0] + if exact { z_n1 * line[n - 1] } else { 0.0 };
            let mut zi = z;
            for i in 1..(n - 1).min(INIT_TERMS) {
                let mirrored = if exact { z_n1 * line[n - 1 - i] } else { 0.0 };
                acc += zi * (line[i] + mirrored);
                zi *= z;
            }
            line[0] = acc / norm;
        }
        for i in 1..n {
            for r in 0..b {
                let p = block[r * n + i - 1];
                block[r * n + i] += z * p;
            }
        }
        for line in block.chunks_exact_mut(n) {
            // anticausal initialisation, mirror boundary
            line[n - 1] = (z * line[n - 2] + line[n - 1]) * z / (z * z - 1.0);
        }
        for i in (0..n - 1).rev() {
            for r in 0..b {
                let nx = block[r * n + i + 1];
                let x = &mut block[r * n + i];
                *x = z * (nx - *x);
            }
        }
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

/// Interpolates along axis 0 of a row-major `(n, width)` buffer: output row `o` is
/// `sum_k taps[o].w[k] * row(taps[o].idx[k])`, whole rows at a time (vectorised).
///
/// # Shapes
/// `(n, width)` -> `(taps.len(), width)`
fn interp_axis0(src: &[f64], width: usize, taps: &[Taps]) -> Vec<f64> {
    let mut out = Vec::with_capacity(taps.len() * width);
    let row = |i: usize| &src[i * width..(i + 1) * width];
    for t in taps {
        let (r0, r1, r2, r3) = (row(t.idx[0]), row(t.idx[1]), row(t.idx[2]), row(t.idx[3]));
        out.extend(
            (0..width).map(|j| t.w[0] * r0[j] + t.w[1] * r1[j] + t.w[2] * r2[j] + t.w[3] * r3[j]),
        );
    }
    out
}

/// Interpolates along axis 1 of a row-major `(rows, n)` buffer, row by row.
///
/// # Shapes
/// `(rows, n)` -> `(rows, taps.len())`
fn interp_axis1(src: &[f64], n: usize, taps: &[Taps]) -> Vec<f64> {
    let mut out = Vec::with_capacity(src.len() / n * taps.len());
    for line in src.chunks_exact(n) {
        out.extend(taps.iter().map(|t| {
            t.w[0] * line[t.idx[0]]
                + t.w[1] * line[t.idx[1]]
                + t.w[2] * line[t.idx[2]]
                + t.w[3] * line[t.idx[3]]
        }));
    }
    out
}

/// Separable spline (order 3, `prefilter`) or linear (order 1) zoom of one plane in float64:
/// filter and interpolate along one axis, then along the other. The axes are independent, so
/// either order is exact; H goes first when the zoom shrinks it, because filtering along H
/// runs over whole rows (vectorised) while filtering along W is a recursion within each row,
/// and it then runs over `out_h` rows instead of H.
///
/// # Shapes
/// `image (H, W)` -> `(rows.len(), cols.len())`
fn zoom_separable(
    image: ArrayView2<f32>,
    rows: &[Taps],
    cols: &[Taps],
    prefilter: bool,
) -> Array2<f32> {
    let (h, w) = image.dim();
    let mut plane: Vec<f64> = match image.as_slice() {
        Some(s) => s.iter().map(|&v| f64::from(v)).collect(),
        None => image.iter().map(|&v| f64::from(v)).collect(),
    };
    let out = if rows.len() <= h {
        if prefilter {
            spline_prefilter_axis0(&mut plane, h, w);
        }
        let mut t = interp_axis0(&plane, w, rows); // (out_h, W)
        if prefilter {
            spline_prefilter_axis1(&mut t, w);
        }
        interp_axis1(&t, w, cols) // (out_h, out_w)
    } else {
        if prefilter {
            spline_prefilter_axis1(&mut plane, w);
        }
        let mut t = interp_axis1(&plane, w, cols); // (H, out_w)
        if prefilter {
            spline_prefilter_axis0(&mut t, h, cols.len());
        }
        interp_axis0(&t, cols.len(), rows) // (out_h, out_w)
    };
    Array2::from_shape_vec(
        (rows.len(), cols.len()),
        out.into_iter().map(|v| v as f32).collect(),
    )
    .expect("output size")
}

/// `out[i][j] = src[ri[i]][cj[j]]`, row by row.
///
/// # Shapes
/// `src (H, W)` -> `(ri.len(), cj.len())`
fn gather<T: Copy>(src: ArrayView2<T>, ri: &[usize], cj: &[usize]) -> Array2<T> {
    let mut out = Vec::with_capacity(ri.len() * cj.len());
    for &r in ri {
        let row = src.row(r);
        match row.as_slice() {
            Some(s) => out.extend(cj.iter().map(|&c| s[c])),
            None => out.extend(cj.iter().map(|&c| row[c])),
        }
    }
    Array2::from_shape_vec((ri.len(), cj.len()), out).expect("output size")
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
        Interp::Nearest => gather(image, &nearest_index(h, out.0), &nearest_index(w, out.1)),
        Interp::Bilinear => {
            zoom_separable(image, &linear_taps(h, out.0), &linear_taps(w, out.1), false)
        }
        Interp::Cubic => zoom_separable(image, &cubic_taps(h, out.0), &cubic_taps(w, out.1), true),
    }
}

/// `scipy.ndimage.zoom(labels, ..., order=0)`: nearest neighbour, rounding half up.
///
/// # Shapes
/// `labels (H, W)` -> `(out.0, out.1)`
pub fn zoom_labels<T: Copy>(labels: ArrayView2<T>, out: (usize, usize)) -> Array2<T> {
    let (h, w) = labels.dim();
    gather(labels, &nearest_index(h, out.0), &nearest_index(w, out.1))
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
    let image = image.as_standard_layout();
    let src = image.as_slice().expect("standard layout");
    let mut res = Vec::with_capacity(out.0 * out.1);
    for &(y0, y1, ty) in &ry {
        let (r0, r1) = (&src[y0 * w..(y0 + 1) * w], &src[y1 * w..(y1 + 1) * w]);
        res.extend(rx.iter().map(|&(x0, x1, tx)| {
            let top = r0[x0] * (1.0 - tx) + r0[x1] * tx;
            let bot = r1[x0] * (1.0 - tx) + r1[x1] * tx;
            top * (1.0 - ty) + bot * ty
        }));
    }
    Array2::from_shape_vec(out, res).expect("output size")
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
    let map = RotationMap::new(h, w, angle_deg);
    let image = image.as_standard_layout();
    let src = image.as_slice().expect("standard layout");
    let mut out = Vec::with_capacity(h * w);
    for r in 0..h {
        let r = r as f64;
        // Pixels outside the input sit at both ends of the row: the loop between them needs no
        // bounds test.
        let inside = map.inside(r);
        out.extend(std::iter::repeat_n(T::default(), inside.start));
        if bilinear {
            out.extend(inside.clone().map(|q| {
                let (ir, iq) = map.coords(r, q as f64);
                // Both coordinates are >= 0 here, so truncation is floor (and needs no libm call).
                let (r0, q0) = (ir as usize, iq as usize);
                let (r1, q1) = ((r0 + 1).min(h - 1), (q0 + 1).min(w - 1));
                let (tr, tq) = (ir - r0 as f64, iq - q0 as f64);
                let v = |a: usize, b: usize| -> f64 { src[a * w + b].into() };
                let top = v(r0, q0) * (1.0 - tq) + v(r0, q1) * tq;
                let bot = v(r1, q0) * (1.0 - tq) + v(r1, q1) * tq;
                T::from_f64(top * (1.0 - tr) + bot * tr)
            }));
        } else {
            out.extend(inside.clone().map(|q| src[map.nearest(r, q as f64)]));
        }
        out.extend(std::iter::repeat_n(T::default(), w - inside.end));
    }
    Array2::from_shape_vec((h, w), out).expect("output size")
}

/// `zoom_labels(&rotate(labels, angle_deg, false), out)`, computed only at the pixels the zoom
/// keeps: both are nearest-neighbour lookups, so their composition is one lookup (TransUNet
/// rotates 512 x 512 labels, then zooms them to 224 x 224).
///
/// # Shapes
/// `labels (H, W)` -> `(out.0, out.1)`
pub fn rotate_zoom_labels<T: Copy + Default>(
    labels: ArrayView2<T>,
    angle_deg: f64,
    out: (usize, usize),
) -> Array2<T> {
    let (h, w) = labels.dim();
    let map = RotationMap::new(h, w, angle_deg);
    let (ri, cj) = (nearest_index(h, out.0), nearest_index(w, out.1));
    let labels = labels.as_standard_layout();
    let src = labels.as_slice().expect("standard layout");
    let mut res = Vec::with_capacity(out.0 * out.1);
    for &r in &ri {
        let r = r as f64;
        res.extend(cj.iter().map(|&q| {
            let q = q as f64;
            if map.contains(r, q) {
                src[map.nearest(r, q)]
            } else {
                T::default()
            }
        }));
    }
    Array2::from_shape_vec(out, res).expect("output size")
}

/// Where `scipy.ndimage.rotate(reshape=False)` reads each output pixel of an `(H, W)` plane: the
/// inverse rotation about the centre, in scipy's arithmetic.
struct RotationMap {
    w: usize,
    s: f64,
    c: f64,
    off_r: f64,
    off_c: f64,
    hmax: f64,
    wmax: f64,
}

impl RotationMap {
    fn new(h: usize, w: usize, angle_deg: f64) -> Self {
        let (s, c) = sin_cos_deg(angle_deg);
        let (ch, cw) = ((h as f64 - 1.0) / 2.0, (w as f64 - 1.0) / 2.0);
        // offset = in_centre - R @ out_centre
        RotationMap {
            w,
            s,
            c,
            off_r: ch - (c * ch + s * cw),
            off_c: cw - (-s * ch + c * cw),
            hmax: h as f64 - 1.0,
            wmax: w as f64 - 1.0,
        }
    }

    /// Input coordinates read by output pixel `(r, q)`.
    #[inline]
    fn coords(&self, r: f64, q: f64) -> (f64, f64) {
        (
            self.c * r + self.s * q + self.off_r,
            -self.s * r + self.c * q + self.off_c,
        )
    }

    /// Whether `(r, q)` reads inside the input (else it is zero).
    #[inline]
    fn contains(&self, r: f64, q: f64) -> bool {
        let (ir, iq) = self.coords(r, q);
        (0.0..=self.hmax).contains(&ir) && (0.0..=self.wmax).contains(&iq)
    }

    /// Flat index of the input pixel nearest to where `(r, q)` reads, for `(r, q)` inside.
    #[inline]
    fn nearest(&self, r: f64, q: f64) -> usize {
        let (ir, iq) = self.coords(r, q);
        // Both coordinates are >= 0 inside, so truncation of x + 0.5 rounds half up.
        (ir + 0.5) as usize * self.w + (iq + 0.5) as usize
    }

    /// The columns of output row `r` that read inside the input. Both coordinates are monotone
    /// in the column (also after rounding), so these form one interval, found at its ends.
    fn inside(&self, r: f64) -> std::ops::Range<usize> {
        let Some(lo) = (0..self.w).find(|&q| self.contains(r, q as f64)) else {
            return 0..0;
        };
        let hi = (lo..self.w)
            .rev()
            .find(|&q| self.contains(r, q as f64))
            .expect("lo is inside");
        lo..hi + 1
    }
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

/// TransUNet's Synapse CT window in HU, `(lo, hi)`: clipped and scaled to `[0, 1]`.
pub const SYNAPSE_HU_WINDOW: (f32, f32) = (-125.0, 275.0);

/// How raw input intensities are mapped to the model's range; each dataset's is
/// [`Intensity::for_dataset`]. Stored in weights files (serde names are part of that format).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Intensity {
    /// Clip to [lo, hi] (HU) and scale to [0, 1] ([`ct_window`]; TransUNet's Synapse
    /// preprocessing).
    CtWindow {
        /// Lower clip.
        lo: f32,
        /// Upper clip.
        hi: f32,
    },
    /// Per-volume min-max to [0, 1] ([`minmax_normalise`]; ACDC, as SSL4MIS).
    MinMax,
    /// 8-bit images divided by 255 (ISIC, GlaS).
    Unit8Bit,
}

/// Clips CT intensities to `[lo, hi]` HU and scales to `[0, 1]`: `(clip(x) - lo) / (hi - lo)`
/// (TransUNet: [`SYNAPSE_HU_WINDOW`]).
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
    rot90_view(a, k).to_owned()
}

/// `np.rot90(a, k)` over the last two axes, as a view (no copy).
pub fn rot90_view<A, D: Dimension>(mut v: ArrayView<'_, A, D>, k: usize) -> ArrayView<'_, A, D> {
    let n = v.ndim();
    for _ in 0..k % 4 {
        // np.rot90(m) == flip(m.T, axis 0)
        v.swap_axes(n - 2, n - 1);
        v.invert_axis(Axis(n - 2));
    }
    v
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
    fn rotating_labels_at_the_zoomed_pixels_equals_rotate_then_zoom() {
        // distinct ids everywhere, so any other source pixel shows
        let (h, w) = (37, 29);
        let labels = Array2::from_shape_fn((h, w), |(r, c)| (r * w + c) as f32);
        for angle in [-20.0, -7.0, 0.0, 13.0, 19.0, 90.0, 33.3] {
            for out in [(16, 12), (37, 29), (50, 61), (224, 224)] {
                assert_eq!(
                    rotate_zoom_labels(labels.view(), angle, out),
                    zoom_labels(rotate_reference(labels.view(), angle).view(), out),
                    "angle {angle}, out {out:?}"
                );
            }
        }
    }

    /// The rotation written pixel by pixel with the bounds test on every pixel.
    fn rotate_reference(image: ArrayView2<f32>, angle: f64) -> Array2<f32> {
        let (h, w) = image.dim();
        let map = RotationMap::new(h, w, angle);
        Array2::from_shape_fn((h, w), |(r, q)| {
            let (r, q) = (r as f64, q as f64);
            if map.contains(r, q) {
                let i = map.nearest(r, q);
                image[(i / w, i % w)]
            } else {
                0.0
            }
        })
    }

    #[test]
    fn rows_skip_outside_pixels_exactly() {
        let (h, w) = (41, 23);
        let image = Array2::from_shape_fn((h, w), |(r, c)| (r * w + c + 1) as f32);
        for angle in [-20.0, -1.0, 5.0, 19.0, 45.0, 135.0] {
            assert_eq!(
                rotate(image.view(), angle, false),
                rotate_reference(image.view(), angle),
                "angle {angle}"
            );
        }
    }

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
