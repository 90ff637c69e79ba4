//! Training augmentation: TransUNet's `RandomGenerator` and the usual 2D augmentations.
//!
//! Each sample's random draws come from its own generator seeded by `(seed, epoch, index)`
//! ([`sample_rng`]), so a batch is identical whatever the number of threads that built it.
//!
//! The random draws ([`TransUnetOp::draw`], [`NaturalOp::draw`]) are separate from applying them
//! ([`TransUnetOp::apply`], [`NaturalOp::apply`]), so tests can compare the deterministic part
//! with the Python reference on fixed operations.
use ndarray::{Array2, Array3, ArrayView2, ArrayView3, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::preprocess::{
    resize_channels, rot90, rot90_view, rotate, rotate_zoom_labels, zoom_labels, Interp,
};

/// Which augmentation the training loader applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Augment {
    /// Only resize to the model's input size.
    None,
    /// TransUNet's `RandomGenerator` (Synapse, ACDC): see [`TransUnetOp`].
    TransUnet,
    /// Flips, rot90, small rotation, brightness / contrast (ISIC, GlaS): see [`NaturalOp`].
    Natural,
}

/// The random generator of one sample: ChaCha8 seeded from a SplitMix64 hash of
/// `(seed, epoch, index)`.
pub fn sample_rng(seed: u64, epoch: u64, index: u64) -> ChaCha8Rng {
    let mut h = splitmix64(seed ^ 0x6a09_e667_f3bc_c908);
    h = splitmix64(h ^ epoch);
    h = splitmix64(h ^ index);
    ChaCha8Rng::seed_from_u64(h)
}

/// SplitMix64's finaliser: a well-mixed 64-bit hash step.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One draw of TransUNet's `RandomGenerator`.
///
/// ```python
/// if random.random() > 0.5:   rot90(k = randint(0, 4)) then flip(axis = randint(0, 2))
/// elif random.random() > 0.5: ndimage.rotate(angle = randint(-20, 20), order=0, reshape=False)
/// zoom to the output size: image order 3, label order 0
/// ```
/// As in the published code the angle is an integer in `[-20, 19]` (`np.random.randint`'s
/// upper bound is exclusive) and image and label both rotate with nearest neighbour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransUnetOp {
    /// Neither branch fired (p 0.25).
    Identity,
    /// `np.rot90(x, k)` then `np.flip(x, axis)` (p 0.5).
    RotFlip {
        /// Quarter turns, 0..=3.
        k: usize,
        /// Flip axis, 0 or 1.
        axis: usize,
    },
    /// `scipy.ndimage.rotate(x, angle, order=0, reshape=False)` (p 0.25).
    Rotate {
        /// Degrees, -20..=19.
        angle: i32,
    },
}

impl TransUnetOp {
    /// Draws an operation with the published probabilities.
    pub fn draw(rng: &mut impl Rng) -> Self {
        if rng.gen::<f64>() > 0.5 {
            TransUnetOp::RotFlip {
                k: rng.gen_range(0..4),
                axis: rng.gen_range(0..2),
            }
        } else if rng.gen::<f64>() > 0.5 {
            TransUnetOp::Rotate {
                angle: rng.gen_range(-20..20),
            }
        } else {
            TransUnetOp::Identity
        }
    }

    /// Applies the operation to every channel and the label, then zooms to `size` (image with
    /// `interp`, label with nearest).
    ///
    /// # Shapes
    /// `image (C, H, W)`, `label (H, W)` -> `(C, size.0, size.1)`, `(size.0, size.1)`
    pub fn apply(
        self,
        image: ArrayView3<f32>,
        label: ArrayView2<u8>,
        size: (usize, usize),
        interp: Interp,
    ) -> (Array3<f32>, Array2<u8>) {
        // Identity and rot90 + flip only re-index: they stay views, and the resize reads through
        // them (one copy of the full-size slice fewer per sample).
        match self {
            TransUnetOp::Identity => resize_views(image, label, size, interp),
            TransUnetOp::RotFlip { k, axis } => resize_views(
                rot90_flip_view(image, k, axis),
                rot90_flip_view(label, k, axis),
                size,
                interp,
            ),
            TransUnetOp::Rotate { angle } => {
                let image = map_channels(image, |c| rotate(c, angle as f64, false));
                (
                    resize_image(image.view(), size, interp),
                    rotate_zoom_labels(label, angle as f64, size),
                )
            }
        }
    }
}

/// One draw of the 2D augmentation for natural-colour images (ISIC, GlaS), applied after
/// resizing to the model's input size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NaturalOp {
    /// Horizontal flip (p 0.5).
    pub hflip: bool,
    /// Vertical flip (p 0.5).
    pub vflip: bool,
    /// Quarter turns, uniform in 0..=3.
    pub k: usize,
    /// Rotation in degrees (uniform in `[-15, 15]` with p 0.5, else 0): bilinear image,
    /// nearest label, zero outside.
    pub angle: f64,
    /// Brightness shift added to every channel (uniform in `[-0.1, 0.1]` with p 0.5).
    pub brightness: f32,
    /// Contrast factor around each channel's mean (uniform in `[0.9, 1.1]` with p 0.5).
    pub contrast: f32,
}

impl NaturalOp {
    /// Draws an operation.
    pub fn draw(rng: &mut impl Rng) -> Self {
        let hflip = rng.gen_bool(0.5);
        let vflip = rng.gen_bool(0.5);
        let k = rng.gen_range(0..4);
        let angle = if rng.gen_bool(0.5) {
            rng.gen_range(-15.0..=15.0)
        } else {
            0.0
        };
        let (brightness, contrast) = if rng.gen_bool(0.5) {
            (rng.gen_range(-0.1..=0.1), rng.gen_range(0.9..=1.1))
        } else {
            (0.0, 1.0)
        };
        NaturalOp {
            hflip,
            vflip,
            k,
            angle,
            brightness,
            contrast,
        }
    }

    /// Resizes to `size` (image with `interp`, label nearest) then applies the operation;
    /// intensities are clipped to `[0, 1]`.
    ///
    /// # Shapes
    /// `image (C, H, W)`, `label (H, W)` -> `(C, size.0, size.1)`, `(size.0, size.1)`
    pub fn apply(
        self,
        image: ArrayView3<f32>,
        label: ArrayView2<u8>,
        size: (usize, usize),
        interp: Interp,
    ) -> (Array3<f32>, Array2<u8>) {
        let (image, label) = resize_views(image, label, size, interp);
        let geo = |a: ArrayView2<f32>| -> Array2<f32> { self.geometry(a, true) };
        let mut image = map_channels(image.view(), geo);
        let label = self.geometry(label.view(), false);
        for mut ch in image.outer_iter_mut() {
            let mean = ch.mean().unwrap_or(0.0);
            ch.mapv_inplace(|v| {
                ((v - mean) * self.contrast + mean + self.brightness).clamp(0.0, 1.0)
            });
        }
        (image, label)
    }

    fn geometry<T>(&self, a: ArrayView2<T>, bilinear: bool) -> Array2<T>
    where
        T: Copy + Default + Into<f64> + crate::preprocess::FromF64,
    {
        let mut v = a;
        if self.hflip {
            v.invert_axis(Axis(1));
        }
        if self.vflip {
            v.invert_axis(Axis(0));
        }
        let turned = rot90(v, self.k);
        if self.angle != 0.0 {
            rotate(turned.view(), self.angle, bilinear)
        } else {
            turned
        }
    }
}

impl Augment {
    /// Draws this augmentation from `rng` and applies it, resizing to `size`.
    ///
    /// # Shapes
    /// `image (C, H, W)`, `label (H, W)` -> `(C, size.0, size.1)`, `(size.0, size.1)`
    pub fn apply(
        self,
        image: ArrayView3<f32>,
        label: ArrayView2<u8>,
        size: (usize, usize),
        interp: Interp,
        rng: &mut impl Rng,
    ) -> (Array3<f32>, Array2<u8>) {
        match self {
            Augment::None => resize_views(image, label, size, interp),
            Augment::TransUnet => TransUnetOp::draw(rng).apply(image, label, size, interp),
            Augment::Natural => NaturalOp::draw(rng).apply(image, label, size, interp),
        }
    }
}

/// Applies `f` to every channel of `(C, H, W)`.
fn map_channels(image: ArrayView3<f32>, f: impl Fn(ArrayView2<f32>) -> Array2<f32>) -> Array3<f32> {
    let planes: Vec<Array2<f32>> = image.outer_iter().map(f).collect();
    let views: Vec<_> = planes.iter().map(|p| p.view()).collect();
    ndarray::stack(Axis(0), &views).expect("channels share a shape")
}

/// `np.flip(np.rot90(a, k), axis)` over the last two axes, as a view (no copy).
fn rot90_flip_view<A, D: ndarray::Dimension>(
    v: ndarray::ArrayView<'_, A, D>,
    k: usize,
    axis: usize,
) -> ndarray::ArrayView<'_, A, D> {
    let mut v = rot90_view(v, k);
    let n = v.ndim();
    v.invert_axis(Axis(n - 2 + axis));
    v
}

/// Resizes views of image (with `interp`) and label (nearest) to `size`, or copies them (in
/// standard layout) when already there.
fn resize_views(
    image: ArrayView3<f32>,
    label: ArrayView2<u8>,
    size: (usize, usize),
    interp: Interp,
) -> (Array3<f32>, Array2<u8>) {
    let label = if label.dim() == size {
        label.as_standard_layout().into_owned()
    } else {
        zoom_labels(label, size)
    };
    (resize_image(image, size, interp), label)
}

/// Resizes a view of `(C, H, W)` to `size` with `interp`, or copies it (in standard layout) when
/// already there.
fn resize_image(image: ArrayView3<f32>, size: (usize, usize), interp: Interp) -> Array3<f32> {
    if (image.shape()[1], image.shape()[2]) == size {
        image.as_standard_layout().into_owned()
    } else {
        resize_channels(image, size, interp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_follow_published_probabilities() {
        let mut counts = [0usize; 3];
        let mut angles = std::collections::BTreeSet::new();
        for i in 0..20_000 {
            match TransUnetOp::draw(&mut sample_rng(1, 0, i)) {
                TransUnetOp::Identity => counts[0] += 1,
                TransUnetOp::RotFlip { .. } => counts[1] += 1,
                TransUnetOp::Rotate { angle } => {
                    counts[2] += 1;
                    angles.insert(angle);
                }
            }
        }
        let f = counts.map(|c| c as f64 / 20_000.0);
        assert!(
            (f[0] - 0.25).abs() < 0.02 && (f[1] - 0.5).abs() < 0.02,
            "{f:?}"
        );
        assert_eq!(angles.first(), Some(&-20));
        assert_eq!(angles.last(), Some(&19));
    }

    #[test]
    fn rng_depends_on_every_part() {
        let a: u64 = sample_rng(1, 2, 3).gen();
        assert_eq!(a, sample_rng(1, 2, 3).gen::<u64>());
        assert_ne!(a, sample_rng(1, 2, 4).gen::<u64>());
        assert_ne!(a, sample_rng(1, 3, 3).gen::<u64>());
        assert_ne!(a, sample_rng(2, 2, 3).gen::<u64>());
    }
}
