//! `--seeds N`: one setting trained and evaluated N times (seeds base, base+1, ...; base: the
//! config's `train.seed`), summarised as mean ± sample standard deviation (ddof = 1) over the
//! seeds, per class and overall, and pooled per case for the paired tests of the ablations.
//!
//! With one seed the run lies directly in the setting's folder (`train/`, `eval/`), as a single
//! run always has; with several, each seed has its own `seed-<S>/train` and `seed-<S>/eval`.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use danie_metrics::stats::{mean, sample_std, CaseDice};

use crate::process::step;
use crate::protocol::{base_seed, train_and_eval};
use crate::run_summary::RunSummary;

/// One seed's training and evaluation.
pub struct SeedRun {
    pub seed: u64,
    /// The folder holding its `train/` and `eval/`.
    pub folder: PathBuf,
    pub summary: RunSummary,
    /// Per-case Dice from its `eval/cases.csv`.
    pub cases: CaseDice,
}

/// The seeds of one setting.
pub struct SeedRuns {
    pub runs: Vec<SeedRun>,
}

/// A mean and sample std over seeds (std NaN for one seed).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub mean: f64,
    pub std: f64,
}

impl Spread {
    fn of(v: &[f64]) -> Self {
        Spread {
            mean: mean(v),
            std: sample_std(v),
        }
    }

    /// `85.42 ± 0.31` (`85.42` for one seed).
    pub fn text(&self) -> String {
        if self.std.is_finite() {
            format!("{:.2} ± {:.2}", self.mean, self.std)
        } else {
            format!("{:.2}", self.mean)
        }
    }
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Trains and evaluates `config` (+ `sets`) once per seed under `dir`; `label` names the
/// setting in the progress lines. The first seed that fails ends the run with its error.
pub fn train_seeds(
    danie: &Path,
    config: &Path,
    dir: &Path,
    sets: &[String],
    n: usize,
    label: &str,
) -> Result<SeedRuns> {
    let base = base_seed(config)?;
    let mut runs = Vec::with_capacity(n);
    for k in 0..n {
        let seed = base + k as u64;
        let folder = if n == 1 {
            dir.to_path_buf()
        } else {
            dir.join(format!("seed-{seed}"))
        };
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("creating {}", folder.display()))?;
        let mut s = sets.to_vec();
        s.push(format!("train.seed={seed}"));
        s.push(format!("output.run_dir={}", folder.join("train").display()));
        let summary = {
            let _s = step(&format!("{label}seed {seed} ({}/{n})", k + 1));
            train_and_eval(danie, config, &folder, &s)
                .with_context(|| format!("{label}seed {seed} failed"))?
        };
        let csv = folder.join("eval/cases.csv");
        let text = std::fs::read_to_string(&csv)
            .with_context(|| format!("reading {} (written by `danie eval`)", csv.display()))?;
        let cases = CaseDice::parse(&text, &csv.display().to_string())?;
        eprintln!("{label}seed {seed}: {}", summary.headline());
        runs.push(SeedRun {
            seed,
            folder,
            summary,
            cases,
        });
    }
    Ok(SeedRuns { runs })
}

/// One class (or the mean over classes) over the seeds; Dice in %.
pub struct ClassSpread {
    pub name: String,
    pub dsc_percent: Spread,
    pub hd95: Option<Spread>,
}

impl SeedRuns {
    pub fn seeds(&self) -> Vec<u64> {
        self.runs.iter().map(|r| r.seed).collect()
    }

    /// The distance unit of HD95 (`voxels`, `mm`), where the dataset reports HD95.
    pub fn hd95_unit(&self) -> Option<String> {
        self.runs.first().and_then(|r| r.summary.hd95_unit())
    }

    /// The mean Dice over classes, over the seeds.
    pub fn overall(&self) -> ClassSpread {
        let dsc: Vec<f64> = self
            .runs
            .iter()
            .map(|r| r.summary.mean_dsc_percent())
            .collect();
        let hd: Option<Vec<f64>> = self.runs.iter().map(|r| r.summary.mean_hd95).collect();
        ClassSpread {
            name: "mean".into(),
            dsc_percent: Spread::of(&dsc),
            hd95: hd.map(|h| Spread::of(&h)),
        }
    }

    /// Each class over the seeds (volumes; empty for ISIC / GlaS).
    pub fn classes(&self) -> Vec<ClassSpread> {
        let Some(first) = self.runs.first() else {
            return Vec::new();
        };
        (0..first.summary.classes.len())
            .map(|k| {
                let dsc: Vec<f64> = self
                    .runs
                    .iter()
                    .filter_map(|r| r.summary.classes.get(k))
                    .map(|c| c.dice * 100.0)
                    .collect();
                let hd: Option<Vec<f64>> = self
                    .runs
                    .iter()
                    .map(|r| r.summary.classes.get(k).and_then(|c| c.hd95))
                    .collect();
                ClassSpread {
                    name: first.summary.classes[k].name.clone(),
                    dsc_percent: Spread::of(&dsc),
                    hd95: hd.map(|h| Spread::of(&h)),
                }
            })
            .collect()
    }

    /// Label -> class name, from the first seed's summary.json.
    pub fn class_names(&self) -> std::collections::BTreeMap<String, String> {
        self.runs
            .first()
            .into_iter()
            .flat_map(|r| &r.summary.classes)
            .filter_map(|c| Some((c.label?.to_string(), c.name.clone())))
            .collect()
    }

    /// Per-case Dice pooled over the seeds (each case's mean over seeds).
    pub fn pooled_cases(&self) -> Result<CaseDice> {
        let all: Vec<CaseDice> = self.runs.iter().map(|r| r.cases.clone()).collect();
        Ok(CaseDice::pool_seeds(&all)?)
    }

    /// `| class | DSC (%) | HD95 (unit) |`, per class then the mean, `mean ± std` over seeds.
    pub fn markdown(&self) -> String {
        let unit = self.hd95_unit();
        let seeds = self.seeds();
        let mut md = format!(
            "{} seed{} ({}){}\n\n| class | DSC (%) |{}\n|---|---|{}\n",
            seeds.len(),
            if seeds.len() == 1 { "" } else { "s" },
            seeds
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            if seeds.len() > 1 {
                ": mean ± sample std over seeds"
            } else {
                ""
            },
            unit.as_ref()
                .map_or(String::new(), |u| format!(" HD95 ({u}) |")),
            if unit.is_some() { "---|" } else { "" },
        );
        for c in self.classes().iter().chain([&self.overall()]) {
            let _ = write!(md, "| {} | {} |", c.name, c.dsc_percent.text());
            if unit.is_some() {
                let _ = write!(md, " {} |", c.hd95.map_or("-".into(), |h| h.text()));
            }
            md.push('\n');
        }
        md
    }

    /// JSON: the seeds, overall and per class mean and std (Dice in %, HD95 in `hd95_unit`),
    /// and each seed's numbers and folder.
    pub fn to_json(&self) -> serde_json::Value {
        let spread = |c: &ClassSpread| {
            serde_json::json!({
                "class": c.name,
                "mean_dsc_percent": finite(c.dsc_percent.mean),
                "std_dsc_percent": finite(c.dsc_percent.std),
                "mean_hd95": c.hd95.and_then(|h| finite(h.mean)),
                "std_hd95": c.hd95.and_then(|h| finite(h.std)),
            })
        };
        let o = self.overall();
        serde_json::json!({
            "seeds": self.seeds(),
            "mean_dsc_percent": finite(o.dsc_percent.mean),
            "std_dsc_percent": finite(o.dsc_percent.std),
            "mean_hd95": o.hd95.and_then(|h| finite(h.mean)),
            "std_hd95": o.hd95.and_then(|h| finite(h.std)),
            "hd95_unit": self.hd95_unit(),
            "classes": self.classes().iter().map(spread).collect::<Vec<_>>(),
            "per_seed": self.runs.iter().map(|r| serde_json::json!({
                "seed": r.seed,
                "mean_dsc_percent": r.summary.mean_dsc_percent(),
                "mean_hd95": r.summary.mean_hd95,
                "folder": r.folder,
            })).collect::<Vec<_>>(),
        })
    }

    /// CSV rows `class,seeds,mean_dsc_percent,std_dsc_percent,mean_hd95,std_hd95,hd95_unit`
    /// (see [`CSV_HEADER`]), after `prefix` (e.g. the variant and a comma).
    pub fn csv_rows(&self, prefix: &str) -> String {
        let num = |v: Option<f64>| {
            v.filter(|v| v.is_finite())
                .map_or(String::new(), |v| format!("{v:?}"))
        };
        let unit = self.hd95_unit().unwrap_or_default();
        let n = self.runs.len();
        let mut out = String::new();
        for c in self.classes().iter().chain([&self.overall()]) {
            let _ = writeln!(
                out,
                "{prefix}{},{n},{},{},{},{},{unit}",
                c.name,
                num(Some(c.dsc_percent.mean)),
                num(Some(c.dsc_percent.std)),
                num(c.hd95.map(|h| h.mean)),
                num(c.hd95.map(|h| h.std)),
            );
        }
        out
    }
}

/// The columns of [`SeedRuns::csv_rows`].
pub const CSV_HEADER: &str =
    "class,seeds,mean_dsc_percent,std_dsc_percent,mean_hd95,std_hd95,hd95_unit";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_mean_and_sample_std() {
        let s = Spread::of(&[80.0, 82.0, 84.0]);
        assert_eq!((s.mean, s.std), (82.0, 2.0));
        assert_eq!(s.text(), "82.00 ± 2.00");
        assert_eq!(Spread::of(&[80.0]).text(), "80.00");
    }
}
