//! Phantom dermoscopy images: a pigmented lesion on textured skin, with a few hairs.
use ndarray::{Array2, Array3};
use rand::Rng;

use super::blob::Blob;
use super::noise::{gaussian, smooth_noise};

/// Draws an RGB image `(3, H, W)` in 0..=255 and its lesion mask `(H, W)` (0 / 1).
pub fn lesion_phantom(rng: &mut impl Rng, h: usize, w: usize) -> (Array3<u8>, Array2<u8>) {
    let skin = [
        rng.gen_range(180.0..230.0),
        rng.gen_range(130.0..170.0),
        rng.gen_range(110.0..150.0),
    ];
    let lesion = [
        rng.gen_range(80.0..140.0),
        rng.gen_range(45.0..90.0),
        rng.gen_range(30.0..70.0),
    ];
    let blob = Blob::random(rng, (0.0, 0.0), (0.45, 0.42), 0.2, 1.5, 0.15);
    let coarse = smooth_noise(rng, h, w, (h / 6).max(2));
    let fine = smooth_noise(rng, h, w, 3);
    // hairs: dark straight lines a * y + b * x = c
    let hairs: Vec<(f32, f32, f32)> = (0..rng.gen_range(0..4))
        .map(|_| {
            let t: f32 = rng.gen_range(0.0..std::f32::consts::PI);
            (t.cos(), t.sin(), rng.gen_range(-0.8..0.8))
        })
        .collect();
    let mut img = Array3::<u8>::zeros((3, h, w));
    let mut mask = Array2::<u8>::zeros((h, w));
    let norm = |i: usize, n: usize| 2.0 * i as f32 / (n.max(2) - 1) as f32 - 1.0;
    let px = 2.0 / h.max(2) as f32;
    for i in 0..h {
        let y = norm(i, h);
        for j in 0..w {
            let x = norm(j, w);
            let level = blob.level(y, x, 1.0);
            // soft edge over about 10% of the radius
            let a = ((1.05 - level) / 0.1).clamp(0.0, 1.0);
            let hair = hairs
                .iter()
                .any(|(a, b, c)| (a * y + b * x - c).abs() < 1.2 * px);
            for ch in 0..3 {
                let base = skin[ch] * (1.0 + 0.06 * coarse[[i, j]]);
                let les = lesion[ch] * (1.0 + 0.25 * coarse[[i, j]] + 0.1 * fine[[i, j]]);
                let mut v = base * (1.0 - a) + les * a + 4.0 * gaussian(rng);
                if hair {
                    v *= 0.3;
                }
                img[[ch, i, j]] = v.clamp(0.0, 255.0) as u8;
            }
            mask[[i, j]] = (level < 1.0) as u8;
        }
    }
    (img, mask)
}
