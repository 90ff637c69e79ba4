//! `danie inspect FILE [--json]`: shape, dtype, voxel spacing, affine, intensity range and label
//! values of a NIfTI (.nii, .nii.gz, .hdr/.img), numpy (.npy, .npz), HDF5 (.h5) or image (.png,
//! .jpg, .bmp) file. For .npz and .h5 every array is reported (or only `--key`).
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use danie_data::nifti::{self, Affine, TypedArray, ValueStats};
use danie_data::{h5, image_io, npy};
use serde::Serialize;

/// Arguments of `danie inspect`.
#[derive(clap::Args)]
pub struct Args {
    /// The file to describe.
    pub file: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Only this array of an .npz / .h5 file.
    #[arg(long)]
    pub key: Option<String>,
    /// List label values when the data are whole numbers with at most this many distinct values
    /// (1 to 65536: the set is held while the file is scanned).
    #[arg(long, default_value_t = 64,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=65_536))]
    pub max_labels: usize,
}

/// What `inspect` reports about one file.
#[derive(Serialize)]
struct Inspection {
    file: PathBuf,
    format: String,
    arrays: Vec<ArrayReport>,
}

/// One array of the file (a NIfTI image has one; .npz / .h5 may have several).
#[derive(Serialize)]
struct ArrayReport {
    /// Array name inside .npz / .h5.
    name: Option<String>,
    shape: Vec<usize>,
    /// On-disk element type.
    dtype: String,
    /// Voxel size of the spatial axes (NIfTI only).
    spacing: Option<Vec<f64>>,
    /// Voxel-to-world affine, as nibabel's `img.affine` (NIfTI only).
    affine: Option<Affine>,
    /// NIfTI header facts.
    nifti: Option<NiftiFacts>,
    /// Of the scaled values (NIfTI: as nibabel's get_fdata); NaN excluded and counted.
    stats: ValueStats,
    /// Sorted distinct values, when whole numbers and few.
    labels: Option<Vec<i64>>,
}

/// Header facts of a NIfTI file.
#[derive(Serialize)]
struct NiftiFacts {
    version: u8,
    endianness: &'static str,
    scl_slope: f64,
    scl_inter: f64,
    qform_code: i32,
    sform_code: i32,
    vox_offset: u64,
    extensions: usize,
    descrip: String,
}

fn format_of(path: &Path) -> Option<&'static str> {
    let name = path.file_name()?.to_string_lossy().to_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    let ext = name.rsplit('.').next()?;
    Some(match ext {
        "nii" | "hdr" | "img" => "nifti",
        "npy" => "npy",
        "npz" => "npz",
        "h5" | "hdf5" => "h5",
        "png" | "jpg" | "jpeg" | "bmp" => "image",
        _ => return None,
    })
}

/// The report of `data`, its statistics of `raw * slope + inter` when `scaling` is given.
fn report(
    name: Option<String>,
    data: &TypedArray,
    scaling: Option<(f64, f64)>,
    max_labels: usize,
) -> ArrayReport {
    let (stats, labels) = data.summary(scaling, max_labels);
    ArrayReport {
        name,
        shape: data.shape().to_vec(),
        dtype: data.dtype().name().to_string(),
        spacing: None,
        affine: None,
        nifti: None,
        stats,
        labels,
    }
}

fn inspect(args: &Args) -> anyhow::Result<Inspection> {
    let path = &args.file;
    let format = format_of(path).with_context(|| {
        format!(
            "{}: unknown file type (expected .nii, .nii.gz, .hdr/.img, .npy, .npz, .h5, .png, .jpg or .bmp)",
            path.display()
        )
    })?;
    // `--key x` or `--key x.npy` (as numpy names npz members)
    let wanted = |name: &str| {
        args.key
            .as_deref()
            .is_none_or(|k| k.strip_suffix(".npy").unwrap_or(k) == name)
    };
    let arrays = match format {
        "nifti" => {
            let img = nifti::read(path)?;
            let h = &img.header;
            let (slope, inter) = h.scaling().unwrap_or((1.0, 0.0));
            // statistics of the scaled values, computed on the fly (no f64 copy of the volume)
            let mut r = report(None, &img.data, h.scaling(), args.max_labels);
            // pixdim is float32: 0.8, not 0.800000011920929
            r.spacing = Some(danie_metrics::spacing::shown_all(&img.spacing()));
            r.affine = Some(img.affine()?);
            r.nifti = Some(NiftiFacts {
                version: h.version.number(),
                endianness: h.endian.name(),
                scl_slope: slope,
                scl_inter: inter,
                qform_code: h.qform_code,
                sform_code: h.sform_code,
                vox_offset: h.vox_offset,
                extensions: h.extensions.len(),
                descrip: h.descrip.clone(),
            });
            vec![r]
        }
        "npy" => vec![report(None, &npy::read_npy(path)?, None, args.max_labels)],
        "npz" => {
            // the archive opened and indexed once; one array in memory at a time
            let mut reports = Vec::new();
            npy::for_each_npz_array(
                path,
                |n| wanted(n),
                |n, a| {
                    reports.push(report(Some(n.to_string()), &a, None, args.max_labels));
                    Ok(())
                },
            )?;
            reports
        }
        "h5" => h5::dataset_names(path)?
            .into_iter()
            .filter(|n| wanted(n))
            .map(|n| {
                Ok(report(
                    Some(n.clone()),
                    &h5::read_dataset(path, &n)?,
                    None,
                    args.max_labels,
                ))
            })
            .collect::<anyhow::Result<_>>()?,
        _ => vec![report(
            None,
            &image_io::read_image(path)?,
            None,
            args.max_labels,
        )],
    };
    if arrays.is_empty() {
        let names = match format {
            "npz" => npy::npz_names(path)?,
            _ => h5::dataset_names(path)?,
        };
        let held = if names.is_empty() {
            "it holds no array".to_string()
        } else {
            format!("it holds: {}", names.join(", "))
        };
        anyhow::bail!(
            "{}: no array named {:?} (--key); {held}",
            path.display(),
            args.key.as_deref().unwrap_or("")
        );
    }
    Ok(Inspection {
        file: path.clone(),
        format: format.to_string(),
        arrays,
    })
}

fn num(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.6}").trim_end_matches('0').to_string()
    }
}

/// The table `inspect` prints.
fn render_text(ins: &Inspection) -> Result<String, std::fmt::Error> {
    use std::fmt::Write;
    let mut out = String::new();
    writeln!(out, "{:<9} {}", "file", ins.file.display())?;
    writeln!(out, "{:<9} {}", "format", ins.format)?;
    for a in &ins.arrays {
        if let Some(name) = &a.name {
            writeln!(out, "\n[{name}]")?;
        }
        let shape: Vec<String> = a.shape.iter().map(|s| s.to_string()).collect();
        writeln!(out, "{:<9} {}", "shape", shape.join(" x "))?;
        match &a.nifti {
            Some(n) => writeln!(
                out,
                "{:<9} {} ({}-endian, NIfTI-{}, scl_slope {}, scl_inter {})",
                "dtype",
                a.dtype,
                n.endianness,
                n.version,
                num(n.scl_slope),
                num(n.scl_inter)
            )?,
            None => writeln!(out, "{:<9} {}", "dtype", a.dtype)?,
        }
        if let Some(s) = &a.spacing {
            let s: Vec<String> = s.iter().map(|v| num(*v)).collect();
            writeln!(out, "{:<9} {}", "spacing", s.join(" x "))?;
        }
        if let (Some(aff), Some(n)) = (&a.affine, &a.nifti) {
            writeln!(
                out,
                "{:<9} (qform_code {}, sform_code {})",
                "affine", n.qform_code, n.sform_code
            )?;
            for row in aff {
                writeln!(
                    out,
                    "          {:>12.6} {:>12.6} {:>12.6} {:>12.6}",
                    row[0], row[1], row[2], row[3]
                )?;
            }
        }
        let s = &a.stats;
        writeln!(
            out,
            "{:<9} min {}  max {}  mean {}  (NaN: {} of {})",
            "values",
            num(s.min),
            num(s.max),
            num(s.mean),
            s.nan_count,
            s.count
        )?;
        if let Some(l) = &a.labels {
            let l: Vec<String> = l.iter().map(|v| v.to_string()).collect();
            writeln!(out, "{:<9} {} values: {}", "labels", l.len(), l.join(", "))?;
        }
    }
    Ok(out)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ins = inspect(&args)?;
    let mut text = if args.json {
        serde_json::to_string_pretty(&ins)?
    } else {
        render_text(&ins)?
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    // One write of the whole report; a closed stdout ends danie through SIGPIPE (main.rs).
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}
