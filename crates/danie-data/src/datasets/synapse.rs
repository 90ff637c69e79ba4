//! Synapse multi-organ CT: TransUNet's preprocessed layout and the raw BTCV download.
//!
//! TransUNet layout (`synapse`):
//! - `train_npz/caseXXXX_sliceYYY.npz`, keys `image` (H, W) in `[0, 1]` and `label` (H, W).
//! - `test_vol_h5/caseXXXX.npy.h5`, keys `image` and `label`, 3D.
//! - `lists_Synapse/train.txt` (slice names) and `test_vol.txt` (case names), also looked up
//!   as `lists/lists_Synapse/`; without them, every file of TransUNet's 18 training / 12 test
//!   cases (shipped in `configs/splits/synapse/`) is used.
//!
//! Volume axis rule: `image` and `label` must be 3D with equal shapes. Axis 0 is the slice
//! axis when it is the smallest (TransUNet's `(D, H, W)`); otherwise, when the last axis is
//! the strictly smallest, the volume is `(H, W, Z)` and is transposed to `(Z, H, W)` (logged on
//! stderr); any other shape is an error naming the file and both shapes.
//!
//! Raw BTCV layout (`synapse-raw`): `img/imgXXXX.nii.gz`, `label/labelXXXX.nii.gz` (13 organs);
//! labels remapped to the 8 organs ([`SYNAPSE_BTCV_TO_8`]), HU clipped to `[-125, 275]` and
//! scaled to `[0, 1]`, axial slices (NIfTI axis 2) on axis 0. Case lists: `lists/train.txt`
//! and `lists/test.txt` in the dataset folder if present, else the shipped TransUNet cases.
use std::path::{Path, PathBuf};

use ndarray::{Array3, Ix2, Ix3};

use super::names::NamedFiles;
use super::read::{
    check_label_range, check_same_shape, not_nd, read_pair, require_files, PairFile,
};
use super::split_list::{first_list, own_lists, parse_list, shipped};
use super::{Sample2d, SliceDataset, Split, Volume, VolumeDataset};
use crate::error::require_no_nan;
use crate::preprocess::{ct_window, SYNAPSE_HU_WINDOW};
use crate::{nifti, DataError, Result};

/// Number of Synapse classes (background + 8 organs).
const NUM_CLASSES: usize = 9;

/// BTCV id -> Synapse id: 8 aorta -> 1, 4 gallbladder -> 2, 3 left kidney -> 3,
/// 2 right kidney -> 4, 6 liver -> 5, 11 pancreas -> 6, 1 spleen -> 7, 7 stomach -> 8; the other
/// BTCV organs (5 esophagus, 9 IVC, 10 portal/splenic vein, 12 right and 13 left adrenal) -> 0.
pub const SYNAPSE_BTCV_TO_8: [u8; 14] = [0, 7, 4, 3, 2, 0, 5, 8, 1, 0, 0, 6, 0, 0];

/// TransUNet's 18 training case numbers.
pub fn synapse_train_cases() -> Vec<String> {
    parse_list(shipped::SYNAPSE_TRAIN)
}

/// TransUNet's 12 test case numbers.
pub fn synapse_test_cases() -> Vec<String> {
    parse_list(shipped::SYNAPSE_TEST)
}

/// TransUNet's 18 training cases (`configs/splits/synapse/train_cases.txt`).
pub const SYNAPSE_TRAIN_CASES: [&str; 18] = [
    "0005", "0006", "0007", "0009", "0010", "0021", "0023", "0024", "0026", "0027", "0028", "0030",
    "0031", "0033", "0034", "0037", "0039", "0040",
];
/// TransUNet's 12 test cases (`configs/splits/synapse/test_cases.txt`).
pub const SYNAPSE_TEST_CASES: [&str; 12] = [
    "0001", "0002", "0003", "0004", "0008", "0022", "0025", "0029", "0032", "0035", "0036", "0038",
];

/// The 4-digit case number in a name like `0005`, `case0005`, `img0005`, `case0005_slice012`.
fn case_number(name: &str) -> Option<String> {
    let digits: String = name
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    let n: u32 = digits.parse().ok()?;
    Some(format!("{n:04}"))
}

/// Sorted `.npz` file stems in `dir` whose case number is in `cases`.
fn scan_cases(dir: &Path, suffix: &str, cases: &[String]) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .filter_map(|f| f.strip_suffix(suffix).map(String::from))
        .filter(|n| case_number(n).is_some_and(|c| cases.contains(&c)))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(DataError::invalid(
            dir,
            format!(
                "no `*{suffix}` files of cases {} (empty split)",
                cases.join(" ")
            ),
        ));
    }
    Ok(names)
}

/// The files of the first of `lists` that exists (each checked to exist), else the files in
/// `dir` of the shipped `cases`.
fn listed_or_scanned(
    dir: PathBuf,
    lists: &[PathBuf],
    ext: &'static str,
    cases: &[String],
) -> Result<NamedFiles> {
    Ok(match first_list(lists)? {
        Some((list, names)) => {
            let files = NamedFiles::new(dir, names, ext);
            require_files(&list, &files.paths())?;
            files
        }
        None => {
            let names = scan_cases(&dir, ext, cases)?;
            NamedFiles::new(dir, names, ext)
        }
    })
}

/// TransUNet's training slices: `train_npz/<name>.npz` for each name of `lists_Synapse/train.txt`.
pub struct SynapseNpzSlices {
    files: NamedFiles,
}

impl SynapseNpzSlices {
    /// Opens the training slices under `root`, checking that every listed file exists.
    pub fn open(root: &Path) -> Result<Self> {
        let dir = root.join("train_npz");
        let lists = [
            root.join("lists_Synapse/train.txt"),
            root.join("lists/lists_Synapse/train.txt"),
        ];
        Ok(Self {
            files: listed_or_scanned(dir, &lists, ".npz", &synapse_train_cases())?,
        })
    }
}

impl SliceDataset for SynapseNpzSlices {
    fn len(&self) -> usize {
        self.files.len()
    }
    fn name(&self, index: usize) -> String {
        self.files.name(index)
    }
    fn sample(&self, index: usize) -> Result<Sample2d> {
        let path = self.files.path(index);
        let (image, label) = read_pair(&path, PairFile::Npz("image", "label"), 2, NUM_CLASSES)?;
        let image = image.into_shape_with_order((1, label.shape()[0], label.shape()[1]));
        Ok(Sample2d {
            // (H, W) -> (1, H, W)
            image: image.map_err(|e| DataError::invalid(&path, e.to_string()))?,
            label: label
                .into_dimensionality::<Ix2>()
                .map_err(|e| DataError::invalid(&path, e.to_string()))?,
            name: self.files.name(index),
        })
    }
}

/// TransUNet's test volumes: `test_vol_h5/<case>.npy.h5` for each case of `test_vol.txt`.
pub struct SynapseH5Volumes {
    files: NamedFiles,
}

impl SynapseH5Volumes {
    /// Opens the test volumes under `root`, checking that every listed file exists.
    pub fn open(root: &Path) -> Result<Self> {
        let dir = root.join("test_vol_h5");
        let lists = [
            root.join("lists_Synapse/test_vol.txt"),
            root.join("lists/lists_Synapse/test_vol.txt"),
        ];
        Ok(Self {
            files: listed_or_scanned(dir, &lists, ".npy.h5", &synapse_test_cases())?,
        })
    }
}

/// Applies the Synapse volume axis rule (see the module docs) to an image/label pair.
///
/// # Shapes
/// `(D, H, W)` or `(H, W, Z)` -> `(D, H, W)`
pub fn synapse_volume_axes(
    path: &Path,
    image: ndarray::ArrayD<f32>,
    label: ndarray::ArrayD<u8>,
) -> Result<(Array3<f32>, Array3<u8>)> {
    check_same_shape(path, image.shape(), label.shape())?;
    if image.ndim() != 3 {
        return Err(DataError::invalid(
            path,
            format!(
                "image {:?} and label {:?} are not 3D volumes: expected (D, H, W) with D the \
                 smallest axis, or (H, W, Z) with Z the smallest",
                image.shape(),
                label.shape()
            ),
        ));
    }
    let sh = image.shape().to_vec();
    let image = image
        .into_dimensionality::<Ix3>()
        .map_err(not_nd(path, 3))?;
    let label = label
        .into_dimensionality::<Ix3>()
        .map_err(not_nd(path, 3))?;
    if sh[0] <= sh[1] && sh[0] <= sh[2] {
        Ok((image, label))
    } else if sh[2] < sh[0] && sh[2] < sh[1] {
        eprintln!(
            "note: {}: shape {sh:?} read as (H, W, Z) and transposed to (Z, H, W)",
            path.display()
        );
        // (H, W, Z) -> (Z, H, W)
        let img = image
            .permuted_axes([2, 0, 1])
            .as_standard_layout()
            .to_owned();
        let lab = label
            .permuted_axes([2, 0, 1])
            .as_standard_layout()
            .to_owned();
        Ok((img, lab))
    } else {
        Err(DataError::invalid(
            path,
            format!(
                "image {sh:?} and label {sh:?} fit neither (D, H, W) with D the smallest axis \
                 nor (H, W, Z) with Z the smallest"
            ),
        ))
    }
}

impl VolumeDataset for SynapseH5Volumes {
    fn len(&self) -> usize {
        self.files.len()
    }
    fn name(&self, index: usize) -> String {
        self.files.name(index)
    }
    fn volume(&self, index: usize) -> Result<Volume> {
        let path = self.files.path(index);
        let (image, label) = read_pair(&path, PairFile::H5("image", "label"), 3, NUM_CLASSES)?;
        let (image, label) = synapse_volume_axes(&path, image, label)?;
        Ok(Volume {
            name: self.files.name(index),
            image,
            label,
            spacing: [1.0; 3],
            source: None,
        })
    }
}

/// Raw BTCV volumes (`img/imgXXXX.nii.gz`, `label/labelXXXX.nii.gz`), preprocessed as TransUNet.
pub struct SynapseRawVolumes {
    root: PathBuf,
    cases: Vec<String>,
}

impl SynapseRawVolumes {
    /// Opens the `split` cases under `root`, checking that every image and label exists.
    pub fn open(root: &Path, split: Split) -> Result<Self> {
        let (file, fallback) = match split {
            Split::Test => ("test.txt", synapse_test_cases()),
            _ => ("train.txt", synapse_train_cases()),
        };
        // `0005`, `case0005` and `img0005` name one case: compared by number across the lists.
        let number = |n: &str| case_number(n).unwrap_or_else(|| n.to_string());
        let lists = own_lists(root, &["train.txt", "test.txt"], file, None, number)?;
        let (source, names) = match lists {
            Some(names) => (root.join("lists").join(file), names),
            None => (root.to_path_buf(), fallback),
        };
        let cases = names
            .iter()
            .map(|n| {
                case_number(n)
                    .ok_or_else(|| DataError::invalid(&source, format!("`{n}` is not a case id")))
            })
            .collect::<Result<Vec<_>>>()?;
        let this = Self {
            root: root.to_path_buf(),
            cases,
        };
        let files: Vec<_> = (0..this.cases.len())
            .flat_map(|i| {
                let (a, b) = this.paths(i);
                [a, b]
            })
            .collect();
        require_files(&source, &files)?;
        Ok(this)
    }

    /// Image and label paths of case `index`.
    pub fn paths(&self, index: usize) -> (PathBuf, PathBuf) {
        let c = &self.cases[index];
        (
            self.root.join(format!("img/img{c}.nii.gz")),
            self.root.join(format!("label/label{c}.nii.gz")),
        )
    }
}

impl VolumeDataset for SynapseRawVolumes {
    fn len(&self) -> usize {
        self.cases.len()
    }
    fn name(&self, index: usize) -> String {
        format!("case{}", self.cases[index])
    }
    fn volume(&self, index: usize) -> Result<Volume> {
        let (img_path, lab_path) = self.paths(index);
        let mut img = nifti::read(&img_path)?;
        img.require_ndim(3)?;
        let mut lab = nifti::read(&lab_path)?;
        lab.require_ndim(3)?;
        if img.shape() != lab.shape() {
            return Err(DataError::invalid(
                &lab_path,
                format!(
                    "label shape {:?} disagrees with image shape {:?} of {}",
                    lab.shape(),
                    img.shape(),
                    img_path.display()
                ),
            ));
        }
        let hu = img.fdata_f32();
        require_no_nan(&img_path, hu.view())?;
        let ids = check_label_range(&lab_path, lab.labels()?, SYNAPSE_BTCV_TO_8.len())?;
        // (x, y, z) -> (z, y, x): axial slices on axis 0
        let image = hu
            .reversed_axes()
            .mapv(|v| ct_window(v, SYNAPSE_HU_WINDOW.0, SYNAPSE_HU_WINDOW.1))
            .into_dimensionality::<Ix3>()
            .map_err(not_nd(&img_path, 3))?;
        // check_label_range kept every id below the table's length
        let label = ids
            .reversed_axes()
            .mapv(|v| SYNAPSE_BTCV_TO_8.get(v as usize).copied().unwrap_or(0))
            .into_dimensionality::<Ix3>()
            .map_err(not_nd(&lab_path, 3))?;
        let sp = img.spacing();
        Ok(Volume {
            name: self.name(index),
            image: image.as_standard_layout().to_owned(),
            label: label.as_standard_layout().to_owned(),
            spacing: [sp[2], sp[1], sp[0]],
            source: Some(img_path),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remap_follows_transunet_order() {
        // BTCV 8 aorta, 4 gallbladder, 3 L kidney, 2 R kidney, 6 liver, 11 pancreas, 1 spleen,
        // 7 stomach -> 1..=8
        for (synapse, btcv) in [8, 4, 3, 2, 6, 11, 1, 7].into_iter().enumerate() {
            assert_eq!(SYNAPSE_BTCV_TO_8[btcv] as usize, synapse + 1);
        }
        for dropped in [0, 5, 9, 10, 12, 13] {
            assert_eq!(SYNAPSE_BTCV_TO_8[dropped], 0);
        }
        assert_eq!(case_number("case0005_slice012").as_deref(), Some("0005"));
        assert_eq!(case_number("img0040").as_deref(), Some("0040"));
    }

    #[test]
    fn constants_match_shipped_lists() {
        assert_eq!(synapse_train_cases(), SYNAPSE_TRAIN_CASES);
        assert_eq!(synapse_test_cases(), SYNAPSE_TEST_CASES);
    }

    #[test]
    fn axis_rule() {
        let p = Path::new("v.h5");
        let z = |s: &[usize]| ndarray::ArrayD::<f32>::zeros(s);
        let zu = |s: &[usize]| ndarray::ArrayD::<u8>::zeros(s);
        let (a, _) = synapse_volume_axes(p, z(&[4, 16, 16]), zu(&[4, 16, 16])).unwrap();
        assert_eq!(a.shape(), &[4, 16, 16]);
        let (a, _) = synapse_volume_axes(p, z(&[16, 16, 4]), zu(&[16, 16, 4])).unwrap();
        assert_eq!(a.shape(), &[4, 16, 16]);
        let e = synapse_volume_axes(p, z(&[16, 4, 16]), zu(&[16, 4, 16])).unwrap_err();
        assert!(e.to_string().contains("fit neither"), "{e}");
        let e = synapse_volume_axes(p, z(&[4, 16, 16]), zu(&[4, 16, 8])).unwrap_err();
        assert!(e.to_string().contains("disagree"), "{e}");
    }
}
