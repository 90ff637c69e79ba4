//! Names read from files become file names inside a dataset folder (`{name}.npz`,
//! `{name}.npy.h5`, a patient folder): each must be one plain name, never a path that climbs
//! out of the folder (`../../x`), an absolute path, or a name holding a separator or NUL.
//! [`NamedFiles`] is the one-file-per-sample folder the slice and volume readers index.
use std::path::{Path, PathBuf};

use crate::{DataError, Result};

/// Checks `name`, read from line `line` (1-based) of the list file `list`; the error names the
/// file, the line and what is wrong.
pub(crate) fn check_list_name(list: &Path, line: usize, name: &str) -> Result<()> {
    danie_fs::check_file_name(name).map_err(|why| {
        DataError::invalid(
            list,
            format!(
                "line {line}: the name {why}; a split list holds names of files or folders \
                 inside the dataset folder, one per line"
            ),
        )
    })
}

/// A dataset split stored as one file per sample, `dir/<name><ext>`: sample `i` is the file of
/// `names[i]`, and its name is what reports and errors show.
pub(crate) struct NamedFiles {
    dir: PathBuf,
    names: Vec<String>,
    /// File name ending, dot included (`.npz`, `.npy.h5`).
    ext: &'static str,
}

impl NamedFiles {
    pub(crate) fn new(dir: PathBuf, names: Vec<String>, ext: &'static str) -> Self {
        Self { dir, names, ext }
    }

    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    pub(crate) fn name(&self, index: usize) -> String {
        self.names[index].clone()
    }

    /// The file of sample `index`.
    pub(crate) fn path(&self, index: usize) -> PathBuf {
        self.companion(index, self.ext)
    }

    /// A companion file of sample `index` in the same folder, `dir/<name><ending>` (GlaS's
    /// `_anno.bmp` masks beside the `.bmp` images).
    pub(crate) fn companion(&self, index: usize, ending: &str) -> PathBuf {
        self.dir.join(format!("{}{ending}", self.names[index]))
    }

    /// Every sample's file, in order (to check that a list's files exist).
    pub(crate) fn paths(&self) -> Vec<PathBuf> {
        (0..self.len()).map(|i| self.path(i)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_leave_the_folder_are_refused_with_file_and_line() {
        let list = Path::new("/data/acdc/lists/train.txt");
        assert!(check_list_name(list, 1, "patient001").is_ok());
        for bad in ["../../etc/passwd", "/etc/passwd", "a/b", "..", "a\0b"] {
            let e = check_list_name(list, 7, bad).unwrap_err().to_string();
            assert!(e.contains("train.txt") && e.contains("line 7"), "{e}");
        }
    }

    #[test]
    fn named_files_join_folder_name_and_ending() {
        let files = NamedFiles::new("/d/test_vol_h5".into(), vec!["case0001".into()], ".npy.h5");
        assert_eq!(files.len(), 1);
        assert_eq!(files.name(0), "case0001");
        assert_eq!(files.path(0), Path::new("/d/test_vol_h5/case0001.npy.h5"));
        assert_eq!(files.paths(), vec![files.path(0)]);
        assert_eq!(
            files.companion(0, "_gt.npz"),
            Path::new("/d/test_vol_h5/case0001_gt.npz")
        );
    }
}
