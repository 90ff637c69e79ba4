//! PNG overlays for chosen cases: image | reference | prediction side by side, labels drawn
//! over the image at half opacity in fixed class colours (the same colour for an organ in every
//! picture of every run).
use image::{Rgb, RgbImage};
use ndarray::{ArrayView2, ArrayView3};

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
}
