//! Resumable, verified HTTP download of one file.
//!
//! The bytes go to `FILE.part`; an interrupted download resumes from its length with a Range
//! request (a server that ignores Range sends the whole file, which restarts it). The finished
//! file is checked against the registry's size and sha256 (or sha256 prefix); a mismatch moves it
//! to `FILE.bad` (never overwriting an earlier one) and is an error. A file that is already there
//! and verifies is not fetched again. When the registry knows no hash, the first download's
//! sha256 is pinned in `FILE.sha256` and later runs verify against it; the run says so loudly
//! (trust on first use) and prints the sha256 for the user to compare with another source. The
//! same holds for a file found in place with neither a published hash nor a pin.
//!
//! A server never sends more than it should: with a registry size, reading stops one byte past
//! it and the download is an error. `FILE.part` keeps its name between runs (to resume), so it
//! is opened without following a link planted at that name; the final file is renamed into
//! place and the pin written through `danie_fs`.
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::registry::RemoteFile;

/// What happened to a file.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It was there already and verified.
    AlreadyPresent,
    /// It was fetched (or its download finished) and verified.
    Fetched,
}

/// How a file was verified, for the user.
pub struct Verified {
    pub sha256: String,
    pub what: String,
    /// Nothing published or pinned checked it: it is trusted on first use (and pinned now).
    pub first_use: bool,
}

/// Fetches `file` from `url` into `dest_dir`, verified.
pub fn fetch(file: &RemoteFile, url: &str, dest_dir: &Path) -> Result<(Outcome, Verified)> {
    let name = file.local_name();
    danie_fs::check_file_name(&name)
        .map_err(|why| anyhow::anyhow!("cannot name a local file after {url}: {why}"))?;
    std::fs::create_dir_all(dest_dir)
        .with_context(|| format!("creating {}", dest_dir.display()))?;
    let target = dest_dir.join(name);
    if target.exists() {
        match verify(file, &target) {
            Ok(v) => {
                if v.first_use {
                    pin(file, &target, &v)?;
                    trust_on_first_use(url, &target, &v.sha256);
                }
                return Ok((Outcome::AlreadyPresent, v));
            }
            Err(e) => {
                let bad = set_apart(&target)?;
                eprintln!(
                    "warning: the existing {} does not verify ({e:#}); moved to {} and fetching again",
                    target.display(),
                    bad.display()
                );
            }
        }
    }
    let part = with_suffix(&target, ".part");
    download_into(url, &part, file.size)?;
    match verify(file, &part) {
        Ok(v) => {
            std::fs::rename(&part, &target)
                .with_context(|| format!("renaming {} to {}", part.display(), target.display()))?;
            pin(file, &target, &v)?;
            if v.first_use {
                trust_on_first_use(url, &target, &v.sha256);
            }
            Ok((Outcome::Fetched, v))
        }
        Err(e) => {
            let bad = set_apart(&part)?;
            Err(e.context(format!(
                "{url} did not verify; the downloaded bytes are kept apart in {}",
                bad.display()
            )))
        }
    }
}

/// Says that `target` was trusted on first use, and how to check it.
fn trust_on_first_use(url: &str, target: &Path, sha256: &str) {
    let pin = pin_path(target).unwrap_or_default();
    eprintln!(
        "warning: nobody published a sha256 for {url}, so {} is TRUSTED ON FIRST USE:\n\
         \x20   its sha256 is {sha256}\n\
         \x20   pinned in {}: later runs verify the file against it.\n\
         \x20   Verify it yourself: compare that sha256 with one from another source (the \
         publisher's page or a copy downloaded elsewhere, `sha256sum {}`). If they differ, \
         delete both files and download again.",
        target.display(),
        pin.display(),
        target.display()
    );
}

/// The most a download whose size nobody states may take (the largest dataset archive in the
/// registry, ISIC 2018's training images, is about 10 GB).
const MAX_UNSIZED_DOWNLOAD: u64 = 64 << 30;

/// Appends to `part` from its current length to the end of `url`; with an `expected_size`,
/// never reads more than one byte past it.
fn download_into(url: &str, part: &Path, expected_size: u64) -> Result<()> {
    let mut have = std::fs::symlink_metadata(part)
        .map(|m| m.len())
        .unwrap_or(0);
    if expected_size > 0 && have > expected_size {
        // Longer than the whole file can be: not a prefix of it.
        let bad = set_apart(part)?;
        eprintln!(
            "warning: {} is longer than the registry's {expected_size} bytes; moved to {} and starting again",
            part.display(),
            bad.display()
        );
        have = 0;
    }
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(120))
        .build();
    let mut req = agent.get(url);
    if have > 0 {
        req = req.set("Range", &format!("bytes={have}-"));
    }
    let resp = match req.call() {
        Ok(r) => r,
        // 416: nothing left past `have`; the part is complete (verification decides).
        Err(ureq::Error::Status(416, _)) if have > 0 => return Ok(()),
        Err(ureq::Error::Status(code, r)) => {
            bail!("{url} answered HTTP {code} {}", r.status_text())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot reach {url}")),
    };
    let resuming = have > 0 && resp.status() == 206;
    if have > 0 && !resuming {
        eprintln!("    the server ignored the Range request: starting {url} again");
    }
    let remaining: Option<u64> = resp.header("Content-Length").and_then(|v| v.parse().ok());
    let total = match (remaining, resuming) {
        (Some(n), true) => Some(have + n),
        (Some(n), false) => Some(n),
        (None, _) if expected_size > 0 => Some(expected_size),
        (None, _) => None,
    };
    if let (Some(t), true) = (total, expected_size > 0) {
        if t > expected_size {
            bail!("{url} announces {t} bytes, but the registry says the file has {expected_size}: refusing to download it");
        }
    }
    let mut out = danie_fs::open_no_follow(part, resuming)?;
    let bar = match total {
        Some(t) => indicatif::ProgressBar::new(t),
        None => indicatif::ProgressBar::new_spinner(),
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "    {bytes}/{total_bytes} {wide_bar} {bytes_per_sec} eta {eta}",
        )
        .expect("static template"),
    );
    bar.set_position(if resuming { have } else { 0 });
    // One byte past the expected size is enough to know the server sends too much.
    // Without a registry size the server's own length bounds the body (ureq stops there); a
    // stream with neither still stops at MAX_UNSIZED_DOWNLOAD rather than filling the disk.
    let cap = if expected_size > 0 {
        expected_size
    } else {
        MAX_UNSIZED_DOWNLOAD
    };
    let limit = (cap + 1).saturating_sub(if resuming { have } else { 0 });
    let mut body = resp.into_reader().take(limit);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                out.flush().ok();
                return Err(e).with_context(|| {
                    format!(
                        "the download of {url} broke off; {} is kept: run the command again to resume",
                        part.display()
                    )
                });
            }
        };
        out.write_all(&buf[..n])
            .with_context(|| format!("writing {}", part.display()))?;
        bar.inc(n as u64);
    }
    out.flush()?;
    bar.finish_and_clear();
    let got = part.metadata()?.len();
    if expected_size > 0 && got > expected_size {
        let bad = set_apart(part)?;
        bail!(
            "{url} sent more than the registry's {expected_size} bytes: stopped reading at {got}; the bytes are kept apart in {}",
            bad.display()
        );
    }
    if expected_size == 0 && got > MAX_UNSIZED_DOWNLOAD {
        let bad = set_apart(part)?;
        bail!(
            "{url} sent more than {MAX_UNSIZED_DOWNLOAD} bytes with no size in the registry or from the server: stopped reading; the bytes are kept apart in {}",
            bad.display()
        );
    }
    if let Some(t) = total {
        if got < t {
            bail!(
                "the download of {url} ended early ({got} of {t} bytes); {} is kept: run the command again to resume",
                part.display()
            );
        }
    }
    Ok(())
}

/// Checks size and hash; Ok says what was verified.
pub fn verify(file: &RemoteFile, path: &Path) -> Result<Verified> {
    let len = path
        .metadata()
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if file.size > 0 && len != file.size {
        bail!(
            "{} has {len} bytes, the registry says {}",
            path.display(),
            file.size
        );
    }
    let got = sha256_of(path)?;
    let pinned = pin_path(path)
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|s| {
            s.split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase()
        });
    let (want, what) = if !file.sha256.is_empty() {
        (file.sha256.to_ascii_lowercase(), "sha256")
    } else if let Some(p) = pinned.filter(|p| p.len() == 64) {
        (p, "sha256 pinned at first download")
    } else if !file.sha256_prefix.is_empty() {
        (file.sha256_prefix.to_ascii_lowercase(), "sha256 prefix")
    } else {
        (String::new(), "nothing: trusted on first use, pinned now")
    };
    let first_use = want.is_empty();
    if !got.starts_with(&want) {
        bail!(
            "{} has sha256 {got}, expected {}{want}",
            path.display(),
            if want.len() < 64 {
                "a hash starting "
            } else {
                ""
            }
        );
    }
    let mut what = what.to_string();
    if file.size > 0 {
        what = format!("size and {what}");
    }
    Ok(Verified {
        sha256: got,
        what,
        first_use,
    })
}

/// Writes `FILE.sha256` when the registry has no full hash, so later runs verify against it.
fn pin(file: &RemoteFile, target: &Path, v: &Verified) -> Result<()> {
    if !file.sha256.is_empty() {
        return Ok(());
    }
    let p = pin_path(target).with_context(|| format!("{} has no file name", target.display()))?;
    if !p.exists() {
        let name = target.file_name().unwrap_or_default().to_string_lossy();
        danie_fs::write_bytes(&p, format!("{}  {name}\n", v.sha256))?;
    }
    Ok(())
}

/// `FILE.sha256` beside the final file (for `FILE.part` too).
fn pin_path(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_string_lossy();
    let base = name.strip_suffix(".part").unwrap_or(&name);
    Some(path.with_file_name(format!("{base}.sha256")))
}

/// Streams a file through sha256.
pub fn sha256_of(path: &Path) -> Result<String> {
    let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Moves `path` to `NAME.bad` (or `NAME.bad.2`, ... so that nothing is overwritten).
fn set_apart(path: &Path) -> Result<PathBuf> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let base = name.strip_suffix(".part").unwrap_or(&name).to_string();
    let mut bad = path.with_file_name(format!("{base}.bad"));
    let mut i = 2;
    // symlink_metadata: a dangling link at a name counts as taken too.
    while std::fs::symlink_metadata(&bad).is_ok() {
        bad = path.with_file_name(format!("{base}.bad.{i}"));
        i += 1;
    }
    std::fs::rename(path, &bad)
        .with_context(|| format!("moving {} to {}", path.display(), bad.display()))?;
    Ok(bad)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!("{name}{suffix}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(sha256: &str, prefix: &str, size: u64) -> RemoteFile {
        RemoteFile {
            url: "http://127.0.0.1/x.bin".into(),
            file_name: None,
            sha256: sha256.into(),
            sha256_prefix: prefix.into(),
            size,
        }
    }

    #[test]
    fn sha256_matches_the_standard_test_vector() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("abc");
        std::fs::write(&p, b"abc").unwrap();
        // FIPS 180-2 test vector for "abc".
        assert_eq!(
            sha256_of(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn verify_checks_size_prefix_and_pin() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.bin");
        std::fs::write(&p, b"abc").unwrap();
        assert!(verify(&remote("", "ba7816bf", 3), &p).is_ok());
        assert!(verify(&remote("", "ba7816bf", 4), &p).is_err());
        assert!(verify(&remote("", "00", 0), &p).is_err());
        // A pin written by an earlier download wins over "nothing known".
        std::fs::write(
            dir.path().join("x.bin.sha256"),
            format!("{}  x.bin\n", "0".repeat(64)),
        )
        .unwrap();
        assert!(verify(&remote("", "", 0), &p).is_err());
    }

    #[test]
    fn set_apart_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        for _ in 0..2 {
            std::fs::write(dir.path().join("x.bin.part"), b"1").unwrap();
            set_apart(&dir.path().join("x.bin.part")).unwrap();
        }
        assert!(dir.path().join("x.bin.bad").exists());
        assert!(dir.path().join("x.bin.bad.2").exists());
    }
}
