//! Segmentation metrics for 2D and 3D masks and label maps, with the exact conventions of the
//! code behind published tables: medpy 0.5.2, MONAI 1.5 and TransUNet.
//!
//! - Per pair: Dice, IoU, HD, HD95, ASD (prediction to reference), ASSD, with anisotropic
//!   spacing; surfaces as medpy extracts them; distances from an exact, parallel Euclidean
//!   distance transform ([`edt`]).
//! - [`Convention`] selects the definition of HD95 and the empty-mask rules; every result
//!   records the convention it used.
//! - [`evaluate_case`] evaluates the classes of a label-map pair in parallel;
//!   [`CumulativeMetric`] accumulates cases (update, aggregate, reset) into a
//!   [`CohortSummary`] (per class over cases, then over classes), printable as Markdown, CSV
//!   or JSON.
//! - [`stats`]: the paired Wilcoxon signed-rank test and the bootstrap interval with which
//!   two runs are compared case by case (`danie compare`, the seeded ablations).
//! - [`PixelMetrics`] (ISIC pooled and per-image) and [`GlasMetrics`] (per-image mDice/mIoU).
//!
//! No libtorch: everything works on `ndarray` views.
pub mod bbox;
pub mod binary;
pub mod border;
pub mod case;
pub mod class_metrics;
pub mod cohort;
pub mod convention;
pub mod cumulative;
pub mod edt;
pub mod error;
pub mod geometry;
pub mod glas;
pub mod label;
pub mod label_map;
mod label_scan;
pub mod nonfinite;
pub mod overlap;
pub mod percentile;
pub mod pixel;
pub mod spacing;
pub mod stats;
pub mod surface_distance;
pub mod table;

pub use binary::{asd, assd, hd, hd95};
pub use case::{evaluate_case, evaluate_masks, CaseMetrics};
pub use class_metrics::{ClassMetrics, MetricValues, METRIC_NAMES};
pub use cohort::{ClassSummary, CohortSummary, MetricStat};
pub use convention::Convention;
pub use cumulative::{CumulativeMetric, MetricConfig};
pub use error::{MetricsError, Result};
pub use glas::{GlasMetrics, GlasSummary};
pub use label::LabelValue;
pub use label_scan::labels_present;
pub use overlap::{dice, iou, overlap_counts, OverlapCounts, Presence};
pub use pixel::{ConfusionCounts, PixelMetrics, PixelScores, PixelSummary};
pub use surface_distance::{surface_distances, SurfaceDistances};
pub use table::{csv_field, image_cases_csv};
