//! Phantom abdominal CT volumes with BTCV's 13-organ label ids.
use ndarray::{Array2, Array3};
use rand::Rng;

use super::blob::Blob;
use super::noise::{gaussian, smooth_noise};

/// One organ of the phantom: BTCV id, mean centre and radii (normalised), HU and texture.
struct OrganSpec {
    /// BTCV label id.
    btcv: u8,
    /// Mean centre `(row, col)`, normalised (row +1 is posterior, col -1 is the patient's right).
    centre: (f32, f32),
    /// Mean in-plane radii, normalised.
    radii: (f32, f32),
    /// Mean intensity in HU.
    hu: f32,
    /// Amplitudes (HU) of the coarse and fine textures.
    texture: (f32, f32),
    /// Range of the half-extent along z (normalised: 1 = half the volume).
    z_radius: (f32, f32),
    /// Outline wobble.
    wobble: f32,
}

/// Paint order: later organs overwrite earlier ones where they overlap.
const ORGANS: [OrganSpec; 10] = [
    OrganSpec {
        btcv: 6,
        centre: (-0.05, -0.42),
        radii: (0.42, 0.33),
        hu: 100.0,
        texture: (10.0, 5.0),
        z_radius: (1.0, 1.5),
        wobble: 0.08,
    },
    OrganSpec {
        btcv: 7,
        centre: (-0.32, 0.28),
        radii: (0.20, 0.24),
        hu: -50.0,
        texture: (25.0, 15.0),
        z_radius: (0.8, 1.2),
        wobble: 0.10,
    },
    OrganSpec {
        btcv: 1,
        centre: (0.15, 0.62),
        radii: (0.22, 0.13),
        hu: 150.0,
        texture: (8.0, 4.0),
        z_radius: (0.8, 1.2),
        wobble: 0.08,
    },
    OrganSpec {
        btcv: 2,
        centre: (0.38, -0.42),
        radii: (0.15, 0.11),
        hu: 210.0,
        texture: (12.0, 6.0),
        z_radius: (0.7, 1.0),
        wobble: 0.05,
    },
    OrganSpec {
        btcv: 3,
        centre: (0.38, 0.45),
        radii: (0.15, 0.11),
        hu: 210.0,
        texture: (12.0, 6.0),
        z_radius: (0.7, 1.0),
        wobble: 0.05,
    },
    OrganSpec {
        btcv: 11,
        centre: (0.10, 0.12),
        radii: (0.09, 0.30),
        hu: 55.0,
        texture: (10.0, 18.0),
        z_radius: (0.7, 1.0),
        wobble: 0.10,
    },
    OrganSpec {
        btcv: 4,
        centre: (0.12, -0.22),
        radii: (0.11, 0.09),
        hu: -15.0,
        texture: (4.0, 3.0),
        z_radius: (0.7, 1.0),
        wobble: 0.06,
    },
    OrganSpec {
        btcv: 9,
        centre: (0.30, -0.15),
        radii: (0.07, 0.07),
        hu: 160.0,
        texture: (5.0, 3.0),
        z_radius: (2.0, 3.0),
        wobble: 0.03,
    },
    OrganSpec {
        btcv: 8,
        centre: (0.32, 0.06),
        radii: (0.075, 0.075),
        hu: 260.0,
        texture: (5.0, 3.0),
        z_radius: (2.0, 3.0),
        wobble: 0.02,
    },
    OrganSpec {
        btcv: 5,
        centre: (0.30, 0.22),
        radii: (0.05, 0.05),
        hu: 40.0,
        texture: (5.0, 3.0),
        z_radius: (0.3, 0.6),
        wobble: 0.03,
    },
];

/// A phantom CT volume.
pub struct CtPhantom {
    /// Intensities in HU, `(D, H, W)`.
    pub hu: Array3<f32>,
    /// BTCV label ids 0..=13, `(D, H, W)`.
    pub btcv: Array3<u8>,
}

/// Draws one phantom case of `depth` slices of `size` x `size` pixels.
pub fn ct_phantom(rng: &mut impl Rng, depth: usize, size: usize) -> CtPhantom {
    let body = Blob::random(rng, (0.0, 0.0), (0.8, 0.94), 0.02, 0.05, 0.02);
    let spine = Blob::random(rng, (0.58, 0.0), (0.12, 0.12), 0.02, 0.0, 0.02);
    let organs: Vec<(Blob, f32, f32, &OrganSpec)> = ORGANS
        .iter()
        .map(|o| {
            let b = Blob::random(rng, o.centre, o.radii, 0.05, 0.35, o.wobble);
            let zc = rng.gen_range(-0.25..=0.25);
            let rz = rng.gen_range(o.z_radius.0..=o.z_radius.1);
            (b, zc, rz, o)
        })
        .collect();
    let mut hu = Array3::<f32>::zeros((depth, size, size));
    let mut btcv = Array3::<u8>::zeros((depth, size, size));
    let norm = |i: usize, n: usize| 2.0 * i as f32 / (n.max(2) - 1) as f32 - 1.0;
    for k in 0..depth {
        let z = norm(k, depth);
        let coarse: Array2<f32> = smooth_noise(rng, size, size, (size / 8).max(2));
        let fine: Array2<f32> = smooth_noise(rng, size, size, 2);
        let scales: Vec<f32> = organs
            .iter()
            .map(|(_, zc, rz, _)| (1.0 - ((z - zc) / rz).powi(2)).max(0.0).sqrt())
            .collect();
        for i in 0..size {
            let y = norm(i, size);
            for j in 0..size {
                let x = norm(j, size);
                let (c, f) = (coarse[[i, j]], fine[[i, j]]);
                let body_level = body.level(y, x, 1.0);
                let (mut v, mut id) = if body_level >= 1.0 {
                    (-1000.0, 0)
                } else if body_level > 0.9 {
                    (-100.0 + 10.0 * c, 0) // subcutaneous fat
                } else {
                    (0.0 + 12.0 * c + 6.0 * f, 0) // soft tissue
                };
                if body_level < 0.9 {
                    if spine.contains(y, x, 1.0) {
                        v = 500.0 + 60.0 * c;
                    }
                    for ((b, _, _, o), &s) in organs.iter().zip(&scales) {
                        if b.contains(y, x, s) {
                            v = o.hu + o.texture.0 * c + o.texture.1 * f;
                            id = o.btcv;
                        }
                    }
                }
                hu[[k, i, j]] = v + 10.0 * gaussian(rng);
                btcv[[k, i, j]] = id;
            }
        }
    }
    CtPhantom { hu, btcv }
}
