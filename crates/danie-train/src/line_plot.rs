//! A minimal line plot drawn with the image crate (no fonts needed): axes, a light grid at
//! quarter ranges, and one polyline per series in its colour.
use image::{Rgb, RgbImage};

/// One series: points (x, y) and an RGB colour.
pub struct Series {
    /// Points in data units; non-finite points are skipped.
    pub points: Vec<(f64, f64)>,
    /// Line colour.
    pub colour: [u8; 3],
}

/// A plot of several series on shared axes.
pub struct LinePlot {
    /// The series, drawn in order.
    pub series: Vec<Series>,
    /// Fixed y range, or `None` to fit the data.
    pub y_range: Option<(f64, f64)>,
}

const MARGIN: u32 = 24;

impl LinePlot {
    /// Renders to a `width` x `height` image.
    pub fn render(&self, width: u32, height: u32) -> RgbImage {
        let mut img = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
        let pts = || {
            self.series
                .iter()
                .flat_map(|s| s.points.iter())
                .filter(|(x, y)| x.is_finite() && y.is_finite())
        };
        let (x0, x1) = pts().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.0), b.max(p.0))
        });
        let (y0, y1) = self.y_range.unwrap_or_else(|| {
            pts().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
                (a.min(p.1), b.max(p.1))
            })
        });
        let (pw, ph) = (width - 2 * MARGIN, height - 2 * MARGIN);
        // Grid and axes.
        for q in 0..=4 {
            let gx = MARGIN + pw * q / 4;
            let gy = MARGIN + ph * q / 4;
            let c = if q == 0 {
                Rgb([0, 0, 0])
            } else {
                Rgb([225, 225, 225])
            };
            line(
                &mut img,
                (gx as f64, MARGIN as f64),
                (gx as f64, (MARGIN + ph) as f64),
                c,
            );
            let c = if q == 4 {
                Rgb([0, 0, 0])
            } else {
                Rgb([225, 225, 225])
            };
            line(
                &mut img,
                (MARGIN as f64, gy as f64),
                ((MARGIN + pw) as f64, gy as f64),
                c,
            );
        }
        if !(x0.is_finite() && y0.is_finite()) {
            return img;
        }
        let sx = |x: f64| MARGIN as f64 + (x - x0) / (x1 - x0).max(1e-12) * pw as f64;
        let sy = |y: f64| (MARGIN + ph) as f64 - (y - y0) / (y1 - y0).max(1e-12) * ph as f64;
        for s in &self.series {
            let finite: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .map(|(x, y)| (sx(x), sy(y.clamp(y0, y1))))
                .collect();
            for w in finite.windows(2) {
                line(&mut img, w[0], w[1], Rgb(s.colour));
            }
            if finite.len() == 1 {
                let (x, y) = finite[0];
                line(&mut img, (x - 2.0, y), (x + 2.0, y), Rgb(s.colour));
            }
        }
        img
    }
}

/// Draws a line by sampling it at sub-pixel steps.
fn line(img: &mut RgbImage, a: (f64, f64), b: (f64, f64), c: Rgb<u8>) {
    let n = ((b.0 - a.0).abs().max((b.1 - a.1).abs()) * 2.0)
        .ceil()
        .max(1.0) as usize;
    for i in 0..=n {
        let t = i as f64 / n as f64;
        let (x, y) = (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1));
        let (xi, yi) = (x.round() as i64, y.round() as i64);
        if xi >= 0 && yi >= 0 && (xi as u32) < img.width() && (yi as u32) < img.height() {
            img.put_pixel(xi as u32, yi as u32, c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rising_line_goes_from_bottom_left_to_top_right() {
        let plot = LinePlot {
            series: vec![Series {
                points: vec![(0.0, 0.0), (1.0, 1.0)],
                colour: [255, 0, 0],
            }],
            y_range: None,
        };
        let img = plot.render(124, 124);
        let red = Rgb([255, 0, 0]);
        assert_eq!(*img.get_pixel(MARGIN, 124 - MARGIN), red);
        assert_eq!(*img.get_pixel(124 - MARGIN, MARGIN), red);
        assert_eq!(*img.get_pixel(62, 62), red);
        assert_ne!(*img.get_pixel(MARGIN + 10, MARGIN + 10), red);
    }
}
