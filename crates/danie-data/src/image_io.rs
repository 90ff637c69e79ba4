//! 2D images: PNG, JPEG and BMP (ISIC images and masks, GlaS images and annotations).
//!
//! Decoded with the `image` crate into `(H, W, C)` arrays with the channels as stored: 1 grey,
//! 2 grey + alpha, 3 RGB, 4 RGBA; 8-bit as `uint8`, 16-bit PNG as `uint16`. Palette images come
//! back as their RGB(A) colours (Pillow would give palette indices). Masks: [`read_mask`].
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageFormat};
use ndarray::{Array2, Array3, ArrayD, Axis, IxDyn};

use crate::error::{DataError, Result};
use crate::limits::{check_compressed, max_decoded_bytes};
use crate::nifti::file_access::{input_file, write_output};
use crate::nifti::{DType, TypedArray};

fn open_image(path: &Path) -> Result<DynamicImage> {
    let meta = input_file(path)?;
    if meta.len() == 0 {
        return Err(DataError::invalid(path, "file is empty (0 bytes)"));
    }
    let cannot =
        |e: image::ImageError| DataError::invalid(path, format!("cannot decode image: {e}"));
    let mut reader = image::ImageReader::open(path)
        .map_err(|e| DataError::io(path, e))?
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?;
    // The decoders allocate what the header declares: hold them to the decoded-size budget.
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(max_decoded_bytes());
    reader.limits(limits);
    let decoder = reader.into_decoder().map_err(cannot)?;
    let (w, h) = decoder.dimensions();
    let bytes = decoder.total_bytes();
    let what = format!("the {w} x {h} image ({:?})", decoder.color_type());
    // PNG deflates, JPEG and BMP RLE code blocks and runs: a header declaring more pixels than
    // the file can hold is refused before decoding.
    check_compressed(path, &what, bytes, meta.len())?;
    DynamicImage::from_decoder(decoder).map_err(cannot)
}

/// Reads an image as `(H, W, C)`, `uint8` (or `uint16` for 16-bit PNG).
pub fn read_image(path: impl AsRef<Path>) -> Result<TypedArray> {
    let path = path.as_ref();
    let img = open_image(path)?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let c = img.color().channel_count() as usize;
    let shape = IxDyn(&[h, w, c]);
    let shape_error = |e: ndarray::ShapeError| {
        DataError::invalid(
            path,
            format!("decoded pixels do not fill {w} x {h} x {c}: {e}"),
        )
    };
    Ok(match img {
        DynamicImage::ImageLuma8(b) => ArrayD::from_shape_vec(shape, b.into_raw())
            .map(TypedArray::from)
            .map_err(shape_error)?,
        DynamicImage::ImageLumaA8(b) => ArrayD::from_shape_vec(shape, b.into_raw())
            .map(TypedArray::from)
            .map_err(shape_error)?,
        DynamicImage::ImageRgb8(b) => ArrayD::from_shape_vec(shape, b.into_raw())
            .map(TypedArray::from)
            .map_err(shape_error)?,
        DynamicImage::ImageRgba8(b) => ArrayD::from_shape_vec(shape, b.into_raw())
            .map(TypedArray::from)
            .map_err(shape_error)?,
        DynamicImage::ImageLuma16(b) => ArrayD::from_shape_vec(shape, b.into_raw())
            .map(TypedArray::from)
            .map_err(shape_error)?,
        DynamicImage::ImageLumaA16(b) => ArrayD::from_shape_vec(shape, b.into_raw())
            .map(TypedArray::from)
            .map_err(shape_error)?,
        DynamicImage::ImageRgb16(b) => ArrayD::from_shape_vec(shape, b.into_raw())
            .map(TypedArray::from)
            .map_err(shape_error)?,
        DynamicImage::ImageRgba16(b) => ArrayD::from_shape_vec(shape, b.into_raw())
            .map(TypedArray::from)
            .map_err(shape_error)?,
        other => {
            return Err(DataError::invalid(
                path,
                format!("unsupported pixel type {:?}", other.color()),
            ));
        }
    })
}

/// Reads an RGB image as `(H, W, 3)` `uint8`: grey is replicated, alpha dropped, 16-bit
/// scaled to 8-bit (`v / 257`, rounded).
pub fn read_rgb(path: impl AsRef<Path>) -> Result<Array3<u8>> {
    let path = path.as_ref();
    let rgb = open_image(path)?.to_rgb8();
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    Array3::from_shape_vec((h, w, 3), rgb.into_raw()).map_err(|e| {
        DataError::invalid(
            path,
            format!("decoded pixels do not fill {w} x {h} x 3: {e}"),
        )
    })
}

/// Reads an image as grey `(H, W)` `uint8`: colour converted to luma (Rec. 601, as the `image`
/// crate's `to_luma8` and Pillow's `convert("L")`), alpha dropped, 16-bit scaled to 8-bit.
pub fn read_grey(path: impl AsRef<Path>) -> Result<Array2<u8>> {
    let path = path.as_ref();
    let grey = open_image(path)?.to_luma8();
    let (w, h) = (grey.width() as usize, grey.height() as usize);
    Array2::from_shape_vec((h, w), grey.into_raw())
        .map_err(|e| DataError::invalid(path, format!("decoded pixels do not fill {w} x {h}: {e}")))
}

/// Reads a mask as `(H, W)` `uint8`: one grey channel, or colour channels that agree on every
/// pixel (alpha ignored). Errors, naming the file, on 16-bit data or on colour pixels.
pub fn read_mask(path: impl AsRef<Path>) -> Result<Array2<u8>> {
    let path = path.as_ref();
    let img = read_image(path)?;
    let TypedArray::U8(a) = img else {
        return Err(DataError::invalid(
            path,
            "mask is 16-bit; expected 8-bit label values",
        ));
    };
    let a: Array3<u8> = a
        .into_dimensionality()
        .map_err(|e| DataError::invalid(path, format!("not an (H, W, C) image: {e}")))?;
    let colour = if a.shape()[2] <= 2 { 1 } else { 3 }; // channels that must agree
    for ((r, col, ch), &v) in a.indexed_iter() {
        if ch > 0 && ch < colour && v != a[[r, col, 0]] {
            return Err(DataError::invalid(
                path,
                format!(
                    "mask has colour pixels (first at row {r}, column {col}); expected grey labels"
                ),
            ));
        }
    }
    Ok(a.index_axis(Axis(2), 0).to_owned())
}

/// Writes `(H, W)` or `(H, W, C)` (`C` in 1..=4) `uint8` / `uint16` data as PNG, atomically.
pub fn write_png(path: impl AsRef<Path>, data: &TypedArray) -> Result<()> {
    let path = path.as_ref();
    let shape = data.shape().to_vec();
    let (h, w, c) = match shape.as_slice() {
        [h, w] => (*h, *w, 1),
        [h, w, c] if (1..=4).contains(c) => (*h, *w, *c),
        _ => {
            return Err(DataError::invalid(
                path,
                format!("cannot write shape {shape:?} as PNG (need (H, W) or (H, W, 1..=4))"),
            ))
        }
    };
    let color = match (c, data.dtype()) {
        (1, DType::U8) => image::ExtendedColorType::L8,
        (2, DType::U8) => image::ExtendedColorType::La8,
        (3, DType::U8) => image::ExtendedColorType::Rgb8,
        (4, DType::U8) => image::ExtendedColorType::Rgba8,
        (1, DType::U16) => image::ExtendedColorType::L16,
        (2, DType::U16) => image::ExtendedColorType::La16,
        (3, DType::U16) => image::ExtendedColorType::Rgb16,
        (4, DType::U16) => image::ExtendedColorType::Rgba16,
        (_, dt) => {
            return Err(DataError::invalid(
                path,
                format!("cannot write {dt} pixels as PNG (uint8 or uint16)"),
            ))
        }
    };
    // PNG stores 16-bit samples big-endian; image's encoder takes native-endian bytes
    let bytes = data.to_bytes(crate::nifti::Endian::native(), false);
    write_output(path, |out| {
        image::write_buffer_with_format(out, &bytes, w as u32, h as u32, color, ImageFormat::Png)
            .map_err(|e| DataError::invalid(path, format!("PNG write failed: {e}")))
    })
}
