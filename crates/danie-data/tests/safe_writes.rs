//! Every writer of danie-data goes through `danie_fs`: a link planted at the output name (by
//! an attacker sharing the folder, or left over) is replaced by the new file, its target is
//! never written, and no temporary is left behind. A failed write leaves the old file.
#![cfg(unix)]
use std::path::{Path, PathBuf};

use danie_data::nifti::{self, NiftiHeader, TypedArray};
use danie_data::{h5, image_io, npy};
use ndarray::{ArrayD, IxDyn};

/// A folder with `victim.txt` and a link `name` -> victim; returns (dir, victim, link).
fn planted(name: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    let link = dir.path().join(name);
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    (dir, victim, link)
}

fn assert_replaced(dir: &Path, victim: &Path, link: &Path) {
    assert_eq!(std::fs::read_to_string(victim).unwrap(), "precious");
    let t = std::fs::symlink_metadata(link).unwrap().file_type();
    assert!(t.is_file(), "{} is still a link", link.display());
    assert_eq!(
        std::fs::read_dir(dir).unwrap().count(),
        2,
        "a temporary was left in {}",
        dir.display()
    );
}

fn labels() -> TypedArray {
    TypedArray::from(ArrayD::from_shape_fn(IxDyn(&[4, 3, 2]), |i| {
        (i[0] + i[1]) as u8
    }))
}

#[test]
fn nifti_masks_replace_a_planted_link() {
    for name in ["mask.nii.gz", "mask.nii"] {
        let (dir, victim, link) = planted(name);
        nifti::write(&link, &NiftiHeader::default(), &labels()).unwrap();
        assert_replaced(dir.path(), &victim, &link);
        assert_eq!(nifti::read(&link).unwrap().shape(), [4, 3, 2]);
    }
}

#[test]
fn npy_npz_h5_and_png_replace_a_planted_link() {
    let (dir, victim, link) = planted("a.npy");
    npy::write_npy(&link, &labels()).unwrap();
    assert_replaced(dir.path(), &victim, &link);
    assert_eq!(npy::read_npy(&link).unwrap().shape(), [4, 3, 2]);

    let (dir, victim, link) = planted("a.npz");
    let l = labels();
    npy::write_npz(&link, &[("label", &l)], true).unwrap();
    assert_replaced(dir.path(), &victim, &link);
    assert_eq!(npy::npz_names(&link).unwrap(), ["label"]);

    let (dir, victim, link) = planted("case.npy.h5");
    h5::write_datasets(&link, &[("label", &l)]).unwrap();
    assert_replaced(dir.path(), &victim, &link);
    assert_eq!(h5::read_dataset(&link, "label").unwrap().shape(), [4, 3, 2]);

    let (dir, victim, link) = planted("m.png");
    let plane = TypedArray::from(ArrayD::from_elem(IxDyn(&[3, 5]), 7u8));
    image_io::write_png(&link, &plane).unwrap();
    assert_replaced(dir.path(), &victim, &link);
    assert_eq!(image_io::read_image(&link).unwrap().shape(), [3, 5, 1]);
}

#[test]
fn a_failed_write_keeps_the_old_file_and_leaves_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.png");
    let plane = TypedArray::from(ArrayD::from_elem(IxDyn(&[3, 5]), 7u8));
    image_io::write_png(&p, &plane).unwrap();
    let before = std::fs::read(&p).unwrap();
    // 1-D data cannot be a PNG: refused before any temporary is made.
    let bad = TypedArray::from(ArrayD::from_elem(IxDyn(&[3]), 1u8));
    let e = image_io::write_png(&p, &bad).unwrap_err().to_string();
    assert!(e.contains("m.png"), "{e}");
    // An HDF5 key HDF5 refuses fails inside the writer, after the temporary exists.
    let h = dir.path().join("v.h5");
    h5::write_datasets(&h, &[("label", &labels())]).unwrap();
    let old = std::fs::read(&h).unwrap();
    let l = labels();
    assert!(h5::write_datasets(&h, &[("a", &l), ("a", &l)]).is_err());
    assert_eq!(std::fs::read(&h).unwrap(), old);
    assert_eq!(std::fs::read(&p).unwrap(), before);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}
