//! `danie inspect`'s work on a real-sized CT: read a 512 x 512 x 256 int16 volume and summarise
//! it (min / max / mean of the scaled values, label values), stored as `.nii.gz` (Fortran order,
//! gzip, `scl_inter` -1024) and as `.npy` (C order, plain). Issue 16's target: the `.nii.gz`
//! within 1.5x of the `.npy`.
//!
//! `cargo bench -p danie-data --bench inspect_volume`. The two files are generated once in the
//! system temporary folder (`danie_bench_inspect_v1/`, ~300 MB).
use std::io::Write;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion};
use danie_data::nifti::{self, NiftiHeader, TypedArray};
use danie_data::npy;
use ndarray::{Array3, ShapeBuilder};

const SHAPE: (usize, usize, usize) = (512, 512, 256);

/// A body phantom in stored values (HU + 1024): air outside an ellipse, soft tissue with noise
/// inside, a bright spine; compresses about as well as a real CT.
fn phantom() -> Array3<i16> {
    let (nx, ny, _) = SHAPE;
    Array3::from_shape_fn(SHAPE.f(), |(x, y, z)| {
        let (dx, dy) = (x as f64 / nx as f64 - 0.5, y as f64 / ny as f64 - 0.5);
        let hash =
            (x.wrapping_mul(73_856_093) ^ y.wrapping_mul(19_349_663) ^ z.wrapping_mul(83_492_791))
                % 61;
        if (dx / 0.45).powi(2) + (dy / 0.35).powi(2) > 1.0 {
            0
        } else if dx.abs() < 0.04 && (dy - 0.2).abs() < 0.04 {
            1024 + 700 + hash as i16
        } else {
            1024 + 40 + hash as i16 - 30
        }
    })
}

fn files() -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join("danie_bench_inspect_v1");
    let (gz, plain) = (dir.join("ct.nii.gz"), dir.join("ct.npy"));
    if !(gz.exists() && plain.exists()) {
        std::fs::create_dir_all(&dir).expect("bench folder");
        let data = phantom();
        let mut header = NiftiHeader::default();
        header.set_shape(&[SHAPE.0, SHAPE.1, SHAPE.2]);
        let typed = TypedArray::from(data.into_dyn());
        // The writer sets scl_slope / scl_inter to 1 / 0: write plainly, set scl_inter to
        // -1024 (little-endian f32 at byte 116), gzip at nibabel's level.
        let nii = dir.join("ct.nii");
        nifti::write(&nii, &header, &typed).expect("write .nii");
        let mut bytes = std::fs::read(&nii).expect("read .nii");
        bytes[116..120].copy_from_slice(&(-1024f32).to_le_bytes());
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(1));
        enc.write_all(&bytes).expect("gzip");
        std::fs::write(&gz, enc.finish().expect("gzip")).expect("write .nii.gz");
        std::fs::remove_file(&nii).expect("remove .nii");
        let c_order = match &typed {
            TypedArray::I16(a) => TypedArray::from(a.as_standard_layout().into_owned()),
            _ => unreachable!(),
        };
        npy::write_npy(&plain, &c_order).expect("write .npy");
    }
    (gz, plain)
}

/// What `danie inspect` does with a NIfTI file.
fn inspect_nifti(path: &Path) -> f64 {
    let img = nifti::read(path).expect("read");
    assert!(img.header.scaling().is_some());
    let (stats, labels) = img.data.summary(img.header.scaling(), 64);
    assert!(labels.is_none());
    stats.mean
}

/// What `danie inspect` does with an .npy file.
fn inspect_npy(path: &Path) -> f64 {
    let data = npy::read_npy(path).expect("read");
    data.summary(None, 64).0.mean
}

fn bench(c: &mut Criterion) {
    let (gz, plain) = files();
    let mut g = c.benchmark_group("inspect_512x512x256_int16");
    g.sample_size(10);
    g.bench_function("nii_gz", |b| b.iter(|| inspect_nifti(&gz)));
    g.bench_function("npy", |b| b.iter(|| inspect_npy(&plain)));
    let img = nifti::read(&gz).expect("read");
    g.bench_function("summary_only_fortran", |b| {
        b.iter(|| img.data.summary(img.header.scaling(), 64).0.mean)
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
