//! `danie inspect --key` with a name the file lacks lists the names it has (npz members, HDF5
//! datasets); spacing prints as the float32 pixdim reads (0.8, not 0.800000011920929) in the
//! inspect table and JSON and in `danie metrics`.
mod support;

use danie_data::nifti::{self, TypedArray};
use ndarray::{Array3, ArrayD};
use serde_json::Value;

#[test]
fn a_wrong_key_lists_the_npz_members_and_hdf5_datasets() {
    let d = tempfile::tempdir().unwrap();
    let a = TypedArray::from(ArrayD::<f32>::zeros(&[2, 3][..]));
    let npz = d.path().join("case.npz");
    danie_data::npy::write_npz(&npz, &[("image", &a), ("label", &a)], true).unwrap();
    let h5 = d.path().join("case.npy.h5");
    {
        let f = hdf5::File::create(&h5).unwrap();
        for name in ["image", "label"] {
            f.new_dataset::<f32>()
                .shape([2usize, 3])
                .create(name)
                .unwrap()
                .write(&ndarray::Array2::<f32>::zeros((2, 3)))
                .unwrap();
        }
    }
    for file in [&npz, &h5] {
        let f = file.to_str().unwrap();
        let o = support::run(&["inspect", f, "--key", "imgae"], &[]);
        assert_ne!(o.code, Some(0), "{}", o.stdout);
        assert!(
            o.stderr.contains(f)
                && o.stderr.contains("\"imgae\"")
                && o.stderr.contains("image, label"),
            "{}",
            o.stderr
        );
        // The right key reports that array only.
        let o = support::run(&["inspect", f, "--key", "label", "--json"], &[]);
        assert_eq!(o.code, Some(0), "{}", o.stderr);
        let v: Value = serde_json::from_str(&o.stdout).unwrap();
        assert_eq!(v["arrays"].as_array().unwrap().len(), 1, "{v}");
        assert_eq!(v["arrays"][0]["name"], "label");
    }
    // numpy's own member name (`label.npy`) finds the member too.
    let o = support::run(
        &["inspect", npz.to_str().unwrap(), "--key", "label.npy"],
        &[],
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
}

#[test]
fn spacing_prints_as_the_float32_pixdim() {
    let d = tempfile::tempdir().unwrap();
    let mut header =
        nifti::read_header(support::real_dir().join("totalseg/example_seg_mr.nii.gz")).unwrap();
    let data = Array3::from_shape_fn((6, 5, 4), |(x, _, _)| (x % 2) as u16).into_dyn();
    header.set_shape(data.shape());
    // pixdim is stored as float32: 0.8 reads back as 0.800000011920929.
    header.pixdim[1] = 0.8;
    header.pixdim[2] = 0.8;
    header.pixdim[3] = 2.5;
    let p = d.path().join("sp.nii.gz");
    nifti::write_array(&p, &header, data.view()).unwrap();
    assert_eq!(
        nifti::read_header(&p).unwrap().zooms()[0],
        f64::from(0.8f32)
    );
    let f = p.to_str().unwrap();

    let o = support::run(&["inspect", f, "--json"], &[]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(
        o.stdout.contains("0.8") && !o.stdout.contains("0.80000001"),
        "{}",
        o.stdout
    );
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(
        v["arrays"][0]["spacing"],
        serde_json::json!([0.8, 0.8, 2.5])
    );
    let o = support::run(&["inspect", f], &[]);
    assert!(o.stdout.contains("0.8 x 0.8 x 2.5"), "{}", o.stdout);

    let o = support::run(&["metrics", "--pred", f, "--gt", f], &[]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(
        o.stdout.contains("spacing [0.8, 0.8, 2.5]") && !o.stdout.contains("0.80000001"),
        "{}",
        o.stdout
    );
    let o = support::run(&["metrics", "--pred", f, "--gt", f, "--json"], &[]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(
        v["cases"][0]["spacing"],
        serde_json::json!([0.8, 0.8, 2.5]),
        "{v}"
    );
}
