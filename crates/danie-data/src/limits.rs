//! Budgets for sizes read from files.
//!
//! A size in a header (a NIfTI `dim`, an HDF5 dataspace, an npy shape, a zip entry's declared
//! length) is a claim, not a fact: a few hundred crafted bytes can claim a terabyte. Readers check
//! every such size against the file's own length where the data is stored plainly, and against
//! [`max_decoded_bytes`] where it is compressed, before they allocate anything.
use std::path::Path;

use crate::{DataError, Result};

/// Environment variable that sets [`max_decoded_bytes`] (a byte count, or with a `K`, `M`, `G`
/// or `T` suffix, powers of 1024).
pub const MAX_DECODED_BYTES_ENV: &str = "DANIE_MAX_DECODED_BYTES";

/// Default budget: 16 GiB, above the largest real CT (512 x 512 x 2000 float32 is 2 GiB) and
/// whole-slide tiles a user trains on, below what a 24 GiB machine survives.
pub const DEFAULT_MAX_DECODED_BYTES: u64 = 16 << 30;

/// The most bytes one array may take once decoded (decompressed, converted), from
/// `DANIE_MAX_DECODED_BYTES` or [`DEFAULT_MAX_DECODED_BYTES`]. An unparsable value falls back to
/// the default: the variable is read where no error can be reported, and a typo must not lift
/// the limit.
pub fn max_decoded_bytes() -> u64 {
    std::env::var(MAX_DECODED_BYTES_ENV)
        .ok()
        .and_then(|v| parse_bytes(&v))
        .unwrap_or(DEFAULT_MAX_DECODED_BYTES)
}

/// Parses `123`, `64K`, `512M`, `16G`, `1T` (powers of 1024; an optional trailing `B` / `iB`).
pub fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (digits, shift) = match t.chars().last()? {
        'K' | 'k' => (&t[..t.len() - 1], 10),
        'M' | 'm' => (&t[..t.len() - 1], 20),
        'G' | 'g' => (&t[..t.len() - 1], 30),
        'T' | 't' => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    let n: u64 = digits.trim().parse().ok()?;
    n.checked_mul(1u64 << shift)
}

/// The number of elements of `shape`, or an error naming `path` when the product overflows.
pub fn element_count(path: &Path, shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            DataError::invalid(
                path,
                format!("shape {shape:?} has more elements than fit in memory"),
            )
        })
}

/// Errors, naming `path` and `what`, when `bytes` decoded bytes exceed [`max_decoded_bytes`].
pub fn check_decoded(path: &Path, what: &str, bytes: u64) -> Result<()> {
    let budget = max_decoded_bytes();
    if bytes > budget {
        return Err(DataError::invalid(
            path,
            format!(
                "{what} would take {} once decoded, over the limit of {} \
                 (raise it with {MAX_DECODED_BYTES_ENV}, e.g. {MAX_DECODED_BYTES_ENV}=64G)",
                human_bytes(bytes),
                human_bytes(budget)
            ),
        ));
    }
    Ok(())
}

/// Errors, naming `path` and `what`, when `needed` stored bytes starting at `offset` run past
/// `file_len`: a plainly stored array cannot be larger than the file holding it.
pub fn check_stored(
    path: &Path,
    what: &str,
    offset: u64,
    needed: u64,
    file_len: u64,
) -> Result<()> {
    match offset.checked_add(needed) {
        Some(end) if end <= file_len => Ok(()),
        _ => Err(DataError::invalid(
            path,
            format!(
                "{what} needs {} from byte {offset}, but the file has only {} bytes (truncated, \
                 or the header is damaged)",
                human_bytes(needed),
                file_len
            ),
        )),
    }
}

/// `1536` -> `1.5 KiB`; exact bytes below 1 KiB.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes_with_suffixes() {
        assert_eq!(parse_bytes("123"), Some(123));
        assert_eq!(parse_bytes("64K"), Some(64 << 10));
        assert_eq!(parse_bytes("512MiB"), Some(512 << 20));
        assert_eq!(parse_bytes("16G"), Some(16 << 30));
        assert_eq!(parse_bytes("2tb"), None);
        assert_eq!(parse_bytes("2TB"), Some(2 << 40));
        assert_eq!(parse_bytes("x"), None);
        assert_eq!(parse_bytes("99999999999T"), None);
    }

    #[test]
    fn stored_size_past_the_end_is_an_error_naming_the_file() {
        let p = Path::new("scan.nii");
        assert!(check_stored(p, "the data", 352, 8, 360).is_ok());
        let e = check_stored(p, "the data", 352, 9, 360)
            .unwrap_err()
            .to_string();
        assert!(e.contains("scan.nii") && e.contains("360 bytes"), "{e}");
        assert!(check_stored(p, "the data", u64::MAX, 1, 360).is_err());
    }

    #[test]
    fn element_count_overflow_is_an_error() {
        let p = Path::new("a.npy");
        assert_eq!(element_count(p, &[2, 3, 4]).unwrap(), 24);
        assert!(element_count(p, &[usize::MAX, 2]).is_err());
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
