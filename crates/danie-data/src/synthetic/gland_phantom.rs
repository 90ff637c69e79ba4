//! Phantom H&E colon histology: glands (epithelium ring around a lumen) in stroma.
use ndarray::{Array2, Array3};
use rand::Rng;

use super::blob::Blob;
use super::noise::{gaussian, smooth_noise};

/// Draws an RGB image `(3, H, W)` in 0..=255 and its instance map `(H, W)` (0 stroma, 1..=k
/// glands); `malignant` glands are larger and more irregular.
pub fn gland_phantom(
    rng: &mut impl Rng,
    h: usize,
    w: usize,
    malignant: bool,
) -> (Array3<u8>, Array2<u8>) {
    let n = rng.gen_range(4..9);
    let wobble = if malignant { 0.25 } else { 0.08 };
    let mut glands: Vec<Blob> = Vec::new();
    for _ in 0..60 {
        if glands.len() == n {
            break;
        }
        let r = rng.gen_range(0.14..0.26);
        let c = (rng.gen_range(-0.75..0.75), rng.gen_range(-0.75..0.75));
        let aspect = rng.gen_range(0.6..1.0);
        let b = Blob::random(rng, c, (r, r * aspect), 0.0, 3.1, wobble);
        let apart = glands.iter().all(|g| {
            let d = ((g.cy - b.cy).powi(2) + (g.cx - b.cx).powi(2)).sqrt();
            d > 1.3 * (g.ry.max(g.rx) + b.ry.max(b.rx))
        });
        if apart {
            glands.push(b);
        }
    }
    let coarse = smooth_noise(rng, h, w, (h / 8).max(2));
    let nuclei = smooth_noise(rng, h, w, 2);
    let mut img = Array3::<u8>::zeros((3, h, w));
    let mut inst = Array2::<u8>::zeros((h, w));
    let norm = |i: usize, n: usize| 2.0 * i as f32 / (n.max(2) - 1) as f32 - 1.0;
    for i in 0..h {
        let y = norm(i, h);
        for j in 0..w {
            let x = norm(j, w);
            let mut rgb = [235.0, 175.0, 205.0]; // stroma
            for (g, b) in glands.iter().enumerate() {
                let l = b.level(y, x, 1.0);
                if l < 1.0 {
                    inst[[i, j]] = g as u8 + 1;
                    rgb = if l < 0.65 {
                        [245.0, 235.0, 245.0] // lumen
                    } else if nuclei[[i, j]] > 0.3 {
                        [70.0, 30.0, 120.0] // nuclei
                    } else {
                        [150.0, 80.0, 160.0] // epithelium
                    };
                }
            }
            for ch in 0..3 {
                let v = rgb[ch] * (1.0 + 0.08 * coarse[[i, j]]) + 5.0 * gaussian(rng);
                img[[ch, i, j]] = v.clamp(0.0, 255.0) as u8;
            }
        }
    }
    (img, inst)
}
