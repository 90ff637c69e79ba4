//! Every `danie ...` command that README.md, docs/, configs/ or danie's own messages show a user
//! is accepted by the real parser as written: its subcommand and flags exist and its values
//! parse (a placeholder such as `DIR` or `W` stands for any value). Each is run with `--help`,
//! so nothing is executed; the demo chain itself runs in end-to-end tests and in
//! `cargo xtask docs --check`.
use std::collections::BTreeMap;
use std::process::Command;

use danie_testkit::commands::{refusal, shown_commands, ShownCommand};

#[test]
fn every_shown_danie_command_parses() {
    let root = danie_testkit::workspace_root();
    let shown = shown_commands(&root, "danie");
    assert!(
        shown.len() > 30,
        "found only {} danie commands in the docs: the extraction broke",
        shown.len()
    );
    // One run per distinct argument list; every place that shows it is named on failure.
    let mut by_args: BTreeMap<Vec<String>, Vec<ShownCommand>> = BTreeMap::new();
    for c in shown {
        by_args.entry(c.args.clone()).or_default().push(c);
    }
    let groups: Vec<&Vec<ShownCommand>> = by_args.values().collect();
    // Each run loads libtorch (~0.5 s): four at a time.
    let chunk = groups.len().div_ceil(4);
    let mut failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = groups
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    let mut failed = Vec::new();
                    for cmds in part {
                        let mut danie = Command::new(env!("CARGO_BIN_EXE_danie"));
                        if let Some(why) = refusal(&mut danie, &cmds[0]) {
                            let places: Vec<&str> =
                                cmds.iter().map(|c| c.source.as_str()).collect();
                            failed.push(format!(
                                "`{}` ({}): {why}",
                                cmds[0].text,
                                places.join(", ")
                            ));
                        }
                    }
                    failed
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a checking thread panicked"))
            .collect()
    });
    failures.sort();
    assert!(
        failures.is_empty(),
        "{} shown commands do not run as printed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn a_wrong_flag_in_a_doc_is_caught() {
    // The check itself: the registry's old `--data-root` slip must be refused, a placeholder not.
    let wrong = danie_testkit::commands::commands_in_text(
        "`danie data check --dataset synapse --data-root DIR` and `danie data check --dataset D --root DIR`",
        "md",
        "danie",
        "t.md",
    );
    assert_eq!(wrong.len(), 2);
    let mut danie = Command::new(env!("CARGO_BIN_EXE_danie"));
    let why = refusal(&mut danie, &wrong[0]).expect("--data-root is not a flag of data check");
    assert!(why.contains("--data-root"), "{why}");
    let mut danie = Command::new(env!("CARGO_BIN_EXE_danie"));
    assert_eq!(refusal(&mut danie, &wrong[1]), None);
}
