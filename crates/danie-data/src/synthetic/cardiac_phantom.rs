//! Phantom short-axis cardiac MRI: LV cavity, myocardium ring and RV crescent over a cycle.
use ndarray::{Array2, Array3};
use rand::Rng;

use super::blob::Blob;
use super::noise::{gaussian, smooth_noise};

/// One patient's heart: shapes at end-diastole; `frame` contracts them towards end-systole.
pub struct CardiacPhantom {
    lv: Blob,
    rv: Blob,
    thickness: f32,
    body: Blob,
}

impl CardiacPhantom {
    /// Draws a patient.
    pub fn random(rng: &mut impl Rng) -> Self {
        CardiacPhantom {
            lv: Blob::random(rng, (0.0, 0.08), (0.24, 0.24), 0.06, 0.3, 0.04),
            rv: Blob::random(rng, (-0.05, -0.3), (0.26, 0.2), 0.04, 0.3, 0.06),
            thickness: rng.gen_range(0.07..0.1),
            body: Blob::random(rng, (0.0, 0.0), (0.85, 0.92), 0.03, 0.1, 0.03),
        }
    }

    /// Intensities (arbitrary MRI units, 0..~1200) and labels (0 bg, 1 RV, 2 Myo, 3 LV) at
    /// contraction `c` (0 = end-diastole, 1 = end-systole), `(D, H, W)`.
    pub fn frame(
        &self,
        rng: &mut impl Rng,
        depth: usize,
        size: usize,
        c: f32,
    ) -> (Array3<f32>, Array3<u8>) {
        let mut img = Array3::<f32>::zeros((depth, size, size));
        let mut lab = Array3::<u8>::zeros((depth, size, size));
        let bias: Array2<f32> = smooth_noise(rng, size, size, (size / 2).max(2));
        let lv_scale = 1.0 - 0.3 * c;
        let myo = self.thickness * (1.0 + 0.35 * c);
        let norm = |i: usize, n: usize| 2.0 * i as f32 / (n.max(2) - 1) as f32 - 1.0;
        for k in 0..depth {
            // base (k = 0) to apex: the heart narrows
            let apex = 1.0 - 0.5 * k as f32 / depth.max(1) as f32;
            let tex: Array2<f32> = smooth_noise(rng, size, size, 3);
            for i in 0..size {
                let y = norm(i, size);
                for j in 0..size {
                    let x = norm(j, size);
                    let (mut v, mut id) = if self.body.contains(y, x, 1.0) {
                        (450.0 + 60.0 * tex[[i, j]], 0u8)
                    } else {
                        (30.0, 0)
                    };
                    let lv_level = self.lv.level(y, x, lv_scale * apex);
                    let outer = 1.0 + myo / (self.lv.ry * lv_scale * apex);
                    if self.rv.contains(y, x, (1.0 - 0.35 * c) * apex) && lv_level >= outer {
                        (v, id) = (950.0 + 40.0 * tex[[i, j]], 1);
                    }
                    if lv_level < outer {
                        (v, id) = (250.0 + 30.0 * tex[[i, j]], 2);
                    }
                    if lv_level < 1.0 {
                        (v, id) = (1000.0 + 40.0 * tex[[i, j]], 3);
                    }
                    img[[k, i, j]] =
                        (v * (1.0 + 0.15 * bias[[i, j]]) + 25.0 * gaussian(rng)).max(0.0);
                    lab[[k, i, j]] = id;
                }
            }
        }
        (img, lab)
    }
}
