//! Prediction on files: a NIfTI volume to a NIfTI label map with the input's header and affine,
//! a PNG / JPEG / BMP image to a PNG mask, a folder to a folder.
//!
//! NIfTI volumes are segmented slice by slice along the last axis (z of `(x, y, z)`); each
//! slice is the `(y, x)` plane, the order danie-data's volume readers use (`image[[k, j, i]]`
//! for voxel `(i, j, k)`). Intensities are mapped as the weights' training data were (CT window
//! for Synapse, min-max for ACDC). 2D masks hold the class id per pixel, except for two-class
//! models whose masks are 0 / 255 as the ISIC ground truth. An existing output is an error
//! unless `overwrite` is set; two inputs with one output name (`x.png`, `x.bmp`) or an output
//! that would replace an input are errors before anything is written.
//!
//! A folder can be split over processes ([`Share`]: a launched run's ranks, or
//! `--num-parts K --part-id I`): every process plans all inputs (so all agree on the names and
//! the order), then writes its share of [`crate::distributed::shard_cases`] over that order, so
//! every output is written exactly once.
use std::path::{Path, PathBuf};

use anyhow::Context;
use danie_data::{image_io, nifti};
use ndarray::{Array2, Array3, Axis};

use crate::model_io::LoadedModel;
pub use crate::segmenter::PredictOptions;
use crate::segmenter::Segmenter;
pub use crate::sharded::Share;
use crate::volume::{read_nifti_volume, to_nifti_order};

/// The kinds of input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InputKind {
    Nifti,
    Image,
}

fn input_kind(path: &Path) -> Option<InputKind> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    if nifti::nifti_file_name(path).is_some() {
        Some(InputKind::Nifti)
    } else if [".png", ".jpg", ".jpeg", ".bmp"]
        .iter()
        .any(|e| name.ends_with(e))
    {
        Some(InputKind::Image)
    } else {
        None
    }
}

/// The output name for `input` inside a folder: NIfTI keeps its name, images become `.png`.
fn output_name(input: &Path, kind: InputKind) -> PathBuf {
    let name = input
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match kind {
        InputKind::Nifti => PathBuf::from(name),
        InputKind::Image => {
            let stem = Path::new(&name)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned());
            PathBuf::from(format!("{}.png", stem.unwrap_or(name)))
        }
    }
}

/// The inputs of one `predict` and the output each is written to, checked before anything is
/// written: no two inputs share an output name (`x.png` and `x.bmp` both give `x.png`), no
/// output replaces an input, and (unless overwriting) no output of this share exists yet.
#[derive(Debug, Clone)]
pub struct PredictPlan {
    /// (input, output, kind) of every input, sorted by name: the same on every process.
    jobs: Vec<(PathBuf, PathBuf, InputKind)>,
    /// The indices of `jobs` this process writes.
    mine: Vec<usize>,
    /// The output folder to create, for a folder input.
    out_dir: Option<PathBuf>,
}

impl PredictPlan {
    /// Lists `input` (a file or a folder of files) and names each output in `output` (a file or
    /// a folder), refusing collisions; nothing is written.
    pub fn new(input: &Path, output: &Path, overwrite: bool) -> anyhow::Result<Self> {
        Self::for_share(input, output, overwrite, &Share::whole())
    }

    /// [`Self::new`] for one share of the inputs: names and collisions are checked over all
    /// inputs (every share sees the same plan), existing outputs only over this share's, so a
    /// part run after another into the same folder finds the other's outputs and goes on.
    pub fn for_share(
        input: &Path,
        output: &Path,
        overwrite: bool,
        share: &Share,
    ) -> anyhow::Result<Self> {
        if share.count() > 1 {
            // A later share would list an earlier one's outputs as inputs.
            anyhow::ensure!(
                !(input.is_dir() && same_entry(input, output)),
                "{} is both the input and the output folder: split over {} processes, each \
                 would list the others' masks as inputs; predict into another folder",
                input.display(),
                share.count()
            );
        }
        let mut plan = Self::list(input, output)?;
        plan.mine = share.cases(plan.jobs.len());
        if !overwrite {
            if let Some((_, o, _)) = plan
                .mine
                .iter()
                .map(|&i| &plan.jobs[i])
                .find(|(_, o, _)| o.exists())
            {
                anyhow::bail!("{} exists: pass --overwrite to replace it", o.display());
            }
        }
        Ok(plan)
    }

    /// Every input with its output, checked for collisions.
    fn list(input: &Path, output: &Path) -> anyhow::Result<Self> {
        let (jobs, out_dir) = if input.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(input)
                .with_context(|| format!("cannot list {}", input.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            let jobs: Vec<_> = files
                .into_iter()
                .filter_map(|f| {
                    let k = input_kind(&f)?;
                    let o = output.join(output_name(&f, k));
                    Some((f, o, k))
                })
                .collect();
            anyhow::ensure!(
                !jobs.is_empty(),
                "{} holds no .nii, .nii.gz, .png, .jpg or .bmp files",
                input.display()
            );
            anyhow::ensure!(
                !output.is_file(),
                "the input is a folder, so the output {} must be a folder, not a file",
                output.display()
            );
            (jobs, Some(output.to_path_buf()))
        } else {
            anyhow::ensure!(input.is_file(), "input {} does not exist", input.display());
            let k = input_kind(input).with_context(|| {
                format!(
                    "{}: not a .nii, .nii.gz, .png, .jpg or .bmp file",
                    input.display()
                )
            })?;
            (vec![(input.to_path_buf(), output.to_path_buf(), k)], None)
        };
        check_collisions(&jobs)?;
        Ok(Self {
            jobs,
            mine: Vec::new(),
            out_dir,
        })
    }

    /// This process's (input, output) pairs, in the order they are predicted.
    pub fn pairs(&self) -> impl Iterator<Item = (&Path, &Path)> {
        self.mine
            .iter()
            .map(|&i| (self.jobs[i].0.as_path(), self.jobs[i].1.as_path()))
    }

    /// The number of inputs over all shares.
    pub fn total(&self) -> usize {
        self.jobs.len()
    }
}

/// Whether `a` and `b` are one existing file or folder (links and `..` resolved).
fn same_entry(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// `folder/name` with the folder resolved (links, `..`) but not the name itself: the entry a
/// rename onto `path` replaces. `None` when the folder does not exist (nothing is there yet).
fn entry_key(path: &Path) -> Option<PathBuf> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(parent.canonicalize().ok()?.join(path.file_name()?))
}

/// Refuses two inputs with one output name, and an output that would replace an input (the
/// input's own entry, or the file a link at its name points to).
fn check_collisions(jobs: &[(PathBuf, PathBuf, InputKind)]) -> anyhow::Result<()> {
    let mut by_output: std::collections::HashMap<&Path, &Path> = std::collections::HashMap::new();
    for (i, o, _) in jobs {
        if let Some(first) = by_output.insert(o.as_path(), i.as_path()) {
            anyhow::bail!(
                "{} and {} would both be written to {}: nothing was written; rename one of \
                 them or predict them into separate folders",
                first.display(),
                i.display(),
                o.display()
            );
        }
    }
    let mut inputs = std::collections::HashMap::new();
    for (i, _, _) in jobs {
        for key in [entry_key(i), i.canonicalize().ok()].into_iter().flatten() {
            inputs.insert(key, i.as_path());
        }
    }
    for (_, o, _) in jobs {
        if let Some(input) = entry_key(o).and_then(|k| inputs.get(&k)) {
            anyhow::bail!(
                "the output {} would replace the input {}: nothing was written; choose another \
                 output",
                o.display(),
                input.display()
            );
        }
    }
    Ok(())
}

/// Predicts `input` (a file or a folder of files) into `output` (a file or a folder); returns
/// the files written. Output names are checked first ([`PredictPlan`]).
pub fn predict_path(
    loaded: &LoadedModel,
    input: &Path,
    output: &Path,
    opts: &PredictOptions,
) -> anyhow::Result<Vec<PathBuf>> {
    let plan = PredictPlan::new(input, output, opts.overwrite)?;
    predict_plan(loaded, &plan, opts)
}

/// Runs a checked [`PredictPlan`] in one process; returns the files written.
pub fn predict_plan(
    loaded: &LoadedModel,
    plan: &PredictPlan,
    opts: &PredictOptions,
) -> anyhow::Result<Vec<PathBuf>> {
    predict_share(loaded, plan, opts, &Share::whole())
}

/// Runs this share's jobs of a plan made for it ([`PredictPlan::for_share`]); under a launcher
/// the ranks agree after each round of cases, so a bad input stops every rank, each naming it.
/// Returns the files this process wrote.
pub fn predict_share(
    loaded: &LoadedModel,
    plan: &PredictPlan,
    opts: &PredictOptions,
    share: &Share,
) -> anyhow::Result<Vec<PathBuf>> {
    anyhow::ensure!(
        plan.mine == share.cases(plan.jobs.len()),
        "the plan was made for another share of the inputs than part {} of {}",
        share.index(),
        share.count()
    );
    let made = match &plan.out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
        }
        None => Ok(()),
    };
    share.agree(made)?;
    let mut written = Vec::new();
    share.for_each(plan.jobs.len(), |j| {
        let (i, o, k) = &plan.jobs[j];
        match k {
            InputKind::Nifti => predict_nifti(loaded, i, o, opts)?,
            InputKind::Image => predict_image(loaded, i, o, opts)?,
        }
        written.push(o.clone());
        Ok(())
    })?;
    Ok(written)
}

fn predict_nifti(
    loaded: &LoadedModel,
    input: &Path,
    output: &Path,
    opts: &PredictOptions,
) -> anyhow::Result<()> {
    let (img, vol) = read_nifti_volume(input, &loaded.meta)?;
    let pred = Segmenter::from_weights(loaded, opts).segment_volume(vol.view());
    let labels = to_nifti_order(pred);
    nifti::write_array(output, &img.header, labels.view())
        .with_context(|| format!("writing {}", output.display()))?;
    Ok(())
}

fn predict_image(
    loaded: &LoadedModel,
    input: &Path,
    output: &Path,
    opts: &PredictOptions,
) -> anyhow::Result<()> {
    let meta = &loaded.meta;
    // danie-data's readers: the decoded-size budget and the compression-ratio check hold here
    // as in training; their errors name the file.
    let plane: Array3<f32> = if meta.model.in_channels == 1 {
        image_io::read_grey(input)?
            .insert_axis(Axis(0)) // (H, W) -> (1, H, W)
            .mapv(|v| f32::from(v) / 255.0)
    } else {
        image_io::read_rgb(input)?
            .permuted_axes([2, 0, 1]) // (H, W, 3) -> (3, H, W)
            .mapv(|v| f32::from(v) / 255.0)
    };
    let mask = Segmenter::from_weights(loaded, opts)
        .segment(&[plane.view()])
        .pop()
        .expect("one plane in, one out");
    write_mask_png(&mask, meta.num_classes(), output)
}

/// Writes a label map as an 8-bit PNG (0 / 255 for two classes, class ids otherwise).
pub fn write_mask_png(mask: &Array2<u8>, num_classes: usize, output: &Path) -> anyhow::Result<()> {
    let (h, w) = mask.dim();
    let scale = if num_classes == 2 { 255 } else { 1 };
    let raw: Vec<u8> = mask.iter().map(|&v| v.saturating_mul(scale)).collect();
    let png = image::GrayImage::from_raw(w as u32, h as u32, raw).expect("h * w pixels");
    danie_fs::write_atomic_with(output, |f| png.write_to(f, image::ImageFormat::Png))
        .with_context(|| format!("cannot write {}", output.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        std::fs::write(p, b"x").unwrap();
    }

    #[test]
    fn two_inputs_with_one_output_name_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = dir.path().join("in");
        std::fs::create_dir(&inputs).unwrap();
        touch(&inputs.join("x.png"));
        touch(&inputs.join("x.bmp"));
        touch(&inputs.join("y.jpg"));
        let out = dir.path().join("out");
        let e = PredictPlan::new(&inputs, &out, true)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("x.bmp") && e.contains("x.png") && e.contains("would both be written"),
            "{e}"
        );
        assert!(!out.exists());
        // Different stems are fine, and a NIfTI and an image never share a name.
        std::fs::remove_file(inputs.join("x.bmp")).unwrap();
        touch(&inputs.join("x.nii.gz"));
        let plan = PredictPlan::new(&inputs, &out, false).unwrap();
        let outs: Vec<_> = plan.pairs().map(|(_, o)| o.to_path_buf()).collect();
        assert_eq!(
            outs,
            [out.join("x.nii.gz"), out.join("x.png"), out.join("y.png")]
        );
    }

    #[test]
    fn an_output_that_would_replace_an_input_is_refused_even_with_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        touch(&dir.path().join("a.nii.gz"));
        touch(&dir.path().join("b.png"));
        let e = PredictPlan::new(dir.path(), dir.path(), true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("would replace the input"), "{e}");
        let a = dir.path().join("a.nii.gz");
        let e = PredictPlan::new(&a, &a, true).unwrap_err().to_string();
        assert!(e.contains("would replace the input"), "{e}");
        // Into a subfolder: fine.
        assert!(PredictPlan::new(dir.path(), &dir.path().join("masks"), false).is_ok());
    }

    #[test]
    fn a_share_checks_every_name_but_only_its_own_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = dir.path().join("in");
        std::fs::create_dir(&inputs).unwrap();
        for n in ["a.png", "b.png", "c.png"] {
            touch(&inputs.join(n));
        }
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        touch(&out.join("a.png")); // part 0's, written before
        let part = |i| Share::part(i, 2).unwrap();
        let p1 = PredictPlan::for_share(&inputs, &out, false, &part(1)).unwrap();
        let mine: Vec<_> = p1.pairs().map(|(i, _)| i.to_path_buf()).collect();
        assert_eq!(mine, [inputs.join("b.png")]);
        assert_eq!(p1.total(), 3);
        let e = PredictPlan::for_share(&inputs, &out, false, &part(0))
            .unwrap_err()
            .to_string();
        assert!(e.contains("a.png exists"), "{e}");
        // A collision in another part's inputs stops this part too.
        touch(&inputs.join("a.bmp"));
        let e = PredictPlan::for_share(&inputs, &out, true, &part(1))
            .unwrap_err()
            .to_string();
        assert!(e.contains("would both be written"), "{e}");
        // Parts cannot predict a folder into itself (each would list the others' masks).
        std::fs::remove_file(inputs.join("a.bmp")).unwrap();
        let e = PredictPlan::for_share(&inputs, &inputs, true, &part(1))
            .unwrap_err()
            .to_string();
        assert!(e.contains("both the input and the output folder"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_link_planted_at_a_mask_name_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.png");
        std::fs::write(&victim, "precious").unwrap();
        let out = dir.path().join("mask.png");
        std::os::unix::fs::symlink(&victim, &out).unwrap();
        write_mask_png(&Array2::<u8>::ones((4, 5)), 2, &out).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        let img = image::open(&out).unwrap().to_luma8();
        assert_eq!(img.dimensions(), (5, 4));
        assert!(img.pixels().all(|p| p.0 == [255]));
    }
}
