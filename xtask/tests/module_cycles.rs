//! The module imports of danie-train, danie-metrics and xtask go one way: a reader who follows
//! one image from file to table never walks in a circle (issue 15). Each crate's top-level
//! modules form a graph from the `crate::x`, `super::x` and `use crate::{x, y}` paths in its
//! `.rs` files (comments and string literals left out); a cycle fails naming its modules.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace root")
        .to_path_buf()
}

/// Every `.rs` file under `dir`, with its module path below the crate root (`a.rs` -> [a],
/// `a/mod.rs` -> [a], `a/b.rs` -> [a, b]); the crate root itself (lib.rs, main.rs) is left out.
fn module_files(src: &Path, dir: &Path, out: &mut Vec<(Vec<String>, PathBuf)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            module_files(src, &p, out);
            continue;
        }
        if p.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        let rel = p.strip_prefix(src).unwrap();
        let mut path: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let file = path.pop().unwrap();
        let stem = file.trim_end_matches(".rs");
        if path.is_empty() && (stem == "lib" || stem == "main") {
            continue;
        }
        if stem != "mod" {
            path.push(stem.to_string());
        }
        out.push((path, p));
    }
}

/// The text with comments and the contents of string and char literals blanked out.
fn code_only(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == '*' && b[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_char(prev(&b, i)) {
            // A raw string r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|h| b.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && next.is_some() && b.get(i + 2) == Some(&'\'') {
            i += 3; // 'x'
            out.push_str("' '");
        } else if c == '\'' && next == Some('\\') {
            i += 2; // '\n', '\'', '\u{..}'
            while i < b.len() && b[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn prev(b: &[char], i: usize) -> char {
    if i == 0 {
        ' '
    } else {
        b[i - 1]
    }
}

fn ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The first path segments named after `crate::` / `super::` in `code`, resolved against the
/// file's module path (inline `mod x { .. }` blocks nest it further), as top-level modules.
fn referenced_modules(code: &str, file_module: &[String]) -> BTreeSet<String> {
    let b: Vec<char> = code.chars().collect();
    let mut found = BTreeSet::new();
    // Inline modules open at a brace depth: (depth, name).
    let mut inline: Vec<(usize, String)> = Vec::new();
    let mut depth = 0usize;
    let mut pending_mod: Option<String> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == '{' {
            depth += 1;
            if let Some(name) = pending_mod.take() {
                inline.push((depth, name));
            }
            i += 1;
            continue;
        }
        if c == '}' {
            if inline.last().is_some_and(|(d, _)| *d == depth) {
                inline.pop();
            }
            depth = depth.saturating_sub(1);
            i += 1;
            continue;
        }
        if c == ';' {
            pending_mod = None;
        }
        if !ident_char(c) || ident_char(prev(&b, i)) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && ident_char(b[i]) {
            i += 1;
        }
        let word: String = b[start..i].iter().collect();
        if word == "mod" {
            let mut j = i;
            while j < b.len() && b[j].is_whitespace() {
                j += 1;
            }
            let s = j;
            while j < b.len() && ident_char(b[j]) {
                j += 1;
            }
            pending_mod = Some(b[s..j].iter().collect());
            continue;
        }
        if word != "crate" && word != "super" {
            continue;
        }
        // The module the path starts from.
        let mut base: Vec<String> = file_module.to_vec();
        base.extend(inline.iter().map(|(_, n)| n.clone()));
        let mut j = i;
        let mut w = word;
        loop {
            if w == "crate" {
                base.clear();
            } else {
                base.pop();
            }
            if b.get(j) != Some(&':') || b.get(j + 1) != Some(&':') {
                break;
            }
            j += 2;
            if b.get(j..j + 7)
                .is_some_and(|s| s.iter().collect::<String>() == "super::")
            {
                w = "super".into();
                j += 5;
                continue;
            }
            break;
        }
        if b.get(j - 1) != Some(&':') {
            i = j;
            continue;
        }
        let mut names = Vec::new();
        if b.get(j) == Some(&'{') {
            // `crate::{a::X, b}`: the first segment of each top-level item of the group.
            let mut k = j + 1;
            let mut level = 0;
            let mut at_item_start = true;
            while k < b.len() {
                match b[k] {
                    '{' => level += 1,
                    '}' if level == 0 => break,
                    '}' => level -= 1,
                    ',' if level == 0 => at_item_start = true,
                    ch if ident_char(ch) && at_item_start => {
                        let s = k;
                        while k < b.len() && ident_char(b[k]) {
                            k += 1;
                        }
                        names.push(b[s..k].iter().collect::<String>());
                        at_item_start = false;
                        continue;
                    }
                    _ => {}
                }
                k += 1;
            }
        } else {
            let s = j;
            let mut k = j;
            while k < b.len() && ident_char(b[k]) {
                k += 1;
            }
            names.push(b[s..k].iter().collect());
        }
        for n in names {
            let mut full = base.clone();
            full.push(n);
            found.insert(full[0].clone());
        }
        i = j;
    }
    found
}

/// The import graph of a crate's top-level modules: module -> the other modules it names.
fn import_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    module_files(src, src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|(m, _)| m[0].clone()).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, path) in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let refs = referenced_modules(&code_only(&text), module);
        let edges = graph.entry(module[0].clone()).or_default();
        for r in refs {
            if r != module[0] && modules.contains(&r) {
                edges.insert(r);
            }
        }
    }
    graph
}

/// A cycle of the graph as `a -> b -> a`, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(n.to_string(), Mark::Open);
        stack.push(n.to_string());
        for m in graph.get(n).into_iter().flatten() {
            match marks.get(m.as_str()) {
                Some(Mark::Open) => {
                    let from = stack.iter().position(|s| s == m).unwrap();
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                Some(Mark::Done) => {}
                None => {
                    if let Some(c) = visit(m, graph, marks, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        marks.insert(n.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for n in graph.keys() {
        if !marks.contains_key(n.as_str()) {
            if let Some(c) = visit(n, graph, &mut marks, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

fn assert_no_cycle(crate_src: &str) {
    let src = workspace_root().join(crate_src);
    let graph = import_graph(&src);
    assert!(graph.len() > 3, "{crate_src}: found only {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "{crate_src}: the module imports form a cycle: {}",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn danie_train_modules_import_one_way() {
    assert_no_cycle("crates/danie-train/src");
}

#[test]
fn danie_metrics_modules_import_one_way() {
    assert_no_cycle("crates/danie-metrics/src");
}

#[test]
fn xtask_modules_import_one_way() {
    assert_no_cycle("xtask/src");
}

/// The scanner itself: paths in code count, in comments and strings they do not; `super::`
/// from a file's test module is the file itself; groups name each first segment.
#[test]
fn the_scanner_reads_paths_as_rust_does() {
    let code = code_only(
        "use crate::{a::X, b};\n// crate::c\nlet s = \"crate::d\";\nfn f() { crate::e::g(); }\n\
         mod tests { use super::*; use super::super::h; }\nuse super::k::Y;\n",
    );
    let refs = referenced_modules(&code, &["m".to_string()]);
    let want: BTreeSet<String> = ["a", "b", "e", "h", "k", "m"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(refs, want);
    let cyclic = BTreeMap::from([
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["c".to_string()])),
        ("c".to_string(), BTreeSet::from(["a".to_string()])),
    ]);
    assert_eq!(find_cycle(&cyclic).unwrap(), ["a", "b", "c", "a"]);
    let acyclic = BTreeMap::from([
        (
            "a".to_string(),
            BTreeSet::from(["b".to_string(), "c".to_string()]),
        ),
        ("b".to_string(), BTreeSet::from(["c".to_string()])),
    ]);
    assert_eq!(find_cycle(&acyclic), None);
}

/// docs/architecture.md's list of danie-train's imports, as (module, imports): between
/// "Exactly (" and "The rest import no other module.", an item `- \`module\` → a, b` a module
/// (continued on lines indented by two spaces), imports only its tests make noted as
/// `(and, in its tests, c, d)`.
fn documented_imports(doc: &str) -> BTreeMap<String, BTreeSet<String>> {
    let start = doc
        .find("Exactly (")
        .expect("docs/architecture.md has the list that starts `Exactly (`");
    let end = start
        + doc[start..]
            .find("The rest import no other module.")
            .expect("the list ends `The rest import no other module.`");
    let mut items: Vec<String> = Vec::new();
    for line in doc[start..end].lines() {
        if let Some(item) = line.strip_prefix("- `") {
            items.push(item.to_string());
        } else if let (Some(rest), Some(item)) = (line.strip_prefix("  "), items.last_mut()) {
            item.push(' ');
            item.push_str(rest.trim());
        }
    }
    let mut listed = BTreeMap::new();
    for item in items {
        let (module, imports) = item
            .split_once("` → ")
            .unwrap_or_else(|| panic!("a list item is not `- \\`module\\` → a, b`: {item}"));
        let imports = imports
            .replace(" (and, in its tests,", ",")
            .replace(')', "")
            .split(',')
            .map(|s| s.trim().to_string())
            .collect();
        assert!(
            listed.insert(module.to_string(), imports).is_none(),
            "{module} is listed twice"
        );
    }
    listed
}

#[test]
fn the_architecture_doc_lists_danie_trains_imports_as_they_are() {
    let graph = import_graph(&workspace_root().join("crates/danie-train/src"));
    let doc = std::fs::read_to_string(workspace_root().join("docs/architecture.md")).unwrap();
    let listed = documented_imports(&doc);
    let actual: BTreeMap<String, BTreeSet<String>> = graph
        .into_iter()
        .filter(|(_, imports)| !imports.is_empty())
        .collect();
    let line = |m: &str, i: &BTreeSet<String>| {
        format!(
            "- `{m}` → {}",
            i.iter().cloned().collect::<Vec<_>>().join(", ")
        )
    };
    let want: Vec<String> = actual.iter().map(|(m, i)| line(m, i)).collect();
    assert_eq!(
        listed,
        actual,
        "docs/architecture.md's list differs from the code; the code's:\n{}",
        want.join("\n")
    );
}
