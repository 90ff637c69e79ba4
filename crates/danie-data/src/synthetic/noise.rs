//! Noise for the phantoms: Gaussian draws and smooth value-noise textures.
use ndarray::Array2;
use rand::Rng;

/// A standard normal draw (Box-Muller).
pub fn gaussian(rng: &mut impl Rng) -> f32 {
    let u1: f32 = rng.gen_range(f32::EPSILON..1.0);
    let u2: f32 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// Smooth texture in about `[-1, 1]`: uniform noise on a grid of `cell`-pixel cells,
/// bilinearly interpolated.
///
/// # Shapes
/// -> `(h, w)`
pub fn smooth_noise(rng: &mut impl Rng, h: usize, w: usize, cell: usize) -> Array2<f32> {
    let cell = cell.max(1);
    let (gh, gw) = (h / cell + 2, w / cell + 2);
    let grid = Array2::from_shape_fn((gh, gw), |_| rng.gen_range(-1.0f32..=1.0));
    Array2::from_shape_fn((h, w), |(i, j)| {
        let (y, x) = (i as f32 / cell as f32, j as f32 / cell as f32);
        let (y0, x0) = (y as usize, x as usize);
        let (ty, tx) = (y - y0 as f32, x - x0 as f32);
        let top = grid[[y0, x0]] * (1.0 - tx) + grid[[y0, x0 + 1]] * tx;
        let bot = grid[[y0 + 1, x0]] * (1.0 - tx) + grid[[y0 + 1, x0 + 1]] * tx;
        top * (1.0 - ty) + bot * ty
    })
}
