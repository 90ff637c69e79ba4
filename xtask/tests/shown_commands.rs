//! Every `cargo xtask ...` command that README.md, docs/, configs/ or the programs' messages show
//! is accepted by xtask's parser as written (run with `--help`, so nothing is executed).
use std::process::Command;

use danie_testkit::commands::{refusal, shown_commands};

#[test]
fn every_shown_xtask_command_parses() {
    let root = danie_testkit::workspace_root();
    let shown = shown_commands(&root, "cargo xtask");
    assert!(
        shown.len() > 10,
        "found only {} xtask commands in the docs: the extraction broke",
        shown.len()
    );
    let mut failures: Vec<String> = shown
        .iter()
        .filter_map(|cmd| {
            let mut xtask = Command::new(env!("CARGO_BIN_EXE_xtask"));
            refusal(&mut xtask, cmd).map(|why| format!("`{}` ({}): {why}", cmd.text, cmd.source))
        })
        .collect();
    failures.sort();
    failures.dedup();
    assert!(
        failures.is_empty(),
        "{} shown commands do not run as printed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
