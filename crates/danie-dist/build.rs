//! Links libtorch as every tch crate here does (build/link_libtorch.rs), then compiles the c10d
//! shim (csrc/c10d.cpp) against the same libtorch when gloo's headers are there (the torch wheel
//! ships none: Debian's libgloo-dev, which `cargo xtask setup` installs, or DANIE_GLOO_INCLUDE).
//! Gloo's code itself is inside libtorch_cpu; only its headers are needed. `cfg(danie_c10d)`
//! tells the Rust side the shim is there; without it every call says how to get it.
//!
//! The NCCL path (`cfg(danie_nccl)`, USE_C10D_NCCL in the shim) is compiled in when the libtorch
//! has CUDA (libtorch_cuda.so, which exports ProcessGroupNCCL) and every header that
//! ProcessGroupNCCL.hpp includes is found: nccl.h (the wheel `nvidia-nccl-cu13`, in
//! site-packages/nvidia/nccl/include), the CUDA runtime's (`nvidia-cuda-runtime`,
//! nvidia/cu13/include), and two that those include from packages the torch wheel does not pull
//! in: crt/host_config.h (`nvidia-cuda-crt`) and nv/target (`nvidia-cuda-cccl`), both also under
//! nvidia/cu13/include once installed; or /usr/local/cuda/include, or the folders listed in
//! DANIE_NCCL_INCLUDE / DANIE_CUDA_INCLUDE (path lists). No GPU is needed to build it.
//!
//! What this project's build machine has (torch 2.11.0+cu130 in .venv, no GPU): libtorch_cuda.so,
//! nccl.h and cuda_runtime_api.h, but neither crt/host_config.h nor nv/target, so the NCCL path
//! is left out there, quietly (a CPU build needs nothing of it). With
//! `pip install nvidia-cuda-crt==13.0.88 nvidia-cuda-cccl==13.0.85` into the venv (or their
//! headers named in DANIE_CUDA_INCLUDE) it compiles and links there. A CPU libtorch leaves it out.
#[path = "../../build/link_libtorch.rs"]
mod link_libtorch;

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo::rustc-check-cfg=cfg(danie_c10d)");
    println!("cargo::rustc-check-cfg=cfg(danie_nccl)");
    println!("cargo:rerun-if-changed=csrc/c10d.cpp");
    println!("cargo:rerun-if-changed=csrc/sync_bn.cpp");
    for var in [
        "DANIE_GLOO_INCLUDE",
        "DANIE_NCCL_INCLUDE",
        "DANIE_CUDA_INCLUDE",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let Some(lib) = link_libtorch::link_libtorch() else {
        return;
    };
    let root = lib.parent().unwrap_or(&lib).to_path_buf();
    let Some(gloo) = first_with(
        "DANIE_GLOO_INCLUDE",
        &["/usr/include", "/usr/local/include"],
        "gloo/config.h",
    ) else {
        println!(
            "cargo:warning=danie-dist: gloo headers not found (apt-get install libgloo-dev, or \
             set DANIE_GLOO_INCLUDE); danie builds without distributed training"
        );
        return;
    };
    let build = |nccl: Option<&Vec<PathBuf>>| {
        let mut b = cc::Build::new();
        b.cpp(true)
            .std("c++17")
            .file("csrc/c10d.cpp")
            .file("csrc/sync_bn.cpp")
            .define("USE_C10D_GLOO", None)
            .define("_GLIBCXX_USE_CXX11_ABI", "1")
            .include(root.join("include"))
            .include(root.join("include/torch/csrc/api/include"))
            .include(&gloo)
            .flag_if_supported("-Wno-unused-parameter");
        if let Some(dirs) = nccl {
            b.define("USE_C10D_NCCL", None)
                .define("USE_CUDA", None)
                .flag_if_supported("-Wno-interference-size")
                .includes(dirs);
        }
        b.try_compile("danie_c10d")
    };
    let nccl = nccl_headers(&lib, &root);
    let mut with_nccl = false;
    if let Some(found) = &nccl {
        match build(Some(found)) {
            Ok(()) => with_nccl = true,
            Err(e) => println!(
                "cargo:warning=danie-dist: the NCCL path did not compile against {} ({e}); \
                 building the Gloo path alone",
                std::env::join_paths(found)
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
        }
    }
    if !with_nccl {
        if let Err(e) = build(None) {
            println!(
                "cargo:warning=danie-dist: the c10d shim did not compile against {} ({e}); \
                 danie builds without distributed training",
                gloo.display()
            );
            return;
        }
    }
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
    println!("cargo:rustc-cfg=danie_c10d");
    if with_nccl {
        println!("cargo:rustc-link-lib=dylib=torch_cuda");
        println!("cargo:rustc-link-lib=dylib=c10_cuda");
        println!("cargo:rustc-cfg=danie_nccl");
    }
}

/// The folder under which `probe` exists: the variable `var` if set, else the first of `dirs`.
fn first_with(var: &str, dirs: &[&str], probe: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .into_iter()
        .chain(dirs.iter().map(PathBuf::from))
        .find(|d| d.join(probe).exists())
}

/// The include folders of the NCCL path when this libtorch has CUDA and every header it needs
/// is found (None otherwise, with a warning where the user pointed at folders that lack one).
fn nccl_headers(lib: &Path, root: &Path) -> Option<Vec<PathBuf>> {
    if !lib.join("libtorch_cuda.so").exists() {
        return None; // a CPU libtorch: no NCCL to build against
    }
    // `.libtorch` links to site-packages/torch; the nvidia wheels sit beside it.
    let site = std::fs::canonicalize(root)
        .ok()
        .and_then(|r| r.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let user = |var: &str| -> Vec<PathBuf> {
        std::env::var_os(var)
            .map(|v| std::env::split_paths(&v).collect())
            .unwrap_or_default()
    };
    let mut dirs = user("DANIE_NCCL_INCLUDE");
    dirs.extend(user("DANIE_CUDA_INCLUDE"));
    let asked = !dirs.is_empty();
    // CUDA 13 wheels put every header package under nvidia/cu13/include; CUDA 12 ones use a
    // folder per package.
    for sub in [
        "nccl/include",
        "cu13/include",
        "cu13/include/cccl",
        "cuda_runtime/include",
        "cuda_nvcc/include",
        "cuda_cccl/include",
    ] {
        dirs.push(site.join("nvidia").join(sub));
    }
    dirs.extend(["/usr/include", "/usr/local/cuda/include"].map(PathBuf::from));
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for header in NCCL_PATH_HEADERS {
        match dirs.iter().find(|d| d.join(header).exists()) {
            Some(d) if !found.contains(d) => found.push(d.clone()),
            Some(_) => {}
            None => missing.push(header),
        }
    }
    if missing.is_empty() {
        return Some(found);
    }
    if asked {
        println!(
            "cargo:warning=danie-dist: no {} under DANIE_NCCL_INCLUDE / DANIE_CUDA_INCLUDE or \
             the CUDA wheels; danie builds without the NCCL backend",
            missing.join(", ")
        );
    }
    None
}

/// What ProcessGroupNCCL.hpp includes beyond libtorch's own headers: NCCL's, the CUDA runtime's,
/// and two that the runtime headers include from other NVIDIA packages (nvcc's crt/, CCCL's nv/).
const NCCL_PATH_HEADERS: [&str; 4] = [
    "nccl.h",
    "cuda_runtime_api.h",
    "crt/host_config.h",
    "nv/target",
];
