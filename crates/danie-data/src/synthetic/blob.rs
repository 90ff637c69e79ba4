//! A random smooth shape: an ellipse with a rotated frame and a wobbly outline.
use rand::Rng;

/// An ellipse in normalised coordinates (`[-1, 1]` across the image) whose radius is modulated
/// by three low harmonics, so each draw has its own outline.
#[derive(Clone, Debug)]
pub struct Blob {
    /// Centre row, normalised.
    pub cy: f32,
    /// Centre column, normalised.
    pub cx: f32,
    /// Radius along the blob's first axis, normalised.
    pub ry: f32,
    /// Radius along the blob's second axis, normalised.
    pub rx: f32,
    /// In-plane rotation in radians.
    pub angle: f32,
    /// `(amplitude, phase)` of harmonics 2, 3 and 4 of the outline.
    pub wobble: [(f32, f32); 3],
}

impl Blob {
    /// A blob near `(cy, cx)` with radii near `(ry, rx)`: centre jittered by `jitter`, radii
    /// scaled by 0.85..1.15, rotated by up to `max_angle` radians, outline wobble up to `wobble`.
    pub fn random(
        rng: &mut impl Rng,
        centre: (f32, f32),
        radii: (f32, f32),
        jitter: f32,
        max_angle: f32,
        wobble: f32,
    ) -> Self {
        let s = rng.gen_range(0.85..1.15);
        let aspect = rng.gen_range(0.9..1.1);
        Blob {
            cy: centre.0 + rng.gen_range(-jitter..=jitter),
            cx: centre.1 + rng.gen_range(-jitter..=jitter),
            ry: radii.0 * s * aspect,
            rx: radii.1 * s / aspect,
            angle: rng.gen_range(-max_angle..=max_angle),
            wobble: [0; 3].map(|_| {
                (
                    rng.gen_range(0.0..=wobble),
                    rng.gen_range(0.0..std::f32::consts::TAU),
                )
            }),
        }
    }

    /// Normalised distance from the centre (< 1 inside) of point `(y, x)`, with the radii
    /// scaled by `scale` (e.g. a slice through an ellipsoid).
    pub fn level(&self, y: f32, x: f32, scale: f32) -> f32 {
        if scale <= 0.0 {
            return f32::INFINITY;
        }
        let (dy, dx) = (y - self.cy, x - self.cx);
        let (s, c) = self.angle.sin_cos();
        let (u, v) = (c * dy + s * dx, -s * dy + c * dx);
        let (u, v) = (u / (self.ry * scale), v / (self.rx * scale));
        let theta = v.atan2(u);
        let mut r = 1.0;
        for (k, (a, p)) in self.wobble.iter().enumerate() {
            r += a * ((k as f32 + 2.0) * theta + p).cos();
        }
        (u * u + v * v).sqrt() / r
    }

    /// Whether `(y, x)` is inside the blob with radii scaled by `scale`.
    pub fn contains(&self, y: f32, x: f32, scale: f32) -> bool {
        self.level(y, x, scale) < 1.0
    }
}
