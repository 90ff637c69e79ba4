//! Test support shared by every crate's integration tests: the one way to run the project's
//! Python references (nibabel, medpy, MONAI, PyTorch, timm, torchvision, onnxruntime, scipy).
//!
//! A reference that cannot run fails the test with a message saying why: a missing
//! interpreter or a failing script is never a silent pass.
pub mod commands;
pub mod ranks;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The folder of the reference scripts, `tests/python` at the workspace root.
pub fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python")
}

/// The workspace root (for `reference/`, `configs/` and the like).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The project's Python, `$DANIE_PYTHON` (set by the workspace's `.cargo/config.toml`).
///
/// # Panics
/// When the variable is unset: these tests compare against the Python references and must not
/// pass without them.
pub fn python() -> PathBuf {
    std::env::var_os("DANIE_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "DANIE_PYTHON is not set: it must name the project's Python with the test references \
             (run through cargo, whose .cargo/config.toml sets it, after `cargo xtask setup --test-deps`)"
        )
    })
}

/// Runs `tests/python/<script>` (or `script` itself when it is a path with a folder) with `args`
/// and returns its stdout.
///
/// # Panics
/// When the interpreter cannot start or the script exits non-zero; the message carries the
/// script's stdout and stderr.
pub fn run_python<S: AsRef<OsStr>>(script: &str, args: &[S]) -> String {
    let path = if Path::new(script).components().count() > 1 {
        PathBuf::from(script)
    } else {
        scripts_dir().join(script)
    };
    let py = python();
    let out = Command::new(&py)
        .arg(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} {}: {e}", py.display(), path.display()));
    assert!(
        out.status.success(),
        "{} failed ({}):\n{}\n{}",
        path.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// [`run_python`], its stdout parsed as JSON.
pub fn run_python_json<S: AsRef<OsStr>>(script: &str, args: &[S]) -> serde_json::Value {
    let stdout = run_python(script, args);
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{script}: stdout is not JSON ({e}):\n{stdout}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_a_script_and_reads_its_json() {
        let dir = std::env::temp_dir().join(format!("danie-testkit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("echo_args.py");
        std::fs::write(
            &script,
            "import json, sys\nprint(json.dumps(sys.argv[1:]))\n",
        )
        .unwrap();
        let v = run_python_json(script.to_str().unwrap(), &["a", "b c"]);
        assert_eq!(v, serde_json::json!(["a", "b c"]));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    #[should_panic(expected = "failed")]
    fn a_failing_script_fails_the_test() {
        let dir = std::env::temp_dir().join(format!("danie-testkit-fail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("fail.py");
        std::fs::write(&script, "import sys\nsys.exit(3)\n").unwrap();
        run_python(script.to_str().unwrap(), &[] as &[&str]);
    }
}
