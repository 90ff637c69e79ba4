//! Links libtorch as every tch crate here does (build/link_libtorch.rs), then compiles the CUDA
//! graph shim (csrc/cuda_graph.cpp) against the same libtorch when it has CUDA and the CUDA
//! runtime headers can be found; `cfg(danie_cuda_graph)` tells the Rust side it is there.
#[path = "../../build/link_libtorch.rs"]
mod link_libtorch;

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo::rustc-check-cfg=cfg(danie_cuda_graph)");
    println!("cargo:rerun-if-changed=csrc/cuda_graph.cpp");
    println!("cargo:rerun-if-env-changed=DANIE_CUDA_INCLUDE");
    println!("cargo:rerun-if-env-changed=CUDA_HOME");
    let Some(lib) = link_libtorch::link_libtorch() else {
        return;
    };
    if !lib.join("libtorch_cuda.so").exists() {
        return; // a CPU-only libtorch: no graphs to capture
    }
    println!("cargo:rustc-env=DANIE_LIBTORCH_HAS_CUDA=1");
    let root = lib.parent().unwrap_or(&lib).to_path_buf();
    let Some(cuda_include) = cuda_include_dir(&root) else {
        println!(
            "cargo:warning=danie-train: CUDA runtime headers not found (set DANIE_CUDA_INCLUDE \
             to a folder with cuda_runtime_api.h and crt/host_config.h); train.cuda_graphs will \
             be unavailable"
        );
        return;
    };
    let built = cc::Build::new()
        .cpp(true)
        .std("c++17")
        .file("csrc/cuda_graph.cpp")
        .include(root.join("include"))
        .include(root.join("include/torch/csrc/api/include"))
        .include(&cuda_include)
        .flag_if_supported("-Wno-unused-parameter")
        .try_compile("danie_cuda_graph");
    if let Err(e) = built {
        // Headers that do not fit this libtorch must not break the whole build.
        println!(
            "cargo:warning=danie-train: the CUDA graph shim did not compile against {} ({e}); \
             train.cuda_graphs will be unavailable",
            cuda_include.display()
        );
        return;
    }
    // The shim calls libtorch_cuda (CUDAGraph), c10_cuda (streams) and c10 (events).
    println!("cargo:rustc-link-lib=dylib=torch_cuda");
    println!("cargo:rustc-link-lib=dylib=c10_cuda");
    println!("cargo:rustc-link-lib=dylib=c10");
    println!("cargo:rustc-cfg=danie_cuda_graph");
}

/// A folder with the CUDA runtime headers libtorch's CUDA headers include: DANIE_CUDA_INCLUDE,
/// else the copies installed beside `torch/` (the CUDA runtime wheel, or PyTorch's own dependency
/// Triton: the same CUDA generation as this libtorch), else a CUDA toolkit.
fn cuda_include_dir(torch_root: &Path) -> Option<PathBuf> {
    let complete =
        |d: &Path| d.join("cuda_runtime_api.h").exists() && d.join("crt/host_config.h").exists();
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(d) = std::env::var_os("DANIE_CUDA_INCLUDE") {
        candidates.push(d.into());
    }
    let site = std::fs::canonicalize(torch_root)
        .ok()
        .and_then(|t| t.parent().map(Path::to_path_buf));
    if let Some(site) = site {
        candidates.push(site.join("nvidia/cu13/include"));
        candidates.push(site.join("nvidia/cuda_runtime/include"));
        candidates.push(site.join("triton/backends/nvidia/include"));
    }
    if let Some(d) = std::env::var_os("CUDA_HOME") {
        candidates.push(PathBuf::from(d).join("include"));
    }
    candidates.push("/usr/local/cuda/include".into());
    candidates.into_iter().find(|d| complete(d))
}
