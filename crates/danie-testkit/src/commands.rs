//! The commands a user is shown: every `danie ...` and `cargo xtask ...` line in README.md,
//! docs/, configs/ and the messages in the crates' sources, as argument vectors that a test can
//! hand to the real command-line parser.
//!
//! What counts as a command: a line of a fenced code block, or a `backticked` span, that starts
//! with the program's name. Usage notation is read as a person reads it: `[--flag V]` is taken
//! with the flag, `a|b|c` as its first choice, `...` dropped, `# comment` cut, `cmd1 && cmd2` two
//! commands. Placeholders (`DIR`, `W`, `<time>`, `{}`) stay as written: the parser sees them as
//! values, and [`is_placeholder`] tells a test which rejected values were only placeholders.
use std::path::{Path, PathBuf};

/// One command as shown to a user, and where.
#[derive(Debug, Clone)]
pub struct ShownCommand {
    /// `path:line` of the text that shows it.
    pub source: String,
    /// The command as written there.
    pub text: String,
    /// The arguments after the program's name, usage notation resolved.
    pub args: Vec<String>,
}

/// Every command starting with `program` (`"danie"` or `"cargo xtask"`) in the user-facing text of
/// the workspace at `root`: README.md, docs/**/*.md, configs/*.toml and the non-comment lines of
/// crates/*/src/**/*.rs and xtask/src/**/*.rs (the messages the programs print).
pub fn shown_commands(root: &Path, program: &str) -> Vec<ShownCommand> {
    let mut files = vec![root.join("README.md")];
    collect(&root.join("docs"), "md", &mut files);
    collect(&root.join("configs"), "toml", &mut files);
    collect(&root.join("xtask/src"), "rs", &mut files);
    if let Ok(crates) = std::fs::read_dir(root.join("crates")) {
        // danie-testkit's own sources hold wrong commands on purpose (its tests).
        let mut dirs: Vec<PathBuf> = crates
            .flatten()
            .filter(|e| e.file_name() != "danie-testkit")
            .map(|e| e.path().join("src"))
            .collect();
        dirs.sort();
        for d in dirs {
            collect(&d, "rs", &mut files);
        }
    }
    let mut out = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let shown = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .display()
            .to_string();
        let kind = file.extension().and_then(|e| e.to_str()).unwrap_or("");
        out.extend(commands_in_text(&text, kind, program, &shown));
    }
    out
}

/// The commands in one file's text; `kind` is its extension (`md`, `toml`, `rs`).
pub fn commands_in_text(text: &str, kind: &str, program: &str, source: &str) -> Vec<ShownCommand> {
    let mut out = Vec::new();
    let mut in_fence = false;
    let mut pending = String::new(); // a code-block line continued with `\`
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        let trimmed = line.trim_start();
        if kind == "rs" && trimmed.starts_with("//") {
            continue; // rustdoc is not printed; docs/ says the same things
        }
        if kind == "md" && trimmed.starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        let fenced = kind == "md" && in_fence;
        // Indented lines of the registry's manual steps are commands to type, too.
        let typed = fenced || (kind == "toml" && !trimmed.starts_with('#'));
        if typed {
            let mut l = trimmed.trim_start_matches("$ ").to_string();
            if !pending.is_empty() {
                l = format!("{pending} {l}");
                pending.clear();
            }
            if let Some(stripped) = l.strip_suffix('\\') {
                pending = stripped.to_string();
                continue;
            }
            for part in split_commands(&l) {
                if let Some(args) = parse(&part, program) {
                    out.push(shown(source, lineno, &part, args));
                }
            }
        }
        for span in backticked(line) {
            for part in split_commands(span) {
                if let Some(args) = parse(&part, program) {
                    out.push(shown(source, lineno, &part, args));
                }
            }
        }
    }
    out
}

fn shown(source: &str, line: usize, text: &str, args: Vec<String>) -> ShownCommand {
    ShownCommand {
        source: format!("{source}:{line}"),
        text: text.trim().to_string(),
        args,
    }
}

/// True for a value that stands for one: `DIR`, `W`, `P.nii.gz`, `FROM:TO`, `<time>`, `{}`.
pub fn is_placeholder(value: &str) -> bool {
    let stem = value.split('.').next().unwrap_or(value);
    (value.contains('<') && value.contains('>'))
        || (value.contains('{') && value.contains('}'))
        || (!stem.is_empty()
            && stem.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && stem
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || "_-:,".contains(c)))
}

/// Why `program`'s parser refused `cmd`, or None when it accepted it (placeholders aside). The
/// command runs with `--help` (inserted before a `--`), so nothing is executed.
pub fn refusal(program: &mut std::process::Command, cmd: &ShownCommand) -> Option<String> {
    let mut args = cmd.args.clone();
    // `--help` before a `--`, where it is still an option.
    let at = args.iter().position(|a| a == "--").unwrap_or(args.len());
    args.insert(at, "--help".into());
    let out = program
        .args(&args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run for {}: {e}", cmd.source));
    if out.status.success() {
        return None;
    }
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    // "error: invalid value 'N' for '--cases <CASES>'" on a placeholder is the doc's notation.
    if let Some(rest) = stderr.strip_prefix("error: invalid value '") {
        if let Some((value, _)) = rest.split_once('\'') {
            if is_placeholder(value) {
                return None;
            }
        }
    }
    Some(stderr.lines().next().unwrap_or("").to_string())
}

fn collect(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            collect(&p, ext, out);
        } else if p.extension().and_then(|e| e.to_str()) == Some(ext) {
            out.push(p);
        }
    }
}

/// The `backticked` spans of a line (single backticks; an unclosed one is not a span).
fn backticked(line: &str) -> Vec<&str> {
    let mut spans = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('`') else { break };
        spans.push(&after[..end]);
        rest = &after[end + 1..];
    }
    spans
}

/// `a && b`, `a; b` -> `a`, `b`; a comment and a pipe end the command.
fn split_commands(text: &str) -> Vec<String> {
    let text = match text.find(" #") {
        Some(i) => &text[..i],
        None => text,
    };
    let text = match text.find(" | ") {
        Some(i) => &text[..i],
        None => text,
    };
    text.split("&&")
        .flat_map(|p| p.split("; "))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The arguments after `program`, or None when `text` is not a command of it.
fn parse(text: &str, program: &str) -> Option<Vec<String>> {
    let rest = text.strip_prefix(program)?;
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return None; // `danie-train`, `danie's`
    }
    let mut args = Vec::new();
    // `\|` is a Markdown table's escaped `|`.
    for raw in split_words(&rest.replace("\\|", "|")) {
        let token = raw.trim_matches(|c| c == '[' || c == ']');
        let token = token.strip_suffix("]...").unwrap_or(token);
        let token = token.trim_end_matches("...").trim_end_matches(']');
        if token.is_empty() {
            continue;
        }
        // A choice between spellings: the first. `a|b` inside a value only (never a pipe).
        let token = match token.split_once('|') {
            Some((first, _)) if !first.is_empty() => first,
            _ => token,
        };
        args.push(token.to_string());
    }
    Some(args)
}

/// Whitespace-separated words, with '...' and "..." quoting.
fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in text.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                any = true;
            }
            None if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            None => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        words.push(cur);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str, program: &str) -> Vec<Vec<String>> {
        commands_in_text(text, "md", program, "t.md")
            .into_iter()
            .map(|c| c.args)
            .collect()
    }

    #[test]
    fn usage_notation_is_resolved() {
        let v = args(
            "Run `danie eval --config C [--weights W] [--convention medpy\\|monai] [--target T]...`.",
            "danie",
        );
        assert_eq!(
            v,
            vec![vec![
                "eval",
                "--config",
                "C",
                "--weights",
                "W",
                "--convention",
                "medpy",
                "--target",
                "T"
            ]]
        );
    }

    #[test]
    fn fenced_lines_comments_continuations_and_chains() {
        let text = "```\ncargo xtask reproduce   # the demo\ndanie train \\\n  --config c.toml && danie eval --config c.toml\nnot a command\n```\n";
        assert_eq!(args(text, "cargo xtask"), vec![vec!["reproduce"]]);
        assert_eq!(
            args(text, "danie"),
            vec![
                vec!["train", "--config", "c.toml"],
                vec!["eval", "--config", "c.toml"]
            ]
        );
    }

    #[test]
    fn other_words_are_not_commands() {
        assert!(args(
            "`danie-train` and `danie's` and danie eval in prose",
            "danie"
        )
        .is_empty());
        let rs =
            "    // `danie eval --nonsense`\n    bail!(\"run `danie train --config {}`\", p)\n";
        let v: Vec<_> = commands_in_text(rs, "rs", "danie", "x.rs")
            .into_iter()
            .map(|c| c.args)
            .collect();
        assert_eq!(v, vec![vec!["train", "--config", "{}"]]);
    }

    #[test]
    fn placeholders() {
        for p in [
            "DIR",
            "W",
            "P.nii.gz",
            "<time>",
            "runs/demo-<time>/config.toml",
            "{}",
            "FROM:TO",
        ] {
            assert!(is_placeholder(p), "{p}");
        }
        for v in ["synapse", "224", "configs/demo.toml", "cuda:0"] {
            assert!(!is_placeholder(v), "{v}");
        }
    }
}
