//! Links libtorch as every tch crate here does (build/link_libtorch.rs), then compiles the c10d
//! shim (csrc/c10d.cpp) against the same libtorch when gloo's headers are there (the torch wheel
//! ships none: Debian's libgloo-dev, which `cargo xtask setup` installs, or DANIE_GLOO_INCLUDE).
//! Gloo's code itself is inside libtorch_cpu; only its headers are needed. `cfg(danie_c10d)`
//! tells the Rust side the shim is there; without it every call says how to get it.
#[path = "../../build/link_libtorch.rs"]
mod link_libtorch;

use std::path::PathBuf;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(danie_c10d)");
    println!("cargo:rerun-if-changed=csrc/c10d.cpp");
    println!("cargo:rerun-if-changed=csrc/sync_bn.cpp");
    println!("cargo:rerun-if-env-changed=DANIE_GLOO_INCLUDE");
    let Some(lib) = link_libtorch::link_libtorch() else {
        return;
    };
    let root = lib.parent().unwrap_or(&lib).to_path_buf();
    let gloo = std::env::var_os("DANIE_GLOO_INCLUDE")
        .map(PathBuf::from)
        .into_iter()
        .chain([
            PathBuf::from("/usr/include"),
            PathBuf::from("/usr/local/include"),
        ])
        .find(|d| d.join("gloo/config.h").exists());
    let Some(gloo) = gloo else {
        println!(
            "cargo:warning=danie-dist: gloo headers not found (apt-get install libgloo-dev, or \
             set DANIE_GLOO_INCLUDE); danie builds without distributed training"
        );
        return;
    };
    let built = cc::Build::new()
        .cpp(true)
        .std("c++17")
        .file("csrc/c10d.cpp")
        .file("csrc/sync_bn.cpp")
        .define("USE_C10D_GLOO", None)
        .define("_GLIBCXX_USE_CXX11_ABI", "1")
        .include(root.join("include"))
        .include(root.join("include/torch/csrc/api/include"))
        .include(&gloo)
        .flag_if_supported("-Wno-unused-parameter")
        .try_compile("danie_c10d");
    if let Err(e) = built {
        println!(
            "cargo:warning=danie-dist: the c10d shim did not compile against {} ({e}); danie \
             builds without distributed training",
            gloo.display()
        );
        return;
    }
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
    println!("cargo:rustc-cfg=danie_c10d");
}
