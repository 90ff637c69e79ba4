//! Published baselines printed beside a run's evaluation: `configs/baselines.toml`, built into
//! danie ([`shipped_baselines`]), or another file ([`read_baselines`], `danie eval --baselines`).
use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
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

/// Reads a baselines file; errors name the file and the key.
pub fn read_baselines(path: &Path) -> anyhow::Result<Baselines> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the baselines file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{}: invalid baselines file", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
