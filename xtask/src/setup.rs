//! `cargo xtask setup`: everything the workspace needs, installed inside the repository.
//!
//! - libtorch: PyTorch 2.11.0 (the version tch 0.24 binds) pip-installed into `.venv`, and
//!   `.libtorch` linked to its `torch` folder, which `.cargo/config.toml` names as LIBTORCH so
//!   that plain `cargo build` / `cargo test` find it. A LIBTORCH set by the user wins and skips
//!   the install.
//! - HDF5 (TransUNet's test volumes): Debian's libhdf5-dev through apt-get when missing.
//! - Gloo's headers (danie-dist's c10d shim): Debian's libgloo-dev through apt-get when missing.
//! - With a CUDA 13 torch: CUDA's crt and cccl headers (pip, 3 MB), which danie-dist's NCCL path
//!   needs beside the nccl.h and CUDA runtime headers the torch wheel brings.
//! - With `--test-deps`: the Python references the tests compare against
//!   (reference/requirements-test.txt: medpy, MONAI, nibabel, torchvision, timm, ...).
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::process::{output_of, repo_root, run_checked, step, Env};

/// The PyTorch version whose libtorch tch 0.24 is built against.
pub const TORCH_VERSION: &str = "2.11.0";

#[derive(clap::Args, Default)]
pub struct Args {
    /// Also install the Python packages the tests compare against.
    #[arg(long)]
    pub test_deps: bool,
}

pub fn run(args: &Args) -> Result<Env> {
    let root = repo_root();
    let linked = root.join(".libtorch");
    let user_libtorch = std::env::var_os("LIBTORCH")
        .map(PathBuf::from)
        .filter(|p| p != &linked && !p.ends_with(".libtorch"));

    ensure_hdf5()?;
    ensure_gloo_headers();

    let venv = root.join(".venv");
    let needs_python = user_libtorch.is_none() || args.test_deps;
    let python = if needs_python {
        Some(ensure_venv(&venv)?)
    } else if venv.join("bin/python").exists() {
        Some(venv.join("bin/python"))
    } else {
        None
    };

    let libtorch = match user_libtorch {
        Some(p) => {
            check_libtorch(&p).with_context(|| {
                format!(
                    "LIBTORCH={} is not a usable libtorch {TORCH_VERSION}",
                    p.display()
                )
            })?;
            eprintln!("==> using LIBTORCH={} (set by you)", p.display());
            p
        }
        None => {
            let py = python.as_deref().expect("venv created above");
            ensure_torch(py)?;
            ensure_nccl_headers(py);
            let torch_dir = torch_package_dir(py)?;
            if std::fs::read_link(&linked).ok().as_deref() != Some(torch_dir.as_path()) {
                let _ = std::fs::remove_file(&linked);
                std::os::unix::fs::symlink(&torch_dir, &linked)
                    .with_context(|| format!("linking {}", linked.display()))?;
            }
            linked
        }
    };

    if args.test_deps {
        ensure_test_deps(python.as_deref().expect("venv created above"))?;
    }
    Ok(Env { libtorch, python })
}

/// Creates `.venv` with the system's python3 unless it exists; returns its interpreter.
fn ensure_venv(venv: &Path) -> Result<PathBuf> {
    let py = venv.join("bin/python");
    if py.exists() {
        return Ok(py);
    }
    let _s = step(&format!(
        "creating a Python virtual environment in {}",
        venv.display()
    ));
    let base = std::env::var("DANIE_BOOTSTRAP_PYTHON").unwrap_or_else(|_| "python3".into());
    run_checked(Command::new(&base).arg("-m").arg("venv").arg(venv)).with_context(|| {
        format!("`{base} -m venv` failed: install Python 3.9+ with venv (Debian: apt-get install python3-venv), or set LIBTORCH to an existing libtorch {TORCH_VERSION}")
    })?;
    Ok(py)
}

/// The installed torch version as its version.py says, without importing torch (slow).
fn installed_torch_version(py: &Path) -> Option<String> {
    let dir = torch_package_dir(py).ok()?;
    read_version_py(&dir.join("version.py"))
}

fn read_version_py(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("__version__ = "))
        .map(|v| v.trim().trim_matches('\'').trim_matches('"').to_string())
}

/// `site-packages/torch` of the venv, found without importing torch.
fn torch_package_dir(py: &Path) -> Result<PathBuf> {
    let venv = py.parent().and_then(Path::parent).context("venv layout")?;
    let lib = venv.join("lib");
    for entry in std::fs::read_dir(&lib).with_context(|| format!("reading {}", lib.display()))? {
        let dir = entry?.path().join("site-packages/torch");
        if dir.join("lib").is_dir() {
            return Ok(dir);
        }
    }
    bail!("torch is not installed in {}", venv.display())
}

fn ensure_torch(py: &Path) -> Result<()> {
    match installed_torch_version(py) {
        Some(v) if v.split('+').next() == Some(TORCH_VERSION) => return Ok(()),
        Some(v) => eprintln!("==> .venv has torch {v}; danie needs {TORCH_VERSION}"),
        None => {}
    }
    let _s = step(&format!(
        "installing PyTorch {TORCH_VERSION} into .venv (libtorch for tch; about 4.6 GB with its CUDA libraries, 2-5 minutes)"
    ));
    run_checked(pip_install(py).arg(format!("torch=={TORCH_VERSION}")))
        .context("pip could not install torch (needs access to PyPI)")
}

/// The two CUDA header packages that ProcessGroupNCCL.hpp needs and the CUDA 13 torch wheel does
/// not pull in (crt/host_config.h, nv/target; about 3 MB), so that danie-dist compiles its NCCL
/// path (crates/danie-dist/build.rs) and `train.dist_backend = "auto"` finds NCCL on a GPU. A
/// CPU torch needs neither; a failed install is a warning (the Gloo path still builds).
fn ensure_nccl_headers(py: &Path) {
    let cuda13 = installed_torch_version(py).is_some_and(|v| v.contains("+cu13"));
    let Ok(torch_dir) = torch_package_dir(py) else {
        return;
    };
    let include = torch_dir.with_file_name("nvidia").join("cu13/include");
    if !cuda13 || include.join("crt/host_config.h").exists() && include.join("nv/target").exists() {
        return;
    }
    let _s = step("installing CUDA's crt and cccl headers into .venv (for the NCCL backend; 3 MB)");
    let installed = run_checked(
        pip_install(py).args(["nvidia-cuda-crt==13.0.88", "nvidia-cuda-cccl==13.0.85"]),
    );
    if let Err(e) = installed {
        eprintln!(
            "warning: {e:#}; danie will build without the NCCL backend (Gloo works on the CPU)"
        );
    }
}

/// `py -m pip install`, quiet about its own version and progress, caching nothing: torch's
/// wheels are ~4.6 GB and a cached copy would double that on disk.
fn pip_install(py: &Path) -> Command {
    let mut cmd = Command::new(py);
    cmd.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-cache-dir",
        "--progress-bar",
        "off",
    ]);
    cmd
}

/// Checks a user-provided libtorch: lib/libtorch.so present and the version matching.
fn check_libtorch(dir: &Path) -> Result<()> {
    if !dir.join("lib/libtorch.so").exists() && !dir.join("lib/libtorch.dylib").exists() {
        bail!("{} has no lib/libtorch.so", dir.display());
    }
    let version = read_version_py(&dir.join("version.py")).or_else(|| {
        std::fs::read_to_string(dir.join("build-version"))
            .ok()
            .map(|s| s.trim().to_string())
    });
    match version {
        Some(v) if v.starts_with(TORCH_VERSION) => Ok(()),
        Some(v) => bail!("it is version {v}; tch 0.24 needs {TORCH_VERSION}"),
        None => {
            eprintln!("warning: cannot tell the version of {}", dir.display());
            Ok(())
        }
    }
}

/// Installs the test references unless the installed set matches requirements-test.txt.
fn ensure_test_deps(py: &Path) -> Result<()> {
    let req = repo_root().join("reference/requirements-test.txt");
    let wanted =
        std::fs::read_to_string(&req).with_context(|| format!("reading {}", req.display()))?;
    let stamp = py
        .parent()
        .and_then(Path::parent)
        .context("venv layout")?
        .join(".danie-test-deps");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(());
    }
    let _s = step(
        "installing the Python test references (reference/requirements-test.txt; about 1 minute)",
    );
    run_checked(pip_install(py).args(["-q", "-r"]).arg(&req))
        .context("pip could not install the test references")?;
    danie_fs::write_bytes(&stamp, wanted)?;
    Ok(())
}

/// HDF5 headers and library, found through pkg-config as hdf5-sys does.
fn ensure_hdf5() -> Result<()> {
    let found = || {
        output_of(Command::new("pkg-config").args(["--exists", "hdf5"])).is_some()
            || std::env::var_os("HDF5_DIR").is_some()
    };
    if found() {
        return Ok(());
    }
    apt_install(
        "HDF5 and pkg-config",
        &["libhdf5-dev", "pkg-config"],
        "install libhdf5-dev (or your system's HDF5 1.10+ development package) and pkg-config, or set HDF5_DIR",
    )?;
    if !found() {
        bail!("HDF5 was installed but pkg-config still cannot find it; set HDF5_DIR");
    }
    Ok(())
}

/// Gloo's headers, which libtorch's c10d headers include and the torch wheel does not ship
/// (danie-dist's shim; gloo's code itself is inside libtorch). Without them danie still builds,
/// without distributed training, so a failed install is a warning, not an error.
fn ensure_gloo_headers() {
    let found = || {
        std::env::var_os("DANIE_GLOO_INCLUDE").is_some()
            || std::path::Path::new("/usr/include/gloo/config.h").exists()
            || std::path::Path::new("/usr/local/include/gloo/config.h").exists()
    };
    if found() {
        return;
    }
    if let Err(e) = apt_install(
        "gloo's headers for distributed training",
        &["libgloo-dev"],
        "install libgloo-dev, or set DANIE_GLOO_INCLUDE to a folder holding gloo/config.h",
    ) {
        eprintln!("warning: {e:#}; danie will build without distributed training");
    }
}

/// `apt-get install` (through sudo when not root) of `packages`, named `what` in the progress
/// line; `advice` says what to do by hand when it fails.
fn apt_install(what: &str, packages: &[&str], advice: &str) -> Result<()> {
    let _s = step(&format!(
        "installing {what} (apt-get install {})",
        packages.join(" ")
    ));
    let is_root = output_of(Command::new("id").arg("-u")).as_deref() == Some("0");
    let apt = |args: &[&str]| {
        let mut c = if is_root {
            Command::new("apt-get")
        } else {
            let mut c = Command::new("sudo");
            c.arg("apt-get");
            c
        };
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        run_checked(&mut c)
    };
    let mut install = vec!["install", "-y", "-q"];
    install.extend_from_slice(packages);
    apt(&["update", "-q"])
        .and_then(|_| apt(&install))
        .with_context(|| format!("could not install {what}: {advice}"))
}
