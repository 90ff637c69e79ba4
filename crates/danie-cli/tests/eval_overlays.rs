//! `danie eval --case NAME --slice K` draws the chosen slice of the chosen case: the PNG, decoded,
//! holds three panels of at least 256 px (32 px data upscaled 8x, nearest), the image panel is
//! that slice of the test volume, the reference panel draws each organ in the colour of its
//! legend swatch, and a slice out of range or `--slice` without a case is a clear error.
mod support;

use danie_data::datasets::{DatasetKind, Split};
use danie_train::overlay::{class_colour, overlay_figure};
use ndarray::{Array2, Array3};

fn ok(o: &support::Outcome) {
    o.assert_success();
}

#[test]
fn the_chosen_case_and_slice_are_drawn_large_with_a_legend_of_the_drawn_colours() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = d.join("synapse");
    let r = root.to_str().unwrap();
    ok(&support::run(
        &[
            "data",
            "generate",
            "--dataset",
            "synapse",
            "--out",
            r,
            "--cases",
            "2",
            "--size",
            "32",
            "--slices",
            "3",
        ],
        &[],
    ));
    let run_dir = d.join("run");
    let cfg = d.join("synapse.toml");
    std::fs::write(
        &cfg,
        format!(
            "[data]\ndataset = \"synapse\"\nroot = \"{r}\"\nimage_size = 32\nbatch_size = 2\n\
             num_workers = 1\n\n[model]\npreset = \"tiny\"\n\n[train]\ndevice = \"cpu\"\n\
             threads = 1\niterations = 1\nval_every = 0\n\n[output]\nrun_dir = \"{}\"\n",
            run_dir.display()
        ),
    )
    .unwrap();
    let c = cfg.to_str().unwrap();
    ok(&support::run(&["train", "--config", c], &[]));

    let vols = DatasetKind::Synapse
        .open_volumes(&root, Split::Test)
        .unwrap();
    let vol = vols.volume(0).unwrap();
    let (depth, h, w) = vol.image.dim();
    assert_eq!((depth, h, w), (3, 32, 32));
    // the slice with the most foreground is the default: pick another so the choice shows
    let counts: Vec<usize> = (0..depth)
        .map(|z| {
            vol.label
                .index_axis(ndarray::Axis(0), z)
                .iter()
                .filter(|&&v| v > 0)
                .count()
        })
        .collect();
    let busiest = (0..depth).max_by_key(|&z| counts[z]).unwrap();
    let k = (busiest + 1) % depth;

    let out = d.join("eval");
    let o = d.join("eval").to_str().unwrap().to_string();
    let args = |slice: &str| {
        vec![
            "eval".to_string(),
            "--config".into(),
            c.into(),
            "--device".into(),
            "cpu".into(),
            "--out".into(),
            o.clone(),
            "--case".into(),
            vol.name.clone(),
            "--slice".into(),
            slice.into(),
        ]
    };
    let run = |a: Vec<String>| support::run(&a.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    ok(&run(args(&k.to_string())));

    let png = image::open(out.join(format!("overlays/{}.png", vol.name)))
        .unwrap()
        .to_rgb8();
    let names: Vec<String> = DatasetKind::Synapse
        .class_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let blank = Array3::<f32>::zeros((1, h, w));
    let flat = Array2::<u8>::zeros((h, w));
    let (expected, layout) =
        overlay_figure(blank.view(), flat.view(), flat.view(), &names, "x").unwrap();
    assert_eq!(png.dimensions(), expected.dimensions());
    assert_eq!(layout.scale, 8);
    for p in &layout.panels {
        assert_eq!((p.w, p.h), (256, 256));
    }
    assert_eq!(layout.swatches.len(), 8, "a swatch per organ");
    for (id, s) in &layout.swatches {
        let swatch = png.get_pixel(s.x + s.w / 2, s.y + s.h / 2).0;
        assert_eq!(swatch, class_colour(*id), "legend swatch of class {id}");
    }

    // Every voxel of slice k: the image panel shows it, the reference panel blends it with its
    // swatch's colour; another slice would not match.
    let at = |panel: usize, y: usize, x: usize| {
        let p = layout.panels[panel];
        png.get_pixel(p.x + x as u32 * 8 + 4, p.y + y as u32 * 8 + 4)
            .0
    };
    let grey =
        |z: usize, y: usize, x: usize| (vol.image[[z, y, x]].clamp(0.0, 1.0) * 255.0).round();
    let mut labelled = 0;
    for y in 0..h {
        for x in 0..w {
            let g = grey(k, y, x);
            assert_eq!(at(0, y, x), [g as u8; 3], "image panel at ({y}, {x})");
            let l = vol.label[[k, y, x]];
            let want = if l == 0 {
                [g as u8; 3]
            } else {
                labelled += 1;
                let (_, s) = layout.swatches.iter().find(|(id, _)| *id == l).unwrap();
                let c = png.get_pixel(s.x + s.w / 2, s.y + s.h / 2).0;
                c.map(|v| (0.5 * g + 0.5 * f32::from(v)).round() as u8)
            };
            assert_eq!(
                at(1, y, x),
                want,
                "reference panel at ({y}, {x}), label {l}"
            );
        }
    }
    assert!(labelled > 0, "slice {k} holds no organ");
    let differs = (0..h)
        .flat_map(|y| (0..w).map(move |x| (y, x)))
        .filter(|&(y, x)| at(0, y, x)[0] != grey(busiest, y, x) as u8)
        .count();
    assert!(differs > 0, "slices {k} and {busiest} look alike");

    let bad = run(args(&depth.to_string()));
    bad.assert_clean_failure(&["--slice 3", &vol.name, "3 slices"], 1 << 31);
    let alone = support::run(
        &[
            "eval", "--config", c, "--device", "cpu", "--out", &o, "--slice", "1",
        ],
        &[],
    );
    alone.assert_clean_failure(&["--slice", "--case"], 1 << 31);
    // A misspelt case would draw nothing: an error naming it and the split's cases.
    let misspelt = support::run(
        &[
            "eval", "--config", c, "--device", "cpu", "--out", &o, "--case", "case9999",
        ],
        &[],
    );
    misspelt.assert_clean_failure(
        &[
            "--case case9999: not a case of the synapse test split",
            &vol.name,
        ],
        1 << 31,
    );
    // --set with nothing to override is an error, not ignored.
    let w = run_dir.join("model.safetensors");
    let img = support::real_dir().join("nifti/anatomical.nii");
    let (w, img) = (w.to_str().unwrap(), img.to_str().unwrap());
    let unread = support::run(
        &[
            "eval",
            "-w",
            w,
            "--image",
            img,
            "--reference",
            img,
            "--out",
            &o,
            "--set",
            "eval.tta=true",
        ],
        &[],
    );
    unread.assert_clean_failure(
        &["--set overrides keys of a run config: give --config"],
        1 << 31,
    );
}
