//! Line plots with titled, ticked axes and a legend, drawn by plotters into an RGB buffer. The
//! text uses DejaVu Sans embedded in the binary (assets/, see its NOTICE), so a run folder gets
//! readable curves on a machine without fonts or fontconfig.
use std::sync::OnceLock;

use anyhow::{anyhow, Result};
use image::RgbImage;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

/// One series: points (x, y), a colour and its legend name.
pub struct Series {
    /// Points in data units; non-finite points are skipped.
    pub points: Vec<(f64, f64)>,
    /// Line colour.
    pub colour: [u8; 3],
    /// Name in the legend.
    pub name: String,
}

/// A plot of several series on shared axes.
pub struct LinePlot {
    /// The series, drawn in order.
    pub series: Vec<Series>,
    /// Fixed y range, or `None` to fit the data.
    pub y_range: Option<(f64, f64)>,
    /// Title above the plot.
    pub title: String,
    /// Name of the x axis.
    pub x_label: String,
    /// Name of the y axis.
    pub y_label: String,
    /// The x axis counts whole things (epochs, iterations): ticks only at whole numbers.
    pub x_whole: bool,
}

/// The family name the embedded font is registered under.
pub(crate) const FONT: &str = "sans-serif";

/// Makes the embedded font plotters' `sans-serif` (once per process).
pub(crate) fn register_embedded_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        let bytes: &'static [u8] = include_bytes!("../assets/DejaVuSans.ttf");
        register_font(FONT, FontStyle::Normal, bytes).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(anyhow!(
            "plot: the embedded font assets/DejaVuSans.ttf does not parse"
        ))
    }
}

/// `lo..hi` widened so that it is never empty (one point, a constant series).
fn span(lo: f64, hi: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        (0.0, 1.0)
    } else if hi > lo {
        (lo, hi)
    } else {
        let pad = (lo.abs() * 0.05).max(0.5);
        (lo - pad, hi + pad)
    }
}

/// A tick label: whole numbers (iterations, epochs) without a decimal point, others to 3
/// significant digits without trailing zeros.
fn tick(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 && v.abs() < 1e15 {
        format!("{}", v.round() as i64)
    } else {
        let digits = (2 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
        let s = format!("{v:.digits$}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// How many x ticks plotters may place: for a whole-number axis no more than the whole numbers
/// in range, so that its step (1, 2, 5 times a power of ten) is at least 1 and every tick a
/// whole number.
fn x_tick_count(x0: f64, x1: f64, whole: bool) -> usize {
    const MOST: usize = 10;
    if whole {
        ((x1.floor() - x0.ceil()).max(0.0) as usize + 1).min(MOST)
    } else {
        MOST
    }
}

impl LinePlot {
    /// Renders to a `width` x `height` image.
    pub fn render(&self, width: u32, height: u32) -> Result<RgbImage> {
        register_embedded_font()?;
        let finite = |s: &Series| -> Vec<(f64, f64)> {
            s.points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect()
        };
        let all: Vec<(f64, f64)> = self.series.iter().flat_map(finite).collect();
        let fold = |f: fn(&(f64, f64)) -> f64| {
            all.iter()
                .map(f)
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                    (a.min(v), b.max(v))
                })
        };
        let (x0, x1) = fold(|p| p.0);
        let (x0, x1) = span(x0, x1);
        let (y0, y1) = self.y_range.unwrap_or_else(|| fold(|p| p.1));
        let (y0, y1) = span(y0, y1);

        let mut buf = vec![255u8; width as usize * height as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
            root.fill(&WHITE).map_err(|e| anyhow!("plot: {e}"))?;
            let mut chart = ChartBuilder::on(&root)
                .caption(&self.title, (FONT, 18))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(|e| anyhow!("plot: {e}"))?;
            chart
                .configure_mesh()
                .x_desc(&self.x_label)
                .y_desc(&self.y_label)
                .x_labels(x_tick_count(x0, x1, self.x_whole))
                // light lines between whole-number ticks would mark fractions of an epoch
                .x_max_light_lines(if self.x_whole { 1 } else { 10 })
                .x_label_formatter(&|x| tick(*x))
                .y_label_formatter(&|y| tick(*y))
                .label_style((FONT, 13))
                .axis_desc_style((FONT, 14))
                .light_line_style(RGBColor(238, 238, 238))
                .bold_line_style(RGBColor(215, 215, 215))
                .draw()
                .map_err(|e| anyhow!("plot: {e}"))?;
            for s in &self.series {
                let colour = RGBColor(s.colour[0], s.colour[1], s.colour[2]);
                let points = finite(s);
                // Few points (epoch means, validation scores) get markers: one alone is no line.
                let marker = if points.len() <= 40 { 3 } else { 0 };
                chart
                    .draw_series(LineSeries::new(points, colour.stroke_width(2)).point_size(marker))
                    .map_err(|e| anyhow!("plot: {e}"))?
                    .label(s.name.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
                    });
            }
            chart
                .configure_series_labels()
                .label_font((FONT, 13))
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(160, 160, 160))
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(|e| anyhow!("plot: {e}"))?;
            root.present().map_err(|e| anyhow!("plot: {e}"))?;
        }
        RgbImage::from_raw(width, height, buf).ok_or_else(|| anyhow!("plot buffer size"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plot(x_label: &str, points: Vec<(f64, f64)>) -> RgbImage {
        LinePlot {
            series: vec![Series {
                points,
                colour: [255, 0, 0],
                name: "loss".into(),
            }],
            y_range: None,
            title: "training loss".into(),
            x_label: x_label.into(),
            y_label: "loss".into(),
            x_whole: true,
        }
        .render(400, 300)
        .unwrap()
    }

    fn red_pixels(img: &RgbImage) -> Vec<(u32, u32)> {
        img.enumerate_pixels()
            .filter(|(_, _, p)| p.0 == [255, 0, 0])
            .map(|(x, y, _)| (x, y))
            .collect()
    }

    #[test]
    fn a_rising_line_goes_from_bottom_left_to_top_right() {
        let img = plot(
            "iteration",
            (0..100).map(|i| (i as f64, i as f64)).collect(),
        );
        let red = red_pixels(&img);
        assert!(red.len() > 100, "the line is drawn ({} pixels)", red.len());
        // the legend swatch is red too: judge the line by its leftmost and rightmost pixels
        let left = red.iter().min_by_key(|p| p.0).unwrap();
        let right = red.iter().max_by_key(|p| p.0).unwrap();
        assert!(
            left.1 > right.1 + 100,
            "left {left:?} below right {right:?}"
        );
    }

    #[test]
    fn axis_names_are_written_as_text() {
        let dark = |img: &RgbImage| -> usize {
            // the bottom band holds the x axis name below the tick labels
            img.enumerate_pixels()
                .filter(|(_, y, p)| *y >= 280 && p.0.iter().all(|&c| c < 100))
                .count()
        };
        let points: Vec<(f64, f64)> = (0..10)
            .map(|i| (i as f64, 1.0 / (1.0 + i as f64)))
            .collect();
        let named = dark(&plot("iteration number", points.clone()));
        let unnamed = dark(&plot("", points));
        assert!(
            named > unnamed + 50,
            "an x axis name adds glyph pixels ({named} vs {unnamed})"
        );
    }

    #[test]
    fn one_point_and_no_points_still_render() {
        // a lone point is a marker in the middle (the legend's red swatch sits top right)
        let one = red_pixels(&plot("epoch", vec![(3.0, 0.5)]));
        assert!(
            one.iter()
                .any(|&(x, y)| (150..250).contains(&x) && (100..200).contains(&y)),
            "no marker near the centre"
        );
        let empty = plot("epoch", vec![]);
        assert_eq!(empty.dimensions(), (400, 300));
    }

    #[test]
    fn whole_number_axes_get_whole_number_ticks() {
        use plotters::coord::ranged1d::Ranged;
        use plotters::coord::types::RangedCoordf64;
        // 1 to 3 epochs, one epoch (widened to 2.5..3.5), 150 epochs, 4 iterations
        for (lo, hi) in [
            (1.0, 3.0),
            (2.5, 3.5),
            (1.0, 150.0),
            (1.0, 4.0),
            (0.0, 13_900.0),
        ] {
            let n = x_tick_count(lo, hi, true);
            let ticks = RangedCoordf64::from(lo..hi).key_points(n);
            assert!(!ticks.is_empty(), "{lo}..{hi}");
            assert!(
                ticks.iter().all(|t| (t - t.round()).abs() < 1e-9),
                "{lo}..{hi}: {ticks:?}"
            );
        }
        // a plain axis may step by fractions
        let ticks = RangedCoordf64::from(1.0..3.0).key_points(x_tick_count(1.0, 3.0, false));
        assert!(ticks.iter().any(|t| (t - t.round()).abs() > 1e-9));
    }
}
