//! danie-fs: the one way danie writes a file.
//!
//! Every output (weights, checkpoints, NIfTI masks, tables, plots, configs) is written to a
//! temporary file in the target folder and renamed onto its name once complete, so that:
//! - a failure or a kill never leaves a half-written file, and never destroys the previous one;
//! - the temporary has an unpredictable name and is created exclusively (`O_CREAT | O_EXCL`,
//!   which never follows a symbolic link), so a link planted in an output folder cannot redirect
//!   the write onto another file;
//! - the final rename replaces a link at the target name rather than writing through it.
//!
//! [`tempfile`] does the exclusive creation and the rename; this crate adds the error messages
//! (each names the file) and the two shapes of writer danie needs: one that fills an open file,
//! and one for libraries that insist on opening a path themselves (HDF5).
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// An error writing `path`, naming it.
#[derive(Debug)]
pub struct WriteError {
    /// The file that was being written.
    pub path: PathBuf,
    /// What went wrong.
    pub error: std::io::Error,
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot write {}: {}", self.path.display(), self.error)
    }
}

impl std::error::Error for WriteError {}

impl From<WriteError> for std::io::Error {
    fn from(e: WriteError) -> Self {
        std::io::Error::new(e.error.kind(), e.to_string())
    }
}

fn err(path: &Path, error: std::io::Error) -> WriteError {
    WriteError {
        path: path.to_path_buf(),
        error,
    }
}

/// The folder `path` goes into (`.` for a bare file name).
fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A new, exclusively created, uniquely named temporary file beside `path`.
fn temp_beside(path: &Path) -> Result<tempfile::NamedTempFile, WriteError> {
    let stem = path
        .file_name()
        .map(|n| format!(".{}.", n.to_string_lossy()))
        .ok_or_else(|| {
            err(
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name"),
            )
        })?;
    tempfile::Builder::new()
        .prefix(&stem)
        .suffix(".tmp")
        .tempfile_in(parent_of(path))
        .map_err(|e| err(path, e))
}

/// Writes `path` through `fill`, atomically: the bytes go to a new temporary file beside it,
/// are flushed and synced, and the temporary is renamed onto `path` (replacing a file or link
/// there). On any failure the temporary is removed and `path` is untouched.
pub fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<&File>) -> std::io::Result<()>,
) -> Result<(), WriteError> {
    let tmp = temp_beside(path)?;
    {
        let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file());
        fill(&mut w)
            .and_then(|()| w.flush())
            .map_err(|e| err(path, e))?;
    }
    tmp.as_file().sync_all().map_err(|e| err(path, e))?;
    tmp.persist(path).map_err(|e| err(path, e.error))?;
    Ok(())
}

/// [`write_atomic`] for a `fill` with its own error type `E` (a format encoder's), kept as
/// [`AtomicError::Write`]; flushing, syncing and renaming fail as [`AtomicError::Io`].
pub fn write_atomic_with<E>(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<&File>) -> Result<(), E>,
) -> Result<(), AtomicError<E>> {
    let tmp = temp_beside(path).map_err(AtomicError::Io)?;
    {
        let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file());
        fill(&mut w).map_err(AtomicError::Write)?;
        w.flush().map_err(|e| AtomicError::Io(err(path, e)))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| AtomicError::Io(err(path, e)))?;
    tmp.persist(path)
        .map_err(|e| AtomicError::Io(err(path, e.error)))?;
    Ok(())
}

/// Starts a file that grows while a run goes on (a log): `initial` is written to a new
/// temporary beside `path`, which is renamed onto `path` (replacing a file or link there) and
/// returned open, so that later writes go to that same file and never through a link planted
/// at the name afterwards.
pub fn start_file(path: &Path, initial: &[u8]) -> Result<File, WriteError> {
    let mut tmp = temp_beside(path)?;
    tmp.write_all(initial).map_err(|e| err(path, e))?;
    tmp.persist(path).map_err(|e| err(path, e.error))
}

/// Opens `path` for writing without following a symbolic link at its name (`O_NOFOLLOW`):
/// creating it if absent, then appending, or truncating it when `append` is false. For the
/// files that must keep a fixed name between runs (a resumable download's `.part`).
pub fn open_no_follow(path: &Path, append: bool) -> Result<File, WriteError> {
    let mut o = std::fs::OpenOptions::new();
    o.create(true).write(true).append(append).truncate(!append);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NOFOLLOW);
    }
    #[cfg(not(unix))]
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(err(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "is a symbolic link"),
        ));
    }
    o.open(path).map_err(|e| {
        // ELOOP: the name is a link; say so rather than "too many levels of links".
        #[cfg(unix)]
        if e.raw_os_error() == Some(libc::ELOOP) {
            return err(
                path,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "is a symbolic link: refusing to write through it",
                ),
            );
        }
        err(path, e)
    })
}

/// Checks that `name` (read from a file: a list, a registry, an archive) can be used as one
/// file name inside a folder: not empty, not `.` or `..`, no `/` or `\`, no NUL (so neither
/// absolute nor climbing out). The error says what is wrong; the caller names the file and the line.
pub fn check_file_name(name: &str) -> Result<(), String> {
    let why = if name.is_empty() {
        "is empty"
    } else if name == "." || name == ".." {
        "is `.` or `..`, not a file name"
    } else if name.contains('\0') {
        "holds a NUL byte"
    } else if name.contains(['/', '\\']) {
        "holds a path separator (a single name is expected, not a path)"
    } else if name.contains(':') && cfg!(windows) {
        "holds a drive or stream separator `:`"
    } else {
        return Ok(());
    };
    Err(format!("{name:?} {why}"))
}

/// The [`read_text`] limit of a config or a small JSON record (a real one is a few KB).
pub const MAX_SMALL_TEXT: u64 = 1 << 20;

/// Reads a small text file (a config, a list) whole, refusing one over `limit` bytes: a wrong
/// path (`/dev/zero`, a volume) would otherwise fill memory. Reads at most `limit + 1` bytes,
/// so a file whose length the OS does not know is bounded too.
pub fn read_text(path: &Path, limit: u64) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    File::open(path)?
        .take(limit.saturating_add(1))
        .read_to_string(&mut text)?;
    if text.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("over {limit} bytes, too large for this kind of file"),
        ));
    }
    Ok(text)
}

/// [`write_atomic`] of a byte string.
pub fn write_bytes(path: &Path, bytes: impl AsRef<[u8]>) -> Result<(), WriteError> {
    write_atomic(path, |w| w.write_all(bytes.as_ref()))
}

/// For writers that open a path themselves (HDF5, libtorch): `write` gets the path of a new,
/// exclusively created, empty temporary file beside `path`, which is renamed onto `path` when
/// `write` succeeds and removed when it fails. `E` carries `write`'s own error type.
pub fn write_atomic_via_path<E>(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), AtomicError<E>> {
    let tmp = temp_beside(path).map_err(AtomicError::Io)?;
    // Keep the exclusive file in place (so the name stays ours) while `write` truncates it.
    let tmp_path = tmp.into_temp_path();
    write(&tmp_path).map_err(AtomicError::Write)?;
    tmp_path
        .persist(path)
        .map_err(|e| AtomicError::Io(err(path, e.error)))?;
    Ok(())
}

/// The error of [`write_atomic_via_path`]: the writer's own, or the file system's.
#[derive(Debug)]
pub enum AtomicError<E> {
    /// The writer failed.
    Write(E),
    /// Creating or renaming the temporary failed.
    Io(WriteError),
}

impl<E: std::fmt::Display> std::fmt::Display for AtomicError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AtomicError::Write(e) => e.fmt(f),
            AtomicError::Io(e) => e.fmt(f),
        }
    }
}

impl<E: std::fmt::Debug + std::fmt::Display> std::error::Error for AtomicError<E> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_text_refuses_a_file_over_its_limit_even_without_a_length() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "a = 1\n").unwrap();
        assert_eq!(read_text(&p, 6).unwrap(), "a = 1\n");
        let e = read_text(&p, 5).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("over 5 bytes"), "{e}");
        #[cfg(unix)]
        {
            let e = read_text(Path::new("/dev/zero"), 1 << 20).unwrap_err();
            assert!(e.to_string().contains("over 1048576 bytes"), "{e}");
        }
    }

    #[test]
    fn writes_and_replaces_leaving_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("table.csv");
        write_bytes(&p, "a\n").unwrap();
        write_bytes(&p, "b\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "b\n");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "only the target remains");
    }

    #[test]
    fn failure_keeps_the_old_file_and_removes_the_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.safetensors");
        write_bytes(&p, "old").unwrap();
        let e = write_atomic(&p, |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("disk full"))
        })
        .unwrap_err();
        assert!(e.to_string().contains("w.safetensors"), "{e}");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_link_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "precious").unwrap();
        let p = dir.path().join("mask.nii.gz");
        std::os::unix::fs::symlink(&victim, &p).unwrap();
        write_bytes(&p, "mask").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(!std::fs::symlink_metadata(&p)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "mask");
    }

    #[test]
    fn via_path_renames_on_success_and_cleans_up_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.h5");
        write_atomic_via_path(&p, |tmp| std::fs::write(tmp, "data")).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "data");
        let r = write_atomic_via_path(&p, |tmp| {
            std::fs::write(tmp, "half")?;
            Err::<(), _>(std::io::Error::other("boom"))
        });
        assert!(matches!(r, Err(AtomicError::Write(_))));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "data");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn write_atomic_with_keeps_the_writers_error_and_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        write_bytes(&p, "old").unwrap();
        let r = write_atomic_with(&p, |w| {
            w.write_all(b"half").map_err(|e| e.to_string())?;
            Err("encoder failed".to_string())
        });
        assert!(matches!(&r, Err(AtomicError::Write(m)) if m == "encoder failed"));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        write_atomic_with(&p, |w| w.write_all(b"new").map_err(|e| e.to_string())).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
    }

    #[cfg(unix)]
    #[test]
    fn a_started_file_replaces_a_link_and_keeps_writing_to_itself() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "precious").unwrap();
        let p = dir.path().join("log.csv");
        std::os::unix::fs::symlink(&victim, &p).unwrap();
        let mut f = start_file(&p, b"header\n").unwrap();
        // A link planted after the start does not redirect later rows either.
        std::fs::remove_file(&p).unwrap();
        std::os::unix::fs::symlink(&victim, &p).unwrap();
        f.write_all(b"row\n").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        drop(f);
        std::fs::remove_file(&p).unwrap();
        let mut f = start_file(&p, b"header\n").unwrap();
        f.write_all(b"row\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "header\nrow\n");
    }

    #[cfg(unix)]
    #[test]
    fn open_no_follow_refuses_a_link_and_appends_to_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "precious").unwrap();
        let link = dir.path().join("x.part");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let e = open_no_follow(&link, true).unwrap_err();
        assert!(
            e.to_string().contains("x.part") && e.to_string().contains("symbolic link"),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        let p = dir.path().join("y.part");
        open_no_follow(&p, true).unwrap().write_all(b"ab").unwrap();
        open_no_follow(&p, true).unwrap().write_all(b"cd").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "abcd");
        open_no_follow(&p, false).unwrap().write_all(b"e").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "e");
    }

    #[test]
    fn file_names_from_files_stay_single_names() {
        for ok in ["case0001", "patient001_frame01", "a.b", "..x", "x.."] {
            assert!(check_file_name(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("", "empty"),
            (".", "`.`"),
            ("..", "`..`"),
            ("../../etc/passwd", "separator"),
            ("/abs", "separator"),
            ("a\\b", "separator"),
            ("a\0b", "NUL"),
        ] {
            let e = check_file_name(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }
}
