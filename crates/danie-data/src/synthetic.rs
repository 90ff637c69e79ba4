//! Small synthetic datasets written in each published layout, for tests and the demo.
//!
//! The phantoms have something real to learn: abdominal CT with 8 organs of distinct
//! intensity and texture, random shapes and positions per case, and the BTCV-only organs (IVC,
//! esophagus) that Synapse maps to background; short-axis cardiac MRI (RV, myocardium, LV)
//! contracting from ED to ES; dermoscopy lesions on textured skin with hairs; H&E glands with
//! lumen, epithelium and nuclei. Each case draws from its own generator seeded by
//! `(seed, dataset, case)`, so output is identical whatever the thread count.
//!
//! [`generate`] refuses to write into a non-empty folder unless [`SyntheticConfig::overwrite`].
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{Array2, Array3, ArrayViewD, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::augment::sample_rng;
use crate::datasets::{
    isic_folders, DatasetKind, IsicYear, Split, SYNAPSE_BTCV_TO_8, SYNAPSE_TEST_CASES,
    SYNAPSE_TRAIN_CASES,
};
use crate::limits::{human_bytes, max_decoded_bytes, MAX_DECODED_BYTES_ENV};
use crate::nifti::{self, Element, NiftiHeader, TypedArray};
use crate::preprocess::{ct_window, minmax_normalise, SYNAPSE_HU_WINDOW};
use crate::{h5, image_io, npy};
use crate::{DataError, Result};

mod blob;
mod cardiac_phantom;
mod ct_phantom;
mod gland_phantom;
mod lesion_phantom;
mod noise;

pub use blob::Blob;
pub use cardiac_phantom::CardiacPhantom;
pub use ct_phantom::{ct_phantom, CtPhantom};
pub use gland_phantom::gland_phantom;
pub use lesion_phantom::lesion_phantom;

/// What to generate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyntheticConfig {
    /// Number of cases (patients, images); `None` uses the dataset's default
    /// ([`default_cases`]).
    pub cases: Option<usize>,
    /// Image side in pixels (CT / MRI slices are square; RGB images vary around it).
    pub size: usize,
    /// Slices per volume; `None`: 16 for Synapse, 8 for ACDC.
    pub slices: Option<usize>,
    /// Seed of every random draw.
    pub seed: u64,
    /// Write into a non-empty folder (files with the same names are replaced).
    pub overwrite: bool,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        Self {
            cases: None,
            size: 128,
            slices: None,
            seed: 1234,
            overwrite: false,
            progress: false,
        }
    }
}

/// What [`generate`] wrote.
#[derive(Clone, Debug, Serialize)]
pub struct GeneratedDataset {
    /// The layout written.
    pub kind: DatasetKind,
    /// The dataset folder.
    pub root: PathBuf,
    /// Cases per split.
    pub cases: Vec<(Split, usize)>,
    /// Files written.
    pub files: usize,
}

/// Default number of cases: Synapse 30 (TransUNet's 18 train + 12 test case ids), ACDC 20,
/// ISIC 40, GlaS 30.
pub fn default_cases(kind: DatasetKind) -> usize {
    match kind {
        DatasetKind::Synapse | DatasetKind::SynapseRaw => 30,
        DatasetKind::Acdc | DatasetKind::AcdcNpz => 20,
        DatasetKind::Isic2017 | DatasetKind::Isic2018 => 40,
        DatasetKind::Glas => 30,
    }
}

/// Splits `n` cases in proportion to `weights`, each part at least 1 (when `n` allows).
pub fn split_counts(n: usize, weights: &[usize]) -> Vec<usize> {
    let total: usize = weights.iter().sum();
    let mut counts: Vec<usize> = weights
        .iter()
        .map(|w| ((n * w + total / 2) / total).max(usize::from(n >= weights.len())))
        .collect();
    // put the rounding difference on the largest part
    let big = (0..counts.len()).max_by_key(|&i| weights[i]).unwrap_or(0);
    let sum: usize = counts.iter().sum();
    counts[big] = (counts[big] + n).saturating_sub(sum);
    counts
}

/// Largest image side, slices per volume and cases [`generate`] takes: a real dataset's sizes
/// and more (a typo's 10^9 would otherwise fail in an allocation, or run for days).
pub const MAX_SIZE: usize = 2048;
/// See [`MAX_SIZE`].
pub const MAX_SLICES: usize = 1024;
/// See [`MAX_SIZE`].
pub const MAX_CASES: usize = 10_000;

/// Writes a synthetic `kind` dataset into `out`. The sizes are checked before `out` is made.
pub fn generate(
    kind: DatasetKind,
    out: &Path,
    config: &SyntheticConfig,
) -> Result<GeneratedDataset> {
    let n = config.cases.unwrap_or_else(|| default_cases(kind));
    check_sizes(out, config, n, min_cases(kind))?;
    prepare_out(out, config.overwrite)?;
    let gen = Generator {
        kind,
        out,
        config,
        progress: progress_bar(config.progress),
    };
    let result = match kind {
        DatasetKind::Synapse | DatasetKind::SynapseRaw => gen.synapse(n),
        DatasetKind::Acdc | DatasetKind::AcdcNpz => gen.acdc(n),
        DatasetKind::Isic2017 | DatasetKind::Isic2018 => gen.isic(n),
        DatasetKind::Glas => gen.glas(n),
    };
    gen.progress.finish_and_clear();
    result
}

/// One case for each split the layout writes: ACDC and ISIC 2017 have three (train,
/// validation, test), the others two or a fixed cut.
fn min_cases(kind: DatasetKind) -> usize {
    match kind {
        DatasetKind::Acdc | DatasetKind::AcdcNpz | DatasetKind::Isic2017 => 3,
        _ => 2,
    }
}

/// The size, slice count and case count within bounds, and one volume (float32 image and
/// label) within the decoded-size budget, as the readers hold it.
fn check_sizes(out: &Path, config: &SyntheticConfig, cases: usize, min: usize) -> Result<()> {
    let range = |what: &str, v: usize, lo: usize, hi: usize| {
        if (lo..=hi).contains(&v) {
            Ok(())
        } else {
            Err(DataError::invalid(
                out,
                format!("{what} {v} is outside {lo}..={hi}"),
            ))
        }
    };
    range("size", config.size, 16, MAX_SIZE)?;
    range("cases", cases, min, MAX_CASES)?;
    let slices = config.slices.unwrap_or(16);
    range("slices", slices, 1, MAX_SLICES)?;
    // float32 image + uint8 label per voxel (RGB images are 2D: far below this)
    let volume = (slices * config.size * config.size * 5) as u64;
    let budget = max_decoded_bytes();
    if volume > budget {
        return Err(DataError::invalid(
            out,
            format!(
                "one volume of {slices} x {s} x {s} takes {} in memory, over the limit of {} \
                 (raise it with {MAX_DECODED_BYTES_ENV})",
                human_bytes(volume),
                human_bytes(budget),
                s = config.size
            ),
        ));
    }
    Ok(())
}

fn progress_bar(show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(0);
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} cases {elapsed}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb
}

/// Creates `out`, refusing a non-empty folder unless `overwrite`.
fn prepare_out(out: &Path, overwrite: bool) -> Result<()> {
    if out.exists() {
        if !out.is_dir() {
            return Err(DataError::invalid(out, "exists and is not a folder"));
        }
        let mut entries = std::fs::read_dir(out).map_err(|e| DataError::io(out, e))?;
        if entries.next().is_some() && !overwrite {
            return Err(DataError::invalid(
                out,
                "folder is not empty: refusing to write into it (pass --overwrite to replace \
                 files of the same names)",
            ));
        }
    }
    std::fs::create_dir_all(out).map_err(|e| DataError::io(out, e))
}

/// Creates a sub-folder of the output. One that is a link is refused: with `--overwrite` its
/// target's files of the same names would be replaced, outside the output folder.
fn mkdir(dir: &Path) -> Result<()> {
    if std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(DataError::invalid(
            dir,
            "is a link: refusing to write through it (remove it, or choose another folder)",
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    danie_fs::write_bytes(path, text).map_err(|e| DataError::io(path, e.error))
}

/// Encodes `buf` in the format its extension names, through `danie_fs`.
fn save_image<P>(path: &Path, buf: &image::ImageBuffer<P, Vec<u8>>) -> Result<()>
where
    P: image::PixelWithColorType<Subpixel = u8>,
    [P::Subpixel]: image::EncodableLayout,
{
    let format = image::ImageFormat::from_path(path)
        .map_err(|e| DataError::invalid(path, format!("writing image: {e}")))?;
    crate::nifti::file_access::write_output(path, |w| {
        buf.write_to(w, format)
            .map_err(|e| DataError::invalid(path, format!("writing image: {e}")))
    })
}

fn write_list(path: &Path, names: &[String]) -> Result<()> {
    let mut text = names.join("\n");
    text.push('\n');
    write_text(path, &text)
}

/// A [`TypedArray`] copy of an array view, for the format writers.
fn typed<T: Element>(a: ArrayViewD<T>) -> TypedArray
where
    TypedArray: From<ndarray::ArrayD<T>>,
{
    TypedArray::from(a.to_owned())
}

/// Writes arrays into an uncompressed `.npz` (as `np.savez`).
fn write_npz(path: &Path, arrays: &[(&str, TypedArray)]) -> Result<()> {
    let refs: Vec<(&str, &TypedArray)> = arrays.iter().map(|(k, a)| (*k, a)).collect();
    npy::write_npz(path, &refs, false)
}

/// Writes a `(D, H, W)` volume as NIfTI `(x, y, z)` = `(W, H, D)` with `spacing` `[x, y, z]`.
fn write_nifti<T: Element>(path: &Path, vol: ArrayViewD<T>, spacing: [f64; 3]) -> Result<()> {
    let mut header = NiftiHeader::default();
    header.pixdim[1..4].copy_from_slice(&spacing);
    header.xyzt_units = 2 | 8; // mm, s
                               // (D, H, W) -> (W, H, D): voxel (i, j, k) = vol[k, j, i]
    nifti::write_array(path, &header, vol.reversed_axes())
}

/// Saves `(3, H, W)` RGB as an image file (format from the extension).
fn write_rgb(path: &Path, img: &Array3<u8>) -> Result<()> {
    let (h, w) = (img.shape()[1], img.shape()[2]);
    // (3, H, W) -> (H, W, 3) interleaved
    let raw: Vec<u8> = img
        .view()
        .permuted_axes([1, 2, 0])
        .iter()
        .copied()
        .collect();
    let buf = image::RgbImage::from_raw(w as u32, h as u32, raw).expect("sized buffer");
    save_image(path, &buf)
}

/// Saves `(H, W)` 8-bit values as a grey BMP (GlaS annotations; PNG goes through
/// [`image_io::write_png`]).
fn write_gray(path: &Path, img: &Array2<u8>) -> Result<()> {
    let (h, w) = img.dim();
    let buf = image::GrayImage::from_raw(w as u32, h as u32, img.iter().copied().collect())
        .expect("sized buffer");
    save_image(path, &buf)
}

/// Shared state of one generation run.
struct Generator<'a> {
    kind: DatasetKind,
    out: &'a Path,
    config: &'a SyntheticConfig,
    progress: ProgressBar,
}

impl Generator<'_> {
    fn rng(&self, case: usize) -> rand_chacha::ChaCha8Rng {
        sample_rng(self.config.seed, self.kind as u64 + 1000, case as u64)
    }

    /// Runs `f` over cases in parallel, counting progress; returns files written per case.
    fn cases<T: Sync>(
        &self,
        items: &[T],
        f: impl Fn(usize, &T) -> Result<usize> + Sync,
    ) -> Result<usize> {
        self.progress.set_length(items.len() as u64);
        self.progress
            .set_message(format!("generating {}", self.kind));
        items
            .par_iter()
            .enumerate()
            .map(|(i, t)| {
                let r = f(i, t);
                self.progress.inc(1);
                r
            })
            .try_reduce(|| 0, |a, b| Ok(a + b))
    }

    fn synapse(&self, n: usize) -> Result<GeneratedDataset> {
        let counts = split_counts(n, &[18, 12]);
        let ids = |list: &[&str], k: usize, offset: usize| -> Vec<String> {
            (0..k)
                .map(|i| {
                    list.get(i)
                        .map_or_else(|| format!("{:04}", 41 + offset + 2 * i), |s| s.to_string())
                })
                .collect()
        };
        let train = ids(&SYNAPSE_TRAIN_CASES, counts[0], 0);
        let test = ids(&SYNAPSE_TEST_CASES, counts[1], 1);
        let depth = self.config.slices.unwrap_or(16);
        let size = self.config.size;
        let all: Vec<(String, bool)> = train
            .iter()
            .map(|c| (c.clone(), true))
            .chain(test.iter().map(|c| (c.clone(), false)))
            .collect();
        let root = self.out;
        let raw = self.kind == DatasetKind::SynapseRaw;
        if raw {
            mkdir(&root.join("img"))?;
            mkdir(&root.join("label"))?;
            mkdir(&root.join("lists"))?;
        } else {
            mkdir(&root.join("train_npz"))?;
            mkdir(&root.join("test_vol_h5"))?;
            mkdir(&root.join("lists_Synapse"))?;
        }
        let files = self.cases(&all, |i, (case, is_train)| {
            let ph = ct_phantom(&mut self.rng(i), depth, size);
            if raw {
                let hu = ph.hu.mapv(|v| v.round().clamp(-1024.0, 3071.0) as i16);
                write_nifti(
                    &root.join(format!("img/img{case}.nii.gz")),
                    hu.into_dyn().view(),
                    [0.8, 0.8, 2.5],
                )?;
                write_nifti(
                    &root.join(format!("label/label{case}.nii.gz")),
                    ph.btcv.into_dyn().view(),
                    [0.8, 0.8, 2.5],
                )?;
                return Ok(2);
            }
            let image = ph
                .hu
                .mapv(|v| ct_window(v, SYNAPSE_HU_WINDOW.0, SYNAPSE_HU_WINDOW.1));
            let label = ph.btcv.mapv(|v| SYNAPSE_BTCV_TO_8[v as usize]);
            if *is_train {
                for z in 0..depth {
                    let path = root.join(format!("train_npz/case{case}_slice{z:03}.npz"));
                    write_npz(
                        &path,
                        &[
                            ("image", typed(image.index_axis(Axis(0), z).into_dyn())),
                            ("label", typed(label.index_axis(Axis(0), z).into_dyn())),
                        ],
                    )?;
                }
                Ok(depth)
            } else {
                let label = label.mapv(f32::from);
                let path = root.join(format!("test_vol_h5/case{case}.npy.h5"));
                h5::write_datasets(
                    &path,
                    &[
                        ("image", &typed(image.view().into_dyn())),
                        ("label", &typed(label.view().into_dyn())),
                    ],
                )?;
                Ok(1)
            }
        })?;
        let lists = if raw {
            write_list(&root.join("lists/train.txt"), &train)?;
            write_list(&root.join("lists/test.txt"), &test)?;
            2
        } else {
            let slices: Vec<String> = train
                .iter()
                .flat_map(|c| (0..depth).map(move |z| format!("case{c}_slice{z:03}")))
                .collect();
            let vols: Vec<String> = test.iter().map(|c| format!("case{c}")).collect();
            write_list(&root.join("lists_Synapse/train.txt"), &slices)?;
            write_list(&root.join("lists_Synapse/test_vol.txt"), &vols)?;
            2
        };
        Ok(self.summary(
            vec![(Split::Train, counts[0]), (Split::Test, counts[1])],
            files + lists,
        ))
    }

    fn summary(&self, cases: Vec<(Split, usize)>, files: usize) -> GeneratedDataset {
        GeneratedDataset {
            kind: self.kind,
            root: self.out.to_path_buf(),
            cases,
            files,
        }
    }

    fn acdc(&self, n: usize) -> Result<GeneratedDataset> {
        let counts = split_counts(n, &[70, 10, 20]);
        let splits: Vec<(usize, Split)> = (0..n)
            .map(|i| {
                let s = if i < counts[0] {
                    Split::Train
                } else if i < counts[0] + counts[1] {
                    Split::Val
                } else {
                    Split::Test
                };
                (i + 1, s)
            })
            .collect();
        let depth = self.config.slices.unwrap_or(8);
        let size = self.config.size;
        let root = self.out;
        let npz = self.kind == DatasetKind::AcdcNpz;
        let folder = |s: Split| match s {
            Split::Train => "train",
            Split::Val => "valid",
            Split::Test => "test",
        };
        for s in Split::ALL {
            mkdir(&root.join(if npz { folder(s) } else { "training" }))?;
        }
        mkdir(&root.join(if npz { "lists_ACDC" } else { "lists" }))?;
        self.progress.set_length(n as u64);
        self.progress
            .set_message(format!("generating {}", self.kind));
        let names: Vec<Vec<String>> = splits
            .par_iter()
            .map(|&(p, split)| -> Result<Vec<String>> {
                let mut rng = self.rng(p);
                let heart = CardiacPhantom::random(&mut rng);
                let es: usize = rand::Rng::gen_range(&mut rng, 2..=4);
                let patient = format!("patient{p:03}");
                let mut frames = Vec::new();
                for f in 1..=4usize {
                    let c = if f <= es {
                        (f - 1) as f32 / (es - 1) as f32
                    } else {
                        1.0 - (f - es) as f32 / (5 - es) as f32
                    };
                    frames.push(heart.frame(&mut rng, depth, size, c));
                }
                let mut written = Vec::new();
                if npz {
                    for f in [1, es] {
                        let (img, lab) = &frames[f - 1];
                        let mut img = img.clone();
                        minmax_normalise(&mut img);
                        let stem = format!("{patient}_frame{f:02}");
                        let dir = root.join(folder(split));
                        if split == Split::Test {
                            write_npz(
                                &dir.join(format!("{stem}.npz")),
                                &[
                                    ("img", typed(img.view().into_dyn())),
                                    ("label", typed(lab.view().into_dyn())),
                                ],
                            )?;
                            written.push(stem);
                        } else {
                            for z in 0..depth {
                                let name = format!("{stem}_slice{z:02}");
                                write_npz(
                                    &dir.join(format!("{name}.npz")),
                                    &[
                                        ("img", typed(img.index_axis(Axis(0), z).into_dyn())),
                                        ("label", typed(lab.index_axis(Axis(0), z).into_dyn())),
                                    ],
                                )?;
                                written.push(name);
                            }
                        }
                    }
                } else {
                    let dir = root.join("training").join(&patient);
                    mkdir(&dir)?;
                    let sp = [1.5, 1.5, 10.0];
                    for f in [1, es] {
                        let (img, lab) = &frames[f - 1];
                        let img = img.mapv(|v| v.round() as i16);
                        write_nifti(
                            &dir.join(format!("{patient}_frame{f:02}.nii.gz")),
                            img.into_dyn().view(),
                            sp,
                        )?;
                        write_nifti(
                            &dir.join(format!("{patient}_frame{f:02}_gt.nii.gz")),
                            lab.view().into_dyn(),
                            sp,
                        )?;
                    }
                    // (T, D, H, W) -> 4D NIfTI (x, y, z, t)
                    let views: Vec<_> = frames.iter().map(|(i, _)| i.view()).collect();
                    let four = ndarray::stack(Axis(0), &views)
                        .expect("same shapes")
                        .mapv(|v| v.round() as i16);
                    let mut header = NiftiHeader::default();
                    header.pixdim[1..5].copy_from_slice(&[1.5, 1.5, 10.0, 1.0]);
                    nifti::write_array(
                        dir.join(format!("{patient}_4d.nii.gz")),
                        &header,
                        four.into_dyn().view().reversed_axes(),
                    )?;
                    let info = format!(
                        "ED: 1\nES: {es}\nGroup: NOR\nHeight: 175.0\nNbFrame: 4\nWeight: 70.0\n"
                    );
                    write_text(&dir.join("Info.cfg"), &info)?;
                    written.push(patient);
                }
                self.progress.inc(1);
                Ok(written)
            })
            .collect::<Result<_>>()?;
        let mut files = 0;
        for s in Split::ALL {
            let list: Vec<String> = splits
                .iter()
                .zip(&names)
                .filter(|((_, sp), _)| *sp == s)
                .flat_map(|(_, n)| n.clone())
                .collect();
            files += if npz { list.len() } else { list.len() * 6 };
            let path = if npz {
                root.join("lists_ACDC").join(format!("{}.txt", folder(s)))
            } else {
                root.join("lists").join(format!("{s}.txt"))
            };
            write_list(&path, &list)?;
        }
        Ok(self.summary(Split::ALL.iter().copied().zip(counts).collect(), files + 3))
    }

    fn isic(&self, n: usize) -> Result<GeneratedDataset> {
        let root = self.out;
        let (year, parts) = match self.kind {
            DatasetKind::Isic2017 => (IsicYear::Y2017, split_counts(n, &[2000, 150, 600])),
            _ => (IsicYear::Y2018, vec![n]),
        };
        let mut items = Vec::new();
        for (k, &count) in parts.iter().enumerate() {
            let (img_dir, gt_dir) = isic_folders(year, Split::ALL[k]);
            mkdir(&root.join(img_dir))?;
            mkdir(&root.join(gt_dir))?;
            // 7-digit ids, not contiguous, as the challenge's
            let start = items.len();
            items.extend(
                (0..count).map(|i| (img_dir, gt_dir, format!("ISIC_{:07}", 10 * (start + i) + k))),
            );
        }
        let size = self.config.size;
        let files = self.cases(&items, |i, (img_dir, gt_dir, id)| {
            let mut rng = self.rng(i);
            let h = size;
            let w = (size as f32 * rand::Rng::gen_range(&mut rng, 1.2..1.45)) as usize;
            let (img, mask) = lesion_phantom(&mut rng, h, w);
            write_rgb(&root.join(img_dir).join(format!("{id}.jpg")), &img)?;
            let mask = TypedArray::from(mask.mapv(|v| v * 255).into_dyn());
            image_io::write_png(
                root.join(gt_dir).join(format!("{id}_segmentation.png")),
                &mask,
            )?;
            Ok(2)
        })?;
        let cases = match year {
            IsicYear::Y2017 => Split::ALL.iter().copied().zip(parts).collect(),
            IsicYear::Y2018 => {
                let [a, b] = crate::datasets::isic2018_cuts(n);
                vec![(Split::Train, a), (Split::Val, b - a), (Split::Test, n - b)]
            }
        };
        Ok(self.summary(cases, files))
    }

    fn glas(&self, n: usize) -> Result<GeneratedDataset> {
        let root = self.out;
        let parts = split_counts(n, &[85, 60, 20]);
        let items: Vec<String> = ["train", "testA", "testB"]
            .iter()
            .zip(&parts)
            .flat_map(|(p, &c)| (1..=c).map(move |i| format!("{p}_{i}")))
            .collect();
        let size = self.config.size;
        let grades: Vec<bool> = (0..items.len()).map(|i| i % 3 != 0).collect();
        let files = self.cases(&items, |i, name| {
            let mut rng = self.rng(i);
            let h = size;
            let w = (size as f32 * rand::Rng::gen_range(&mut rng, 1.3..1.6)) as usize;
            let (img, inst) = gland_phantom(&mut rng, h, w, grades[i]);
            write_rgb(&root.join(format!("{name}.bmp")), &img)?;
            write_gray(&root.join(format!("{name}_anno.bmp")), &inst)?;
            Ok(2)
        })?;
        let path = root.join("Grade.csv");
        let mut text =
            String::from("name,patient ID,grade (GlaS),grade (Sirinukunwattana et al. 2015)\n");
        for (i, name) in items.iter().enumerate() {
            let (g, s) = if grades[i] {
                ("malignant", "adenocarcinomas")
            } else {
                ("benign", "healthy")
            };
            text.push_str(&format!("{name},{},{g},{s}\n", i / 2 + 1));
        }
        write_text(&path, &text)?;
        let cases = vec![(Split::Train, parts[0]), (Split::Test, parts[1] + parts[2])];
        Ok(self.summary(cases, files + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_out_of_bounds_are_refused_before_the_folder_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("synthetic");
        let with = |edit: fn(&mut SyntheticConfig)| {
            let mut c = SyntheticConfig::default();
            edit(&mut c);
            generate(DatasetKind::Synapse, &out, &c)
                .unwrap_err()
                .to_string()
        };
        let cases = [
            (
                with(|c| c.size = 1_000_000_000),
                "size 1000000000 is outside 16..=2048",
            ),
            (with(|c| c.size = 8), "size 8 is outside 16..=2048"),
            (with(|c| c.cases = Some(usize::MAX)), "is outside 2..=10000"),
            (with(|c| c.cases = Some(1)), "cases 1 is outside 2..=10000"),
            (
                {
                    let c = SyntheticConfig {
                        cases: Some(2),
                        ..Default::default()
                    };
                    generate(DatasetKind::Acdc, &out, &c)
                        .unwrap_err()
                        .to_string()
                },
                "cases 2 is outside 3..=10000",
            ),
            (with(|c| c.slices = Some(0)), "slices 0 is outside 1..=1024"),
            (
                with(|c| (c.size, c.slices) = (2048, Some(1024))),
                "over the limit",
            ),
        ];
        for (e, want) in cases {
            assert!(e.contains(want) && e.contains("synthetic"), "{want}: {e}");
        }
        assert!(!out.exists(), "nothing is created for a refused size");
    }

    #[cfg(unix)]
    #[test]
    fn a_link_planted_at_a_sub_folder_is_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let (out, elsewhere) = (dir.path().join("out"), dir.path().join("elsewhere"));
        std::fs::create_dir_all(&out).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, out.join("train_npz")).unwrap();
        let c = SyntheticConfig {
            cases: Some(2),
            size: 16,
            slices: Some(1),
            overwrite: true,
            ..Default::default()
        };
        let e = generate(DatasetKind::Synapse, &out, &c)
            .unwrap_err()
            .to_string();
        assert!(e.contains("train_npz") && e.contains("is a link"), "{e}");
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    }

    #[test]
    fn split_counts_sum_and_floor() {
        assert_eq!(split_counts(30, &[18, 12]), vec![18, 12]);
        assert_eq!(split_counts(20, &[70, 10, 20]), vec![14, 2, 4]);
        for n in 3..50 {
            let c = split_counts(n, &[2000, 150, 600]);
            assert_eq!(c.iter().sum::<usize>(), n);
            assert!(c.iter().all(|&x| x >= 1), "{n}: {c:?}");
        }
    }
}
