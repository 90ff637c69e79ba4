//! Bootstrap confidence interval of a mean, percentile method, as
//! `scipy.stats.bootstrap((d,), np.mean, method='percentile')` computes it (its resample count
//! by default; seeded, so a run prints the same interval every time).
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{MetricsError, Result};
use crate::percentile::percentile_numpy;

/// Resamples drawn: scipy's default `n_resamples`. The Monte Carlo error of the 2.5 % and
/// 97.5 % points is then about 3 % of the standard error of the mean.
pub const BOOTSTRAP_RESAMPLES: usize = 9999;

/// The seed of the resampling (fixed: the interval is part of a report and must not change
/// between two printings of the same numbers).
pub const BOOTSTRAP_SEED: u64 = 0;

/// The `level` (0.95 for 95 %) percentile-bootstrap interval of the mean of `values`: the means
/// of `resamples` samples drawn with replacement, cut at `(1 - level) / 2` and
/// `(1 + level) / 2` with numpy's linear interpolation.
///
/// # Errors
/// No values, a value that is not finite, no resamples, or a level outside (0, 1).
pub fn bootstrap_mean_ci(
    values: &[f64],
    level: f64,
    resamples: usize,
    seed: u64,
) -> Result<(f64, f64)> {
    if values.is_empty() || resamples == 0 || !(level > 0.0 && level < 1.0) {
        return Err(MetricsError::Statistics(format!(
            "a bootstrap interval needs values ({}), resamples ({resamples}) and a level in (0, 1) ({level})",
            values.len()
        )));
    }
    if let Some(v) = values.iter().find(|v| !v.is_finite()) {
        return Err(MetricsError::Statistics(format!(
            "a bootstrap interval got a value that is not finite ({v})"
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = values.len();
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| values[rng.gen_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    let alpha = (1.0 - level) / 2.0;
    Ok((
        percentile_numpy(&mut means, alpha * 100.0)?,
        percentile_numpy(&mut means, (1.0 - alpha) * 100.0)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_bracketing_and_degenerate() {
        let v = [0.1, -0.2, 0.3, 0.05, 0.0, 0.2, -0.1, 0.15];
        let a = bootstrap_mean_ci(&v, 0.95, 2000, 7).unwrap();
        assert_eq!(a, bootstrap_mean_ci(&v, 0.95, 2000, 7).unwrap());
        let m = v.iter().sum::<f64>() / v.len() as f64;
        assert!(a.0 < m && m < a.1, "{a:?} around {m}");
        // Constant differences: every resample has the same mean.
        assert_eq!(
            bootstrap_mean_ci(&[0.5; 4], 0.95, 100, 0).unwrap(),
            (0.5, 0.5)
        );
        assert!(bootstrap_mean_ci(&[], 0.95, 100, 0).is_err());
        assert!(bootstrap_mean_ci(&[1.0], 1.0, 100, 0).is_err());
        assert!(bootstrap_mean_ci(&[f64::INFINITY], 0.95, 100, 0).is_err());
    }
}
