//! Two evaluations of the same cases compared case by case: per class and overall, the mean
//! Dice of each, the mean difference (B - A), the two-sided Wilcoxon signed-rank p-value and the
//! bootstrap 95 % interval of the mean difference. Used by `danie compare` and by the seeded
//! ablations of `cargo xtask reproduce`.
use std::fmt::Write as _;

use crate::error::{MetricsError, Result};
use crate::stats::case_dice::{check_same_cases, CaseDice};
use crate::stats::{
    bootstrap_mean_ci, mean, wilcoxon, Wilcoxon, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED,
};
use crate::table::csv_field;

/// The name of the row over all classes.
pub const OVERALL: &str = "overall";

/// One class (or [`OVERALL`]: each case's mean over its classes) of a comparison. Dice values
/// are fractions; the pairs are the cases where both runs define the class.
#[derive(Debug, Clone, PartialEq)]
pub struct PairedRow {
    /// Class label, or `overall`.
    pub class: String,
    /// Cases paired.
    pub n_cases: usize,
    /// Mean Dice of run A over the paired cases.
    pub mean_a: f64,
    /// Mean Dice of run B over the paired cases.
    pub mean_b: f64,
    /// Mean of the differences B - A (= `mean_b - mean_a`).
    pub mean_diff: f64,
    /// Wilcoxon signed-rank test of B against A (None without pairs).
    pub wilcoxon: Option<Wilcoxon>,
    /// Bootstrap 95 % interval of the mean difference (None without pairs).
    pub ci95: Option<(f64, f64)>,
}

/// Compares run B against run A, class by class (the classes both have, in A's order) and
/// overall.
///
/// # Errors
/// The runs were evaluated on different cases (the error names them), or share no class.
pub fn compare_runs(
    a: &CaseDice,
    b: &CaseDice,
    name_a: &str,
    name_b: &str,
) -> Result<Vec<PairedRow>> {
    check_same_cases(a, b, name_a, name_b)?;
    let shared: Vec<(usize, usize)> = a
        .classes
        .iter()
        .enumerate()
        .filter_map(|(i, c)| b.classes.iter().position(|x| x == c).map(|j| (i, j)))
        .collect();
    if shared.is_empty() {
        return Err(MetricsError::Statistics(format!(
            "{name_a} (classes {:?}) and {name_b} (classes {:?}) share no class",
            a.classes, b.classes
        )));
    }
    let mut rows = Vec::new();
    for &(i, j) in &shared {
        let pairs = a.cases.keys().map(|c| (a.cases[c][i], b.cases[c][j]));
        rows.push(row(&a.classes[i], pairs)?);
    }
    let pairs = a.cases.keys().map(|c| (a.case_mean(c), b.case_mean(c)));
    rows.push(row(OVERALL, pairs)?);
    Ok(rows)
}

fn row(class: &str, pairs: impl Iterator<Item = (f64, f64)>) -> Result<PairedRow> {
    let (xa, xb): (Vec<f64>, Vec<f64>) = pairs.filter(|(x, y)| !x.is_nan() && !y.is_nan()).unzip();
    let diffs: Vec<f64> = xa.iter().zip(&xb).map(|(x, y)| y - x).collect();
    let (test, ci95) = if diffs.is_empty() {
        (None, None)
    } else {
        (
            Some(wilcoxon(&xb, &xa)?),
            Some(bootstrap_mean_ci(
                &diffs,
                0.95,
                BOOTSTRAP_RESAMPLES,
                BOOTSTRAP_SEED,
            )?),
        )
    };
    Ok(PairedRow {
        class: class.to_string(),
        n_cases: diffs.len(),
        mean_a: mean(&xa),
        mean_b: mean(&xb),
        mean_diff: mean(&diffs),
        wilcoxon: test,
        ci95,
    })
}

/// Renames the rows of labelled classes `name (label)` (`spleen (1)`) where `names` (label ->
/// class name, as eval's summary.json gives them) has one.
pub fn name_classes(rows: &mut [PairedRow], names: &std::collections::BTreeMap<String, String>) {
    for r in rows {
        if let Some(n) = names.get(&r.class) {
            r.class = format!("{n} ({})", r.class);
        }
    }
}

impl PairedRow {
    /// The row as JSON, Dice in percent with the unit in the key names.
    pub fn to_json(&self) -> serde_json::Value {
        let pct = |v: f64| if v.is_finite() { Some(v * 100.0) } else { None };
        serde_json::json!({
            "class": self.class,
            "n_cases": self.n_cases,
            "mean_dsc_percent_a": pct(self.mean_a),
            "mean_dsc_percent_b": pct(self.mean_b),
            "mean_diff_dsc_percent": pct(self.mean_diff),
            "ci95_low_diff_dsc_percent": self.ci95.and_then(|c| pct(c.0)),
            "ci95_high_diff_dsc_percent": self.ci95.and_then(|c| pct(c.1)),
            "wilcoxon_p": self.wilcoxon.map(|w| w.p_value).filter(|p| p.is_finite()),
            "wilcoxon_statistic": self.wilcoxon.map(|w| w.statistic),
            "wilcoxon_method": self.wilcoxon.map(|w| w.method),
        })
    }
}

/// The CSV header of [`csv_row`] (after any leading columns the caller adds).
pub const CSV_HEADER: &str = "class,n_cases,mean_dsc_percent_a,mean_dsc_percent_b,mean_diff_dsc_percent,ci95_low_diff_dsc_percent,ci95_high_diff_dsc_percent,wilcoxon_p";

/// One CSV line (no newline) in [`CSV_HEADER`]'s columns; empty fields where undefined.
pub fn csv_row(r: &PairedRow) -> String {
    let num = |v: Option<f64>| {
        v.filter(|v| v.is_finite())
            .map_or(String::new(), |v| format!("{v:?}"))
    };
    format!(
        "{},{},{},{},{},{},{},{}",
        csv_field(&r.class),
        r.n_cases,
        num(Some(r.mean_a * 100.0)),
        num(Some(r.mean_b * 100.0)),
        num(Some(r.mean_diff * 100.0)),
        num(r.ci95.map(|c| c.0 * 100.0)),
        num(r.ci95.map(|c| c.1 * 100.0)),
        num(r.wilcoxon.map(|w| w.p_value)),
    )
}

/// A p-value as a person reads it: 4 significant digits, `< 1e-6` below that.
pub fn p_text(p: Option<f64>) -> String {
    match p {
        Some(p) if p.is_finite() && p < 1e-6 => "< 1e-6".into(),
        Some(p) if p.is_finite() => format!("{p:.4}"),
        _ => "-".into(),
    }
}

/// A Markdown table of the rows, Dice in %: `| class | cases | A | B | B - A | 95 % CI | p |`.
pub fn markdown_table(rows: &[PairedRow], name_a: &str, name_b: &str) -> String {
    let mut md = String::from(
        "| class | cases | DSC A (%) | DSC B (%) | B - A (points) | 95 % CI of B - A | Wilcoxon p |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let ci = r.ci95.map_or("-".into(), |(l, h)| {
            format!("[{:+.2}, {:+.2}]", l * 100.0, h * 100.0)
        });
        let _ = writeln!(
            md,
            "| {} | {} | {:.2} | {:.2} | {:+.2} | {} | {} |",
            r.class,
            r.n_cases,
            r.mean_a * 100.0,
            r.mean_b * 100.0,
            r.mean_diff * 100.0,
            ci,
            p_text(r.wilcoxon.map(|w| w.p_value))
        );
    }
    let _ = write!(md, "\nA = {name_a}\nB = {name_b}\n");
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(a: &[f64], b: &[f64]) -> (CaseDice, CaseDice) {
        let mk = |v: &[f64]| CaseDice {
            classes: vec!["1".into()],
            cases: v
                .iter()
                .enumerate()
                .map(|(i, d)| (format!("case{i:02}"), vec![*d]))
                .collect(),
        };
        (mk(a), mk(b))
    }

    #[test]
    fn the_difference_is_b_minus_a_and_the_interval_brackets_it() {
        let a = [0.70, 0.72, 0.68, 0.75, 0.71, 0.69, 0.73, 0.74];
        let b: Vec<f64> = a.iter().map(|x| x + 0.02).collect();
        let (ra, rb) = runs(&a, &b);
        let rows = compare_runs(&ra, &rb, "A", "B").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].class, OVERALL);
        for r in &rows {
            assert!((r.mean_diff - 0.02).abs() < 1e-12);
            let (l, h) = r.ci95.unwrap();
            assert!((l - 0.02).abs() < 1e-12 && (h - 0.02).abs() < 1e-12);
            // Eight positive differences, all tied: the permutation test, 2 / 2^8.
            assert_eq!(r.wilcoxon.unwrap().p_value, 2.0 / 256.0);
        }
        let md = markdown_table(&rows, "A", "B");
        assert!(md.contains("| overall | 8 | "), "{md}");
    }
}
