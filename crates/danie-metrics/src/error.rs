//! The errors a metric computation can raise: bad shapes, bad spacing, bad labels.
use thiserror::Error;

/// Why a metric could not be computed.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum MetricsError {
    /// Prediction and reference differ in shape.
    #[error("prediction shape {pred:?} differs from reference shape {gt:?}")]
    ShapeMismatch {
        /// Shape of the prediction.
        pred: Vec<usize>,
        /// Shape of the reference.
        gt: Vec<usize>,
    },
    /// A mask with no axes (a scalar) was given.
    #[error("masks must have at least one axis, got a scalar")]
    Scalar,
    /// The spacing has the wrong length or a value that is not finite and positive.
    #[error("bad voxel spacing {spacing:?} for a {ndim}-D image: {why}")]
    BadSpacing {
        /// The spacing given.
        spacing: Vec<f64>,
        /// Number of image axes.
        ndim: usize,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A label list that cannot be evaluated (empty or repeated labels).
    #[error("bad label list {labels:?}: {why}")]
    BadLabels {
        /// The labels given.
        labels: Vec<u32>,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A convention name that is not one of `medpy`, `monai`, `transunet`.
    #[error("unknown convention `{0}` (expected medpy, monai or transunet)")]
    UnknownConvention(String),
    /// A case of one convention added to an accumulator of another.
    #[error("a {got} result cannot join {expected} results")]
    MixedConventions {
        /// The accumulator's convention.
        expected: String,
        /// The case's convention.
        got: String,
    },
    /// Images that do not share a finite voxel grid (a damaged or mismatched affine or
    /// spacing); the message names the file.
    #[error("{0}")]
    Geometry(String),
    /// A percentile outside [0, 100].
    #[error("percentile {0} is outside [0, 100]")]
    BadPercentile(f64),
    /// Data a statistic cannot use (unequal lengths, a non-finite value, a bad `cases.csv`,
    /// runs on different cases); the message says which.
    #[error("{0}")]
    Statistics(String),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, MetricsError>;

/// Errors unless the two shapes are equal and have at least one axis.
pub(crate) fn check_pair(pred: &[usize], gt: &[usize]) -> Result<()> {
    if pred != gt {
        return Err(MetricsError::ShapeMismatch {
            pred: pred.to_vec(),
            gt: gt.to_vec(),
        });
    }
    if pred.is_empty() {
        return Err(MetricsError::Scalar);
    }
    Ok(())
}
