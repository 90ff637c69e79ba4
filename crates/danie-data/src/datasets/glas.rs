//! GlaS (Warwick-QU) gland segmentation.
//!
//! One folder with `train_N.bmp` + `train_N_anno.bmp` (85), `testA_N` (60) and `testB_N` (20)
//! likewise, and `Grade.csv`. `_anno` is an instance map; as the segmentation papers do, it is
//! binarised as `> 0`. The test split is testA followed by testB; [`GlasDataset::open_subset`]
//! opens one of them.
use std::path::{Path, PathBuf};

use super::names::NamedFiles;
use super::read::{mask_for, require_files, rgb_image};
use super::{Sample2d, SliceDataset, Split};
use crate::{DataError, Result};

/// A named part of GlaS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GlasSubset {
    /// `train_N`.
    Train,
    /// `testA_N`.
    TestA,
    /// `testB_N`.
    TestB,
}

impl GlasSubset {
    /// File name prefix (`train`, `testA`, `testB`).
    pub fn prefix(self) -> &'static str {
        match self {
            GlasSubset::Train => "train",
            GlasSubset::TestA => "testA",
            GlasSubset::TestB => "testB",
        }
    }
}

/// The ending of a GlaS mask's file name, beside its image `<name>.bmp`.
const ANNO: &str = "_anno.bmp";

/// Images of one or more GlaS subsets.
pub struct GlasDataset {
    /// `root/<name>.bmp`, the mask beside it as `<name>_anno.bmp`.
    images: NamedFiles,
}

/// Names `prefix_N` of the images (not `_anno`) in `root`, sorted by N.
fn subset_names(root: &Path, prefix: &str) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(root).map_err(|e| DataError::io(root, e))?;
    let mut found: Vec<(u32, String)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .filter_map(|f| {
            let stem = f.strip_suffix(".bmp")?;
            let n: u32 = stem.strip_prefix(prefix)?.strip_prefix('_')?.parse().ok()?;
            Some((n, stem.to_string()))
        })
        .collect();
    found.sort();
    Ok(found.into_iter().map(|(_, s)| s).collect())
}

impl GlasDataset {
    /// Opens `split`: train, or test (testA then testB).
    pub fn open(root: &Path, split: Split) -> Result<Self> {
        match split {
            Split::Train => Self::open_subsets(root, &[GlasSubset::Train]),
            Split::Test => Self::open_subsets(root, &[GlasSubset::TestA, GlasSubset::TestB]),
            Split::Val => Err(DataError::invalid(root, "GlaS has no validation split")),
        }
    }

    /// Opens one subset.
    pub fn open_subset(root: &Path, subset: GlasSubset) -> Result<Self> {
        Self::open_subsets(root, &[subset])
    }

    fn open_subsets(root: &Path, subsets: &[GlasSubset]) -> Result<Self> {
        let mut names = Vec::new();
        for s in subsets {
            names.extend(subset_names(root, s.prefix())?);
        }
        if names.is_empty() {
            let p: Vec<_> = subsets
                .iter()
                .map(|s| format!("{}_N.bmp", s.prefix()))
                .collect();
            return Err(DataError::invalid(
                root,
                format!("no {} images", p.join(" / ")),
            ));
        }
        let images = NamedFiles::new(root.to_path_buf(), names, ".bmp");
        let annos: Vec<PathBuf> = (0..images.len())
            .map(|i| images.companion(i, ANNO))
            .collect();
        require_files(root, &annos)?;
        Ok(Self { images })
    }
}

impl SliceDataset for GlasDataset {
    fn len(&self) -> usize {
        self.images.len()
    }
    fn name(&self, index: usize) -> String {
        self.images.name(index)
    }
    fn sample(&self, index: usize) -> Result<Sample2d> {
        let img_path = self.images.path(index);
        let anno_path = self.images.companion(index, ANNO);
        let image = rgb_image(&img_path)?;
        let anno = mask_for(&anno_path, &image)?;
        Ok(Sample2d {
            image,
            label: anno.mapv(|v| (v > 0) as u8),
            name: self.images.name(index),
        })
    }
}
