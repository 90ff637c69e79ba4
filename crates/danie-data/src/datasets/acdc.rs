//! ACDC cardiac MRI: the raw release and MT-UNet's npz slices.
//!
//! Raw (`acdc`): `patientXXX/patientXXX_frameYY.nii.gz` with `patientXXX_frameYY_gt.nii.gz` and
//! `Info.cfg` (`ED: n`, `ES: n`), patient folders directly under the dataset folder or under
//! `training/` / `testing/`. Each patient gives two volumes, its ED and ES frames; labels 0
//! background, 1 RV, 2 Myo, 3 LV; intensities min-max normalised per volume (SSL4MIS). Split:
//! `lists/{train,val,test}.txt` (patient names) in the dataset folder if present, else the
//! shipped 70 / 10 / 20 patients (`configs/splits/acdc/`; test = SSL4MIS's 20).
//!
//! MT-UNet npz (`acdc-npz`): `train/*.npz` and `valid/*.npz` 2D slices and `test/*.npz` 3D
//! volumes `(D, H, W)`, keys `img` and `label`; lists `lists_ACDC/{train,valid,test}.txt`
//! (file names, `.npz` optional) if present, else every `.npz` of the folder, sorted.
use std::path::{Path, PathBuf};

use ndarray::{Ix2, Ix3};

use super::names::NamedFiles;
use super::read::{
    check_label_range, not_nd, read_pair, require_files, require_not_empty, PairFile,
};
use super::split_list::{first_list, own_lists, parse_list, shipped, SPLIT_FILES};
use super::{Sample2d, SliceDataset, Split, Volume, VolumeDataset};
use crate::error::require_no_nan;
use crate::preprocess::minmax_normalise;
use crate::{nifti, DataError, Result};

const NUM_CLASSES: usize = 4;

/// The ED and ES frame numbers of an `Info.cfg`.
pub fn read_info_cfg(path: &Path) -> Result<(u32, u32)> {
    // A few lines; 64 KiB bounds what a wrong file can take.
    let text = danie_fs::read_text(path, 64 << 10).map_err(|e| DataError::io(path, e))?;
    let field = |key: &str| -> Result<u32> {
        text.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim() == key)
            .and_then(|(_, v)| v.trim().parse().ok())
            .ok_or_else(|| DataError::invalid(path, format!("no integer `{key}:` line")))
    };
    let (ed, es) = (field("ED")?, field("ES")?);
    if ed == es {
        // The one volume would be read, trained on and scored twice.
        return Err(DataError::invalid(
            path,
            format!("ED and ES name the same frame ({ed}); they are two phases of the cycle"),
        ));
    }
    Ok((ed, es))
}

/// One volume of the raw release: a patient's ED or ES frame.
#[derive(Clone, Debug)]
struct Frame {
    name: String,
    image: PathBuf,
    label: PathBuf,
}

/// Raw ACDC volumes (ED and ES frame of each patient of the split).
pub struct AcdcVolumes {
    frames: Vec<Frame>,
}

impl AcdcVolumes {
    /// Opens `split`, reading each patient's `Info.cfg` and checking every frame and `_gt`.
    pub fn open(root: &Path, split: Split) -> Result<Self> {
        let wanted = format!("{split}.txt");
        let patients = match own_lists(root, &SPLIT_FILES, &wanted, None, str::to_string)? {
            Some(names) => names,
            None => parse_list(match split {
                Split::Train => shipped::ACDC_TRAIN,
                Split::Val => shipped::ACDC_VAL,
                Split::Test => shipped::ACDC_TEST,
            }),
        };
        let mut frames = Vec::new();
        let mut missing = Vec::new();
        let mut missing_dirs = 0;
        for p in &patients {
            let dir = ["", "training", "testing"]
                .iter()
                .map(|sub| root.join(sub).join(p))
                .find(|d| d.is_dir());
            let Some(dir) = dir else {
                missing_dirs += 1;
                missing.push(root.join(p).display().to_string());
                continue;
            };
            let (ed, es) = read_info_cfg(&dir.join("Info.cfg"))?;
            for f in [ed, es] {
                let stem = format!("{p}_frame{f:02}");
                let frame = Frame {
                    image: dir.join(format!("{stem}.nii.gz")),
                    label: dir.join(format!("{stem}_gt.nii.gz")),
                    name: stem,
                };
                for path in [&frame.image, &frame.label] {
                    if !path.is_file() {
                        missing.push(path.display().to_string());
                    }
                }
                frames.push(frame);
            }
        }
        // `danie data check` keeps frames with missing files (their reads name them); a missing
        // patient folder leaves no frame to keep.
        if !missing.is_empty() && (missing_dirs > 0 || !super::read::keep_missing()) {
            return Err(DataError::invalid(
                root,
                format!(
                    "{split} split: {} missing file(s) or patient folder(s): {}",
                    missing.len(),
                    missing[..missing.len().min(5)].join(", ")
                ),
            ));
        }
        Ok(Self { frames })
    }
}

impl VolumeDataset for AcdcVolumes {
    fn len(&self) -> usize {
        self.frames.len()
    }
    fn name(&self, index: usize) -> String {
        self.frames[index].name.clone()
    }
    fn volume(&self, index: usize) -> Result<Volume> {
        let f = &self.frames[index];
        let mut img = nifti::read(&f.image)?;
        img.require_ndim(3)?;
        let mut lab = nifti::read(&f.label)?;
        lab.require_ndim(3)?;
        if img.shape() != lab.shape() {
            return Err(DataError::invalid(
                &f.label,
                format!(
                    "label shape {:?} disagrees with image shape {:?} of {}",
                    lab.shape(),
                    img.shape(),
                    f.image.display()
                ),
            ));
        }
        let data = img.fdata_f32();
        require_no_nan(&f.image, data.view())?;
        let ids = check_label_range(&f.label, lab.labels()?, NUM_CLASSES)?;
        require_not_empty(&f.image, img.shape())?;
        // (x, y, z) -> (z, y, x)
        let mut image = data
            .reversed_axes()
            .as_standard_layout()
            .to_owned()
            .into_dimensionality::<Ix3>()
            .map_err(not_nd(&f.image, 3))?;
        minmax_normalise(&mut image);
        let label = ids
            .reversed_axes()
            .as_standard_layout()
            .to_owned()
            .into_dimensionality::<Ix3>()
            .map_err(not_nd(&f.label, 3))?;
        let sp = img.spacing();
        Ok(Volume {
            name: f.name.clone(),
            image,
            label,
            spacing: [sp[2], sp[1], sp[0]],
            source: Some(f.image.clone()),
        })
    }
}

/// The npz files of an MT-UNet split folder (`train`, `valid`, `test`).
fn npz_split(root: &Path, folder: &str) -> Result<NamedFiles> {
    let dir = root.join(folder);
    let list = root.join("lists_ACDC").join(format!("{folder}.txt"));
    let names = match first_list(std::slice::from_ref(&list))? {
        Some((_, names)) => names
            .into_iter()
            .map(|n| n.trim_end_matches(".npz").to_string())
            .collect(),
        None => {
            let entries = std::fs::read_dir(&dir).map_err(|e| DataError::io(&dir, e))?;
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().map(String::from))
                .filter_map(|f| f.strip_suffix(".npz").map(String::from))
                .collect();
            names.sort();
            names
        }
    };
    if names.is_empty() {
        return Err(DataError::invalid(&dir, "no .npz files (empty split)"));
    }
    let files = NamedFiles::new(dir, names, ".npz");
    require_files(&list, &files.paths())?;
    Ok(files)
}

fn npz_folder(split: Split) -> &'static str {
    match split {
        Split::Train => "train",
        Split::Val => "valid",
        Split::Test => "test",
    }
}

/// MT-UNet's 2D ACDC slices (`train/`, `valid/`).
pub struct AcdcNpzSlices {
    files: NamedFiles,
}

impl AcdcNpzSlices {
    /// Opens the train or val slices.
    pub fn open(root: &Path, split: Split) -> Result<Self> {
        Ok(Self {
            files: npz_split(root, npz_folder(split))?,
        })
    }
}

impl SliceDataset for AcdcNpzSlices {
    fn len(&self) -> usize {
        self.files.len()
    }
    fn name(&self, index: usize) -> String {
        self.files.name(index)
    }
    fn sample(&self, index: usize) -> Result<Sample2d> {
        let path = self.files.path(index);
        let (image, label) = read_pair(&path, PairFile::Npz("img", "label"), 2, NUM_CLASSES)?;
        let label = label
            .into_dimensionality::<Ix2>()
            .map_err(not_nd(&path, 2))?;
        let (h, w) = label.dim();
        Ok(Sample2d {
            // (H, W) -> (1, H, W)
            image: image
                .into_shape_with_order((1, h, w))
                .map_err(not_nd(&path, 2))?,
            label,
            name: self.files.name(index),
        })
    }
}

/// MT-UNet's ACDC volumes (`test/*.npz` 3D, or any split's files read as volumes).
pub struct AcdcNpzVolumes {
    files: NamedFiles,
}

impl AcdcNpzVolumes {
    /// Opens the volumes of `split` (MT-UNet ships the test split as volumes).
    pub fn open(root: &Path, split: Split) -> Result<Self> {
        Ok(Self {
            files: npz_split(root, npz_folder(split))?,
        })
    }
}

impl VolumeDataset for AcdcNpzVolumes {
    fn len(&self) -> usize {
        self.files.len()
    }
    fn name(&self, index: usize) -> String {
        self.files.name(index)
    }
    fn volume(&self, index: usize) -> Result<Volume> {
        let path = self.files.path(index);
        let (image, label) = read_pair(&path, PairFile::Npz("img", "label"), 3, NUM_CLASSES)?;
        Ok(Volume {
            name: self.files.name(index),
            image: image
                .into_dimensionality::<Ix3>()
                .map_err(not_nd(&path, 3))?,
            label: label
                .into_dimensionality::<Ix3>()
                .map_err(not_nd(&path, 3))?,
            spacing: [1.0; 3],
            source: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_cfg_gives_two_distinct_frames() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("Info.cfg");
        std::fs::write(&cfg, "ED: 1\nES: 12\nGroup: DCM\n").unwrap();
        assert_eq!(read_info_cfg(&cfg).unwrap(), (1, 12));
        std::fs::write(&cfg, "ED: 7\nES: 7\n").unwrap();
        let e = read_info_cfg(&cfg).unwrap_err().to_string();
        assert!(
            e.contains("Info.cfg") && e.contains("ED and ES name the same frame (7)"),
            "{e}"
        );
    }
}
