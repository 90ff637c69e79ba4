//! ISIC 2017 and 2018 skin lesion segmentation (task 1), in the official folder names.
//!
//! Images `ISIC_XXXXXXX.jpg` with masks `ISIC_XXXXXXX_segmentation.png` (0 / 255):
//! - 2017: `ISIC-2017_{Training,Validation,Test_v2}_Data/` with
//!   `ISIC-2017_{Training,Validation,Test_v2}_Part1_GroundTruth/` (2000 / 150 / 600).
//! - 2018: `ISIC2018_Task1-2_Training_Input/` with `ISIC2018_Task1_Training_GroundTruth/`
//!   (2594), split 1815 / 259 / 520. The split is `lists/{train,val,test}.txt` in the dataset
//!   folder when present (image ids, one per line); otherwise the ids sorted by name are cut
//!   in that order at 1815 and 1815 + 259 (scaled to the number of images found), which makes
//!   the Azad-group split reproducible (theirs depends on unsorted glob order).
use std::path::{Path, PathBuf};

use super::names::NamedFiles;
use super::read::{mask_for, require_files, rgb_image};
use super::split_list::{own_lists, SPLIT_FILES};
use super::{Sample2d, SliceDataset, Split};
use crate::{DataError, Result};

/// Which challenge year.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IsicYear {
    /// ISIC 2017.
    Y2017,
    /// ISIC 2018.
    Y2018,
}

/// The 2018 split sizes.
pub const ISIC2018_SPLIT: [usize; 3] = [1815, 259, 520];

/// Image and ground-truth folder names of `split`.
pub fn isic_folders(year: IsicYear, split: Split) -> (&'static str, &'static str) {
    match (year, split) {
        (IsicYear::Y2017, Split::Train) => (
            "ISIC-2017_Training_Data",
            "ISIC-2017_Training_Part1_GroundTruth",
        ),
        (IsicYear::Y2017, Split::Val) => (
            "ISIC-2017_Validation_Data",
            "ISIC-2017_Validation_Part1_GroundTruth",
        ),
        (IsicYear::Y2017, Split::Test) => (
            "ISIC-2017_Test_v2_Data",
            "ISIC-2017_Test_v2_Part1_GroundTruth",
        ),
        (IsicYear::Y2018, _) => (
            "ISIC2018_Task1-2_Training_Input",
            "ISIC2018_Task1_Training_GroundTruth",
        ),
    }
}

/// Sorted image ids (`ISIC_XXXXXXX`) of the `.jpg` files in `dir`.
fn image_ids(dir: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .filter_map(|f| f.strip_suffix(".jpg").map(String::from))
        .collect();
    ids.sort();
    Ok(ids)
}

/// The 2018 cut of `n` sorted ids: `[train_end, val_end]`, 1815 / 259 / 520 scaled to `n`.
pub fn isic2018_cuts(n: usize) -> [usize; 2] {
    let total: usize = ISIC2018_SPLIT.iter().sum();
    let train = (n * ISIC2018_SPLIT[0] + total / 2) / total;
    let val = (n * ISIC2018_SPLIT[1] + total / 2) / total;
    [train, (train + val).min(n)]
}

/// One split of ISIC 2017 or 2018.
pub struct IsicDataset {
    /// `<images>/<id>.jpg`.
    images: NamedFiles,
    /// The folder of the `<id>_segmentation.png` masks.
    masks: PathBuf,
}

impl IsicDataset {
    /// Opens `split`, checking that every image has its mask.
    pub fn open(root: &Path, year: IsicYear, split: Split) -> Result<Self> {
        let (img_dir, gt_dir) = isic_folders(year, split);
        let (images, masks) = (root.join(img_dir), root.join(gt_dir));
        let all = image_ids(&images)?;
        let ids = match year {
            IsicYear::Y2017 => all,
            IsicYear::Y2018 => match own_lists(
                root,
                &SPLIT_FILES,
                &format!("{split}.txt"),
                Some(&all),
                str::to_string,
            )? {
                Some(ids) => ids,
                None => {
                    let [a, b] = isic2018_cuts(all.len());
                    let range = match split {
                        Split::Train => 0..a,
                        Split::Val => a..b,
                        Split::Test => b..all.len(),
                    };
                    all[range].to_vec()
                }
            },
        };
        if ids.is_empty() {
            return Err(DataError::invalid(
                &images,
                format!("no .jpg images for the {split} split"),
            ));
        }
        let this = Self {
            images: NamedFiles::new(images, ids, ".jpg"),
            masks,
        };
        let files: Vec<PathBuf> = (0..this.len())
            .flat_map(|i| {
                let (a, b) = this.paths(i);
                [a, b]
            })
            .collect();
        require_files(root, &files)?;
        Ok(this)
    }

    /// Image and mask paths of sample `index`.
    pub fn paths(&self, index: usize) -> (PathBuf, PathBuf) {
        let id = self.images.name(index);
        (
            self.images.path(index),
            self.masks.join(format!("{id}_segmentation.png")),
        )
    }
}

impl SliceDataset for IsicDataset {
    fn len(&self) -> usize {
        self.images.len()
    }
    fn name(&self, index: usize) -> String {
        self.images.name(index)
    }
    fn sample(&self, index: usize) -> Result<Sample2d> {
        let (img_path, mask_path) = self.paths(index);
        let image = rgb_image(&img_path)?;
        let mask = mask_for(&mask_path, &image)?;
        if let Some(v) = mask.iter().find(|&&v| v != 0 && v != 255) {
            return Err(DataError::invalid(
                &mask_path,
                format!("mask holds {v}: ISIC masks are 0 (background) or 255 (lesion)"),
            ));
        }
        Ok(Sample2d {
            image,
            label: mask.mapv(|v| (v == 255) as u8),
            name: self.images.name(index),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_cut_sizes() {
        assert_eq!(isic2018_cuts(2594), [1815, 1815 + 259]);
        let [a, b] = isic2018_cuts(40);
        assert!(a > 0 && b > a && b < 40);
    }
}
