//! `cargo xtask reproduce`: the demo (no arguments), a paper protocol on a dataset folder, or
//! the paper's ablations; every output in one run folder that it names at the end.
//!
//! It orchestrates the release `danie` binary (built here after set-up, or `DANIE_BIN`):
//! - demo: `danie data generate` (synthetic Synapse layout) into `RUN/data`, a run config
//!   `RUN/config.toml` (tiny preset, CPU, a short schedule), `danie train`, `danie eval`;
//! - `--dataset D --data-root DIR`: `danie data check` first, then train and eval with
//!   `configs/D.toml` and `--set` overrides (variant, device, data root, run folder);
//! - `--ablation fusion|order|calibration|streams`: one shortened demo-size training per switch
//!   value (`ablation.rs`), collected into one table.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::ablation::Ablation;
use crate::process::{cargo, repo_root, run_checked, step};
use crate::run_folder::RunFolder;
use crate::run_summary::RunSummary;

/// The datasets of the paper's tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Dataset {
    Synapse,
    Acdc,
    Isic2017,
    Isic2018,
    Glas,
}

impl Dataset {
    pub fn as_str(self) -> &'static str {
        match self {
            Dataset::Synapse => "synapse",
            Dataset::Acdc => "acdc",
            Dataset::Isic2017 => "isic2017",
            Dataset::Isic2018 => "isic2018",
            Dataset::Glas => "glas",
        }
    }
}

#[derive(clap::Args, Clone)]
pub struct Args {
    /// Run the paper's protocol on this dataset (needs --data-root); omitted: the demo.
    #[arg(long, value_enum, requires = "data_root")]
    pub dataset: Option<Dataset>,
    /// The dataset folder, in its published layout (needs --dataset NAME).
    #[arg(long, requires = "dataset")]
    pub data_root: Option<PathBuf>,
    /// Model size for --dataset (the demo uses the tiny preset).
    #[arg(long, value_parser = ["s", "b", "l"])]
    pub variant: Option<String>,
    /// Device for training and evaluation.
    #[arg(long, default_value = "cpu", value_parser = ["cpu", "cuda", "auto"])]
    pub device: String,
    /// Run an ablation of the paper instead (on the demo data, or on --dataset when given).
    #[arg(long, value_enum)]
    pub ablation: Option<Ablation>,
    /// Reduced size and length (for the test suite: about a minute; its Dice means nothing).
    #[arg(long)]
    pub quick: bool,
    /// Training iterations (overrides the demo's or the config's length).
    #[arg(long)]
    pub iterations: Option<usize>,
    /// libtorch threads (0: libtorch's default, all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

/// Size of the demo's synthetic data; the schedule is configs/demo.toml's unless --quick.
#[derive(Clone, Debug)]
pub struct DemoSize {
    pub cases: usize,
    pub size: usize,
    pub slices: usize,
}

impl DemoSize {
    pub fn new(quick: bool) -> Self {
        if quick {
            DemoSize {
                cases: 5,
                size: 48,
                slices: 4,
            }
        } else {
            DemoSize {
                cases: 30,
                size: 128,
                slices: 16,
            }
        }
    }
}

pub fn run(args: &Args) -> Result<()> {
    let danie = danie_binary()?;
    if let Some(ab) = args.ablation {
        return crate::ablation::run(&danie, ab, args);
    }
    let run = RunFolder::create(match args.dataset {
        Some(d) => d.as_str(),
        None => "demo",
    })?;
    run.discard_if_empty_on_error(run_in(&danie, args, &run))
}

/// The demo or a dataset's protocol in the (new) run folder `run`.
fn run_in(danie: &Path, args: &Args, run: &RunFolder) -> Result<()> {
    let start = Instant::now();
    let config = match args.dataset {
        None => {
            let data = generate_demo_data(danie, run.path(), &DemoSize::new(args.quick))?;
            write_config(None, &data, args, run.path())?
        }
        Some(d) => {
            let Some(root) = args.data_root.as_ref() else {
                bail!("--dataset {} needs --data-root DIR", d.as_str());
            };
            let protocol = repo_root().join(format!("configs/{}.toml", d.as_str()));
            crate::start_weights::fetch_for(&protocol, args.variant.as_deref())?;
            check_dataset(danie, d, root)?;
            write_config(Some(d), root, args, run.path())?
        }
    };
    let summary = train_and_eval(danie, &config, run.path(), &[])?;
    let minutes = start.elapsed().as_secs_f64() / 60.0;
    println!("{}", summary.table_md.trim_end());
    println!(
        "\n{} in {minutes:.1} min (data, training and evaluation; build excluded)",
        summary.headline()
    );
    if args.dataset.is_none() {
        println!(
            "(demo: synthetic phantoms, not CT; the published rows are real Synapse results and are shown for layout only, not for comparison)"
        );
    }
    danie_fs::write_bytes(
        &run.path().join("reproduce.json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "command": std::env::args().collect::<Vec<_>>(),
            "config": config,
            "mean_dsc_percent": summary.mean_dsc_percent(),
            "mean_hd95": summary.mean_hd95,
            "hd95_unit": summary.hd95_unit(),
            "minutes": minutes,
        }))?,
    )?;
    println!("run folder: {}", run.path().display());
    Ok(())
}

/// The release `danie` binary: `DANIE_BIN`, or built here after set-up.
pub fn danie_binary() -> Result<PathBuf> {
    if let Some(b) = std::env::var_os("DANIE_BIN") {
        let b = PathBuf::from(b);
        if !b.is_file() {
            bail!("DANIE_BIN={} is not a file", b.display());
        }
        return Ok(b);
    }
    let env = {
        let _s = step("set-up (libtorch, HDF5)");
        crate::setup::run(&crate::setup::Args::default())?
    };
    let _s = step("cargo build --release -p danie-cli");
    run_checked(cargo(&env).args(["build", "--release", "-p", "danie-cli"]))?;
    Ok(crate::bench::release_dir().join("danie"))
}

/// `danie data generate --dataset synapse` into `RUN/data`; returns the dataset folder.
pub fn generate_demo_data(danie: &Path, run: &Path, size: &DemoSize) -> Result<PathBuf> {
    let data = run.join("data");
    let _s = step(&format!(
        "synthetic Synapse-layout data: {} cases of {} slices {}x{} in {}",
        size.cases,
        size.slices,
        size.size,
        size.size,
        data.display()
    ));
    run_checked(
        Command::new(danie)
            .args(["data", "generate", "--dataset", "synapse", "--out"])
            .arg(&data)
            .args(["--cases", &size.cases.to_string()])
            .args(["--size", &size.size.to_string()])
            .args(["--slices", &size.slices.to_string()]),
    )?;
    Ok(data)
}

/// `danie data check`: the folder must read cleanly before hours of training start.
pub fn check_dataset(danie: &Path, d: Dataset, root: &Path) -> Result<()> {
    let _s = step(&format!(
        "danie data check --dataset {} --root {}",
        d.as_str(),
        root.display()
    ));
    run_checked(
        Command::new(danie)
            .args(["data", "check", "--dataset", d.as_str(), "--root"])
            .arg(root),
    )
    .with_context(|| {
        format!(
            "{} is not a usable {} folder (see the problems above)",
            root.display(),
            d.as_str()
        )
    })
}

/// Writes `RUN/config.toml`: configs/demo.toml (or configs/D.toml) with the data root, the run
/// folder, the device and the command line's choices set in it, so the run folder says exactly
/// what ran.
pub fn write_config(d: Option<Dataset>, root: &Path, args: &Args, run: &Path) -> Result<PathBuf> {
    let name = d.map_or("demo", Dataset::as_str);
    let base = repo_root().join(format!("configs/{name}.toml"));
    let text =
        std::fs::read_to_string(&base).with_context(|| format!("reading {}", base.display()))?;
    let mut t: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", base.display()))?;
    let abs = |p: &Path| {
        std::path::absolute(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string()
    };
    set(&mut t, "data.root", abs(root).into());
    set(&mut t, "output.run_dir", abs(&run.join("train")).into());
    set(&mut t, "train.device", args.device.clone().into());
    if args.threads > 0 {
        set(&mut t, "train.threads", (args.threads as i64).into());
    }
    if let Some(v) = &args.variant {
        set(&mut t, "model.preset", v.clone().into());
    }
    if d.is_none() {
        // Overlays of the first test case of the synthetic split.
        set(
            &mut t,
            "eval.overlay_cases",
            toml::Value::Array(vec!["case0001".into()]),
        );
        if args.quick {
            set(&mut t, "data.image_size", 32.into());
            set(&mut t, "data.batch_size", 4.into());
            set(&mut t, "train.checkpoint_every", 0.into());
        }
    }
    let iterations = args.iterations.or(if args.quick { Some(4) } else { None });
    if let Some(i) = iterations {
        set(&mut t, "train.iterations", (i as i64).into());
        if let Some(train) = t.get_mut("train").and_then(toml::Value::as_table_mut) {
            train.remove("epochs");
        }
    }
    let path = run.join("config.toml");
    danie_fs::write_bytes(
        &path,
        format!(
            "# configs/{name}.toml as `cargo xtask reproduce` ran it\n{}",
            toml::to_string(&t)?
        ),
    )
    .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Sets a dotted key (`train.device`) in a TOML table, creating tables on the way.
fn set(t: &mut toml::Table, dotted: &str, v: toml::Value) {
    let mut keys: Vec<&str> = dotted.split('.').collect();
    let last = keys.pop().expect("a non-empty key");
    let mut cur = t;
    for k in keys {
        cur = cur
            .entry(k)
            .or_insert_with(|| toml::Value::Table(Default::default()))
            .as_table_mut()
            .expect("config sections are tables");
    }
    cur.insert(last.to_string(), v);
}

/// `danie train` then `danie eval` with `config` (+ `--set` overrides); reads the results back.
pub fn train_and_eval(
    danie: &Path,
    config: &Path,
    run: &Path,
    sets: &[String],
) -> Result<RunSummary> {
    let with_sets = |c: &mut Command| {
        for s in sets {
            c.arg("--set").arg(s);
        }
    };
    {
        let _s = step(&format!("danie train --config {}", config.display()));
        let mut c = Command::new(danie);
        c.args(["train", "--config"]).arg(config);
        with_sets(&mut c);
        run_checked(&mut c)?;
    }
    {
        let _s = step("danie eval (test split)");
        let mut c = Command::new(danie);
        c.args(["eval", "--config"]).arg(config);
        c.arg("--baselines")
            .arg(repo_root().join("configs/baselines.toml"));
        with_sets(&mut c);
        c.arg("--out").arg(run.join("eval"));
        // eval prints the same summary.md that the caller prints at the end: print it once.
        c.stdout(std::process::Stdio::null());
        run_checked(&mut c)?;
    }
    RunSummary::read(&run.join("eval"))
}
