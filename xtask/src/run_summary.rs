//! What `danie eval` left in its output folder (`summary.json`, `summary.md`), read back for
//! the reproduce and ablation tables.
use std::path::Path;

use anyhow::{Context, Result};

/// The headline numbers and the paper-format table of one evaluation.
pub struct RunSummary {
    /// Mean Dice over the foreground classes (0..1).
    pub mean_dice: f64,
    /// Mean HD95 where the dataset reports it (volumes), in [`Self::hd95_unit`].
    pub mean_hd95: Option<f64>,
    /// `scores.distance_unit` as eval wrote it (`voxel` or `mm`), for volumes.
    pub distance_unit: Option<String>,
    /// Per class (volumes only: ISIC and GlaS report one foreground).
    pub classes: Vec<ClassScore>,
    /// `summary.md`: the paper-format row beside the published baselines, then per class.
    pub table_md: String,
}

/// One class's means over the test cases, as eval's summary.json gives them.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassScore {
    /// The class label (as in cases.csv).
    pub label: Option<u64>,
    /// The class name (`class <label>` where eval has no name).
    pub name: String,
    /// Mean Dice (0..1).
    pub dice: f64,
    /// Mean HD95, in the summary's distance unit.
    pub hd95: Option<f64>,
}

impl RunSummary {
    /// Reads `summary.json` and `summary.md` from `eval_dir`.
    pub fn read(eval_dir: &Path) -> Result<Self> {
        let json_path = eval_dir.join("summary.json");
        let text = std::fs::read_to_string(&json_path).with_context(|| {
            format!("reading {} (written by `danie eval`)", json_path.display())
        })?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("parsing {}", json_path.display()))?;
        Self::from_json(
            &v,
            std::fs::read_to_string(eval_dir.join("summary.md")).unwrap_or_default(),
        )
        .with_context(|| format!("{} has no mean Dice", json_path.display()))
    }

    /// `scores` is tagged by kind: volumes (mean.dice, mean.hd95), pixels (pooled.dice, the
    /// ISIC protocol's pooled confusion matrix) or glas (m_dice).
    fn from_json(v: &serde_json::Value, table_md: String) -> Option<Self> {
        let s = &v["scores"];
        let (dice, hd95) = match s["kind"].as_str()? {
            "volumes" => (s["mean"]["dice"].as_f64()?, s["mean"]["hd95"].as_f64()),
            "pixels" => (s["pooled"]["dice"].as_f64()?, None),
            "glas" => (s["m_dice"].as_f64()?, None),
            _ => return None,
        };
        let distance_unit = hd95.and(s["distance_unit"].as_str().map(str::to_string));
        let classes = s["classes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| {
                let name = c["name"].as_str().map_or_else(
                    || c["label"].as_u64().map(|l| format!("class {l}")),
                    |n| Some(n.to_string()),
                )?;
                Some(ClassScore {
                    label: c["label"].as_u64(),
                    name,
                    dice: c["dice"]["mean"].as_f64().unwrap_or(f64::NAN),
                    hd95: c["hd95"]["mean"].as_f64(),
                })
            })
            .collect();
        Some(Self {
            mean_dice: dice,
            mean_hd95: hd95,
            distance_unit,
            classes,
            table_md,
        })
    }

    /// Mean DSC in %, the unit of eval's tables and of README.md.
    pub fn mean_dsc_percent(&self) -> f64 {
        self.mean_dice * 100.0
    }

    /// The unit of [`Self::mean_hd95`] in words: `voxels` or `mm` (None without HD95).
    pub fn hd95_unit(&self) -> Option<String> {
        self.mean_hd95?;
        Some(match self.distance_unit.as_deref() {
            Some("voxel") | None => "voxels".to_string(),
            Some(u) => u.to_string(),
        })
    }

    /// Mean HD95 with its unit (`2.30 voxels`), or `-` where the dataset has none.
    pub fn hd95_text(&self) -> String {
        match (self.mean_hd95, self.hd95_unit()) {
            (Some(h), Some(u)) => format!("{h:.2} {u}"),
            _ => "-".to_string(),
        }
    }

    /// The summary line's numbers, in the units of the table above it:
    /// `mean DSC 85.42 %, mean HD95 2.30 voxels`.
    pub fn headline(&self) -> String {
        let mut line = format!("mean DSC {:.2} %", self.mean_dsc_percent());
        if self.mean_hd95.is_some() {
            line += &format!(", mean HD95 {}", self.hd95_text());
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_kind_of_score() {
        let v =
            serde_json::json!({"scores": {"kind": "volumes", "mean": {"dice": 0.8, "hd95": 3.5}}});
        let s = RunSummary::from_json(&v, String::new()).unwrap();
        assert_eq!((s.mean_dice, s.mean_hd95), (0.8, Some(3.5)));
        let v = serde_json::json!({"scores": {"kind": "pixels", "pooled": {"dice": 0.9}}});
        assert_eq!(
            RunSummary::from_json(&v, String::new()).unwrap().mean_dice,
            0.9
        );
        let v = serde_json::json!({"scores": {"kind": "glas", "m_dice": 0.7}});
        assert_eq!(
            RunSummary::from_json(&v, String::new()).unwrap().mean_dice,
            0.7
        );
        assert!(RunSummary::from_json(&serde_json::json!({}), String::new()).is_none());
    }

    #[test]
    fn the_headline_is_in_percent_and_names_the_distance_unit() {
        let v = serde_json::json!({"scores": {"kind": "volumes", "distance_unit": "voxel",
            "mean": {"dice": 0.0054, "hd95": 2.3}}});
        let s = RunSummary::from_json(&v, String::new()).unwrap();
        assert_eq!(s.headline(), "mean DSC 0.54 %, mean HD95 2.30 voxels");
        assert_eq!(s.hd95_unit().as_deref(), Some("voxels"));
        let v = serde_json::json!({"scores": {"kind": "volumes", "distance_unit": "mm",
            "mean": {"dice": 0.8542, "hd95": 12.5}}});
        let s = RunSummary::from_json(&v, String::new()).unwrap();
        assert_eq!(s.headline(), "mean DSC 85.42 %, mean HD95 12.50 mm");
        // No HD95 (ISIC, GlaS): no distance and no unit.
        let v = serde_json::json!({"scores": {"kind": "pixels", "pooled": {"dice": 0.9}}});
        let s = RunSummary::from_json(&v, String::new()).unwrap();
        assert_eq!(s.headline(), "mean DSC 90.00 %");
        assert_eq!((s.hd95_unit(), s.hd95_text()), (None, "-".to_string()));
    }
}
