//! The paper-format table of an evaluation: one row builder ([`PaperTable`]) for the three score
//! kinds (volumes, ISIC pixels, GlaS images), rendered twice: Markdown for `summary.md` and CSV
//! for `paper_table.csv`. Cells are formatted by danie-metrics' table ([`cell`]), so a number
//! reads the same here as in the per-class table below it.
use std::fmt::Write as _;

use danie_metrics::table::{cell, csv_field};
use danie_metrics::{CohortSummary, GlasSummary, PixelSummary};

use serde::Serialize;

use crate::baselines::Baseline;

/// The scores of one evaluation.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EvalScores {
    /// Per class per case, for volumes.
    Volumes(CohortSummary),
    /// ISIC pixel metrics.
    Pixels(PixelSummary),
    /// GlaS mDice / mIoU.
    Glas(GlasSummary),
}

/// One column: its Markdown header and its CSV header.
struct Column {
    markdown: String,
    csv: String,
}

/// One row: the method's name (Markdown may bold it) and one cell per value column; `None` is a
/// value the source does not give (`–` in Markdown, empty in CSV).
struct Row {
    markdown: String,
    csv: String,
    cells: Vec<Option<String>>,
}

/// A table with a method column and value columns.
pub struct PaperTable {
    columns: Vec<Column>,
    rows: Vec<Row>,
}

fn col(markdown: &str, csv: &str) -> Column {
    Column {
        markdown: markdown.into(),
        csv: csv.into(),
    }
}

/// A percentage cell from a fraction.
fn pct(v: f64) -> Option<String> {
    Some(cell(v, true))
}

/// A number cell as it is (distances, published percentages).
fn num(v: f64) -> Option<String> {
    Some(cell(v, false))
}

impl PaperTable {
    /// This run's row first, then each published baseline's.
    pub fn new(scores: &EvalScores, baselines: &[Baseline]) -> Self {
        match scores {
            EvalScores::Volumes(sum) => Self::volumes(sum, baselines),
            EvalScores::Pixels(p) => Self::pixels(p, baselines),
            EvalScores::Glas(g) => Self::glas(g, baselines),
        }
    }

    fn with_columns(columns: Vec<Column>) -> Self {
        let mut all = vec![col("Method", "method")];
        all.extend(columns);
        Self {
            columns: all,
            rows: Vec::new(),
        }
    }

    fn this_run(&mut self, cells: Vec<Option<String>>) {
        self.push("**DANIE (this run)**", "DANIE (this run)", cells);
    }

    fn published(&mut self, b: &Baseline, cells: Vec<Option<String>>) {
        let name = format!("{} (published)", b.method);
        self.push(&name, &name, cells);
    }

    fn push(&mut self, markdown: &str, csv: &str, mut cells: Vec<Option<String>>) {
        cells.resize(self.columns.len() - 1, None);
        self.rows.push(Row {
            markdown: markdown.into(),
            csv: csv.into(),
            cells,
        });
    }

    /// Mean DSC, HD95, mIoU, ASD, then each class's Dice; a baseline's class cells where its
    /// paper gives one Dice per class of this model (`class_dsc`).
    fn volumes(sum: &CohortSummary, baselines: &[Baseline]) -> Self {
        let names: Vec<String> = sum
            .classes
            .iter()
            .map(|c| c.name.clone().unwrap_or(c.label.to_string()))
            .collect();
        let mut columns = vec![
            col("DSC", "dsc"),
            col("HD95", "hd95"),
            col("mIoU", "miou"),
            col("ASD", "asd"),
        ];
        columns.extend(names.iter().map(|n| col(n, n)));
        let mut t = Self::with_columns(columns);
        let mut cells = vec![
            pct(sum.mean.dice),
            num(sum.mean.hd95),
            pct(sum.mean.iou),
            num(sum.mean.asd),
        ];
        cells.extend(sum.classes.iter().map(|c| pct(c.dice.mean)));
        t.this_run(cells);
        for b in baselines {
            let mut cells = vec![num(b.dsc), b.hd95.and_then(num), None, None];
            match &b.class_dsc {
                Some(organs) if organs.len() == names.len() => {
                    cells.extend(organs.iter().map(|&v| num(v)))
                }
                _ => {}
            }
            t.published(b, cells);
        }
        t
    }

    /// ISIC: DSC, SE, SP, ACC, IoU from the pooled confusion matrix.
    fn pixels(p: &PixelSummary, baselines: &[Baseline]) -> Self {
        let mut t = Self::with_columns(vec![
            col("DSC", "dsc"),
            col("SE", "se"),
            col("SP", "sp"),
            col("ACC", "acc"),
            col("IoU", "iou"),
        ]);
        let s = &p.pooled;
        t.this_run(
            [s.dice, s.sensitivity, s.specificity, s.accuracy, s.iou]
                .map(pct)
                .to_vec(),
        );
        for b in baselines {
            t.published(b, vec![num(b.dsc)]);
        }
        t
    }

    /// GlaS: mDice and mIoU over images.
    fn glas(g: &GlasSummary, baselines: &[Baseline]) -> Self {
        let mut t = Self::with_columns(vec![col("mDice", "mdice"), col("mIoU", "miou")]);
        t.this_run(vec![pct(g.m_dice), pct(g.m_iou)]);
        for b in baselines {
            t.published(b, vec![num(b.dsc)]);
        }
        t
    }

    /// `| Method | … |`, the rule, one line per row; `–` where a value is not given.
    pub fn to_markdown(&self) -> String {
        let line = |first: &str, rest: Vec<&str>| {
            let mut all = vec![first];
            all.extend(rest);
            format!("| {} |\n", all.join(" | "))
        };
        let mut out = line(
            &self.columns[0].markdown,
            self.columns[1..]
                .iter()
                .map(|c| c.markdown.as_str())
                .collect(),
        );
        out.push_str(&format!("|{}\n", "---|".repeat(self.columns.len())));
        for r in &self.rows {
            out.push_str(&line(
                &r.markdown,
                r.cells
                    .iter()
                    .map(|c| c.as_deref().unwrap_or("–"))
                    .collect(),
            ));
        }
        out
    }

    /// The header line and one line per row; empty fields where a value is not given.
    pub fn to_csv(&self) -> String {
        let line = |first: &str, rest: Vec<&str>| {
            let mut all = vec![csv_field(first)];
            all.extend(rest.into_iter().map(csv_field));
            format!("{}\n", all.join(","))
        };
        let mut out = line(
            &self.columns[0].csv,
            self.columns[1..].iter().map(|c| c.csv.as_str()).collect(),
        );
        for r in &self.rows {
            out.push_str(&line(
                &r.csv,
                r.cells.iter().map(|c| c.as_deref().unwrap_or("")).collect(),
            ));
        }
        out
    }
}

/// `summary.md`: `heading`, the sentence saying what the numbers are, the paper-format
/// `table`, the per-class table (volumes), and where the published numbers come from
/// (`source`, or that it has none for `family`).
pub fn summary_markdown(
    heading: &str,
    scores: &EvalScores,
    table: &PaperTable,
    baselines: &[Baseline],
    family: &str,
    source: &str,
) -> String {
    let intro = match scores {
        EvalScores::Volumes(sum) => format!(
            "Metric convention: **{}** (distances in {}). DSC and mIoU in %, means over classes of the means over cases.",
            sum.convention, sum.distance_unit
        ),
        EvalScores::Pixels(p) => format!(
            "ISIC pixel metrics from one confusion matrix pooled over all {} test images, threshold 0.5, in %.",
            p.n_images
        ),
        EvalScores::Glas(g) => format!(
            "GlaS per-image Dice and IoU averaged over {} test images, in %.",
            g.n_images
        ),
    };
    let mut md = format!("{heading}\n\n{intro}\n\n{}", table.to_markdown());
    if let EvalScores::Volumes(sum) = scores {
        let _ = writeln!(md, "\n## Per class\n\n{}", sum.to_markdown());
    }
    if baselines.is_empty() {
        let _ = writeln!(md, "\n(No published baselines for {family} in {source}.)");
    } else {
        let _ = writeln!(
            md,
            "\nPublished numbers (from {source}): {}.",
            baselines
                .iter()
                .map(|b| format!("{}: {}", b.method, b.source))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use danie_metrics::{
        CaseMetrics, ClassMetrics, Convention, GlasSummary, MetricValues, Presence,
    };

    fn baseline(method: &str, dsc: f64) -> Baseline {
        Baseline {
            method: method.into(),
            dsc,
            hd95: None,
            class_dsc: None,
            source: "s".into(),
        }
    }

    #[test]
    fn one_row_set_renders_as_markdown_and_csv() {
        let g = GlasSummary {
            n_images: 2,
            m_dice: 0.5,
            m_iou: f64::NAN,
        };
        let t = PaperTable::new(
            &EvalScores::Glas(g),
            &[baseline("UNet, v2", 77.0), baseline("MedT", 81.02)],
        );
        assert_eq!(
            t.to_markdown(),
            "| Method | mDice | mIoU |\n|---|---|---|\n| **DANIE (this run)** | 50.00 | NaN |\n\
             | UNet, v2 (published) | 77.00 | – |\n| MedT (published) | 81.02 | – |\n"
        );
        assert_eq!(
            t.to_csv(),
            "method,mdice,miou\nDANIE (this run),50.00,NaN\n\"UNet, v2 (published)\",77.00,\n\
             MedT (published),81.02,\n"
        );
    }

    fn class(label: u32, dice: f64, hd95: f64) -> ClassMetrics {
        ClassMetrics {
            label,
            presence: Presence::Both,
            pred_voxels: 1,
            gt_voxels: 1,
            metrics: MetricValues {
                dice,
                iou: dice / (2.0 - dice),
                hd: hd95,
                hd95,
                asd: 1.0,
                assd: 1.0,
            },
        }
    }

    /// The volumes table, cell for cell as `summary.md` / `paper_table.csv` wrote it before the
    /// table had its own module, plus the published per-class Dice where a row has one per class.
    #[test]
    fn volume_rows_put_published_class_dice_under_this_runs_classes() {
        let case = CaseMetrics {
            case: Some("c1".into()),
            convention: Convention::TransUnet,
            spacing: vec![],
            classes: vec![class(1, 0.5, 2.0), class(2, 1.0, 0.0)],
        };
        let names = BTreeMap::from([(1, "aorta".to_string()), (2, "left kidney".to_string())]);
        let sum = CohortSummary::from_cases(vec![case], Convention::TransUnet, &names, "voxel");
        let mut with_classes = baseline("A", 80.0);
        with_classes.hd95 = Some(12.3);
        with_classes.class_dsc = Some(vec![70.0, 90.0]);
        let mut wrong_count = baseline("B", 60.0);
        wrong_count.class_dsc = Some(vec![60.0]);
        let t = PaperTable::new(
            &EvalScores::Volumes(sum),
            &[with_classes, wrong_count, baseline("C", 1.5)],
        );
        assert_eq!(
            t.to_markdown(),
            "| Method | DSC | HD95 | mIoU | ASD | aorta | left kidney |\n\
             |---|---|---|---|---|---|---|\n\
             | **DANIE (this run)** | 75.00 | 1.00 | 66.67 | 1.00 | 50.00 | 100.00 |\n\
             | A (published) | 80.00 | 12.30 | – | – | 70.00 | 90.00 |\n\
             | B (published) | 60.00 | – | – | – | – | – |\n\
             | C (published) | 1.50 | – | – | – | – | – |\n"
        );
        assert_eq!(
            t.to_csv(),
            "method,dsc,hd95,miou,asd,aorta,left kidney\n\
             DANIE (this run),75.00,1.00,66.67,1.00,50.00,100.00\n\
             A (published),80.00,12.30,,,70.00,90.00\n\
             B (published),60.00,,,,,\n\
             C (published),1.50,,,,,\n"
        );
    }
}
