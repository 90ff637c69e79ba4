//! Which published code a result must agree with: medpy 0.5.2, MONAI 1.5 or TransUNet.
//!
//! The three disagree on HD95 and on empty masks; see `docs/metrics.md` for the full table.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::MetricsError;

/// The metric convention, selected by name (`medpy`, `monai`, `transunet`).
///
/// The default is [`Convention::Medpy`]: the plain medpy 0.5.2 definitions. Reproducing the
/// Synapse tables of TransUNet and its successors needs [`Convention::TransUnet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Convention {
    /// medpy 0.5.2 `dc`, `jc`, `hd`, `hd95`, `asd`, `assd`: HD95 is the linear-interpolated 95th
    /// percentile of both directions' distances pooled; Dice/IoU of two empty masks are 1;
    /// surface distances with an empty mask are undefined (medpy raises; reported as NaN).
    #[default]
    Medpy,
    /// MONAI 1.5 `compute_dice`, `compute_iou`, `compute_hausdorff_distance`,
    /// `compute_average_surface_distance` (float32 arithmetic): HD95 is the larger of the two
    /// directed 95th percentiles; empty reference gives NaN Dice/IoU; one empty mask gives inf
    /// HD/ASD/ASSD and NaN HD95; two empty masks give NaN distances.
    Monai,
    /// TransUNet's `calculate_metric_percase`: both masks non-empty gives medpy's values;
    /// prediction non-empty and reference empty gives Dice 1 and distance 0; otherwise 0 and 0.
    #[serde(rename = "transunet")]
    TransUnet,
}

impl Convention {
    /// All conventions, in documentation order.
    pub const ALL: [Convention; 3] = [Convention::Medpy, Convention::Monai, Convention::TransUnet];

    /// The name accepted by [`FromStr`] and written in results.
    pub fn name(self) -> &'static str {
        match self {
            Convention::Medpy => "medpy",
            Convention::Monai => "monai",
            Convention::TransUnet => "transunet",
        }
    }
}

impl fmt::Display for Convention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Convention {
    type Err = MetricsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "medpy" => Ok(Convention::Medpy),
            "monai" => Ok(Convention::Monai),
            "transunet" | "trans-unet" | "trans_unet" => Ok(Convention::TransUnet),
            _ => Err(MetricsError::UnknownConvention(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_from_str_and_serde() {
        for c in Convention::ALL {
            assert_eq!(c.name().parse::<Convention>().unwrap(), c);
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.name()));
            assert_eq!(serde_json::from_str::<Convention>(&json).unwrap(), c);
        }
        assert_eq!(Convention::default(), Convention::Medpy);
        assert!("nnunet".parse::<Convention>().is_err());
    }
}
