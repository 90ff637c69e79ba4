//! Shared by the integration tests: running the Python references.
#![allow(dead_code)]
use std::path::Path;
use std::process::Command;

/// The reference scripts' folder.
pub const PY_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/python");

/// Runs `tests/python/<script>` with `$DANIE_PYTHON`; panics with a clear message when the
/// variable is unset or the script fails (a reference that cannot run must fail the test).
pub fn python(script: &str, args: &[&Path]) -> String {
    let py = std::env::var("DANIE_PYTHON").expect(
        "DANIE_PYTHON is not set: it must name a Python with torch, nibabel (run through cargo, \
         whose .cargo/config.toml sets it, or `cargo xtask setup`)",
    );
    let out = Command::new(&py)
        .arg(Path::new(PY_DIR).join(script))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {py}: {e}"));
    assert!(
        out.status.success(),
        "{script} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}
