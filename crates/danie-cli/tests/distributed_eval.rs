//! `danie eval` and `danie predict` split over processes: two ranks started as torchrun starts
//! them (RANK, WORLD_SIZE, ... on a free local port) write the same tables as one process, byte
//! for byte; `--num-parts/--part-id` and two ranks write every mask once, equal to one process's;
//! a rank's broken case file stops both ranks, non-zero, naming the file, within the timeout.
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use danie_data::datasets::{DatasetKind, Split, SYNAPSE_BTCV_TO_8};
use danie_testkit::ranks::{free_port, launcher_env, Placement};

/// The collectives' timeout in these tests (seconds).
const TIMEOUT_S: &str = "30";

/// A bound on any one `danie` process (a hang fails the test instead of stalling it).
const PROCESS_LIMIT_S: u64 = 300;

/// `danie args` under `timeout`, with extra environment.
fn danie(args: &[&str], envs: &[(&str, String)]) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.arg(PROCESS_LIMIT_S.to_string())
        .arg(support::danie_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd
}

/// Runs `danie args` as ranks 0 and 1 of a two-process run on 127.0.0.1, as torchrun would;
/// returns each rank's outcome and the time both took.
fn two_ranks(args: &[&str]) -> (Vec<support::Outcome>, Duration) {
    let port = free_port();
    let start = Instant::now();
    let ranks: Vec<_> = (0..2)
        .map(|rank| {
            let mut cmd = danie(args, &[("DANIE_DIST_TIMEOUT_S", TIMEOUT_S.to_string())]);
            launcher_env(&mut cmd, rank, 2, port, Placement::OneNode);
            std::thread::spawn(move || support::run_command(cmd))
        })
        .collect();
    let outcomes = ranks.into_iter().map(|t| t.join().unwrap()).collect();
    (outcomes, start.elapsed())
}

/// A tiny Synapse dataset (3 test volumes: rank 0 scores two, rank 1 one) and weights trained
/// one step on it; returns (dataset root, config file).
fn synapse_run(d: &Path) -> (PathBuf, PathBuf) {
    trained_run(d, "synapse", "7", &["--slices", "3"])
}

/// A tiny `dataset` of `cases` cases written by `danie data generate` and weights trained one
/// step on it (in `d/run`); returns (dataset root, config file).
fn trained_run(d: &Path, dataset: &str, cases: &str, extra: &[&str]) -> (PathBuf, PathBuf) {
    let root = d.join(dataset);
    let r = root.to_str().unwrap();
    let mut generate = vec![
        "data",
        "generate",
        "--dataset",
        dataset,
        "--out",
        r,
        "--cases",
        cases,
        "--size",
        "32",
    ];
    generate.extend(extra);
    support::run(&generate, &[]).assert_success();
    let cfg = d.join(format!("{dataset}.toml"));
    std::fs::write(
        &cfg,
        format!(
            "[data]\ndataset = \"{dataset}\"\nroot = \"{r}\"\nimage_size = 32\nbatch_size = 2\n\
             num_workers = 1\n\n[model]\npreset = \"tiny\"\n\n[train]\ndevice = \"cpu\"\n\
             threads = 1\niterations = 1\nval_every = 0\n\n[output]\nrun_dir = \"{}\"\n",
            d.join("run").display()
        ),
    )
    .unwrap();
    support::run(&["train", "--config", cfg.to_str().unwrap()], &[]).assert_success();
    (root, cfg)
}

/// `danie eval --config cfg --out out` in one process and as two ranks: the same files, byte for
/// byte, and the same table printed by one process and by rank 0 (rank 1 prints nothing).
/// Returns the files.
fn eval_one_and_two(cfg: &Path, d: &Path, extra: &[&str]) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut args = vec!["--config", cfg.to_str().unwrap()];
    args.extend(extra);
    eval_args_one_and_two(d, "eval", &args)
}

/// `danie eval --device cpu --out d/<tag>-one|two args` in one process and as two ranks (see
/// [`eval_one_and_two`]).
fn eval_args_one_and_two(d: &Path, tag: &str, extra: &[&str]) -> BTreeMap<PathBuf, Vec<u8>> {
    let args = |out: &Path| -> Vec<String> {
        let mut a: Vec<String> = ["eval", "--device", "cpu", "--out", out.to_str().unwrap()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let one_out = d.join(format!("{tag}-one"));
    let one_args = args(&one_out);
    let one = support::run(
        &one_args.iter().map(String::as_str).collect::<Vec<_>>(),
        &[],
    );
    one.assert_success();
    let two_out = d.join(format!("{tag}-two"));
    let two_args = args(&two_out);
    let (two, _) = two_ranks(&two_args.iter().map(String::as_str).collect::<Vec<_>>());
    for o in &two {
        o.assert_success();
    }
    let (one_files, two_files) = (support::files(&one_out), support::files(&two_out));
    assert_eq!(names(&two_files), names(&one_files));
    for (name, bytes) in &one_files {
        assert!(
            &two_files[name] == bytes,
            "{} differs:\none process:\n{}\ntwo ranks:\n{}",
            name.display(),
            String::from_utf8_lossy(bytes),
            String::from_utf8_lossy(&two_files[name])
        );
    }
    let rank0 = two[0]
        .stdout
        .replace(&format!("{tag}-two"), &format!("{tag}-one"));
    assert_eq!(rank0, one.stdout);
    assert_eq!(two[1].stdout, "");
    two_files
}

/// The test volumes' names, in case order.
fn test_cases(root: &Path) -> Vec<String> {
    let vols = DatasetKind::Synapse
        .open_volumes(root, Split::Test)
        .unwrap();
    (0..vols.len())
        .map(|i| vols.volume(i).unwrap().name)
        .collect()
}

fn names(files: &BTreeMap<PathBuf, Vec<u8>>) -> Vec<String> {
    files.keys().map(|p| p.display().to_string()).collect()
}

#[test]
fn two_ranks_write_the_tables_of_one_process_and_a_broken_case_stops_both() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (root, cfg) = synapse_run(d);
    let c = cfg.to_str().unwrap();
    let cases = test_cases(&root);
    assert_eq!(cases.len(), 3, "{cases:?}");
    // An overlay of a case of each rank: rank 0 scores cases 0 and 2, rank 1 case 1.
    let overlays = [
        "--convention",
        "medpy",
        "--case",
        &cases[1],
        "--case",
        &cases[2],
    ];
    let two_files = eval_one_and_two(&cfg, d, &overlays);
    assert_eq!(
        names(&two_files),
        [
            "cases.csv".to_string(),
            format!("overlays/{}.png", cases[1]),
            format!("overlays/{}.png", cases[2]),
            "paper_table.csv".into(),
            "summary.json".into(),
            "summary.md".into(),
        ]
    );
    // The per-case rows: every case, in case order (rank 1's case between rank 0's two).
    let rows = String::from_utf8(two_files[Path::new("cases.csv")].clone()).unwrap();
    let mut order: Vec<&str> = rows
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    order.dedup();
    assert_eq!(order, cases);
    // NIfTI (image, reference) pairs without a dataset: 3 Synapse-raw test pairs, BTCV ids
    // mapped to the model's organs, distances in mm.
    let raw = d.join("raw");
    support::run(
        &[
            "data",
            "generate",
            "--dataset",
            "synapse-raw",
            "--out",
            raw.to_str().unwrap(),
            "--cases",
            "8",
            "--size",
            "32",
            "--slices",
            "3",
        ],
        &[],
    )
    .assert_success();
    let mut ids: Vec<String> = std::fs::read_dir(raw.join("img"))
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .replace("img", "")
                .replace(".nii.gz", "")
        })
        .collect();
    ids.sort();
    assert!(ids.len() >= 3, "{ids:?}");
    let map: Vec<String> = SYNAPSE_BTCV_TO_8
        .iter()
        .enumerate()
        .filter(|(_, &to)| to > 0)
        .map(|(from, to)| format!("{from}:{to}"))
        .collect();
    let map = map.join(",");
    let weights = d.join("run/model.safetensors");
    let mut pair_args: Vec<String> = vec![
        "--weights".into(),
        weights.display().to_string(),
        "--convention".into(),
        "medpy".into(),
        "--label-map".into(),
        map,
    ];
    for id in &ids[..3] {
        pair_args.push("--image".into());
        pair_args.push(
            raw.join(format!("img/img{id}.nii.gz"))
                .display()
                .to_string(),
        );
        pair_args.push("--reference".into());
        pair_args.push(
            raw.join(format!("label/label{id}.nii.gz"))
                .display()
                .to_string(),
        );
    }
    let pair_args: Vec<&str> = pair_args.iter().map(String::as_str).collect();
    let pair_files = eval_args_one_and_two(d, "pairs", &pair_args);
    let rows = String::from_utf8(pair_files[Path::new("cases.csv")].clone()).unwrap();
    let mut order: Vec<String> = rows
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    order.dedup();
    let want: Vec<String> = ids[..3].iter().map(|id| format!("img{id}")).collect();
    assert_eq!(order, want);

    // Rank 1's only case (case 1) is broken: both ranks stop, non-zero, naming its file.
    let broken = std::fs::read_dir(root.join("test_vol_h5"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().contains(&cases[1]))
        .unwrap();
    std::fs::write(&broken, b"not an HDF5 file").unwrap();
    let bad_out = d.join("eval-bad");
    let mut bad_args = vec!["eval", "--config", c, "--device", "cpu", "--out"];
    bad_args.push(bad_out.to_str().unwrap());
    let (bad, took) = two_ranks(&bad_args);
    let file = broken.file_name().unwrap().to_string_lossy().into_owned();
    for (rank, o) in bad.iter().enumerate() {
        assert_ne!(o.code, Some(124), "rank {rank} hung:\n{}", o.stderr);
        o.assert_clean_failure(&[&file, "rank 1"], u64::MAX);
    }
    // Within the collectives' timeout of starting (rank 0 is not left waiting for it).
    assert!(
        took < Duration::from_secs(30),
        "the ranks took {took:?} to stop"
    );
    assert!(!bad_out.join("summary.md").exists());
}

/// ISIC's pooled confusion matrix and GlaS's per-image Dice from two ranks: the tables and the
/// per-image rows of one process.
#[test]
fn two_ranks_pool_2d_scores_as_one_process() {
    for (dataset, cases) in [("isic2018", "12"), ("glas", "8")] {
        let dir = tempfile::tempdir().unwrap();
        let (_, cfg) = trained_run(dir.path(), dataset, cases, &[]);
        let files = eval_one_and_two(&cfg, dir.path(), &[]);
        let rows = String::from_utf8(files[Path::new("cases.csv")].clone()).unwrap();
        assert!(
            rows.lines().count() >= 3,
            "{dataset}: two images or more\n{rows}"
        );
    }
}

/// Five 32 x 32 grey images with bright discs at different places (a Synapse model reads one
/// channel), in `dir`.
fn images(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for k in 0..5u32 {
        let img = image::GrayImage::from_fn(32, 32, |x, y| {
            let (cx, cy) = (6 + 5 * k, 26 - 4 * k);
            let r2 = (x as i64 - cx as i64).pow(2) + (y as i64 - cy as i64).pow(2);
            let noise = (x * 7 + y * 13 + k * 31) % 23;
            image::Luma([if r2 < 30 {
                200 + noise as u8
            } else {
                40 + noise as u8
            }])
        });
        img.save(dir.join(format!("img{k}.png"))).unwrap();
    }
}

#[test]
fn parts_and_ranks_write_every_mask_once_as_one_process_does() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_, _) = synapse_run(d);
    let weights = d.join("run/model.safetensors");
    let w = weights.to_str().unwrap();
    let inputs = d.join("in");
    images(&inputs);
    let i = inputs.to_str().unwrap();
    let predict = |out: &Path, extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "predict",
            "--weights",
            w,
            "--device",
            "cpu",
            "-i",
            i,
            "-o",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = |a: Vec<String>, envs: &[(&str, &str)]| {
        support::run(&a.iter().map(String::as_str).collect::<Vec<_>>(), envs)
    };
    let one_out = d.join("one");
    run(predict(&one_out, &[]), &[]).assert_success();
    let one = support::files(&one_out);
    let all: Vec<String> = (0..5).map(|k| format!("img{k}.png")).collect();
    assert_eq!(names(&one), all);

    // Two parts into one folder, one after the other: each writes its own inputs (0, 2, 4 and
    // 1, 3 of the sorted names) and says so; the second finds the first's masks and goes on.
    let parts_out = d.join("parts");
    let p0 = run(
        predict(&parts_out, &["--num-parts", "2", "--part-id", "0"]),
        &[],
    );
    p0.assert_success();
    assert_eq!(
        names(&support::files(&parts_out)),
        ["img0.png", "img2.png", "img4.png"]
    );
    assert!(
        p0.stdout.contains("part 0 of 2 wrote 3 of the 5 outputs"),
        "{}",
        p0.stdout
    );
    let p1 = run(
        predict(&parts_out, &["--num-parts", "2", "--part-id", "1"]),
        &[],
    );
    p1.assert_success();
    assert!(
        p1.stdout.contains("part 1 of 2 wrote 2 of the 5 outputs"),
        "{}",
        p1.stdout
    );
    assert_eq!(
        support::files(&parts_out),
        one,
        "two parts differ from one process"
    );
    // Each part wrote only its own masks: it names them and no other.
    for (o, own) in [(&p0, [0, 2, 4].as_slice()), (&p1, [1, 3].as_slice())] {
        for k in 0..5 {
            let said = o.stdout.contains(&format!("img{k}.png"));
            assert_eq!(said, own.contains(&k), "img{k}: {}", o.stdout);
        }
    }

    // Two ranks of a launched run into one folder.
    let ranks_out = d.join("ranks");
    let a = predict(&ranks_out, &[]);
    let (two, _) = two_ranks(&a.iter().map(String::as_str).collect::<Vec<_>>());
    for o in &two {
        o.assert_success();
    }
    assert_eq!(
        support::files(&ranks_out),
        one,
        "two ranks differ from one process"
    );
    assert!(
        two[0]
            .stdout
            .contains("rank 0 of 2 wrote 3 of the 5 outputs"),
        "{}",
        two[0].stdout
    );
    assert_eq!(two[1].stdout, "");

    // Rank 1's image (img1.png, the second by name) is broken: both ranks stop, non-zero,
    // naming it; rank 0 does not go on to its second image.
    let broken_in = d.join("in-broken");
    images(&broken_in);
    std::fs::write(broken_in.join("img1.png"), b"not a PNG").unwrap();
    let broken_out = d.join("broken");
    let mut a = predict(&broken_out, &[]);
    let input_at = a.iter().position(|x| x == "-i").unwrap() + 1;
    a[input_at] = broken_in.to_str().unwrap().into();
    let (bad, took) = two_ranks(&a.iter().map(String::as_str).collect::<Vec<_>>());
    for (rank, o) in bad.iter().enumerate() {
        assert_ne!(o.code, Some(124), "rank {rank} hung:\n{}", o.stderr);
        o.assert_clean_failure(&["img1.png", "rank 1"], u64::MAX);
    }
    assert!(
        took < Duration::from_secs(30),
        "the ranks took {took:?} to stop"
    );
    assert_eq!(names(&support::files(&broken_out)), ["img0.png"]);

    // Bad part arguments: clear errors, nothing written.
    let bad_out = d.join("bad");
    let rss = support::baseline_plus(512 * support::MIB);
    run(
        predict(&bad_out, &["--num-parts", "2", "--part-id", "2"]),
        &[],
    )
    .assert_clean_failure(&["--part-id 2", "--num-parts 2"], rss);
    run(predict(&bad_out, &["--num-parts", "2"]), &[]).assert_clean_failure(&["--part-id"], rss);
    run(predict(&bad_out, &["--part-id", "0"]), &[]).assert_clean_failure(&["--num-parts"], rss);
    run(
        predict(&bad_out, &["--num-parts", "0", "--part-id", "0"]),
        &[],
    )
    .assert_clean_failure(&["--num-parts 0"], rss);
    run(
        predict(&bad_out, &["--num-parts", "2", "--part-id", "0"]),
        &[("WORLD_SIZE", "2"), ("RANK", "0")],
    )
    .assert_clean_failure(&["--num-parts", "WORLD_SIZE"], rss);
    assert!(!bad_out.exists());
    // Parts predicting a folder into itself would list each other's masks as inputs.
    run(
        vec![
            "predict".into(),
            "--weights".into(),
            w.into(),
            "--device".into(),
            "cpu".into(),
            "-i".into(),
            i.into(),
            "-o".into(),
            i.into(),
            "--num-parts".into(),
            "2".into(),
            "--part-id".into(),
            "1".into(),
        ],
        &[],
    )
    .assert_clean_failure(&["both the input and the output folder"], rss);
}
