//! Shared build script for every crate that builds binaries, tests or benches on tch.
//!
//! Links libtorch_cuda with `--no-as-needed` so that CUDA is visible whenever the installed
//! libtorch has it (the linker would otherwise drop the library, since no symbol of it is
//! referenced directly), and sets an rpath to the libtorch lib dir so binaries run without
//! LD_LIBRARY_PATH. torch-sys exports that dir to direct dependents as DEP_TCH_LIBTORCH_LIB.
//!
//! danie-model's own build script includes this file as a module (`link_libtorch()`) and then
//! compiles its CUDA-graph shim against the same libtorch.
use std::path::{Path, PathBuf};

#[allow(dead_code)] // the entry point when this file is a crate's whole build script
fn main() {
    link_libtorch();
}

/// Prints the link arguments and the libtorch version; returns the libtorch lib dir (None when
/// torch-sys did not export one).
pub fn link_libtorch() -> Option<PathBuf> {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        println!("cargo:rustc-env=DANIE_LIBTORCH_VERSION=unknown");
        return None;
    };
    println!(
        "cargo:rustc-env=DANIE_LIBTORCH_VERSION={}",
        libtorch_version(Path::new(&lib))
    );
    println!("cargo:rustc-link-search=native={lib}");
    if Path::new(&lib).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-ltorch");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    Some(PathBuf::from(lib))
}

/// Reads the version of the libtorch whose `lib/` folder is `lib`: `version.py` beside it in a
/// PyTorch install (`__version__ = '2.11.0+cu130'`), or `build-version` in a libtorch archive.
fn libtorch_version(lib: &Path) -> String {
    let root = lib.parent().unwrap_or(lib);
    if let Ok(text) = std::fs::read_to_string(root.join("version.py")) {
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("__version__ = ") {
                return v.trim().trim_matches('\'').to_string();
            }
        }
    }
    std::fs::read_to_string(root.join("build-version"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}
