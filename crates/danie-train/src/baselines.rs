//! Published baselines printed beside a run's evaluation: `configs/baselines.toml`, built into
//! danie ([`shipped_baselines`]), or another file ([`read_baselines`], `danie eval --baselines`).
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Context;
use danie_data::datasets::DatasetKind;
use serde::{Deserialize, Serialize};

/// One published result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// Method name as the paper writes it.
    pub method: String,
    /// Mean Dice in percent.
    pub dsc: f64,
    /// Mean HD95, where published.
    pub hd95: Option<f64>,
    /// Dice in percent per foreground class in the dataset's class order, where published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_dsc: Option<Vec<f64>>,
    /// Where it was published.
    pub source: String,
}

/// Baselines by dataset name (`synapse`, `acdc`, ...).
pub type Baselines = BTreeMap<String, Vec<Baseline>>;

/// `configs/baselines.toml` as danie ships it: the default wherever the run config lives.
pub const SHIPPED_TOML: &str = include_str!("../../../configs/baselines.toml");

/// The shipped baselines ([`SHIPPED_TOML`]).
pub fn shipped_baselines() -> Baselines {
    toml::from_str(SHIPPED_TOML).expect("configs/baselines.toml is checked by a unit test")
}

/// Reads a baselines file; errors name the file and the key. Each array of tables is named
/// after a dataset family (`[[synapse]]`, `[[acdc]]`, `[[isic2017]]`, ...): a table of another
/// name (a typo) would never be shown, so it is an error.
pub fn read_baselines(path: &Path) -> anyhow::Result<Baselines> {
    let text = danie_fs::read_text(path, danie_fs::MAX_SMALL_TEXT)
        .with_context(|| format!("cannot read the baselines file {}", path.display()))?;
    let baselines: Baselines = toml::from_str(&text)
        .with_context(|| format!("{}: invalid baselines file", path.display()))?;
    let families: BTreeSet<&str> = DatasetKind::ALL.iter().map(|k| k.family()).collect();
    if let Some(unknown) = baselines.keys().find(|k| !families.contains(k.as_str())) {
        anyhow::bail!(
            "{}: `[[{unknown}]]` names no dataset; the tables are named after one of {}",
            path.display(),
            families.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(baselines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_baselines_path_that_is_no_file_is_refused_in_bounded_memory() {
        let e = format!("{:#}", read_baselines(Path::new("/dev/zero")).unwrap_err());
        assert!(
            e.contains("/dev/zero") && e.contains("over 1048576 bytes"),
            "{e}"
        );
    }

    #[test]
    fn a_table_named_after_no_dataset_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mine.toml");
        let row = "method = \"M\"\ndsc = 80.0\nsource = \"s\"\n";
        std::fs::write(&p, format!("[[synapse]]\n{row}\n[[isic2017]]\n{row}")).unwrap();
        assert_eq!(read_baselines(&p).unwrap().len(), 2);
        std::fs::write(&p, format!("[[synapse]]\n{row}\n[[synapes]]\n{row}")).unwrap();
        let e = format!("{:#}", read_baselines(&p).unwrap_err());
        assert!(
            e.contains("mine.toml") && e.contains("`[[synapes]]` names no dataset"),
            "{e}"
        );
        assert!(e.contains("acdc, glas, isic2017, isic2018, synapse"), "{e}");
    }

    #[test]
    fn the_shipped_file_holds_the_issue_numbers() {
        let p = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../configs/baselines.toml"
        ));
        let b = read_baselines(p).unwrap();
        assert_eq!(b, shipped_baselines());
        let syn: Vec<(&str, f64, Option<f64>)> = b["synapse"]
            .iter()
            .map(|x| (x.method.as_str(), x.dsc, x.hd95))
            .collect();
        assert_eq!(
            syn,
            [
                ("TransUNet", 77.48, Some(31.69)),
                ("Swin-UNet", 79.13, Some(21.55)),
                ("HiFormer-B", 80.39, Some(14.70)),
                ("MISSFormer", 81.96, Some(18.20)),
                ("DAE-Former", 82.43, Some(17.46)),
            ]
        );
        assert_eq!(
            b["acdc"].iter().map(|x| x.dsc).collect::<Vec<_>>(),
            [89.71, 90.00]
        );
    }

    /// Each published per-organ row: the 8 Synapse organs in danie's class order (the liver,
    /// the largest organ, scores highest in every paper; a shuffled row would move it), and
    /// their mean is the published mean to the papers' two decimals (each of the 9 numbers is
    /// rounded to 0.005, so the mean of the rounded organs is within 0.01 of the rounded mean).
    #[test]
    fn shipped_synapse_organ_rows_are_in_class_order_and_average_to_the_published_mean() {
        let names = &danie_data::datasets::DatasetKind::Synapse.class_names()[1..];
        assert_eq!(
            names,
            [
                "aorta",
                "gallbladder",
                "left kidney",
                "right kidney",
                "liver",
                "pancreas",
                "spleen",
                "stomach"
            ]
        );
        let b = shipped_baselines();
        let mut with_rows = 0;
        for row in &b["synapse"] {
            let Some(organs) = &row.class_dsc else {
                continue;
            };
            with_rows += 1;
            assert_eq!(organs.len(), names.len(), "{}", row.method);
            let liver = names.iter().position(|&n| n == "liver").unwrap();
            let best = (0..organs.len())
                .max_by(|&i, &j| organs[i].total_cmp(&organs[j]))
                .unwrap();
            assert_eq!(best, liver, "{}: highest Dice not the liver", row.method);
            let mean = organs.iter().sum::<f64>() / organs.len() as f64;
            assert!(
                (mean - row.dsc).abs() <= 0.01 + 1e-9,
                "{}: organs average {mean:.4}, published mean {}",
                row.method,
                row.dsc
            );
        }
        assert_eq!(with_rows, 5, "every shipped Synapse row has its organs");
    }

    #[test]
    fn class_rows_are_optional_and_read_as_written() {
        let b: Baselines = toml::from_str(
            "[[synapse]]\nmethod = \"X\"\ndsc = 1.0\nclass_dsc = [1.0]\nsource = \"s\"\n",
        )
        .unwrap();
        assert_eq!(b["synapse"][0].class_dsc.as_deref(), Some(&[1.0][..]));
        assert_eq!(shipped_baselines()["acdc"][0].class_dsc, None);
    }
}
