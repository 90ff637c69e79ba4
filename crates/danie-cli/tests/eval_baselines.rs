//! `danie eval` prints the published baselines that ship with danie whatever the config's
//! folder (a run folder's saved `config.toml` included), another file with `--baselines`, and
//! names which it read; a missing `--baselines` file is an error naming it.
mod support;

use std::path::Path;

fn danie(args: &[&str]) -> support::Outcome {
    support::run(args, &[])
}

fn ok(o: &support::Outcome) {
    o.assert_success();
}

#[test]
fn eval_from_a_run_folder_finds_the_shipped_baselines_and_honours_baselines() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = d.join("synapse");
    ok(&danie(&[
        "data",
        "generate",
        "--dataset",
        "synapse",
        "--out",
        root.to_str().unwrap(),
        "--cases",
        "2",
        "--size",
        "32",
        "--slices",
        "3",
    ]));
    let run_dir = d.join("runs/r1");
    let cfg = d.join("synapse.toml");
    std::fs::write(
        &cfg,
        format!(
            "[data]\ndataset = \"synapse\"\nroot = \"{}\"\nimage_size = 32\nbatch_size = 2\n\
             num_workers = 1\n\n[model]\npreset = \"tiny\"\n\n[train]\ndevice = \"cpu\"\n\
             threads = 1\niterations = 1\nval_every = 0\n\n[output]\nrun_dir = \"{}\"\n",
            root.display(),
            run_dir.display()
        ),
    )
    .unwrap();
    ok(&danie(&["train", "--config", cfg.to_str().unwrap()]));
    let saved = run_dir.join("config.toml");
    assert!(saved.is_file(), "the run saved no config.toml");
    assert!(!run_dir.join("baselines.toml").exists());

    // The run folder's config: no baselines file beside it, the shipped ones are found.
    let out = d.join("eval-shipped");
    let o = danie(&[
        "eval",
        "--config",
        saved.to_str().unwrap(),
        "--device",
        "cpu",
        "--out",
        out.to_str().unwrap(),
    ]);
    ok(&o);
    assert!(
        o.stdout
            .contains("Published numbers (from the shipped baselines): TransUNet"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("| DAE-Former (published) | 82.43 |"),
        "{}",
        o.stdout
    );
    assert!(!o.stdout.contains("No published baselines"), "{}", o.stdout);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(json["baselines"].as_array().unwrap().len(), 5);

    // --baselines: another file, named in the report.
    let custom = d.join("mine.toml");
    std::fs::write(
        &custom,
        "[[synapse]]\nmethod = \"MyNet\"\ndsc = 12.5\nhd95 = 3.0\nsource = \"my notes\"\n",
    )
    .unwrap();
    let o = danie(&[
        "eval",
        "--config",
        saved.to_str().unwrap(),
        "--device",
        "cpu",
        "--out",
        d.join("eval-custom").to_str().unwrap(),
        "--baselines",
        custom.to_str().unwrap(),
    ]);
    ok(&o);
    assert!(
        o.stdout.contains(&format!(
            "Published numbers (from {}): MyNet: my notes.",
            custom.display()
        )),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("| MyNet (published) | 12.50 | 3.00 |"),
        "{}",
        o.stdout
    );
    assert!(!o.stdout.contains("DAE-Former"), "{}", o.stdout);

    // A file without the dataset: the message names the file read.
    let other = d.join("acdc-only.toml");
    std::fs::write(
        &other,
        "[[acdc]]\nmethod = \"X\"\ndsc = 1.0\nsource = \"s\"\n",
    )
    .unwrap();
    let o = danie(&[
        "eval",
        "--config",
        saved.to_str().unwrap(),
        "--device",
        "cpu",
        "--out",
        d.join("eval-other").to_str().unwrap(),
        "--baselines",
        other.to_str().unwrap(),
    ]);
    ok(&o);
    assert!(
        o.stdout.contains(&format!(
            "(No published baselines for synapse in {}.)",
            other.display()
        )),
        "{}",
        o.stdout
    );

    // A missing --baselines file: a clean error naming it.
    let missing = d.join("nope/baselines.toml");
    let o = danie(&[
        "eval",
        "--config",
        saved.to_str().unwrap(),
        "--device",
        "cpu",
        "--out",
        d.join("eval-missing").to_str().unwrap(),
        "--baselines",
        missing.to_str().unwrap(),
    ]);
    o.assert_clean_failure(&[missing.to_str().unwrap()], 2 << 30);
    assert!(!Path::new(&d.join("eval-missing/summary.md")).exists());
}

#[test]
fn help_documents_baselines() {
    let o = danie(&["eval", "--help"]);
    ok(&o);
    assert!(o.stdout.contains("--baselines <FILE>"), "{}", o.stdout);
    assert!(o.stdout.contains("shipped with danie"), "{}", o.stdout);
}
