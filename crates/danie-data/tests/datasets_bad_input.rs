//! Bad input: each case must give an error naming the file and the problem, never a panic.
use std::path::Path;

use danie_data::datasets::{DatasetKind, Split};
use danie_data::nifti::{self, NiftiHeader};
use danie_data::synthetic::{generate, SyntheticConfig};
use ndarray::{Array2, Array3, Array4};
use ndarray_npy::NpzWriter;

fn synapse(dir: &Path) {
    let cfg = SyntheticConfig {
        cases: Some(3),
        size: 24,
        slices: Some(2),
        ..Default::default()
    };
    generate(DatasetKind::Synapse, dir, &cfg).unwrap();
}

fn write_npz(path: &Path, image: Array2<f32>, label: Array2<f32>) {
    let mut npz = NpzWriter::new(std::fs::File::create(path).unwrap());
    npz.add_array("image", &image).unwrap();
    npz.add_array("label", &label).unwrap();
    npz.finish().unwrap();
}

/// Reads train sample 0 of a Synapse folder whose first slice file was replaced.
fn first_sample_error(root: &Path) -> (String, String) {
    let ds = DatasetKind::Synapse
        .open_slices(root, Split::Train)
        .unwrap();
    let path = root.join(format!("train_npz/{}.npz", ds.name(0)));
    (
        ds.sample(0).unwrap_err().to_string(),
        path.display().to_string(),
    )
}

fn assert_names(msg: &str, file: &str, what: &str) {
    assert!(msg.contains(file), "error does not name {file}: {msg}");
    assert!(msg.contains(what), "error does not say `{what}`: {msg}");
}

#[test]
fn label_ids_out_of_range() {
    let d = tempfile::tempdir().unwrap();
    synapse(d.path());
    let path = d.path().join("train_npz/case0005_slice000.npz");
    let mut lab = Array2::<f32>::zeros((24, 24));
    lab[[3, 4]] = 12.0;
    write_npz(&path, Array2::zeros((24, 24)), lab);
    let (msg, file) = first_sample_error(d.path());
    assert_names(&msg, &file, "label ids [12] out of range");
}

#[test]
fn non_integer_labels() {
    let d = tempfile::tempdir().unwrap();
    synapse(d.path());
    let mut lab = Array2::<f32>::zeros((24, 24));
    lab[[0, 0]] = 2.5;
    write_npz(
        &d.path().join("train_npz/case0005_slice000.npz"),
        Array2::zeros((24, 24)),
        lab,
    );
    let (msg, file) = first_sample_error(d.path());
    assert_names(&msg, &file, "holds the value 2.5");
}

#[test]
fn image_and_label_shapes_disagree() {
    let d = tempfile::tempdir().unwrap();
    synapse(d.path());
    write_npz(
        &d.path().join("train_npz/case0005_slice000.npz"),
        Array2::zeros((24, 24)),
        Array2::zeros((24, 20)),
    );
    let (msg, file) = first_sample_error(d.path());
    assert_names(
        &msg,
        &file,
        "image shape [24, 24] and label shape [24, 20] disagree",
    );
}

#[test]
fn nan_voxels() {
    let d = tempfile::tempdir().unwrap();
    synapse(d.path());
    let mut img = Array2::<f32>::zeros((24, 24));
    img[[5, 5]] = f32::NAN;
    write_npz(
        &d.path().join("train_npz/case0005_slice000.npz"),
        img,
        Array2::zeros((24, 24)),
    );
    let (msg, file) = first_sample_error(d.path());
    assert_names(&msg, &file, "NaN");
}

#[test]
fn truncated_and_missing_key_npz() {
    let d = tempfile::tempdir().unwrap();
    synapse(d.path());
    let path = d.path().join("train_npz/case0005_slice000.npz");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let (msg, file) = first_sample_error(d.path());
    assert_names(&msg, &file, "npz");

    let mut npz = NpzWriter::new(std::fs::File::create(&path).unwrap());
    npz.add_array("img", &Array2::<f32>::zeros((4, 4))).unwrap();
    npz.finish().unwrap();
    let (msg, file) = first_sample_error(d.path());
    assert_names(&msg, &file, "has no array `image`");
}

#[test]
fn missing_partner_files() {
    // a slice listed in train.txt without its file
    let d = tempfile::tempdir().unwrap();
    synapse(d.path());
    std::fs::remove_file(d.path().join("train_npz/case0006_slice001.npz")).unwrap();
    let msg = DatasetKind::Synapse
        .open_slices(d.path(), Split::Train)
        .err()
        .unwrap()
        .to_string();
    assert_names(&msg, "lists_Synapse/train.txt", "case0006_slice001.npz");

    // an ISIC image without its mask
    let d = tempfile::tempdir().unwrap();
    generate(
        DatasetKind::Isic2018,
        d.path(),
        &SyntheticConfig {
            cases: Some(6),
            size: 24,
            ..Default::default()
        },
    )
    .unwrap();
    let gt = d.path().join("ISIC2018_Task1_Training_GroundTruth");
    let first = std::fs::read_dir(&gt)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_file(&first).unwrap();
    let errs: Vec<String> = Split::ALL
        .iter()
        .filter_map(|&s| DatasetKind::Isic2018.open_slices(d.path(), s).err())
        .map(|e| e.to_string())
        .collect();
    assert_eq!(errs.len(), 1);
    assert_names(&errs[0], &first.display().to_string(), "missing partner");

    // a BTCV image without its label
    let d = tempfile::tempdir().unwrap();
    generate(
        DatasetKind::SynapseRaw,
        d.path(),
        &SyntheticConfig {
            cases: Some(2),
            size: 24,
            slices: Some(2),
            ..Default::default()
        },
    )
    .unwrap();
    std::fs::remove_file(d.path().join("label/label0005.nii.gz")).unwrap();
    let msg = DatasetKind::SynapseRaw
        .open_volumes(d.path(), Split::Train)
        .err()
        .unwrap()
        .to_string();
    assert_names(&msg, "label0005.nii.gz", "missing");
}

#[test]
fn empty_split_list() {
    let d = tempfile::tempdir().unwrap();
    synapse(d.path());
    let list = d.path().join("lists_Synapse/train.txt");
    std::fs::write(&list, "\n# nothing here\n").unwrap();
    let msg = DatasetKind::Synapse
        .open_slices(d.path(), Split::Train)
        .err()
        .unwrap()
        .to_string();
    assert_names(&msg, &list.display().to_string(), "empty split list");
}

#[test]
fn four_d_where_three_d_is_expected() {
    let d = tempfile::tempdir().unwrap();
    generate(
        DatasetKind::SynapseRaw,
        d.path(),
        &SyntheticConfig {
            cases: Some(2),
            size: 24,
            slices: Some(2),
            ..Default::default()
        },
    )
    .unwrap();
    let img = d.path().join("img/img0005.nii.gz");
    let four = Array4::<i16>::zeros((24, 24, 2, 3));
    nifti::write_array(&img, &NiftiHeader::default(), four.into_dyn().view()).unwrap();
    let ds = DatasetKind::SynapseRaw
        .open_volumes(d.path(), Split::Train)
        .unwrap();
    let msg = ds.volume(0).unwrap_err().to_string();
    assert_names(
        &msg,
        &img.display().to_string(),
        "expected 3-D data but it is 4-D",
    );

    // a TransUNet test volume that is 4D
    let d = tempfile::tempdir().unwrap();
    synapse(d.path());
    let h5 = d.path().join("test_vol_h5/case0001.npy.h5");
    let f = hdf5::File::create(&h5).unwrap();
    for key in ["image", "label"] {
        f.new_dataset::<f32>()
            .shape([2, 2, 3, 4])
            .create(key)
            .unwrap()
            .write_raw(&[0f32; 48])
            .unwrap();
    }
    drop(f);
    let ds = DatasetKind::Synapse
        .open_volumes(d.path(), Split::Test)
        .unwrap();
    let msg = ds.volume(0).unwrap_err().to_string();
    assert_names(
        &msg,
        &h5.display().to_string(),
        "expected 3-D data but it is 4-D",
    );
}

#[test]
fn volume_fitting_neither_axis_order() {
    let d = tempfile::tempdir().unwrap();
    synapse(d.path());
    let h5 = d.path().join("test_vol_h5/case0001.npy.h5");
    let f = hdf5::File::create(&h5).unwrap();
    for key in ["image", "label"] {
        f.new_dataset::<f32>()
            .shape([24, 2, 24])
            .create(key)
            .unwrap()
            .write_raw(&vec![0f32; 24 * 2 * 24])
            .unwrap();
    }
    drop(f);
    let ds = DatasetKind::Synapse
        .open_volumes(d.path(), Split::Test)
        .unwrap();
    let msg = ds.volume(0).unwrap_err().to_string();
    assert_names(&msg, &h5.display().to_string(), "fit neither");
}

#[test]
fn raw_label_shape_and_id_problems() {
    let d = tempfile::tempdir().unwrap();
    generate(
        DatasetKind::SynapseRaw,
        d.path(),
        &SyntheticConfig {
            cases: Some(2),
            size: 24,
            slices: Some(2),
            ..Default::default()
        },
    )
    .unwrap();
    let lab = d.path().join("label/label0005.nii.gz");
    let mut bad = Array3::<u8>::zeros((24, 24, 2));
    bad[[1, 1, 1]] = 14;
    nifti::write_array(&lab, &NiftiHeader::default(), bad.into_dyn().view()).unwrap();
    let ds = DatasetKind::SynapseRaw
        .open_volumes(d.path(), Split::Train)
        .unwrap();
    assert_names(
        &ds.volume(0).unwrap_err().to_string(),
        &lab.display().to_string(),
        "label ids [14] out of range",
    );
    nifti::write_array(
        &lab,
        &NiftiHeader::default(),
        Array3::<u8>::zeros((24, 20, 2)).into_dyn().view(),
    )
    .unwrap();
    assert_names(
        &ds.volume(0).unwrap_err().to_string(),
        &lab.display().to_string(),
        "disagrees with image shape",
    );
}

#[test]
fn acdc_info_cfg_without_es() {
    let d = tempfile::tempdir().unwrap();
    generate(
        DatasetKind::Acdc,
        d.path(),
        &SyntheticConfig {
            cases: Some(3),
            size: 24,
            slices: Some(2),
            ..Default::default()
        },
    )
    .unwrap();
    let cfg = d.path().join("training/patient001/Info.cfg");
    std::fs::write(&cfg, "ED: 1\nGroup: NOR\n").unwrap();
    let msg = DatasetKind::Acdc
        .open_volumes(d.path(), Split::Train)
        .err()
        .unwrap()
        .to_string();
    assert_names(&msg, &cfg.display().to_string(), "no integer `ES:` line");
}

#[test]
fn isic_mask_with_unexpected_values_and_wrong_size() {
    let d = tempfile::tempdir().unwrap();
    generate(
        DatasetKind::Isic2017,
        d.path(),
        &SyntheticConfig {
            cases: Some(4),
            size: 24,
            ..Default::default()
        },
    )
    .unwrap();
    let ds = DatasetKind::Isic2017
        .open_slices(d.path(), Split::Train)
        .unwrap();
    let mask = d.path().join(format!(
        "ISIC-2017_Training_Part1_GroundTruth/{}_segmentation.png",
        ds.name(0)
    ));
    image::GrayImage::from_pixel(10, 10, image::Luma([0]))
        .save(&mask)
        .unwrap();
    assert_names(
        &ds.sample(0).unwrap_err().to_string(),
        &mask.display().to_string(),
        "but its image is",
    );
    let img = image::open(
        d.path()
            .join(format!("ISIC-2017_Training_Data/{}.jpg", ds.name(0))),
    )
    .unwrap();
    image::GrayImage::from_pixel(img.width(), img.height(), image::Luma([7]))
        .save(&mask)
        .unwrap();
    assert_names(
        &ds.sample(0).unwrap_err().to_string(),
        &mask.display().to_string(),
        "mask holds 7",
    );
}

#[test]
fn missing_dataset_folder_and_unknown_split() {
    let msg = DatasetKind::Glas
        .open_slices(Path::new("/nonexistent/glas"), Split::Train)
        .err()
        .unwrap()
        .to_string();
    assert_names(&msg, "/nonexistent/glas", "does not exist");
    let d = tempfile::tempdir().unwrap();
    let msg = DatasetKind::Glas
        .open_slices(d.path(), Split::Val)
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("no val split"), "{msg}");
}

/// Replaces `root/folder/<name of sample 0>.npz` with `img` and `label` arrays of `shape`.
fn replace_acdc_npz(root: &Path, folder: &str, name: &str, shape: &[usize]) -> std::path::PathBuf {
    let path = root.join(folder).join(format!("{name}.npz"));
    let mut npz = NpzWriter::new(std::fs::File::create(&path).unwrap());
    let a = ndarray::ArrayD::<f32>::zeros(shape);
    npz.add_array("img", &a).unwrap();
    npz.add_array("label", &a).unwrap();
    npz.finish().unwrap();
    path
}

#[test]
fn acdc_npz_trailing_singletons_empty_and_wrong_shapes() {
    let d = tempfile::tempdir().unwrap();
    let cfg = SyntheticConfig {
        cases: Some(3),
        size: 24,
        slices: Some(2),
        ..Default::default()
    };
    generate(DatasetKind::AcdcNpz, d.path(), &cfg).unwrap();
    let ds = DatasetKind::AcdcNpz
        .open_slices(d.path(), Split::Train)
        .unwrap();
    let name = ds.name(0);
    // (H, W, 1) is a 2D slice with a trailing axis of size 1: read as (H, W)
    replace_acdc_npz(d.path(), "train", &name, &[24, 20, 1]);
    let s = ds.sample(0).unwrap();
    assert_eq!((s.image.dim(), s.label.dim()), ((1, 24, 20), (24, 20)));
    for (shape, what) in [
        (vec![0, 0], "empty axis"),
        (vec![24, 0, 1], "empty axis"),
        (vec![24, 20, 2], "expected 2-D data but it is 3-D"),
        (vec![24], "expected 2-D data but it is 1-D"),
    ] {
        let path = replace_acdc_npz(d.path(), "train", &name, &shape);
        let msg = ds.sample(0).unwrap_err().to_string();
        assert_names(&msg, &path.display().to_string(), what);
    }
    // the 3D test volumes: (D, H, W, 1) reads, an empty axis does not
    let vols = DatasetKind::AcdcNpz
        .open_volumes(d.path(), Split::Test)
        .unwrap();
    let name = vols.name(0);
    replace_acdc_npz(d.path(), "test", &name, &[2, 24, 20, 1]);
    assert_eq!(vols.volume(0).unwrap().image.dim(), (2, 24, 20));
    let path = replace_acdc_npz(d.path(), "test", &name, &[0, 24, 20]);
    let msg = vols.volume(0).unwrap_err().to_string();
    assert_names(&msg, &path.display().to_string(), "empty axis");
    let path = replace_acdc_npz(d.path(), "test", &name, &[24, 20]);
    let msg = vols.volume(0).unwrap_err().to_string();
    assert_names(
        &msg,
        &path.display().to_string(),
        "expected 3-D data but it is 2-D",
    );
}

#[test]
fn synapse_slices_with_trailing_singletons_read_as_two_d() {
    let d = tempfile::tempdir().unwrap();
    synapse(d.path());
    let ds = DatasetKind::Synapse
        .open_slices(d.path(), Split::Train)
        .unwrap();
    let path = d.path().join(format!("train_npz/{}.npz", ds.name(0)));
    let mut npz = NpzWriter::new(std::fs::File::create(&path).unwrap());
    let a = ndarray::ArrayD::<f32>::zeros(&[24, 20, 1][..]);
    npz.add_array("image", &a).unwrap();
    npz.add_array("label", &a).unwrap();
    npz.finish().unwrap();
    let s = ds.sample(0).unwrap();
    assert_eq!((s.image.dim(), s.label.dim()), ((1, 24, 20), (24, 20)));
}
