//! The one test of a single-file NIfTI name: `.nii` or `.nii.gz`, any case (a `.hdr`/`.img`
//! pair is read by [`super::read`] but is not one file).
use std::path::Path;

/// A `.nii` / `.nii.gz` file name, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NiftiFileName {
    /// The name without the ending: `ct.nii.gz` -> `ct` (a case name).
    pub stem: String,
    /// `.nii.gz`: gzip-compressed.
    pub gzip: bool,
}

/// Splits `path`'s file name when it ends in `.nii` or `.nii.gz` (any case); `None` otherwise.
pub fn nifti_file_name(path: &Path) -> Option<NiftiFileName> {
    let name = path.file_name()?.to_string_lossy();
    // ASCII lower-casing keeps byte offsets, so the ending's length cuts `name` too.
    let lower = name.to_ascii_lowercase();
    let (ending, gzip) = [(".nii.gz", true), (".nii", false)]
        .into_iter()
        .find(|(e, _)| lower.ends_with(e))?;
    Some(NiftiFileName {
        stem: name[..name.len() - ending.len()].to_string(),
        gzip,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nii_and_nii_gz_in_any_case() {
        let split = |p: &str| nifti_file_name(Path::new(p)).map(|n| (n.stem, n.gzip));
        assert_eq!(split("a/ct.nii.gz"), Some(("ct".into(), true)));
        assert_eq!(split("ct.nii"), Some(("ct".into(), false)));
        assert_eq!(split("CT.NII.GZ"), Some(("CT".into(), true)));
        assert_eq!(split("case.v2.Nii"), Some(("case.v2".into(), false)));
        for other in ["ct.hdr", "ct.img", "ct.gz", "ct.nii.gz.bak", "nii", "dir/"] {
            assert_eq!(split(other), None, "{other}");
        }
    }
}
