//! npy / npz, HDF5 and PNG / BMP / JPEG against numpy, h5py and Pillow: files those libraries
//! write are decoded by danie to the same values (PNG and BMP exactly; JPEG within a small
//! tolerance, since JPEG decoders legitimately differ in IDCT and chroma upsampling).
mod formats_support;

use danie_data::nifti::{Endian, TypedArray};
use danie_data::{h5, image_io, npy};
use formats_support::{json_usizes, run_python};
use ndarray::{ArrayD, IxDyn};
use serde_json::Value;

fn check_exact(e: &Value, got: &TypedArray) {
    let file = e["file"].as_str().unwrap();
    let key = e["key"].as_str().unwrap_or("");
    let shape = json_usizes(&e["shape"]);
    assert_eq!(got.shape(), shape.as_slice(), "{file} {key}: shape");
    assert_eq!(
        got.dtype().name(),
        e["dtype"].as_str().unwrap(),
        "{file} {key}: dtype"
    );
    let want = std::fs::read(e["ref"].as_str().unwrap()).unwrap();
    assert!(
        got.to_bytes(Endian::Little, false) == want,
        "{file} {key}: values differ from the reference decode"
    );
}

/// Max and mean absolute difference of two byte buffers.
fn diff(a: &[u8], b: &[u8]) -> (u8, f64) {
    assert_eq!(a.len(), b.len());
    let d: Vec<u8> = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).collect();
    (
        *d.iter().max().unwrap(),
        d.iter().map(|&v| v as f64).sum::<f64>() / d.len() as f64,
    )
}

#[test]
fn decodes_what_numpy_h5py_and_pillow_write() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = run_python("nifti_sibling_formats.py", &[dir.path()]);
    let mut counts = std::collections::BTreeMap::new();
    for e in manifest.as_array().unwrap() {
        let file = e["file"].as_str().unwrap();
        let path = dir.path().join(file);
        let format = e["format"].as_str().unwrap();
        *counts.entry(format.to_string()).or_insert(0) += 1;
        match format {
            "npy" => check_exact(e, &npy::read_npy(&path).unwrap()),
            "npz" => check_exact(
                e,
                &npy::read_npz_array(&path, e["key"].as_str().unwrap()).unwrap(),
            ),
            "h5" => check_exact(
                e,
                &h5::read_dataset(&path, e["key"].as_str().unwrap()).unwrap(),
            ),
            "image" => {
                let mode = e["mode"].as_str().unwrap();
                let jpeg = file.ends_with(".jpg");
                let native = image_io::read_image(&path).unwrap();
                let rgb = e
                    .get("rgb_ref")
                    .map(|r| std::fs::read(r.as_str().unwrap()).unwrap());
                if let Some(rgb_ref) = &rgb {
                    let ours = image_io::read_rgb(&path).unwrap();
                    let ours = ours.as_slice().unwrap();
                    let (max, mean) = diff(ours, rgb_ref);
                    if jpeg {
                        // measured here: grey JPEG max 1 (mean 0.007), RGB 4:2:0 JPEG max 3 (mean 0.39):
                        // Pillow (libjpeg-turbo) and the image crate (zune-jpeg) upsample chroma differently
                        assert!(
                            max <= 4 && mean < 1.0,
                            "{file}: RGB differs from Pillow by max {max}, mean {mean}"
                        );
                        eprintln!("{file}: RGB vs Pillow max diff {max}, mean {mean:.3}");
                    } else {
                        assert_eq!(max, 0, "{file}: RGB differs from Pillow");
                    }
                }
                if matches!(mode, "L" | "LA" | "RGB" | "RGBA" | "I;16")
                    && native.shape()[2] == e["shape"][2].as_u64().unwrap() as usize
                {
                    if jpeg {
                        let want = std::fs::read(e["ref"].as_str().unwrap()).unwrap();
                        let (max, _) = diff(&native.to_bytes(Endian::Little, false), &want);
                        assert!(max <= 4, "{file}: differs from Pillow by {max}");
                    } else {
                        check_exact(e, &native);
                    }
                }
                if mode == "L" {
                    let mask = image_io::read_mask(&path).unwrap();
                    let want = std::fs::read(e["ref"].as_str().unwrap()).unwrap();
                    let (max, _) = diff(mask.as_slice().unwrap(), &want);
                    assert!(
                        max == 0 || (jpeg && max <= 1),
                        "{file}: mask differs from Pillow by {max}"
                    );
                }
            }
            other => panic!("unknown format {other}"),
        }
    }
    assert_eq!(counts["npy"], 38);
    assert_eq!(counts["npz"], 4);
    assert_eq!(counts["h5"], 7);
    assert_eq!(counts["image"], 11);
}

#[test]
fn colour_masks_and_missing_keys_are_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    let rgb = ArrayD::from_shape_fn(IxDyn(&[4, 5, 3]), |i| (i[0] * 10 + i[2]) as u8);
    let png = dir.path().join("mask.png");
    image_io::write_png(&png, &rgb.clone().into()).unwrap();
    assert_eq!(image_io::read_image(&png).unwrap(), TypedArray::from(rgb));
    let err = image_io::read_mask(&png).unwrap_err().to_string();
    assert!(
        err.contains("mask.png") && err.contains("colour pixels"),
        "{err}"
    );

    let gray16 = ArrayD::from_shape_fn(IxDyn(&[3, 2]), |i| (i[0] * 20000 + i[1]) as u16);
    let png16 = dir.path().join("g16.png");
    image_io::write_png(&png16, &gray16.clone().into()).unwrap();
    assert_eq!(
        image_io::read_image(&png16).unwrap(),
        TypedArray::from(gray16.into_shape_with_order(IxDyn(&[3, 2, 1])).unwrap())
    );

    let npz = dir.path().join("slice.npz");
    let label = TypedArray::from(ArrayD::<u8>::zeros(IxDyn(&[2, 2])));
    npy::write_npz(&npz, &[("label", &label)], true).unwrap();
    assert_eq!(npy::read_npz_array(&npz, "label").unwrap(), label);
    let err = npy::read_npz_array(&npz, "image").unwrap_err().to_string();
    assert!(
        err.contains("slice.npz") && err.contains("`image`") && err.contains("label"),
        "{err}"
    );

    let h5path = dir.path().join("case.npy.h5");
    h5::write_datasets(&h5path, &[("label", &label)]).unwrap();
    assert_eq!(h5::read_dataset(&h5path, "label").unwrap(), label);
    let err = h5::read_dataset(&h5path, "image").unwrap_err().to_string();
    assert!(
        err.contains("case.npy.h5") && err.contains("`image`"),
        "{err}"
    );

    let npy_path = dir.path().join("x.npy");
    npy::write_npy(&npy_path, &label).unwrap();
    assert_eq!(npy::read_npy(&npy_path).unwrap(), label);
}
