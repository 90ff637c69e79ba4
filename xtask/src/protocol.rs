//! What `cargo xtask reproduce` and its ablations share: the command-line settings, the demo
//! data, the dataset check, the run config, and one training + evaluation through the `danie`
//! binary. `reproduce.rs` and `ablation.rs` both build on this module (neither on the other's
//! internals).
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::process::{cargo, repo_root, run_checked, step};
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
pub struct Settings {
    /// Run the paper's protocol on this dataset (needs --data-root); omitted: the demo.
    #[arg(long, value_enum, requires = "data_root")]
    pub dataset: Option<Dataset>,
    /// The dataset folder, in its published layout (needs --dataset NAME).
    #[arg(long, requires = "dataset")]
    pub data_root: Option<PathBuf>,
    /// Model size (the demo and --dataset alike; default: the config's preset, tiny for the demo).
    #[arg(long, value_parser = ["s", "b", "l"])]
    pub variant: Option<String>,
    /// Device for training and evaluation.
    #[arg(long, default_value = "cpu", value_parser = ["cpu", "cuda", "auto"])]
    pub device: String,
    /// Reduced size and length (for the test suite: about a minute; its Dice means nothing).
    #[arg(long)]
    pub quick: bool,
    /// Training iterations (overrides the demo's or the config's length).
    #[arg(long)]
    pub iterations: Option<usize>,
    /// libtorch threads (0: libtorch's default, all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Train this many runs of each setting, seeds base, base+1, ... (base: the config's
    /// train.seed), and report mean ± sample std over them [default: 1 for the demo, 3 with
    /// --dataset].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100))]
    pub seeds: Option<u64>,
}

impl Settings {
    /// `--seeds`, or its default: 1 for the demo, 3 on a dataset.
    pub fn seed_count(&self) -> usize {
        self.seeds
            .map_or(if self.dataset.is_some() { 3 } else { 1 }, |n| n as usize)
    }
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

/// The run config in `run`: the demo's (after generating its data into `run/data`) or the
/// dataset's (after `danie data check` passes).
pub fn prepare_config(danie: &Path, args: &Settings, run: &Path) -> Result<PathBuf> {
    match (args.dataset, &args.data_root) {
        (Some(d), Some(root)) => {
            // The data first (local, quick), then the ImageNet checkpoints the protocol starts
            // from, both before anything long starts.
            check_dataset(danie, d, root)?;
            let protocol = repo_root().join(format!("configs/{}.toml", d.as_str()));
            crate::start_weights::fetch_for(&protocol, args.variant.as_deref())?;
            write_config(Some(d), root, args, run)
        }
        (Some(d), None) => bail!("--dataset {} needs --data-root DIR", d.as_str()),
        (None, _) => {
            let data = generate_demo_data(danie, run, &DemoSize::new(args.quick))?;
            write_config(None, &data, args, run)
        }
    }
}

/// `train.seed` of a run config (danie-train's default, 1234, where it sets none).
pub fn base_seed(config: &Path) -> Result<u64> {
    let text =
        std::fs::read_to_string(config).with_context(|| format!("reading {}", config.display()))?;
    let t: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", config.display()))?;
    Ok(t.get("train")
        .and_then(|t| t.get("seed"))
        .and_then(toml::Value::as_integer)
        .map_or(1234, |s| s as u64))
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
        "synthetic Synapse-layout data: {} patients of {} slices {}x{} in {}",
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
pub fn write_config(
    d: Option<Dataset>,
    root: &Path,
    args: &Settings,
    run: &Path,
) -> Result<PathBuf> {
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
