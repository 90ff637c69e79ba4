//! Per-case Dice read back from an evaluation's `cases.csv` (written by
//! [`crate::CohortSummary::cases_csv`] for volumes, one row per case and class, and by
//! [`crate::image_cases_csv`] for 2D images, one row per image): the input of the paired
//! comparisons between runs.
use std::collections::{BTreeMap, HashMap};

use crate::error::{MetricsError, Result};

/// Dice (a fraction, NaN where undefined) of every case and class of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseDice {
    /// Class labels in the order first met (`foreground` for the one class of 2D images).
    pub classes: Vec<String>,
    /// Case name -> Dice per class, in [`Self::classes`] order.
    pub cases: BTreeMap<String, Vec<f64>>,
}

impl CaseDice {
    /// Parses a `cases.csv`; `source` (its path) names it in errors.
    ///
    /// # Errors
    /// No `case` or `dice` column, a row with a missing or unreadable value, a Dice outside
    /// [0, 1] (NaN, undefined, is read as such), a case and class given twice, no rows, or rows
    /// for fewer than half of the cases x classes table (one evaluation scores its cases on
    /// the same classes; the table is held whole, so a file of scattered names would otherwise
    /// need memory far beyond its size).
    pub fn parse(text: &str, source: &str) -> Result<Self> {
        let bad = |why: String| MetricsError::Statistics(format!("{source}: {why}"));
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header = split_csv(lines.next().ok_or_else(|| bad("empty file".into()))?);
        let col = |name: &str| header.iter().position(|h| h.trim() == name);
        let case_col = col("case").ok_or_else(|| bad("no `case` column".into()))?;
        let dice_col = col("dice").ok_or_else(|| bad("no `dice` column".into()))?;
        let label_col = col("label");
        let mut classes: Vec<String> = Vec::new();
        let mut class_index: HashMap<String, usize> = HashMap::new();
        let mut values: BTreeMap<String, BTreeMap<usize, f64>> = BTreeMap::new();
        let mut rows = 0usize;
        for (i, line) in lines.enumerate() {
            let row = split_csv(line);
            let field = |c: usize| {
                row.get(c).map(|s| s.trim()).ok_or_else(|| {
                    bad(format!(
                        "row {} has {} fields, the header {}",
                        i + 2,
                        row.len(),
                        header.len()
                    ))
                })
            };
            let case = field(case_col)?.to_string();
            let class = match label_col {
                Some(c) => field(c)?.to_string(),
                None => "foreground".to_string(),
            };
            let dice: f64 = field(dice_col)?.parse().map_err(|_| {
                bad(format!(
                    "row {}: dice `{}` is not a number",
                    i + 2,
                    row[dice_col]
                ))
            })?;
            if !(dice.is_nan() || (0.0..=1.0).contains(&dice)) {
                return Err(bad(format!(
                    "row {}: dice {dice} is not a fraction in [0, 1]",
                    i + 2
                )));
            }
            let k = *class_index.entry(class.clone()).or_insert_with(|| {
                classes.push(class.clone());
                classes.len() - 1
            });
            rows += 1;
            if values
                .entry(case.clone())
                .or_default()
                .insert(k, dice)
                .is_some()
            {
                return Err(bad(format!("case {case} class {class} appears twice")));
            }
        }
        if values.is_empty() {
            return Err(bad("no cases".into()));
        }
        let n = classes.len();
        let cells = values.len().saturating_mul(n);
        if cells > 2 * rows {
            return Err(bad(format!(
                "{rows} rows for {} cases x {n} classes: most cases lack most classes, so this \
                 is not the cases.csv of one evaluation",
                values.len()
            )));
        }
        let cases = values
            .into_iter()
            .map(|(case, per)| {
                let mut v = vec![f64::NAN; n];
                for (k, d) in per {
                    v[k] = d;
                }
                (case, v)
            })
            .collect();
        Ok(Self { classes, cases })
    }

    /// Dice of `case` over its classes: the mean of the defined (non-NaN) class values.
    pub fn case_mean(&self, case: &str) -> f64 {
        let defined: Vec<f64> = self.cases[case]
            .iter()
            .copied()
            .filter(|v| !v.is_nan())
            .collect();
        crate::stats::mean(&defined)
    }

    /// Several seeds of one setting pooled per case: each case's and class's Dice is the mean
    /// over the seeds where it is defined. Pooling before the paired test keeps one pair per
    /// case, so that seeds do not count as extra cases.
    ///
    /// # Errors
    /// No runs, or runs on different cases or classes (named).
    pub fn pool_seeds(runs: &[CaseDice]) -> Result<Self> {
        let first = runs.first().ok_or_else(|| {
            MetricsError::Statistics("pooling seeds needs at least one run".into())
        })?;
        for (i, r) in runs.iter().enumerate().skip(1) {
            check_same_cases(first, r, "seed 1", &format!("seed {}", i + 1))?;
            if r.classes != first.classes {
                return Err(MetricsError::Statistics(format!(
                    "seed {} has classes {:?}, seed 1 {:?}",
                    i + 1,
                    r.classes,
                    first.classes
                )));
            }
        }
        let cases = first
            .cases
            .keys()
            .map(|case| {
                let pooled = (0..first.classes.len())
                    .map(|k| {
                        let v: Vec<f64> = runs
                            .iter()
                            .map(|r| r.cases[case][k])
                            .filter(|v| !v.is_nan())
                            .collect();
                        crate::stats::mean(&v)
                    })
                    .collect();
                (case.clone(), pooled)
            })
            .collect();
        Ok(Self {
            classes: first.classes.clone(),
            cases,
        })
    }
}

/// An error naming the cases only one of two runs has.
pub(crate) fn check_same_cases(
    a: &CaseDice,
    b: &CaseDice,
    name_a: &str,
    name_b: &str,
) -> Result<()> {
    let only = |x: &CaseDice, y: &CaseDice| -> Vec<String> {
        x.cases
            .keys()
            .filter(|k| !y.cases.contains_key(*k))
            .cloned()
            .collect()
    };
    let (only_a, only_b) = (only(a, b), only(b, a));
    if only_a.is_empty() && only_b.is_empty() {
        return Ok(());
    }
    let list = |v: &[String]| {
        if v.len() > 10 {
            format!("{} and {} more", v[..10].join(", "), v.len() - 10)
        } else {
            v.join(", ")
        }
    };
    let mut why = format!("{name_a} and {name_b} were not evaluated on the same cases:");
    if !only_a.is_empty() {
        why += &format!(" only in {name_a}: {};", list(&only_a));
    }
    if !only_b.is_empty() {
        why += &format!(" only in {name_b}: {};", list(&only_b));
    }
    Err(MetricsError::Statistics(
        why.trim_end_matches(';').to_string(),
    ))
}

/// Splits one CSV line, with `"..."` quoting and `""` for a quote inside.
fn split_csv(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().expect("one field").push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            _ => fields.last_mut().expect("one field").push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_layouts_and_pools_seeds() {
        let vol = "case,label,presence,pred_voxels,gt_voxels,dice,iou,hd,hd95,asd,assd\n\
                   \"a,1\",1,both,1,1,0.5,0,0,0,0,0\n\"a,1\",2,both,1,1,0.7,0,0,0,0,0\n\
                   b,1,both,1,1,0.9,0,0,0,0,0\nb,2,neither,0,0,NaN,0,0,0,0,0\n";
        let c = CaseDice::parse(vol, "cases.csv").unwrap();
        assert_eq!(c.classes, ["1", "2"]);
        assert_eq!(c.cases["a,1"], [0.5, 0.7]);
        assert!((c.case_mean("a,1") - 0.6).abs() < 1e-15);
        assert_eq!(c.case_mean("b"), 0.9);
        let img = "case,dice,iou\nx,0.25,0.1\ny,0.75,0.6\n";
        let i = CaseDice::parse(img, "cases.csv").unwrap();
        assert_eq!(i.classes, ["foreground"]);
        let mut j = i.clone();
        j.cases.insert("x".into(), vec![0.75]);
        let p = CaseDice::pool_seeds(&[i.clone(), j]).unwrap();
        assert_eq!(p.cases["x"], [0.5]);
        let mut k = i.clone();
        k.cases.remove("y");
        let e = CaseDice::pool_seeds(&[i, k]).unwrap_err().to_string();
        assert!(e.contains("only in seed 1: y"), "{e}");
        assert!(CaseDice::parse("case,iou\n", "f.csv")
            .unwrap_err()
            .to_string()
            .contains("f.csv: no `dice` column"));
        assert!(CaseDice::parse("case,dice\nx,abc\n", "f.csv").is_err());
    }

    #[test]
    fn a_dice_outside_0_1_and_a_scattered_table_are_errors() {
        for (v, row) in [("inf", 2), ("5", 2), ("-1e300", 2)] {
            let e = CaseDice::parse(&format!("case,dice\nx,{v}\n"), "f.csv")
                .unwrap_err()
                .to_string();
            assert!(e.contains(&format!("f.csv: row {row}: dice")), "{v}: {e}");
            assert!(e.contains("not a fraction in [0, 1]"), "{v}: {e}");
        }
        // Every case its own class: 3000 rows would make a 3000 x 3000 table (9 M cells; 30 000
        // rows, 7 GB).
        let mut text = String::from("case,label,dice\n");
        for i in 0..3000 {
            text.push_str(&format!("c{i},l{i},0.5\n"));
        }
        let e = CaseDice::parse(&text, "f.csv").unwrap_err().to_string();
        assert!(e.contains("3000 rows for 3000 cases x 3000 classes"), "{e}");
        // A case lacking one class of three is still one evaluation (NaN there).
        let c = CaseDice::parse("case,label,dice\na,1,0.5\na,2,0.6\nb,1,0.7\n", "f.csv").unwrap();
        assert!(c.cases["b"][1].is_nan());
    }
}
