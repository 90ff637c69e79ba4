//! `cargo xtask bench`: every speed measurement of the project in one run, written to
//! docs/performance.md with the machine, the card, the versions and the date.
//!
//! 1. The criterion benches of each crate that has a `benches/` folder (`cargo bench -p CRATE`,
//!    sample size and times reduced so that it ends in minutes on 2 cores; `CRITERION_HOME` points
//!    into the run folder and the estimates are read back into one table).
//! 2. The side-by-side scripts of the other crates (`scripts/bench_*.py`, each timing danie
//!    against its Python reference in one process tree and printing a Markdown table).
//! 3. Training and inference throughput against the PyTorch reference network, eager and under
//!    torch.compile, and inference against onnxruntime running `danie export`'s ONNX
//!    (scripts/bench_vs_pytorch.py with the release `throughput` example and `danie`), same
//!    preset, batch, input (224 px, 1 channel) and thread count, alternating repeats; the
//!    ratios danie / each, and whether danie reaches 1.0x of each.
//!
//! Two reports are quoted rather than measured, the newest of each in docs/bench/: data-parallel
//! training on the CPU (`scripts/bench_distributed.sh`, minutes of training on a quiet machine)
//! and the GPU (`scripts/gpu-bench.sh`, which needs a CUDA card).
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::process::{cargo, output_of, repo_root, run_checked, step};
use crate::run_folder::RunFolder;

#[derive(clap::Args)]
pub struct Args {
    /// Shorter runs (criterion sample size 10, fewer steps, the tiny preset, a 20-slice volume).
    #[arg(long)]
    pub quick: bool,
    /// Skip the criterion benches.
    #[arg(long)]
    pub no_criterion: bool,
    /// Skip the side-by-side comparisons with Python.
    #[arg(long)]
    pub no_compare: bool,
    /// Presets of the throughput comparison (default: tiny,s; --quick: tiny).
    #[arg(long)]
    pub presets: Option<String>,
    /// Batch of the training comparison.
    #[arg(long, default_value_t = 8)]
    pub batch: u32,
    /// Threads for libtorch and PyTorch (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Markdown report to write.
    #[arg(long, default_value_os_t = repo_root().join("docs/performance.md"))]
    pub out: PathBuf,
}

pub fn run(args: &Args) -> Result<()> {
    let env = {
        let _s = step("set-up (libtorch, HDF5, Python references)");
        crate::setup::run(&crate::setup::Args { test_deps: true })?
    };
    let python = env.python()?.to_path_buf();
    let run = RunFolder::create("bench")?;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut sections = Vec::new();

    if !args.no_criterion {
        sections.push(criterion(&env, args, &run)?);
    }
    if !args.no_compare {
        let bins = {
            let _s = step("cargo build --release (danie, throughput example)");
            run_checked(cargo(&env).args(["build", "--release", "-p", "danie-cli"]))?;
            for (krate, example) in [
                ("danie-train", "throughput"),
                ("danie-metrics", "metrics_timing"),
            ] {
                run_checked(cargo(&env).args([
                    "build",
                    "--release",
                    "-p",
                    krate,
                    "--example",
                    example,
                ]))?;
            }
            release_dir()
        };
        sections.extend(other_scripts(&python, &bins, args, threads, &run)?);
        sections.push(throughput(&python, &bins, args, threads, &run)?);
    }
    let report = render(&python, threads, &sections, args.quick);
    danie_fs::write_bytes(&args.out, &report)
        .with_context(|| format!("writing {}", args.out.display()))?;
    danie_fs::write_bytes(&run.path().join("performance.md"), &report)?;
    println!("{report}");
    eprintln!(
        "==> wrote {} (raw outputs in {})",
        args.out.display(),
        run.path().display()
    );
    Ok(())
}

/// One titled part of the report.
struct Section {
    title: String,
    body: String,
}

/// `target/release` of the workspace (CARGO_TARGET_DIR honoured).
pub fn release_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                repo_root().join(p)
            }
        })
        .unwrap_or_else(|| repo_root().join("target"))
        .join("release")
}

fn criterion(env: &crate::process::Env, args: &Args, run: &RunFolder) -> Result<Section> {
    let home = run.path().join("criterion");
    let mut crates: Vec<String> = std::fs::read_dir(repo_root().join("crates"))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("benches").is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    crates.sort();
    let (samples, measure) = if args.quick { ("10", "1") } else { ("20", "3") };
    for krate in &crates {
        let _s = step(&format!("cargo bench -p {krate}"));
        run_checked(
            cargo(env)
                .args([
                    "bench",
                    "-p",
                    krate,
                    // bench targets only (`--benches` also runs the lib, whose libtest harness
                    // rejects criterion's flags)
                    "--bench",
                    "*",
                    "--",
                    "--noplot",
                    "--sample-size",
                    samples,
                ])
                .args(["--warm-up-time", "1", "--measurement-time", measure])
                .env("CRITERION_HOME", &home),
        )?;
    }
    let mut rows = criterion_estimates(&home)?;
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let mut body = String::from("| benchmark | mean | 95% CI |\n|---|---|---|\n");
    for (id, mean, lo, hi) in &rows {
        body += &format!(
            "| {id} | {} | {} - {} |\n",
            human_ns(*mean),
            human_ns(*lo),
            human_ns(*hi)
        );
    }
    if rows.is_empty() {
        body = format!("No criterion benches found (crates with benches/: {crates:?}).\n");
    }
    Ok(Section {
        title: format!("Criterion benches ({})", crates.join(", ")),
        body,
    })
}

/// (id, mean ns, CI low, CI high) of every benchmark criterion wrote under `home`.
fn criterion_estimates(home: &Path) -> Result<Vec<(String, f64, f64, f64)>> {
    let mut rows = Vec::new();
    let mut stack = vec![home.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() && p.file_name().is_some_and(|n| n != "report" && n != "base") {
                stack.push(p);
            }
        }
        let (est, meta) = (dir.join("estimates.json"), dir.join("benchmark.json"));
        if dir.ends_with("new") && est.exists() && meta.exists() {
            let est: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&est)?)?;
            let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&meta)?)?;
            let m = &est["mean"];
            let f = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
            rows.push((
                meta["full_id"].as_str().unwrap_or("?").to_string(),
                f(&m["point_estimate"]),
                f(&m["confidence_interval"]["lower_bound"]),
                f(&m["confidence_interval"]["upper_bound"]),
            ));
        }
    }
    Ok(rows)
}

fn human_ns(ns: f64) -> String {
    match ns {
        n if n >= 1e9 => format!("{:.3} s", n / 1e9),
        n if n >= 1e6 => format!("{:.3} ms", n / 1e6),
        n if n >= 1e3 => format!("{:.3} us", n / 1e3),
        n => format!("{n:.1} ns"),
    }
}

/// Runs the other crates' `scripts/bench_*.py` (all but ours) and keeps their Markdown output.
fn other_scripts(
    python: &Path,
    bins: &Path,
    args: &Args,
    threads: usize,
    run: &RunFolder,
) -> Result<Vec<Section>> {
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(repo_root().join("scripts"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().unwrap_or_default().to_string_lossy();
            n.starts_with("bench_") && n.ends_with(".py") && n != "bench_vs_pytorch.py"
        })
        .collect();
    scripts.sort();
    let mut out = Vec::new();
    for s in scripts {
        let name = s
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let _st = step(&format!("{}", s.display()));
        let mut cmd = Command::new(python);
        cmd.arg(&s)
            .current_dir(repo_root())
            .env("DANIE_BIN", bins.join("danie"))
            .arg("--json")
            .arg(run.path().join(format!("{name}.json")));
        // Each script's own options (their docstrings): the binary it times, its size.
        match (name.as_str(), args.quick) {
            ("bench_metrics", q) => {
                cmd.arg("--danie").arg(bins.join("examples/metrics_timing"));
                if q {
                    cmd.args(["--shape", "256,256,50", "--repeat", "1"]);
                }
            }
            ("bench_loader", q) => {
                cmd.args(["--threads", &threads.to_string()]);
                if q {
                    cmd.args(["--batches", "5"]);
                }
            }
            _ => {}
        }
        let o = cmd
            .output()
            .with_context(|| format!("running {}", s.display()))?;
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        danie_fs::write_bytes(&run.path().join(format!("{name}.md")), &text)?;
        let body = if o.status.success() {
            text
        } else {
            // One failing comparison must not hide the others: its error goes in the report.
            let err = String::from_utf8_lossy(&o.stderr);
            let tail: Vec<&str> = err.lines().rev().take(5).collect();
            format!(
                "**failed** ({}):\n\n```\n{}\n```\n",
                o.status,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )
        };
        out.push(Section {
            title: format!("scripts/{name}.py"),
            body,
        });
    }
    Ok(out)
}

fn throughput(
    python: &Path,
    bins: &Path,
    args: &Args,
    threads: usize,
    run: &RunFolder,
) -> Result<Section> {
    let presets = args.presets.clone().unwrap_or_else(|| {
        if args.quick {
            "tiny".into()
        } else {
            "tiny,s".into()
        }
    });
    let json = run.path().join("throughput.json");
    let _s = step(&format!(
        "training and inference throughput vs PyTorch eager, torch.compile, onnxruntime ({presets}, {threads} threads)"
    ));
    let mut cmd = Command::new(python);
    cmd.arg(repo_root().join("scripts/bench_vs_pytorch.py"))
        .arg("--danie-bin")
        .arg(bins.join("examples/throughput"))
        .arg("--danie-cli")
        .arg(bins.join("danie"))
        .args(["--compile", "--onnxruntime"])
        .args(["--presets", &presets, "--batch", &args.batch.to_string()])
        .args(["--threads", &threads.to_string(), "--json"])
        .arg(&json);
    if args.quick {
        cmd.args(["--steps", "2", "--warmup", "1", "--volume", "20x512x512"]);
    } else {
        cmd.args(["--steps", "6", "--warmup", "2", "--repeats", "2"]);
    }
    let text = output_of(&mut cmd)
        .context("scripts/bench_vs_pytorch.py failed (run it by hand to see why)")?;
    Ok(Section {
        title: format!(
            "Training and inference vs PyTorch eager, torch.compile and onnxruntime (CPU, {threads} threads, input 224 x 224 x 1)"
        ),
        body: text + "\n",
    })
}

/// The report: machine, card, versions, date, then each section.
fn render(python: &Path, threads: usize, sections: &[Section], quick: bool) -> String {
    let sh = |c: &str| output_of(Command::new("sh").args(["-c", c])).unwrap_or_else(|| "?".into());
    let cpu = sh("lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1");
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let card =
        output_of(Command::new("nvidia-smi").args(["--query-gpu=name", "--format=csv,noheader"]))
            .unwrap_or_else(|| "none (CPU only)".into());
    let torch =
        output_of(Command::new(python).args(["-c", "import torch; print(torch.__version__)"]))
            .unwrap_or_else(|| "?".into());
    let libtorch = std::fs::read_to_string(repo_root().join(".libtorch/version.py"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("__version__ = "))
                .map(|v| v.trim_matches(['\'', '"']).to_string())
        })
        .unwrap_or_else(|| "?".into());
    let rustc = sh("rustc -V");
    let date = sh("date -u '+%Y-%m-%d %H:%M UTC'");
    let mut s = String::from("# Performance\n\n");
    s += "Written by `cargo xtask bench`";
    if quick {
        s += " --quick (short runs: indicative only)";
    }
    s += &format!(
        ". Every number below was measured in that one run.\n\n\
         | | |\n|---|---|\n| date | {date} |\n| CPU | {cpu}, {cores} cores ({threads} threads used) |\n\
         | GPU | {card} |\n| danie | {} |\n| libtorch | {libtorch} |\n| PyTorch (reference) | {torch} |\n| rustc | {rustc} |\n\n",
        env!("CARGO_PKG_VERSION")
    );
    for sec in sections {
        s += &format!("## {}\n\n{}\n", sec.title, sec.body.trim_end());
        s += "\n\n";
    }
    s += &cpu_distributed_section();
    s += &gpu_section();
    s += "How these numbers come about (packed optimiser buffers, loss reads, the loader) is in \
          docs/performance-notes.md.\n";
    s
}

/// The GPU report last by file name in docs/bench/ (`gpu-<card>-<date>.md`; shorter runs of a
/// day carry a suffix, `-quick-final`, that sorts before the full run), recorded from
/// `scripts/gpu-bench.sh` and quoted as it was written: a CPU machine cannot re-measure it.
fn gpu_section() -> String {
    recorded_section(
        &repo_root(),
        "gpu-",
        "GPU",
        "scripts/gpu-bench.sh",
        "No GPU report recorded yet: run `scripts/gpu-bench.sh` on a CUDA machine and keep its \
         gpu-bench.md under docs/bench/.",
    )
}

/// The data-parallel CPU report last by file name in docs/bench/ (`cpu-distributed-<date>.md`),
/// recorded by `scripts/bench_distributed.sh` and quoted as it was written: it needs a quiet
/// machine and minutes of training, which this run does not spend.
fn cpu_distributed_section() -> String {
    recorded_section(
        &repo_root(),
        "cpu-distributed-",
        "Data-parallel training on the CPU",
        "scripts/bench_distributed.sh",
        "No data-parallel report recorded yet: run `scripts/bench_distributed.sh` (after \
         `cargo build --release -p danie-cli`) on a quiet machine; it writes \
         docs/bench/cpu-distributed-<date>.md.",
    )
}

/// A report recorded by `script` outside this run: the last by file name in `root`/docs/bench/
/// of those named `<prefix>*.md`, quoted under "## TITLE (recorded by `script`, not by this
/// run)"; `missing` stands in its place where none is recorded.
fn recorded_section(root: &Path, prefix: &str, title: &str, script: &str, missing: &str) -> String {
    let dir = root.join("docs/bench");
    let mut reports: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let n = p
                        .file_name()
                        .map_or(String::new(), |n| n.to_string_lossy().into());
                    n.starts_with(prefix) && n.ends_with(".md")
                })
                .collect()
        })
        .unwrap_or_default();
    reports.sort();
    let Some(chosen) = reports.last() else {
        return format!("## {title}\n\n{missing}\n\n");
    };
    let text = std::fs::read_to_string(chosen).unwrap_or_default();
    // Its own title becomes ours; its sections move one level down.
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("# "))
        .map(|l| {
            if l.starts_with("## ") {
                format!("#{l}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    format!(
        "## {title} (recorded by `{script}`, not by this run)\n\nFrom `{}`; the JSON beside it \
         holds every number.\n{}\n",
        chosen.strip_prefix(root).unwrap_or(chosen).display(),
        body.trim_end()
    ) + "\n\n"
}

#[cfg(test)]
mod tests {
    use super::recorded_section;

    #[test]
    fn the_newest_report_of_its_kind_is_quoted_under_the_title() {
        let root = tempfile::tempdir().unwrap();
        let bench = root.path().join("docs/bench");
        std::fs::create_dir_all(&bench).unwrap();
        let quote = || {
            recorded_section(
                root.path(),
                "cpu-distributed-",
                "Data-parallel training on the CPU",
                "scripts/bench_distributed.sh",
                "none yet",
            )
        };
        assert_eq!(
            quote(),
            "## Data-parallel training on the CPU\n\nnone yet\n\n"
        );

        let write = |name: &str, text: &str| std::fs::write(bench.join(name), text).unwrap();
        write("cpu-distributed-2026-11-30.md", "# Old\n\nold table\n");
        write(
            "cpu-distributed-2026-12-01.md",
            "# New\n\nnew table\n## Notes\nnote\n",
        );
        write("cpu-distributed-2026-12-02.json", "{}");
        write("gpu-h200-2026-12-03.md", "# GPU\n\ngpu table\n");
        assert_eq!(
            quote(),
            "## Data-parallel training on the CPU (recorded by `scripts/bench_distributed.sh`, \
             not by this run)\n\nFrom `docs/bench/cpu-distributed-2026-12-01.md`; the JSON beside \
             it holds every number.\n\nnew table\n### Notes\nnote\n\n\n"
        );
    }
}
