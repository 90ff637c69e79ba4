//! `runs/<kind>-<UTC timestamp>/`: the one folder a reproduce or bench run writes into.
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use crate::process::repo_root;

/// A fresh, uniquely named folder under `runs/` (or `DANIE_RUNS_DIR`).
pub struct RunFolder {
    path: PathBuf,
}

impl RunFolder {
    /// Creates `runs/<kind>-YYYYMMDD-HHMMSS` (with `-2`, `-3`, ... if that exists already, so that
    /// an earlier run is never written over).
    pub fn create(kind: &str) -> Result<Self> {
        let parent = std::env::var_os("DANIE_RUNS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("runs"));
        Self::create_in(&parent, kind)
    }

    /// [`Self::create`] under `parent` (created if absent).
    fn create_in(parent: &Path, kind: &str) -> Result<Self> {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        let stamp = utc_stamp(SystemTime::now());
        let mut i = 1;
        loop {
            let name = if i == 1 {
                format!("{kind}-{stamp}")
            } else {
                format!("{kind}-{stamp}-{i}")
            };
            let path = parent.join(name);
            // create_dir (not _all) fails if it exists: the test-and-create is atomic.
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(Self { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => i += 1,
                Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Passes `result` through; when it is an error and the run wrote nothing into this folder,
    /// removes the folder first, so that a run that failed early (a bad dataset folder, a
    /// missing binary) leaves no empty folder behind. A folder holding anything is kept as it is
    /// (its partial outputs say how far the run got): `remove_dir` removes empty folders only,
    /// so nothing that another process put there meanwhile is lost either.
    pub fn discard_if_empty_on_error<T>(&self, result: Result<T>) -> Result<T> {
        if result.is_err() {
            let empty = std::fs::read_dir(&self.path).is_ok_and(|mut d| d.next().is_none());
            if empty {
                let _ = std::fs::remove_dir(&self.path);
            }
        }
        result
    }
}

/// `YYYYMMDD-HHMMSS` in UTC (civil-from-days, Howard Hinnant's algorithm).
fn utc_stamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_failed_run_removes_its_folder_only_while_empty() {
        let parent = tempfile::tempdir().unwrap();
        let run = RunFolder::create_in(parent.path(), "unit").unwrap();
        assert!(run.path().starts_with(parent.path()) && run.path().is_dir());

        // Success keeps the folder, even empty.
        assert_eq!(run.discard_if_empty_on_error(Ok(7)).unwrap(), 7);
        assert!(run.path().is_dir());

        // A failure with something in the folder keeps it and its file.
        std::fs::write(run.path().join("config.toml"), "x").unwrap();
        let r: Result<()> = Err(anyhow::anyhow!("training failed"));
        let e = run.discard_if_empty_on_error(r).unwrap_err();
        assert_eq!(e.to_string(), "training failed");
        assert!(run.path().join("config.toml").is_file());

        // A failure before anything was written removes it; the error passes through.
        std::fs::remove_file(run.path().join("config.toml")).unwrap();
        let r: Result<()> = Err(anyhow::anyhow!("data check failed"));
        let e = run.discard_if_empty_on_error(r).unwrap_err();
        assert_eq!(e.to_string(), "data check failed");
        assert!(!run.path().exists());
        assert!(parent.path().is_dir());
    }

    #[test]
    fn utc_stamp_matches_known_dates() {
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101-000000");
        // 2024-02-29 12:34:56 UTC = 1709210096 (leap day).
        assert_eq!(
            utc_stamp(UNIX_EPOCH + Duration::from_secs(1_709_210_096)),
            "20240229-123456"
        );
    }
}
