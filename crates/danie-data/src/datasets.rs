//! The datasets of the DANIE paper, read in the layouts their publishers ship.
//!
//! Every dataset is served through two small traits, so the trainer never needs to know the
//! layout on disk:
//! - [`SliceDataset`]: 2D samples `(C, H, W)` image + `(H, W)` label, for training and for
//!   2D evaluation (ISIC, GlaS). Volumetric datasets serve their volumes slice by slice
//!   ([`VolumeSlices`]).
//! - [`VolumeDataset`]: whole 3D volumes `(D, H, W)` for slice-by-slice evaluation
//!   (Synapse, ACDC).
//!
//! [`DatasetKind`] names each supported layout and opens it for a [`Split`]. The per-layout
//! readers live in `datasets/` (one file each); `docs/datasets.md` shows the folder trees.
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use ndarray::{s, Array2, Array3};
use serde::{Deserialize, Serialize};

use crate::augment::Augment;
use crate::preprocess::{Intensity, Interp, SYNAPSE_HU_WINDOW};
use crate::{DataError, Result};

mod acdc;
mod glas;
mod isic;
mod names;
mod read;
mod split_list;
mod synapse;

pub use acdc::{read_info_cfg, AcdcNpzSlices, AcdcNpzVolumes, AcdcVolumes};
pub use glas::{GlasDataset, GlasSubset};
pub use isic::{isic2018_cuts, isic_folders, IsicDataset, IsicYear, ISIC2018_SPLIT};
pub use split_list::read_list;
pub use synapse::{
    synapse_volume_axes, SynapseH5Volumes, SynapseNpzSlices, SynapseRawVolumes, SYNAPSE_BTCV_TO_8,
    SYNAPSE_TEST_CASES, SYNAPSE_TRAIN_CASES,
};

/// Which part of a dataset to open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// The training split.
    Train,
    /// The validation split (absent for Synapse as TransUNet uses it).
    Val,
    /// The test split.
    Test,
}

impl Split {
    /// All splits, in order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Val, Split::Test];

    /// Lower-case name: `train`, `val`, `test`.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Split {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "train" => Ok(Split::Train),
            "val" | "valid" | "validation" => Ok(Split::Val),
            "test" => Ok(Split::Test),
            other => Err(format!(
                "unknown split `{other}` (expected train, val or test)"
            )),
        }
    }
}

/// One 2D training or evaluation sample.
#[derive(Clone, Debug)]
pub struct Sample2d {
    /// Image `(C, H, W)`: CT/MRI in `[0, 1]` (C = 1), RGB in `[0, 1]` (C = 3).
    pub image: Array3<f32>,
    /// Label map `(H, W)` with class ids `0..num_classes`.
    pub label: Array2<u8>,
    /// A name that identifies the sample (e.g. `case0005_slice012`, `ISIC_0000000`).
    pub name: String,
}

/// One 3D volume for evaluation.
#[derive(Clone, Debug)]
pub struct Volume {
    /// Case name (e.g. `case0001`, `patient001_frame01`).
    pub name: String,
    /// Image `(D, H, W)`, slices along axis 0, intensities preprocessed as for training.
    pub image: Array3<f32>,
    /// Label map `(D, H, W)` with class ids `0..num_classes`.
    pub label: Array3<u8>,
    /// Voxel spacing `[z, y, x]` in mm (1.0 where the file does not say).
    pub spacing: [f64; 3],
    /// The NIfTI file the image was read from, if any: its header places predictions in the
    /// same space. Volumes from NIfTI map voxel `(i, j, k)` to `image[[k, j, i]]`.
    pub source: Option<PathBuf>,
}

/// A dataset of 2D samples, indexable and shareable across threads.
pub trait SliceDataset: Send + Sync {
    /// Number of samples.
    fn len(&self) -> usize;
    /// Whether there are no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Name of sample `index` without reading it.
    fn name(&self, index: usize) -> String;
    /// Reads and preprocesses sample `index` (`index < len()`).
    fn sample(&self, index: usize) -> Result<Sample2d>;
}

/// A dataset of 3D volumes, for evaluation.
pub trait VolumeDataset: Send + Sync {
    /// Number of volumes.
    fn len(&self) -> usize;
    /// Whether there are no volumes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Name of volume `index` without reading it.
    fn name(&self, index: usize) -> String;
    /// Reads and preprocesses volume `index` (`index < len()`).
    fn volume(&self, index: usize) -> Result<Volume>;
}

/// Serves the volumes of a [`VolumeDataset`] slice by slice (axis 0) as a [`SliceDataset`].
///
/// Opening reads every volume once to learn its depth; each volume is then kept in memory
/// after its first use (about 5 bytes per voxel), so an epoch reads each file once.
pub struct VolumeSlices {
    volumes: Arc<dyn VolumeDataset>,
    /// `(volume index, slice index)` of each sample.
    index: Vec<(usize, usize)>,
    cache: Vec<OnceLock<Arc<Volume>>>,
}

impl VolumeSlices {
    /// Indexes every slice of every volume (reads each volume once).
    pub fn new(volumes: Arc<dyn VolumeDataset>) -> Result<Self> {
        let n = volumes.len();
        let cache: Vec<OnceLock<Arc<Volume>>> = (0..n).map(|_| OnceLock::new()).collect();
        let mut index = Vec::new();
        for (v, cell) in cache.iter().enumerate() {
            let vol = Arc::new(volumes.volume(v)?);
            index.extend((0..vol.image.shape()[0]).map(|z| (v, z)));
            let _ = cell.set(vol);
        }
        Ok(Self {
            volumes,
            index,
            cache,
        })
    }

    fn volume(&self, v: usize) -> Result<Arc<Volume>> {
        if let Some(vol) = self.cache[v].get() {
            return Ok(vol.clone());
        }
        let vol = Arc::new(self.volumes.volume(v)?);
        Ok(self.cache[v].get_or_init(|| vol).clone())
    }
}

impl SliceDataset for VolumeSlices {
    fn len(&self) -> usize {
        self.index.len()
    }
    fn name(&self, index: usize) -> String {
        let (v, z) = self.index[index];
        format!("{}_slice{z:03}", self.volumes.name(v))
    }
    fn sample(&self, index: usize) -> Result<Sample2d> {
        let (v, z) = self.index[index];
        let vol = self.volume(v)?;
        // (D, H, W) -> (1, H, W)
        let image = vol.image.slice(s![z..z + 1, .., ..]).to_owned();
        let label = vol.label.slice(s![z, .., ..]).to_owned();
        Ok(Sample2d {
            image,
            label,
            name: self.name(index),
        })
    }
}

/// The dataset layouts danie reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    /// Synapse multi-organ CT as TransUNet preprocessed it (`train_npz/`, `test_vol_h5/`).
    Synapse,
    /// Synapse as BTCV ships it (`img/imgXXXX.nii.gz`, `label/labelXXXX.nii.gz`).
    SynapseRaw,
    /// ACDC cardiac MRI as released (`patientXXX/patientXXX_frameYY[_gt].nii.gz`, `Info.cfg`).
    Acdc,
    /// ACDC as MT-UNet distributes it (npz slices with keys `img`, `label`).
    AcdcNpz,
    /// ISIC 2017 task 1 (official folder names).
    Isic2017,
    /// ISIC 2018 task 1 (official folder names, 1815 / 259 / 520 split).
    Isic2018,
    /// GlaS (Warwick-QU) gland segmentation.
    Glas,
}

const SYNAPSE_CLASSES: [&str; 9] = [
    "background",
    "aorta",
    "gallbladder",
    "left kidney",
    "right kidney",
    "liver",
    "pancreas",
    "spleen",
    "stomach",
];
const ACDC_CLASSES: [&str; 4] = ["background", "RV", "Myo", "LV"];
const ISIC_CLASSES: [&str; 2] = ["background", "lesion"];
const GLAS_CLASSES: [&str; 2] = ["background", "gland"];

impl DatasetKind {
    /// Every kind, in documentation order.
    pub const ALL: [DatasetKind; 7] = [
        DatasetKind::Synapse,
        DatasetKind::SynapseRaw,
        DatasetKind::Acdc,
        DatasetKind::AcdcNpz,
        DatasetKind::Isic2017,
        DatasetKind::Isic2018,
        DatasetKind::Glas,
    ];

    /// The name used on the command line and in configs (`synapse`, `synapse-raw`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetKind::Synapse => "synapse",
            DatasetKind::SynapseRaw => "synapse-raw",
            DatasetKind::Acdc => "acdc",
            DatasetKind::AcdcNpz => "acdc-npz",
            DatasetKind::Isic2017 => "isic2017",
            DatasetKind::Isic2018 => "isic2018",
            DatasetKind::Glas => "glas",
        }
    }

    /// The dataset a layout is a packaging of: the name its published results (baselines) are
    /// filed under (`synapse-raw` is Synapse, `acdc-npz` is ACDC).
    pub fn family(self) -> &'static str {
        match self {
            DatasetKind::Synapse | DatasetKind::SynapseRaw => "synapse",
            DatasetKind::Acdc | DatasetKind::AcdcNpz => "acdc",
            k => k.as_str(),
        }
    }

    /// Number of classes including background.
    pub fn num_classes(self) -> usize {
        self.class_names().len()
    }

    /// Class names indexed by label id (id 0 is background).
    pub fn class_names(self) -> &'static [&'static str] {
        match self {
            DatasetKind::Synapse | DatasetKind::SynapseRaw => &SYNAPSE_CLASSES,
            DatasetKind::Acdc | DatasetKind::AcdcNpz => &ACDC_CLASSES,
            DatasetKind::Isic2017 | DatasetKind::Isic2018 => &ISIC_CLASSES,
            DatasetKind::Glas => &GLAS_CLASSES,
        }
    }

    /// Image channels: 1 for CT / MRI, 3 for RGB.
    pub fn in_channels(self) -> usize {
        match self {
            DatasetKind::Synapse
            | DatasetKind::SynapseRaw
            | DatasetKind::Acdc
            | DatasetKind::AcdcNpz => 1,
            DatasetKind::Isic2017 | DatasetKind::Isic2018 | DatasetKind::Glas => 3,
        }
    }

    /// Whether the test split is made of 3D volumes (evaluate with [`DatasetKind::open_volumes`]).
    pub fn is_volumetric(self) -> bool {
        self.in_channels() == 1
    }

    /// Whether `split` is stored as 3D volumes ([`DatasetKind::open_volumes`] reads it;
    /// [`DatasetKind::open_slices`] serves it slice by slice) rather than as 2D slice files.
    pub fn has_volumes(self, split: Split) -> bool {
        match self {
            DatasetKind::Synapse | DatasetKind::AcdcNpz => split == Split::Test,
            DatasetKind::SynapseRaw | DatasetKind::Acdc => true,
            DatasetKind::Isic2017 | DatasetKind::Isic2018 | DatasetKind::Glas => false,
        }
    }

    /// The splits this layout has (Synapse as TransUNet uses it has no validation split).
    pub fn splits(self) -> &'static [Split] {
        match self {
            DatasetKind::Synapse | DatasetKind::SynapseRaw => &[Split::Train, Split::Test],
            DatasetKind::Glas => &[Split::Train, Split::Test],
            _ => &Split::ALL,
        }
    }

    /// The training augmentation the published pipelines use for this dataset.
    pub fn default_augment(self) -> Augment {
        if self.is_volumetric() {
            Augment::TransUnet
        } else {
            Augment::Natural
        }
    }

    /// Interpolation for resizing images to the model's input (labels always use nearest):
    /// cubic spline (scipy `zoom` order 3) for CT / MRI, bilinear for RGB.
    pub fn default_interp(self) -> Interp {
        if self.is_volumetric() {
            Interp::Cubic
        } else {
            Interp::Bilinear
        }
    }

    fn check_split(self, root: &Path, split: Split) -> Result<()> {
        if self.splits().contains(&split) {
            Ok(())
        } else {
            Err(DataError::invalid(
                root,
                format!(
                    "{self} has no {split} split (it has: {})",
                    join_splits(self.splits())
                ),
            ))
        }
    }

    /// Opens `split` of the dataset at `root` as 2D samples (training, or 2D evaluation).
    /// Volumetric test splits are served slice by slice.
    pub fn open_slices(self, root: &Path, split: Split) -> Result<Arc<dyn SliceDataset>> {
        self.check_split(root, split)?;
        check_root(root)?;
        let volumes = self.has_volumes(split);
        Ok(match self {
            DatasetKind::Synapse if !volumes => Arc::new(SynapseNpzSlices::open(root)?),
            DatasetKind::AcdcNpz if !volumes => Arc::new(AcdcNpzSlices::open(root, split)?),
            DatasetKind::Isic2017 => Arc::new(IsicDataset::open(root, IsicYear::Y2017, split)?),
            DatasetKind::Isic2018 => Arc::new(IsicDataset::open(root, IsicYear::Y2018, split)?),
            DatasetKind::Glas => Arc::new(GlasDataset::open(root, split)?),
            _ => Arc::new(VolumeSlices::new(self.open_volumes(root, split)?)?),
        })
    }

    /// Opens `split` of a volumetric dataset at `root` as 3D volumes (evaluation).
    pub fn open_volumes(self, root: &Path, split: Split) -> Result<Arc<dyn VolumeDataset>> {
        self.check_split(root, split)?;
        check_root(root)?;
        Ok(match self {
            DatasetKind::Synapse => match split {
                Split::Test => Arc::new(SynapseH5Volumes::open(root)?),
                _ => {
                    return Err(DataError::invalid(
                        root,
                        "synapse (TransUNet layout) has volumes only for the test split \
                         (test_vol_h5); its train split is 2D slices (train_npz)",
                    ))
                }
            },
            DatasetKind::SynapseRaw => Arc::new(SynapseRawVolumes::open(root, split)?),
            DatasetKind::Acdc => Arc::new(AcdcVolumes::open(root, split)?),
            DatasetKind::AcdcNpz => Arc::new(AcdcNpzVolumes::open(root, split)?),
            _ => {
                return Err(DataError::invalid(
                    root,
                    format!("{self} is a 2D dataset: open it with open_slices"),
                ))
            }
        })
    }
}

impl Intensity {
    /// The preprocessing the dataset's published pipeline uses: TransUNet's HU window for
    /// Synapse, per-volume min-max for ACDC (SSL4MIS), /255 for the 8-bit RGB datasets.
    pub fn for_dataset(kind: DatasetKind) -> Self {
        match kind {
            DatasetKind::Synapse | DatasetKind::SynapseRaw => {
                let (lo, hi) = SYNAPSE_HU_WINDOW;
                Self::CtWindow { lo, hi }
            }
            DatasetKind::Acdc | DatasetKind::AcdcNpz => Self::MinMax,
            DatasetKind::Isic2017 | DatasetKind::Isic2018 | DatasetKind::Glas => Self::Unit8Bit,
        }
    }
}

/// Runs `open` (e.g. `|| kind.open_volumes(root, split)`) so that cases whose listed files are
/// missing stay in the dataset: reading such a case fails with an error naming the file. `danie
/// data check` opens splits this way to report every missing file on its own line and count the
/// good cases; training and evaluation open strictly (a missing file is an error up front).
pub fn open_keeping_missing<T>(open: impl FnOnce() -> Result<T>) -> Result<T> {
    read::with_keep_missing(open)
}

fn join_splits(splits: &[Split]) -> String {
    splits
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_root(root: &Path) -> Result<()> {
    if root.is_dir() {
        Ok(())
    } else {
        Err(DataError::invalid(root, "dataset folder does not exist"))
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DatasetKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let key = s.to_ascii_lowercase().replace('_', "-");
        DatasetKind::ALL
            .into_iter()
            .find(|k| k.as_str() == key)
            .ok_or_else(|| {
                let names: Vec<_> = DatasetKind::ALL.iter().map(|k| k.as_str()).collect();
                format!(
                    "unknown dataset `{s}` (expected one of: {})",
                    names.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_and_print() {
        for k in DatasetKind::ALL {
            assert_eq!(k.as_str().parse::<DatasetKind>().unwrap(), k);
        }
        assert!("brats"
            .parse::<DatasetKind>()
            .unwrap_err()
            .contains("synapse-raw"));
        assert_eq!(DatasetKind::Synapse.num_classes(), 9);
        assert_eq!(DatasetKind::Acdc.num_classes(), 4);
        assert_eq!(DatasetKind::Isic2018.in_channels(), 3);
        assert_eq!(DatasetKind::SynapseRaw.family(), "synapse");
        assert_eq!(DatasetKind::AcdcNpz.family(), "acdc");
        assert_eq!(DatasetKind::Isic2017.family(), "isic2017");
    }
}
