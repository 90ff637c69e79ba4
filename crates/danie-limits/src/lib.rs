//! danie-limits: the one decoded-size budget of danie's readers.
//!
//! A size written in a file (a NIfTI `dim`, an npy shape, a zip entry's declared length, a
//! torch.save storage's element count) is a claim; compressed data can claim far more than the
//! file holds. Every reader checks such sizes against [`max_decoded_bytes`] before it decodes.
//! The budget lives in this dependency-free crate so that danie-data (image and array files)
//! and danie-model (`.pth` / `.safetensors` weights) read one setting through one function.
//! `danie_data::limits` re-exports it beside its file-specific checks.

/// Environment variable that sets [`max_decoded_bytes`] (a byte count, or with a `K`, `M`, `G`
/// or `T` suffix, powers of 1024).
pub const MAX_DECODED_BYTES_ENV: &str = "DANIE_MAX_DECODED_BYTES";

/// Default budget: 16 GiB, above the largest real CT (512 x 512 x 2000 float32 is 2 GiB) and
/// whole-slide tiles a user trains on, below what a 24 GiB machine survives.
pub const DEFAULT_MAX_DECODED_BYTES: u64 = 16 << 30;

/// The most bytes one array (or one weights file) may take once decoded (decompressed,
/// converted), from `DANIE_MAX_DECODED_BYTES` or [`DEFAULT_MAX_DECODED_BYTES`]. An unparsable
/// value falls back to the default: the variable is read where no error can be reported, and a
/// typo must not lift the limit.
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
    let last = t.chars().last()?;
    let shift = match last {
        'K' | 'k' => 10,
        'M' | 'm' => 20,
        'G' | 'g' => 30,
        'T' | 't' => 40,
        _ => 0,
    };
    let digits = if shift == 0 {
        t
    } else {
        &t[..t.len() - last.len_utf8()]
    };
    let n: u64 = digits.trim().parse().ok()?;
    n.checked_mul(1u64 << shift)
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
        // A multi-byte last character is not a suffix, and no slice cuts through it.
        assert_eq!(parse_bytes("1é"), None);
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
