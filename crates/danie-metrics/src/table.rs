//! Readable tables of results: Markdown for people, CSV (one row per case and class) for tools.
use std::fmt::{self, Write};

use crate::case::CaseMetrics;
use crate::class_metrics::METRIC_NAMES;
use crate::cohort::CohortSummary;
use crate::nonfinite;

/// Column headers after the class column: Dice and IoU in percent, then the distances.
fn headers(unit: &str) -> Vec<String> {
    let mut h = vec!["Dice (%)".to_string(), "IoU (%)".to_string()];
    h.extend(
        ["HD", "HD95", "ASD", "ASSD"]
            .iter()
            .map(|m| format!("{m} ({unit})")),
    );
    h
}

/// Formats a value with two decimals (`percent`: a fraction shown as percent); NaN and inf
/// spelled out. Every table of scores formats its numbers through this.
pub fn cell(v: f64, percent: bool) -> String {
    if !v.is_finite() {
        return nonfinite::name(v).to_string();
    }
    format!("{:.2}", if percent { 100.0 * v } else { v })
}

fn row(out: &mut String, first: &str, values: [f64; 6], last: &str) {
    let _ = write!(out, "| {first} |");
    for (i, v) in values.iter().enumerate() {
        let _ = write!(out, " {} |", cell(*v, i < 2));
    }
    let _ = writeln!(out, " {last} |");
}

fn header(out: &mut String, first: &str, unit: &str, last: &str) {
    let h = headers(unit);
    let _ = writeln!(out, "| {first} | {} | {last} |", h.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(h.len() + 2));
}

impl CohortSummary {
    /// The paper-format table: one row per class (mean over cases), then the mean over classes.
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "Convention: {}; {} case(s); class rows are means over cases (NaN left out), the last row the mean over classes.\n\n",
            self.convention, self.n_cases
        );
        header(&mut out, "Class", &self.distance_unit, "Cases");
        for c in &self.classes {
            let name = match &c.name {
                Some(n) => format!("{} {n}", c.label),
                None => c.label.to_string(),
            };
            row(&mut out, &name, c.means(), &c.n_cases.to_string());
        }
        row(
            &mut out,
            "**Mean**",
            self.mean.values(),
            &self.n_cases.to_string(),
        );
        out
    }

    /// One CSV row per case and class: `case,label,presence,pred_voxels,gt_voxels,dice,…`.
    pub fn cases_csv(&self) -> String {
        let mut out = format!(
            "case,label,presence,pred_voxels,gt_voxels,{}\n",
            METRIC_NAMES.join(",")
        );
        for (i, case) in self.cases.iter().enumerate() {
            let name = case.case.clone().unwrap_or_else(|| i.to_string());
            for c in &case.classes {
                let presence = serde_json::to_value(c.presence).expect("enum serialises");
                let _ = write!(
                    out,
                    "{},{},{},{},{}",
                    csv_field(&name),
                    c.label,
                    presence.as_str().unwrap_or_default(),
                    c.pred_voxels,
                    c.gt_voxels
                );
                for v in c.metrics.values() {
                    let _ = write!(out, ",{}", csv_value(v));
                }
                out.push('\n');
            }
        }
        out
    }
}

/// `cases.csv` for 2D images (ISIC, GlaS): one row per image, `case,<columns...>`, values
/// written as [`CohortSummary::cases_csv`] writes them.
pub fn image_cases_csv(columns: &[&str], rows: &[(String, Vec<f64>)]) -> String {
    let mut out = format!("case,{}\n", columns.join(","));
    for (name, values) in rows {
        out.push_str(&csv_field(name));
        for &v in values {
            let _ = write!(out, ",{}", csv_value(v));
        }
        out.push('\n');
    }
    out
}

fn csv_value(v: f64) -> String {
    if v.is_finite() {
        format!("{v:?}")
    } else {
        nonfinite::name(v).into()
    }
}

/// A CSV field, quoted (`"..."`, a quote doubled) where it holds a comma, a quote or a newline.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl CaseMetrics {
    /// One row per class, with which masks were empty.
    pub fn to_markdown(&self, distance_unit: &str) -> String {
        let mut out = format!(
            "{}convention: {}; spacing {:?}\n\n",
            self.case
                .as_ref()
                .map(|c| format!("{c}: "))
                .unwrap_or_default(),
            self.convention,
            self.spacing
        );
        header(&mut out, "Class", distance_unit, "Masks");
        for c in &self.classes {
            let presence = serde_json::to_value(c.presence).expect("enum serialises");
            row(
                &mut out,
                &c.label.to_string(),
                c.metrics.values(),
                presence.as_str().unwrap_or_default(),
            );
        }
        out
    }
}

impl fmt::Display for CohortSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_markdown())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::class_metrics::{ClassMetrics, MetricValues};
    use crate::convention::Convention;
    use crate::overlap::Presence;

    #[test]
    fn table_and_csv_spell_out_nan_and_inf() {
        let c = ClassMetrics {
            label: 3,
            presence: Presence::GtOnly,
            pred_voxels: 0,
            gt_voxels: 9,
            metrics: MetricValues::from_array([
                0.0,
                0.0,
                f64::INFINITY,
                f64::NAN,
                f64::INFINITY,
                f64::INFINITY,
            ]),
        };
        let case = CaseMetrics {
            case: Some("a,b".into()),
            convention: Convention::Monai,
            spacing: vec![1.0, 1.0],
            classes: vec![c],
        };
        let s = CohortSummary::from_cases(
            vec![case.clone()],
            Convention::Monai,
            &BTreeMap::new(),
            "mm",
        );
        let md = s.to_markdown();
        assert!(
            md.contains("| 3 | 0.00 | 0.00 | inf | NaN | inf | inf | 1 |"),
            "{md}"
        );
        assert!(md.contains("HD95 (mm)"));
        let csv = s.cases_csv();
        assert!(
            csv.contains("\"a,b\",3,gt_only,0,9,0.0,0.0,inf,NaN,inf,inf"),
            "{csv}"
        );
        assert!(case.to_markdown("voxel").contains("gt_only"));
    }

    #[test]
    fn image_rows_quote_names_and_spell_out_nan() {
        let csv = image_cases_csv(
            &["dice", "iou"],
            &[
                ("img,1".into(), vec![0.5, 0.25]),
                ("img2".into(), vec![f64::NAN, 1.0]),
            ],
        );
        assert_eq!(csv, "case,dice,iou\n\"img,1\",0.5,0.25\nimg2,NaN,1.0\n");
    }
}
