//! PNG overlays for chosen cases: image | reference | prediction side by side, labels drawn
//! over the image at half opacity in fixed class colours (the same colour for an organ in every
//! picture of every run). [`overlay_figure`] titles the panels, names the case and slice, and
//! adds a legend of the class colours with the class names; panels are at least
//! [`MIN_PANEL`] pixels on their short side (data smaller than that is upscaled, nearest
//! neighbour, by a whole factor so each voxel stays a square of one colour) and at most
//! [`MAX_PANEL`] on their long side (larger data is shown shrunk to it, nearest neighbour), so a
//! figure stays under about 40 MB whatever the data's shape.
use anyhow::{anyhow, Result};
use image::{Rgb, RgbImage};
use ndarray::{ArrayView2, ArrayView3};
use plotters::prelude::*;

use crate::line_plot::{register_embedded_font, FONT};

/// Class colours by label id (0, background, is not drawn). Synapse order: aorta red,
/// gallbladder green, left kidney blue, right kidney yellow, liver magenta, pancreas cyan,
/// spleen orange, stomach purple.
pub const CLASS_COLOURS: [[u8; 3]; 9] = [
    [0, 0, 0],
    [230, 25, 75],
    [60, 180, 75],
    [0, 130, 200],
    [255, 225, 25],
    [240, 50, 230],
    [70, 240, 240],
    [245, 130, 48],
    [145, 30, 180],
];

/// The colour of label `id` (ids past the table wrap round, skipping background).
pub fn class_colour(id: u8) -> [u8; 3] {
    if (id as usize) < CLASS_COLOURS.len() {
        CLASS_COLOURS[id as usize]
    } else {
        CLASS_COLOURS[1 + (id as usize - 1) % (CLASS_COLOURS.len() - 1)]
    }
}

/// Three panels side by side: the image, the reference over it, the prediction over it.
///
/// # Shapes
/// image (C, H, W) in [0, 1] with C = 1 or 3; reference and prediction (H, W)
pub fn overlay_panels(
    image: ArrayView3<f32>,
    reference: ArrayView2<u8>,
    prediction: ArrayView2<u8>,
) -> RgbImage {
    let (c, h, w) = image.dim();
    let mut out = RgbImage::new(3 * w as u32, h as u32);
    for y in 0..h {
        for x in 0..w {
            let px = |ch: usize| (image[[ch.min(c - 1), y, x]].clamp(0.0, 1.0) * 255.0).round();
            let base = [px(0), px(1), px(2)];
            for (panel, label) in [
                (0, None),
                (1, Some(reference[[y, x]])),
                (2, Some(prediction[[y, x]])),
            ] {
                let rgb = match label {
                    Some(l) if l > 0 => {
                        let col = class_colour(l);
                        [0, 1, 2].map(|i| (0.5 * base[i] + 0.5 * f32::from(col[i])).round() as u8)
                    }
                    _ => base.map(|v| v as u8),
                };
                out.put_pixel((panel * w + x) as u32, y as u32, Rgb(rgb));
            }
        }
    }
    out
}

/// The short side, in pixels, below which panels are upscaled.
pub const MIN_PANEL: u32 = 256;
/// The longest panel side, in pixels: no upscaling goes past it, and data longer than it is
/// shrunk to it (a 1 x 100000 slice was upscaled to a 25.6M x 256 panel, 85 GB).
pub const MAX_PANEL: u32 = 2048;

const MARGIN: u32 = 12;
const GAP: u32 = 12;
const HEADING: u32 = 28;
const TITLE: u32 = 24;
const SWATCH: u32 = 16;
const LEGEND_ROW: u32 = 24;
const TEXT_SIZE: f64 = 15.0;

/// A rectangle of a figure, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// Left column.
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

/// Where [`overlay_figure`] put things: the three panels (image, reference, prediction), the
/// upscaling factor, and each legend swatch with its class id.
#[derive(Debug, Clone, PartialEq)]
pub struct OverlayLayout {
    /// Image, reference and prediction panels.
    pub panels: [Rect; 3],
    /// The whole-number upscaling factor, panel pixels per data pixel along each axis; 1 also
    /// when data longer than [`MAX_PANEL`] is shown shrunk (the panels' sizes say how much).
    pub scale: u32,
    /// Legend swatches (class id, square filled with the class colour).
    pub swatches: Vec<(u8, Rect)>,
}

/// The panel titles, left to right.
pub const PANEL_TITLES: [&str; 3] = ["image", "reference", "prediction"];

/// The whole-number factor that brings the short side to at least [`MIN_PANEL`] without the
/// long side passing [`MAX_PANEL`] (1 when the data is as large already).
pub fn panel_scale(h: usize, w: usize) -> u32 {
    let short = h.min(w).max(1) as u64;
    let long = h.max(w).max(1) as u64;
    let up = u64::from(MIN_PANEL).div_ceil(short);
    up.min(u64::from(MAX_PANEL) / long).max(1) as u32
}

/// A panel's (width, height): the data times [`panel_scale`], or, for data longer than
/// [`MAX_PANEL`], shrunk to it on the long side (each side at least 1).
pub fn panel_size(h: usize, w: usize) -> (u32, u32) {
    let (h, w) = (h.max(1) as u64, w.max(1) as u64);
    let scale = u64::from(panel_scale(h as usize, w as usize));
    let long = h.max(w);
    let max = u64::from(MAX_PANEL);
    let fit = |side: u64| -> u32 {
        if long * scale <= max {
            (side * scale) as u32
        } else {
            (side * max / long).max(1) as u32
        }
    };
    (fit(w), fit(h))
}

/// The titled figure: `heading` (case and slice) on top, the three panels under their titles,
/// then a legend of every foreground class of `class_names` (index = class id) in its colour.
///
/// # Shapes
/// image (C, H, W) in [0, 1] with C = 1 or 3; reference and prediction (H, W)
pub fn overlay_figure(
    image: ArrayView3<f32>,
    reference: ArrayView2<u8>,
    prediction: ArrayView2<u8>,
    class_names: &[String],
    heading: &str,
) -> Result<(RgbImage, OverlayLayout)> {
    register_embedded_font()?;
    let (_, h, w) = image.dim();
    anyhow::ensure!(
        h > 0 && w > 0,
        "overlay `{heading}`: the slice is empty ({h} x {w})"
    );
    let raw = overlay_panels(image, reference, prediction);
    let scale = panel_scale(h, w);
    let (pw, ph) = panel_size(h, w);
    let width = 2 * MARGIN + 3 * pw + 2 * GAP;
    let panel_top = MARGIN + HEADING + TITLE;
    let panels = [0, 1, 2].map(|i| Rect {
        x: MARGIN + i * (pw + GAP),
        y: panel_top,
        w: pw,
        h: ph,
    });
    // Legend items flow left to right and wrap at the figure's width.
    let font = (FONT, TEXT_SIZE).into_font();
    let mut swatches = Vec::new();
    let mut labels = Vec::new();
    let (mut x, mut y) = (MARGIN, panel_top + ph + GAP);
    for (id, name) in class_names.iter().enumerate().skip(1) {
        let id = u8::try_from(id).map_err(|_| anyhow!("overlay: more than 255 classes"))?;
        let text_w = font
            .box_size(name)
            .map_err(|e| anyhow!("overlay: measuring `{name}`: {e:?}"))?
            .0;
        let item_w = SWATCH + 6 + text_w + 18;
        if x > MARGIN && x + item_w > width - MARGIN {
            x = MARGIN;
            y += LEGEND_ROW;
        }
        swatches.push((
            id,
            Rect {
                x,
                y,
                w: SWATCH,
                h: SWATCH,
            },
        ));
        labels.push((name.clone(), x + SWATCH + 6, y));
        x += item_w;
    }
    let height = y + LEGEND_ROW + MARGIN;

    let mut out = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    // The data pixel under each panel pixel (nearest): px / scale when upscaled.
    let source =
        |p: u32, panel: u32, data: usize| (u64::from(p) * data as u64 / u64::from(panel)) as u32;
    for (i, p) in panels.iter().enumerate() {
        for py in 0..ph {
            let sy = source(py, ph, h);
            for px in 0..pw {
                let src = raw.get_pixel(i as u32 * w as u32 + source(px, pw, w), sy);
                out.put_pixel(p.x + px, p.y + py, *src);
            }
        }
    }
    let mut buf = out.into_raw();
    {
        let root = BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
        let text = |s: &str, x: u32, y: u32, size: f64| {
            root.draw_text(
                s,
                &(FONT, size).into_font().color(&BLACK),
                (x as i32, y as i32),
            )
            .map_err(|e| anyhow!("overlay: {e}"))
        };
        text(heading, MARGIN, MARGIN, 17.0)?;
        for (p, title) in panels.iter().zip(PANEL_TITLES) {
            text(title, p.x, p.y - TITLE + 2, TEXT_SIZE)?;
        }
        for ((id, r), (name, tx, ty)) in swatches.iter().zip(&labels) {
            let [cr, cg, cb] = class_colour(*id);
            let corners = [
                (r.x as i32, r.y as i32),
                ((r.x + r.w - 1) as i32, (r.y + r.h - 1) as i32),
            ];
            root.draw(&Rectangle::new(corners, RGBColor(cr, cg, cb).filled()))
                .map_err(|e| anyhow!("overlay: {e}"))?;
            root.draw(&Rectangle::new(corners, RGBColor(90, 90, 90)))
                .map_err(|e| anyhow!("overlay: {e}"))?;
            text(name, *tx, *ty, TEXT_SIZE)?;
        }
        root.present().map_err(|e| anyhow!("overlay: {e}"))?;
    }
    let out = RgbImage::from_raw(width, height, buf).ok_or_else(|| anyhow!("overlay buffer"))?;
    Ok((
        out,
        OverlayLayout {
            panels,
            scale,
            swatches,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Array3};

    #[test]
    fn panels_show_image_then_labels_in_class_colours() {
        let img = Array3::<f32>::from_elem((1, 2, 2), 1.0);
        let mut reference = Array2::<u8>::zeros((2, 2));
        reference[[0, 0]] = 5;
        let mut pred = Array2::<u8>::zeros((2, 2));
        pred[[1, 1]] = 1;
        let out = overlay_panels(img.view(), reference.view(), pred.view());
        assert_eq!(out.dimensions(), (6, 2));
        assert_eq!(out.get_pixel(0, 0).0, [255, 255, 255]);
        let liver = class_colour(5).map(|v| ((255.0 + f32::from(v)) / 2.0).round() as u8);
        assert_eq!(out.get_pixel(2, 0).0, liver);
        assert_eq!(out.get_pixel(3, 0).0, [255, 255, 255]);
        let aorta = class_colour(1).map(|v| ((255.0 + f32::from(v)) / 2.0).round() as u8);
        assert_eq!(out.get_pixel(5, 1).0, aorta);
    }

    fn names() -> Vec<String> {
        ["background", "aorta", "gallbladder", "left kidney"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn small_data_is_upscaled_to_titled_panels_with_a_legend_of_the_drawn_colours() {
        // A black 40 x 30 image: a labelled pixel shows half its class colour.
        let img = Array3::<f32>::zeros((1, 30, 40));
        let mut reference = Array2::<u8>::zeros((30, 40));
        reference[[3, 5]] = 2;
        let mut pred = Array2::<u8>::zeros((30, 40));
        pred[[10, 20]] = 3;
        let (fig, layout) = overlay_figure(
            img.view(),
            reference.view(),
            pred.view(),
            &names(),
            "case x",
        )
        .unwrap();
        assert_eq!(layout.scale, 9, "30 px short side -> 270 px");
        for p in &layout.panels {
            assert_eq!((p.w, p.h), (360, 270));
            assert!(p.x + p.w <= fig.width() && p.y + p.h <= fig.height());
        }
        assert_eq!(layout.swatches.len(), 3, "one swatch per foreground class");
        let drawn = |panel: usize, y: u32, x: u32| {
            let p = layout.panels[panel];
            let s = layout.scale;
            // every pixel of the upscaled voxel is the voxel's colour
            let c = fig.get_pixel(p.x + x * s, p.y + y * s).0;
            assert_eq!(c, fig.get_pixel(p.x + x * s + s - 1, p.y + y * s + s - 1).0);
            c
        };
        for (id, r) in &layout.swatches {
            let swatch = fig.get_pixel(r.x + r.w / 2, r.y + r.h / 2).0;
            assert_eq!(swatch, class_colour(*id), "swatch of class {id}");
        }
        let half = |id: u8| class_colour(id).map(|v| (f32::from(v) / 2.0).round() as u8);
        assert_eq!(drawn(1, 3, 5), half(2), "reference panel: gallbladder");
        assert_eq!(drawn(2, 10, 20), half(3), "prediction panel: left kidney");
        assert_eq!(drawn(0, 3, 5), [0, 0, 0], "image panel: no labels");
        // titles and legend names are text: dark pixels above the panels and beside swatches
        let dark = |x0: u32, y0: u32, x1: u32, y1: u32| {
            (y0..y1)
                .flat_map(|y| (x0..x1).map(move |x| (x, y)))
                .filter(|&(x, y)| fig.get_pixel(x, y).0.iter().all(|&c| c < 110))
                .count()
        };
        for p in &layout.panels {
            assert!(dark(p.x, p.y - TITLE, p.x + 100, p.y) > 20, "panel title");
        }
        let (_, r) = layout.swatches[0];
        assert!(dark(r.x + r.w + 2, r.y, r.x + r.w + 80, r.y + LEGEND_ROW) > 20);
    }

    #[test]
    fn long_or_thin_data_fits_the_longest_panel_side_in_its_true_colours() {
        // Left half aorta, right half gallbladder in the reference; the prediction empty.
        let check = |h: usize, w: usize| {
            let img = Array3::<f32>::zeros((1, h, w));
            let mut reference = Array2::<u8>::ones((h, w));
            reference.slice_mut(ndarray::s![.., w / 2..]).fill(2);
            let pred = Array2::<u8>::zeros((h, w));
            let (fig, layout) =
                overlay_figure(img.view(), reference.view(), pred.view(), &names(), "c").unwrap();
            let p = layout.panels[1];
            assert!(
                p.w.max(p.h) <= MAX_PANEL && p.w.min(p.h) >= 1,
                "{h}x{w}: {p:?}"
            );
            assert!(
                fig.width() < 3 * MAX_PANEL + 100,
                "{h}x{w}: {}",
                fig.width()
            );
            let half = |id: u8| class_colour(id).map(|v| (f32::from(v) / 2.0).round() as u8);
            assert_eq!(fig.get_pixel(p.x, p.y).0, half(1), "{h}x{w}: left");
            assert_eq!(
                fig.get_pixel(p.x + p.w - 1, p.y + p.h - 1).0,
                half(2),
                "{h}x{w}: right"
            );
            (layout.scale, p.w, p.h)
        };
        // A one-voxel-thin slice: upscaled only as far as the long side allows.
        assert_eq!(check(1, 1000), (2, 2000, 2));
        assert_eq!(check(1, 100_000), (1, 2048, 1));
        // A dermoscopy photograph's size: shrunk to 2048 px on its long side.
        assert_eq!(check(3000, 4000), (1, 2048, 1536));
    }

    #[test]
    fn an_empty_slice_is_an_error_not_a_panic() {
        for (h, w) in [(0, 5), (5, 0)] {
            let img = Array3::<f32>::zeros((1, h, w));
            let lab = Array2::<u8>::zeros((h, w));
            let e = overlay_figure(img.view(), lab.view(), lab.view(), &names(), "case 3")
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("`case 3`") && e.contains(&format!("({h} x {w})")),
                "{e}"
            );
        }
    }

    #[test]
    fn large_data_keeps_its_size() {
        let img = Array3::<f32>::zeros((3, 300, 260));
        let lab = Array2::<u8>::zeros((300, 260));
        let (_, layout) =
            overlay_figure(img.view(), lab.view(), lab.view(), &names(), "c").unwrap();
        assert_eq!(layout.scale, 1);
        assert_eq!((layout.panels[0].w, layout.panels[0].h), (260, 300));
    }
}
