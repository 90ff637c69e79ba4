//! Percentiles with linear interpolation, as numpy (float64) and torch (float32) compute them.
//!
//! medpy's HD95 calls `numpy.percentile(d, 95)`; MONAI's calls `torch.quantile(d, 0.95)` on a
//! float32 tensor. Both interpolate linearly between the two order statistics around
//! `(n - 1) q`, but torch does it in float32 with a fused multiply-add, numpy in float64 without.
use crate::error::{MetricsError, Result};

/// `numpy.percentile(values, q)` (method `linear`); NaN for an empty slice. Reorders `values`.
pub fn percentile_numpy(values: &mut [f64], q: f64) -> Result<f64> {
    check_q(q)?;
    let n = values.len();
    if n == 0 {
        return Ok(f64::NAN);
    }
    let virtual_index = (n - 1) as f64 * (q / 100.0);
    let lo = virtual_index.floor();
    let (i, gamma) = if virtual_index >= (n - 1) as f64 {
        (n - 1, 0.0)
    } else {
        (lo as usize, virtual_index - lo)
    };
    let (a, b) = order_statistics(values, i);
    // numpy's _lerp: from the nearer end, without fusing.
    let diff = b - a;
    Ok(if gamma >= 0.5 {
        b - diff * (1.0 - gamma)
    } else {
        a + diff * gamma
    })
}

/// `torch.quantile(tensor(values, float32), q / 100)` (interpolation `linear`); NaN for an empty
/// slice and for any inf (torch's lerp of inf and inf). Reorders `values`.
pub fn percentile_torch_f32(values: &mut [f32], q: f64) -> Result<f32> {
    check_q(q)?;
    let n = values.len();
    if n == 0 || values.iter().any(|v| v.is_nan()) {
        return Ok(f32::NAN);
    }
    let rank = (q / 100.0) as f32 * (n - 1) as f32;
    let i = rank as usize;
    let weight = rank - i as f32;
    let (a, b) = order_statistics(values, i.min(n - 1));
    let b = if rank.ceil() as usize > i { b } else { a };
    // ATen's lerp (vectorised kernel: fused multiply-add), from the nearer end.
    let diff = b - a;
    Ok(if weight < 0.5 {
        weight.mul_add(diff, a)
    } else {
        (-diff).mul_add(1.0 - weight, b)
    })
}

/// The `i`-th and `(i + 1)`-th smallest values (the `i`-th twice when `i` is the last index).
fn order_statistics<T: PartialOrd + Copy>(values: &mut [T], i: usize) -> (T, T) {
    let cmp = |a: &T, b: &T| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal);
    let (_, a, above) = values.select_nth_unstable_by(i, cmp);
    let a = *a;
    let b = above.iter().copied().min_by(cmp).unwrap_or(a);
    (a, b)
}

fn check_q(q: f64) -> Result<()> {
    if (0.0..=100.0).contains(&q) {
        Ok(())
    } else {
        Err(MetricsError::BadPercentile(q))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_linear_examples() {
        // numpy.percentile([1, 2, 3, 4], 95) == 3.85; of [0, 10], 50 -> 5.
        assert!((percentile_numpy(&mut [4.0, 1.0, 3.0, 2.0], 95.0).unwrap() - 3.85).abs() < 1e-15);
        assert_eq!(percentile_numpy(&mut [10.0, 0.0], 50.0).unwrap(), 5.0);
        assert_eq!(percentile_numpy(&mut [7.0], 95.0).unwrap(), 7.0);
        assert_eq!(percentile_numpy(&mut [3.0, 9.0], 100.0).unwrap(), 9.0);
        assert!(percentile_numpy(&mut [], 95.0).unwrap().is_nan());
        assert!(percentile_numpy(&mut [1.0], 101.0).is_err());
    }

    #[test]
    fn torch_f32_handles_inf_like_torch() {
        assert!(percentile_torch_f32(&mut [f32::INFINITY; 3], 95.0)
            .unwrap()
            .is_nan());
        assert_eq!(percentile_torch_f32(&mut [2.0], 95.0).unwrap(), 2.0);
        assert_eq!(percentile_torch_f32(&mut [0.0, 10.0], 50.0).unwrap(), 5.0);
    }
}
