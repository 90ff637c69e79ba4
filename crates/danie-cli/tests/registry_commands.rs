//! Every `danie ...` command that configs/registry.toml tells a user to type (the manual steps
//! `cargo xtask download` prints) runs as printed: run for real against an empty folder, it may
//! fail on the data (exit 1) but never on its command line (clap's usage error, exit 2).
mod support;

use std::path::Path;

/// The registry, as shipped.
fn registry_text() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/registry.toml");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// The `danie` command lines in `text`: lines that start with `danie ` (after indentation), and
/// `` `danie ...` `` spans inside prose; comment lines (`#`) are skipped.
fn danie_commands(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') {
            continue;
        }
        if let Some(rest) = t.strip_prefix("danie ") {
            found.push(format!("danie {}", rest.trim()));
            continue;
        }
        let mut s = t;
        while let Some(i) = s.find("`danie ") {
            let after = &s[i + 1..];
            let Some(end) = after.find('`') else { break };
            found.push(after[..end].trim().to_string());
            s = &after[end + 1..];
        }
    }
    found
}

/// The arguments after `danie`, with the placeholders of the docs filled in: `a|b` takes `a`,
/// `[optional parts]` are left out, the value of `--dataset` is a dataset (`NAME` -> synapse),
/// and any other all-capitals word (`DIR`, `FILE`, `OUT`) is a path in `tmp` that does not
/// exist yet (`DIR` is the empty folder `tmp` itself).
fn fill_placeholders(command: &str, tmp: &Path) -> Vec<String> {
    let mut args = Vec::new();
    let mut depth = 0usize;
    let mut prev = String::new();
    for tok in command.split_whitespace().skip(1) {
        let opens = tok.matches('[').count();
        let closes = tok.matches(']').count();
        let inside = depth > 0 || opens > 0;
        depth = (depth + opens).saturating_sub(closes);
        if inside {
            continue;
        }
        let tok = tok.split('|').next().unwrap_or(tok);
        let placeholder = tok.len() >= 2
            && tok
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        let arg = if !placeholder {
            tok.to_string()
        } else if prev == "--dataset" {
            "synapse".to_string()
        } else if tok == "DIR" {
            tmp.display().to_string()
        } else {
            tmp.join(tok.to_lowercase()).display().to_string()
        };
        prev = arg.clone();
        args.push(arg);
    }
    args
}

/// Runs `command` (as written in a doc) against the empty folder `tmp`; `Err` says why its
/// command line is not one `danie` accepts.
fn check_command_line(command: &str, tmp: &Path) -> Result<(), String> {
    let args = fill_placeholders(command, tmp);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = support::run(&refs, &[]);
    if o.signal.is_some() || o.stderr.contains("panicked") {
        return Err(format!("`{command}` crashed: {o:?}"));
    }
    let usage = [
        "unexpected argument",
        "unrecognized",
        "invalid value",
        "required arguments",
    ]
    .iter()
    .any(|n| o.stderr.contains(n));
    if o.code == Some(2) || usage {
        return Err(format!(
            "`{command}` (run as danie {}) is not a valid command line: exit {:?}\n{}",
            args.join(" "),
            o.code,
            o.stderr
        ));
    }
    Ok(())
}

#[test]
fn the_extraction_finds_lines_and_inline_commands() {
    let text = "# danie in a comment\nmanual = \"\"\"\n  4. check it:\n     danie data check --dataset synapse --root DIR\nthen run `danie info` and `danie eval --config FILE`.\n\"\"\"";
    assert_eq!(
        danie_commands(text),
        [
            "danie data check --dataset synapse --root DIR",
            "danie info",
            "danie eval --config FILE",
        ]
    );
    let tmp = Path::new("/tmp/x");
    assert_eq!(
        fill_placeholders(
            "danie data check --dataset NAME --root DIR [--json FILE]",
            tmp
        ),
        ["data", "check", "--dataset", "synapse", "--root", "/tmp/x"]
    );
    assert_eq!(
        fill_placeholders("danie data check --dataset acdc|glas --json FILE", tmp),
        [
            "data",
            "check",
            "--dataset",
            "acdc",
            "--json",
            "/tmp/x/file"
        ]
    );
}

#[test]
fn a_wrong_flag_is_caught() {
    // The registry's Synapse step as it once was: `--data-root` is not a flag of `data check`.
    let tmp = tempfile::tempdir().unwrap();
    let err = check_command_line(
        "danie data check --dataset synapse --data-root DIR",
        tmp.path(),
    )
    .unwrap_err();
    assert!(err.contains("--data-root"), "{err}");
}

#[test]
fn every_danie_command_in_the_registry_runs_as_printed() {
    let commands = danie_commands(&registry_text());
    assert!(
        commands
            .iter()
            .any(|c| c.starts_with("danie data check --dataset synapse")),
        "the Synapse manual steps lost their `danie data check` line: {commands:?}"
    );
    let mut bad = Vec::new();
    for c in &commands {
        let tmp = tempfile::tempdir().unwrap();
        if let Err(e) = check_command_line(c, tmp.path()) {
            bad.push(e);
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n\n"));
}
