//! The training log: `log.csv` and `log.jsonl` in the run folder, one row per logged iteration
//! and one per epoch (with the validation score where there is one). Epochs count from 1, as the
//! checkpoint folders (`epoch_0001` holds the weights after epoch 1) and the progress bar do.
//!
//! On resume the rows after the checkpoint's iteration are dropped first, so the log of a
//! resumed run reads as the log of one uninterrupted run.
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// One log row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRow {
    /// `iter` for an iteration row, `epoch` for an end-of-epoch row.
    pub kind: String,
    /// The epoch, counted from 1: an iteration row's epoch is the one it trains in, an epoch
    /// row's the one it ends.
    pub epoch: usize,
    /// Optimiser steps done so far (1-based after the first step).
    pub iteration: usize,
    /// Total loss (iteration: this batch; epoch: mean over the epoch).
    pub loss: f64,
    /// Cross-entropy term (iteration rows).
    pub ce: Option<f64>,
    /// Dice-loss term (iteration rows).
    pub dice_loss: Option<f64>,
    /// Learning rate the step used.
    pub lr: f64,
    /// Training throughput over the iterations since the last logged row, images per second
    /// (iteration rows; epoch rows leave it empty).
    pub images_per_s: Option<f64>,
    /// Validation mean Dice (epoch rows with a validation split), else empty.
    pub val_dice: Option<f64>,
    /// Seconds since the run (or the resumed run) started.
    pub elapsed_s: f64,
}

const CSV_HEADER: &str =
    "kind,epoch,iteration,loss,ce,dice_loss,lr,images_per_s,val_dice,elapsed_s";

impl LogRow {
    fn to_csv(&self) -> String {
        format!(
            "{},{},{},{:.8},{},{},{:.8e},{},{},{:.2}",
            self.kind,
            self.epoch,
            self.iteration,
            self.loss,
            opt(self.ce, 8),
            opt(self.dice_loss, 8),
            self.lr,
            opt(self.images_per_s, 2),
            opt(self.val_dice, 6),
            self.elapsed_s
        )
    }
}

/// A CSV cell: the value with `digits` decimals, or empty.
fn opt(v: Option<f64>, digits: usize) -> String {
    v.map(|v| format!("{v:.digits$}")).unwrap_or_default()
}

/// Appends rows to `log.csv` and `log.jsonl`.
pub struct RunLog {
    csv: std::fs::File,
    jsonl: std::fs::File,
    jsonl_path: PathBuf,
}

impl RunLog {
    /// Opens the logs of `run_dir`: fresh when `resume_after` is `None`, else keeping only rows
    /// with `iteration <= resume_after`.
    pub fn open(run_dir: &Path, resume_after: Option<usize>) -> anyhow::Result<Self> {
        let csv_path = run_dir.join("log.csv");
        let jsonl_path = run_dir.join("log.jsonl");
        let kept = match resume_after {
            Some(it) if jsonl_path.exists() => read_rows(&jsonl_path)?
                .into_iter()
                .filter(|r| r.iteration <= it)
                .collect(),
            _ => Vec::new(),
        };
        let mut csv_text = format!("{CSV_HEADER}\n");
        let mut jsonl_text = String::new();
        for r in &kept {
            csv_text.push_str(&r.to_csv());
            csv_text.push('\n');
            jsonl_text.push_str(&serde_json::to_string(r)?);
            jsonl_text.push('\n');
        }
        // Each log starts as a new file renamed into place and stays open: rows never go
        // through a link planted at its name, before the run or during it.
        let csv = danie_fs::start_file(&csv_path, csv_text.as_bytes())?;
        let jsonl = danie_fs::start_file(&jsonl_path, jsonl_text.as_bytes())?;
        Ok(Self {
            csv,
            jsonl,
            jsonl_path,
        })
    }

    /// Appends one row to both files.
    pub fn write(&mut self, row: &LogRow) -> anyhow::Result<()> {
        writeln!(self.csv, "{}", row.to_csv())?;
        writeln!(self.jsonl, "{}", serde_json::to_string(row)?)
            .with_context(|| format!("cannot write {}", self.jsonl_path.display()))?;
        Ok(())
    }
}

/// Reads every row of a `log.jsonl`.
pub fn read_rows(path: &Path) -> anyhow::Result<Vec<LogRow>> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    std::io::BufReader::new(f)
        .lines()
        .enumerate()
        .filter(|(_, l)| !matches!(l, Ok(s) if s.trim().is_empty()))
        .map(|(i, l)| {
            let l = l?;
            serde_json::from_str(&l)
                .with_context(|| format!("{} line {}: not a log row", path.display(), i + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: &str, iteration: usize) -> LogRow {
        LogRow {
            kind: kind.into(),
            epoch: 0,
            iteration,
            loss: 1.0,
            ce: Some(0.5),
            dice_loss: None,
            lr: 0.01,
            images_per_s: (kind == "iter").then_some(3.0),
            val_dice: None,
            elapsed_s: 0.0,
        }
    }

    #[test]
    fn resume_drops_rows_after_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = RunLog::open(dir.path(), None).unwrap();
        for i in 1..=5 {
            log.write(&row("iter", i)).unwrap();
        }
        drop(log);
        let mut log = RunLog::open(dir.path(), Some(3)).unwrap();
        log.write(&row("epoch", 4)).unwrap();
        drop(log);
        let rows = read_rows(&dir.path().join("log.jsonl")).unwrap();
        let its: Vec<usize> = rows.iter().map(|r| r.iteration).collect();
        assert_eq!(its, [1, 2, 3, 4]);
        let csv = std::fs::read_to_string(dir.path().join("log.csv")).unwrap();
        assert_eq!(csv.lines().count(), 5);
        assert!(csv.starts_with("kind,epoch"));
        // an epoch row has no throughput of its own: an empty cell, not 0.00
        let epoch_row = csv.lines().last().unwrap();
        let cells: Vec<&str> = epoch_row.split(',').collect();
        let column = CSV_HEADER
            .split(',')
            .position(|c| c == "images_per_s")
            .unwrap();
        assert_eq!((cells[0], cells[column]), ("epoch", ""), "{epoch_row}");
        assert_eq!(
            csv.lines().nth(1).unwrap().split(',').nth(column),
            Some("3.00")
        );
        assert_eq!(rows[3].images_per_s, None);
    }

    #[cfg(unix)]
    #[test]
    fn links_planted_at_the_log_names_are_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "precious").unwrap();
        for name in ["log.csv", "log.jsonl"] {
            std::os::unix::fs::symlink(&victim, dir.path().join(name)).unwrap();
        }
        let mut log = RunLog::open(dir.path(), None).unwrap();
        log.write(&row("iter", 1)).unwrap();
        drop(log);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(read_rows(&dir.path().join("log.jsonl")).unwrap().len(), 1);
        let csv = std::fs::read_to_string(dir.path().join("log.csv")).unwrap();
        assert!(
            csv.starts_with(CSV_HEADER) && csv.lines().count() == 2,
            "{csv}"
        );
    }
}
