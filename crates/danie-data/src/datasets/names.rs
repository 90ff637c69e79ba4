//! Names read from files become file names inside a dataset folder (`{name}.npz`,
//! `{name}.npy.h5`, a patient folder): each must be one plain name, never a path that climbs
//! out of the folder (`../../x`), an absolute path, or a name holding a separator or NUL.
use std::path::Path;

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
}
