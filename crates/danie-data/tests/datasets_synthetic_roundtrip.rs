//! Generated datasets read back through the readers, compared with what nibabel / h5py /
//! numpy / PIL read from the same files (tests/python/loader_read_reference.py).
use std::path::{Path, PathBuf};

use danie_data::datasets::{DatasetKind, Split};
use danie_data::synthetic::{generate, SyntheticConfig};
use ndarray::ArrayD;
use ndarray_npy::read_npy;
use serde_json::json;

/// One file pair to read with the reference, and what danie read from it.
struct Item {
    kind: &'static str,
    image: PathBuf,
    label: PathBuf,
    ours_image: ArrayD<f32>,
    ours_label: ArrayD<u8>,
    /// Largest allowed intensity difference (JPEG decoders differ by a level or two).
    tol: f32,
}

fn compare_with_reference(items: &[Item]) {
    let dir = tempfile::tempdir().unwrap();
    let req: Vec<_> = items
        .iter()
        .enumerate()
        .map(|(i, it)| {
            json!({"kind": it.kind, "image": it.image, "label": it.label,
                   "out": dir.path().join(format!("r{i}"))})
        })
        .collect();
    let req_path = dir.path().join("request.json");
    std::fs::write(&req_path, serde_json::to_string(&req).unwrap()).unwrap();
    danie_testkit::run_python("loader_read_reference.py", &[&req_path]);
    for (i, it) in items.iter().enumerate() {
        let img: ArrayD<f32> = read_npy(dir.path().join(format!("r{i}_image.npy"))).unwrap();
        let lab: ArrayD<u8> = read_npy(dir.path().join(format!("r{i}_label.npy"))).unwrap();
        assert_eq!(
            it.ours_image.shape(),
            img.shape(),
            "{}: image shape",
            it.image.display()
        );
        assert_eq!(it.ours_label, lab, "{}: labels", it.label.display());
        let err = it
            .ours_image
            .iter()
            .zip(&img)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(
            err <= it.tol,
            "{}: max intensity error {err}",
            it.image.display()
        );
    }
}

fn gen(kind: DatasetKind, cases: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SyntheticConfig {
        cases: Some(cases),
        size: 32,
        slices: Some(4),
        ..Default::default()
    };
    generate(kind, dir.path(), &cfg).unwrap();
    dir
}

/// Slice sample `i` of `split` as an [`Item`] with the given file pair.
fn slice_item(
    kind: DatasetKind,
    root: &Path,
    split: Split,
    i: usize,
    files: impl Fn(&str) -> (PathBuf, PathBuf),
    tag: &'static str,
    tol: f32,
) -> Item {
    let ds = kind.open_slices(root, split).unwrap();
    let s = ds.sample(i).unwrap();
    let (image, label) = files(&ds.name(i));
    let squeeze = s.image.shape()[0] == 1 && kind.in_channels() == 1;
    let ours_image = if squeeze {
        s.image
            .index_axis(ndarray::Axis(0), 0)
            .to_owned()
            .into_dyn()
    } else {
        s.image.into_dyn()
    };
    Item {
        kind: tag,
        image,
        label,
        ours_image,
        ours_label: s.label.into_dyn(),
        tol,
    }
}

fn volume_item(
    kind: DatasetKind,
    root: &Path,
    split: Split,
    i: usize,
    files: impl Fn(&str) -> (PathBuf, PathBuf),
    tag: &'static str,
) -> Item {
    let ds = kind.open_volumes(root, split).unwrap();
    let v = ds.volume(i).unwrap();
    let (image, label) = files(&ds.name(i));
    Item {
        kind: tag,
        image,
        label,
        ours_image: v.image.into_dyn(),
        ours_label: v.label.into_dyn(),
        tol: 1e-5,
    }
}

#[test]
fn synapse_transunet_layout_round_trips() {
    let d = gen(DatasetKind::Synapse, 5);
    let root = d.path();
    let train = DatasetKind::Synapse
        .open_slices(root, Split::Train)
        .unwrap();
    assert_eq!(train.len(), 3 * 4, "3 train cases x 4 slices");
    assert_eq!(train.name(0), "case0005_slice000");
    let test = DatasetKind::Synapse
        .open_volumes(root, Split::Test)
        .unwrap();
    assert_eq!(test.len(), 2);
    assert_eq!(test.name(0), "case0001");
    // test volumes are also served slice by slice
    assert_eq!(
        DatasetKind::Synapse
            .open_slices(root, Split::Test)
            .unwrap()
            .len(),
        2 * 4
    );
    assert!(DatasetKind::Synapse.open_slices(root, Split::Val).is_err());
    let npz = |n: &str| {
        (
            root.join(format!("train_npz/{n}.npz")),
            root.join(format!("train_npz/{n}.npz")),
        )
    };
    let h5 = |n: &str| {
        (
            root.join(format!("test_vol_h5/{n}.npy.h5")),
            root.join(format!("test_vol_h5/{n}.npy.h5")),
        )
    };
    compare_with_reference(&[
        slice_item(
            DatasetKind::Synapse,
            root,
            Split::Train,
            1,
            npz,
            "synapse-npz",
            0.0,
        ),
        slice_item(
            DatasetKind::Synapse,
            root,
            Split::Train,
            6,
            npz,
            "synapse-npz",
            0.0,
        ),
        volume_item(DatasetKind::Synapse, root, Split::Test, 1, h5, "synapse-h5"),
    ]);
}

#[test]
fn synapse_raw_layout_remaps_and_windows_like_numpy() {
    let d = gen(DatasetKind::SynapseRaw, 4);
    let root = d.path();
    let ds = DatasetKind::SynapseRaw
        .open_volumes(root, Split::Train)
        .unwrap();
    assert_eq!(ds.len(), 2);
    let v = ds.volume(0).unwrap();
    assert_eq!(v.image.shape(), &[4, 32, 32]);
    // NIfTI-1 stores pixdim as float32
    assert!(
        v.spacing
            .iter()
            .zip([2.5, 0.8, 0.8])
            .all(|(a, b)| (a - b).abs() < 1e-6),
        "{:?}",
        v.spacing
    );
    assert!(v.image.iter().all(|x| (0.0..=1.0).contains(x)));
    // the liver (5) is the largest organ, as in the real data
    let count = |id: u8| v.label.iter().filter(|&&l| l == id).count();
    assert!((1..=8).filter(|&id| id != 5).all(|id| count(5) > count(id)));
    let files = |n: &str| {
        let c = n.trim_start_matches("case");
        (
            root.join(format!("img/img{c}.nii.gz")),
            root.join(format!("label/label{c}.nii.gz")),
        )
    };
    compare_with_reference(&[
        volume_item(
            DatasetKind::SynapseRaw,
            root,
            Split::Train,
            0,
            files,
            "synapse-raw",
        ),
        volume_item(
            DatasetKind::SynapseRaw,
            root,
            Split::Test,
            0,
            files,
            "synapse-raw",
        ),
    ]);
    // training slices come from the volumes
    assert_eq!(
        DatasetKind::SynapseRaw
            .open_slices(root, Split::Train)
            .unwrap()
            .len(),
        2 * 4
    );
}

#[test]
fn acdc_raw_and_npz_layouts_round_trip() {
    let d = gen(DatasetKind::Acdc, 5);
    let root = d.path();
    let counts: Vec<usize> = Split::ALL
        .iter()
        .map(|&s| DatasetKind::Acdc.open_volumes(root, s).unwrap().len())
        .collect();
    assert_eq!(counts.iter().sum::<usize>(), 2 * 5, "ED + ES of 5 patients");
    let files = |n: &str| {
        let p = &n[..10];
        (
            root.join(format!("training/{p}/{n}.nii.gz")),
            root.join(format!("training/{p}/{n}_gt.nii.gz")),
        )
    };
    compare_with_reference(&[
        volume_item(DatasetKind::Acdc, root, Split::Train, 0, files, "acdc"),
        volume_item(DatasetKind::Acdc, root, Split::Test, 1, files, "acdc"),
    ]);

    let d = gen(DatasetKind::AcdcNpz, 5);
    let root = d.path();
    let train = DatasetKind::AcdcNpz
        .open_slices(root, Split::Train)
        .unwrap();
    assert_eq!(train.len() % 4, 0);
    let npz = |dir: &'static str| {
        move |n: &str| {
            (
                root.join(format!("{dir}/{n}.npz")),
                root.join(format!("{dir}/{n}.npz")),
            )
        }
    };
    compare_with_reference(&[
        slice_item(
            DatasetKind::AcdcNpz,
            root,
            Split::Train,
            2,
            npz("train"),
            "acdc-npz",
            0.0,
        ),
        volume_item(
            DatasetKind::AcdcNpz,
            root,
            Split::Test,
            0,
            npz("test"),
            "acdc-npz",
        ),
    ]);
}

#[test]
fn isic_layouts_round_trip_with_official_folders() {
    let d = gen(DatasetKind::Isic2017, 8);
    let root = d.path();
    let sizes: Vec<usize> = Split::ALL
        .iter()
        .map(|&s| DatasetKind::Isic2017.open_slices(root, s).unwrap().len())
        .collect();
    assert_eq!(sizes.iter().sum::<usize>(), 8);
    let files = |n: &str| {
        (
            root.join(format!("ISIC-2017_Validation_Data/{n}.jpg")),
            root.join(format!(
                "ISIC-2017_Validation_Part1_GroundTruth/{n}_segmentation.png"
            )),
        )
    };
    compare_with_reference(&[slice_item(
        DatasetKind::Isic2017,
        root,
        Split::Val,
        0,
        files,
        "isic",
        3.0 / 255.0,
    )]);

    let d = gen(DatasetKind::Isic2018, 20);
    let root = d.path();
    let sizes: Vec<usize> = Split::ALL
        .iter()
        .map(|&s| DatasetKind::Isic2018.open_slices(root, s).unwrap().len())
        .collect();
    assert_eq!(sizes, vec![14, 2, 4], "1815 / 259 / 520 scaled to 20");
    let files = |n: &str| {
        (
            root.join(format!("ISIC2018_Task1-2_Training_Input/{n}.jpg")),
            root.join(format!(
                "ISIC2018_Task1_Training_GroundTruth/{n}_segmentation.png"
            )),
        )
    };
    let item = slice_item(
        DatasetKind::Isic2018,
        root,
        Split::Test,
        1,
        files,
        "isic",
        3.0 / 255.0,
    );
    assert!(item.ours_label.iter().any(|&v| v == 1) && item.ours_label.iter().any(|&v| v == 0));
    compare_with_reference(&[item]);
}

#[test]
fn glas_round_trips_and_binarises_instances() {
    let d = gen(DatasetKind::Glas, 6);
    let root = d.path();
    let train = DatasetKind::Glas.open_slices(root, Split::Train).unwrap();
    let test = DatasetKind::Glas.open_slices(root, Split::Test).unwrap();
    assert_eq!(train.len() + test.len(), 6);
    assert!(root.join("Grade.csv").is_file());
    let files = |n: &str| {
        (
            root.join(format!("{n}.bmp")),
            root.join(format!("{n}_anno.bmp")),
        )
    };
    // instance maps hold several ids; the reader gives 0 / 1
    let anno = image::open(root.join("train_1_anno.bmp"))
        .unwrap()
        .to_luma8();
    assert!(anno.pixels().map(|p| p.0[0]).max().unwrap() > 1);
    compare_with_reference(&[
        slice_item(DatasetKind::Glas, root, Split::Train, 0, files, "glas", 0.0),
        slice_item(DatasetKind::Glas, root, Split::Test, 0, files, "glas", 0.0),
    ]);
}
