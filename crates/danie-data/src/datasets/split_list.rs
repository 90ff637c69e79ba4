//! Split lists: one name per line (blank lines and `#` comments skipped), read from a dataset
//! folder or from the lists shipped in `configs/splits/` (compiled in).
use std::path::Path;

use crate::{DataError, Result};

/// Shipped lists, compiled in from `configs/splits/`.
pub(crate) mod shipped {
    /// TransUNet's 18 Synapse training cases.
    pub const SYNAPSE_TRAIN: &str =
        include_str!("../../../../configs/splits/synapse/train_cases.txt");
    /// TransUNet's 12 Synapse test cases.
    pub const SYNAPSE_TEST: &str =
        include_str!("../../../../configs/splits/synapse/test_cases.txt");
    /// ACDC training patients (70).
    pub const ACDC_TRAIN: &str = include_str!("../../../../configs/splits/acdc/train.txt");
    /// ACDC validation patients (10).
    pub const ACDC_VAL: &str = include_str!("../../../../configs/splits/acdc/val.txt");
    /// ACDC test patients (SSL4MIS's 20).
    pub const ACDC_TEST: &str = include_str!("../../../../configs/splits/acdc/test.txt");
}

/// Parses list text: trimmed non-empty lines that do not start with `#`.
pub(crate) fn parse_list(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

/// Largest split list read: millions of names (a list is a few KB; this bounds the memory a
/// wrong file, `/dev/zero` or a volume, can take).
pub const MAX_LIST_BYTES: u64 = 64 << 20;

/// Reads a split list file; an empty list, a name that is not a single file name (`..`,
/// `a/b`, an absolute path), a name given twice (its case would count twice in every mean), or
/// a file over [`MAX_LIST_BYTES`] is an error naming the file (and the lines).
pub fn read_list(path: &Path) -> Result<Vec<String>> {
    let text = danie_fs::read_text(path, MAX_LIST_BYTES).map_err(|e| DataError::io(path, e))?;
    // Every name becomes a path inside the dataset folder: check it where the line is known.
    let mut first_line = std::collections::HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let name = line.trim();
        if !name.is_empty() && !name.starts_with('#') {
            super::names::check_list_name(path, i + 1, name)?;
            if let Some(first) = first_line.insert(name, i + 1) {
                return Err(DataError::invalid(
                    path,
                    format!(
                        "line {} repeats `{name}` (first at line {first}): each case is listed once",
                        i + 1
                    ),
                ));
            }
        }
    }
    let names = parse_list(&text);
    if names.is_empty() {
        return Err(DataError::invalid(path, "empty split list"));
    }
    Ok(names)
}

/// The list files of a layout with train, validation and test splits (ACDC, ISIC 2018).
pub(crate) const SPLIT_FILES: [&str; 3] = ["train.txt", "val.txt", "test.txt"];

/// The `wanted` split's list (`train.txt`, ...) from a dataset folder's own `root/lists/`, its
/// layout's lists being `files`; `None` when the folder has none of them. Every present list is
/// read (and checked), and no case may be in two of them, names compared by `key` (so `0005`
/// and `case0005` are one Synapse case). A missing `wanted` list while others are present is,
/// with `universe` (every name of the folder) given and only it missing, the names no other
/// list holds (a run's `RUN/lists/{train,val}.txt` dropped into a copy); otherwise an error: it
/// would come from the built-in split and could share cases with the given ones.
pub(crate) fn own_lists(
    root: &Path,
    files: &[&str],
    wanted: &str,
    universe: Option<&[String]>,
    key: impl Fn(&str) -> String,
) -> Result<Option<Vec<String>>> {
    let dir = root.join("lists");
    let mut lists = std::collections::BTreeMap::new();
    for f in files {
        let p = dir.join(f);
        if p.is_file() {
            lists.insert(f.to_string(), read_list(&p)?);
        }
    }
    if lists.is_empty() {
        return Ok(None);
    }
    let mut seen: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for (file, names) in &lists {
        for n in names {
            if let Some(other) = seen.insert(key(n), file.clone()) {
                let why = if other == *file {
                    format!("`{n}` names a case {file} already lists")
                } else {
                    format!("`{n}` is in both {other} and {file}: a case belongs to one split")
                };
                return Err(DataError::invalid(&dir, why));
            }
        }
    }
    if let Some(names) = lists.remove(wanted) {
        return Ok(Some(names));
    }
    let missing: Vec<&str> = files
        .iter()
        .copied()
        .filter(|f| *f != wanted && !lists.contains_key(*f))
        .collect();
    match universe {
        Some(all) if missing.is_empty() => Ok(Some(
            all.iter()
                .filter(|n| !seen.contains_key(&key(n)))
                .cloned()
                .collect(),
        )),
        _ => {
            let given: Vec<&str> = lists.keys().map(String::as_str).collect();
            Err(DataError::invalid(
                &dir,
                format!(
                    "holds {} but not {wanted}: give every split's list or none (the \
                     {wanted} split would come from the built-in split and could share cases \
                     with yours)",
                    given.join(", ")
                ),
            ))
        }
    }
}

/// The first of `candidates` that exists, read as a list; `None` when none exists.
pub(crate) fn first_list(
    candidates: &[std::path::PathBuf],
) -> Result<Option<(std::path::PathBuf, Vec<String>)>> {
    for c in candidates {
        if c.is_file() {
            return Ok(Some((c.clone(), read_list(c)?)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_lists_are_whole_or_complemented_and_disjoint() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let files = ["train.txt", "val.txt", "test.txt"];
        let same = |n: &str| n.to_string();
        let get = |wanted: &str, universe: Option<&[String]>| {
            own_lists(root, &files, wanted, universe, same)
        };
        assert!(get("train.txt", None).unwrap().is_none());
        std::fs::create_dir_all(root.join("lists")).unwrap();
        let write = |f: &str, text: &str| std::fs::write(root.join("lists").join(f), text).unwrap();
        write("train.txt", "a\nb\n");
        let all: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        // The split opened has its list: used (an evaluation-only or training-only folder).
        assert_eq!(get("train.txt", None).unwrap().unwrap(), ["a", "b"]);
        // Another split, two lists missing: an error, whether or not the names are known.
        for universe in [None, Some(all.as_slice())] {
            let e = get("test.txt", universe).unwrap_err().to_string();
            assert!(
                e.contains("holds train.txt but not test.txt: give every split's"),
                "{e}"
            );
        }
        write("val.txt", "c\n");
        // One missing: the rest of the folder's names, or an error without them.
        assert_eq!(get("test.txt", Some(&all)).unwrap().unwrap(), ["d", "e"]);
        assert!(get("test.txt", None).is_err());
        write("test.txt", "d\nb\n");
        let e = get("val.txt", None).unwrap_err().to_string();
        assert!(e.contains("`b` is in both test.txt and train.txt"), "{e}");
        // Names compared by key: `0005` and `case0005` are one case.
        write("test.txt", "d\n");
        write("val.txt", "case0005\n");
        write("train.txt", "0005\n");
        let digits = |n: &str| n.trim_start_matches("case").to_string();
        let e = own_lists(root, &files, "train.txt", None, digits)
            .unwrap_err()
            .to_string();
        assert!(e.contains("in both train.txt and val.txt"), "{e}");
        write("train.txt", "0006\ncase0006\n");
        let e = own_lists(root, &files, "train.txt", None, digits)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`case0006` names a case train.txt already lists"),
            "{e}"
        );
    }

    #[test]
    fn a_name_listed_twice_is_an_error_naming_both_lines() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("test.txt");
        std::fs::write(&list, "case0001\n# a comment\ncase0002\n\ncase0001\n").unwrap();
        let e = read_list(&list).unwrap_err().to_string();
        assert!(
            e.contains("test.txt") && e.contains("line 5 repeats `case0001` (first at line 1)"),
            "{e}"
        );
        std::fs::write(&list, "case0001\ncase0002\n").unwrap();
        assert_eq!(read_list(&list).unwrap(), ["case0001", "case0002"]);
    }

    #[test]
    fn names_leaving_the_dataset_folder_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("train.txt");
        for bad in ["../../etc/passwd", "/etc/passwd", "..", "a/b"] {
            std::fs::write(&list, format!("case0001\n{bad}\n")).unwrap();
            let e = read_list(&list).unwrap_err().to_string();
            assert!(e.contains("train.txt") && e.contains(bad), "{e}");
        }
        std::fs::write(&list, "case0001_slice000\npatient001\n").unwrap();
        assert_eq!(read_list(&list).unwrap().len(), 2);
    }

    #[test]
    fn shipped_lists_have_published_sizes() {
        assert_eq!(parse_list(shipped::SYNAPSE_TRAIN).len(), 18);
        assert_eq!(parse_list(shipped::SYNAPSE_TEST).len(), 12);
        let (tr, va, te) = (
            parse_list(shipped::ACDC_TRAIN),
            parse_list(shipped::ACDC_VAL),
            parse_list(shipped::ACDC_TEST),
        );
        assert_eq!((tr.len(), va.len(), te.len()), (70, 10, 20));
        let mut all: Vec<_> = tr.iter().chain(&va).chain(&te).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 100);
    }

    #[test]
    fn a_list_name_that_leaves_the_folder_is_an_error_naming_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("train.txt");
        std::fs::write(&p, "# split\npatient001\n\n../../../etc/passwd\n").unwrap();
        let e = read_list(&p).unwrap_err().to_string();
        assert!(e.contains("train.txt") && e.contains("line 4"), "{e}");
        assert!(e.contains("separator"), "{e}");
        std::fs::write(&p, "patient001\n/abs/olute\n").unwrap();
        let e = read_list(&p).unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        std::fs::write(&p, "patient001\npatient002\n").unwrap();
        assert_eq!(read_list(&p).unwrap(), ["patient001", "patient002"]);
    }
}
