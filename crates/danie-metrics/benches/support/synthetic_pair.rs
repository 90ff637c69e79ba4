//! Seeded synthetic volumes for the benchmark and `examples/metrics_timing`: a two-mask pair and
//! a 9-class label-map pair (bench support, so `rand` stays a dev-dependency).
//!
//! The shapes are ellipsoids (organs), the prediction a shifted, resized copy with a few stray
//! voxels, so that HD95 and ASD are non-trivial and every class has both masks.
use ndarray::{Array3, Zip};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One ellipsoid: centre and radii in voxels, per axis.
#[derive(Debug, Clone, Copy)]
struct Ellipsoid {
    centre: [f64; 3],
    radii: [f64; 3],
}

impl Ellipsoid {
    fn paint(&self, map: &mut Array3<u8>, label: u8) {
        let lo: Vec<usize> = (0..3)
            .map(|k| (self.centre[k] - self.radii[k]).floor().max(0.0) as usize)
            .collect();
        let hi: Vec<usize> = (0..3)
            .map(|k| ((self.centre[k] + self.radii[k]).ceil() as usize + 1).min(map.shape()[k]))
            .collect();
        let mut part = map.slice_mut(ndarray::s![lo[0]..hi[0], lo[1]..hi[1], lo[2]..hi[2]]);
        Zip::indexed(&mut part).for_each(|(i, j, k), v| {
            let p = [(i + lo[0]) as f64, (j + lo[1]) as f64, (k + lo[2]) as f64];
            let d: f64 = (0..3)
                .map(|a| ((p[a] - self.centre[a]) / self.radii[a]).powi(2))
                .sum();
            if d <= 1.0 {
                *v = label;
            }
        });
    }

    fn perturbed(&self, rng: &mut ChaCha8Rng) -> Self {
        Self {
            centre: self.centre.map(|c| c + rng.gen_range(-3.0..3.0)),
            radii: self.radii.map(|r| r * rng.gen_range(0.9..1.1)),
        }
    }
}

/// A label-map pair `(pred, gt)` of `shape` with `n_classes` foreground classes (1..=n).
///
/// # Shapes
/// Both `(shape[0], shape[1], shape[2])`, u8.
pub fn label_map_pair(shape: [usize; 3], n_classes: u8, seed: u64) -> (Array3<u8>, Array3<u8>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut gt = Array3::<u8>::zeros(shape);
    let mut pred = Array3::<u8>::zeros(shape);
    for label in 1..=n_classes {
        // Organ sizes from a tenth to a third of the image, anywhere inside it.
        let radii = shape.map(|n| rng.gen_range(n as f64 / 20.0..n as f64 / 6.0));
        let centre = [0, 1, 2].map(|k| rng.gen_range(radii[k]..shape[k] as f64 - radii[k]));
        let e = Ellipsoid { centre, radii };
        e.paint(&mut gt, label);
        e.perturbed(&mut rng).paint(&mut pred, label);
        for _ in 0..5 {
            let idx = shape.map(|n| rng.gen_range(0..n));
            pred[idx] = label;
        }
    }
    (pred, gt)
}

/// A two-mask pair `(pred, gt)`: one large organ, as booleans.
///
/// # Shapes
/// Both `(shape[0], shape[1], shape[2])`.
pub fn mask_pair(shape: [usize; 3], seed: u64) -> (Array3<bool>, Array3<bool>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let centre = shape.map(|n| n as f64 / 2.0);
    let radii = shape.map(|n| n as f64 / 3.0);
    let e = Ellipsoid { centre, radii };
    let (mut gt, mut pred) = (Array3::<u8>::zeros(shape), Array3::<u8>::zeros(shape));
    e.paint(&mut gt, 1);
    e.perturbed(&mut rng).paint(&mut pred, 1);
    for _ in 0..20 {
        let idx = shape.map(|n| rng.gen_range(0..n));
        pred[idx] = 1;
    }
    (pred.mapv(|v| v > 0), gt.mapv(|v| v > 0))
}
