//! [`ValueStats`]: the intensity summary `danie inspect` prints.

/// Min, max and mean of the non-NaN values, and how many values are NaN.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ValueStats {
    /// Smallest non-NaN value (NaN when every value is NaN or there are none).
    pub min: f64,
    /// Largest non-NaN value (NaN when every value is NaN or there are none).
    pub max: f64,
    /// Mean of the non-NaN values, summed in f64 (NaN when there are none).
    pub mean: f64,
    /// Number of NaN values.
    pub nan_count: usize,
    /// Number of values in all, NaN included.
    pub count: usize,
}

impl ValueStats {
    /// Summarises `values`.
    pub fn of(values: impl Iterator<Item = f64>) -> ValueStats {
        let (mut min, mut max, mut sum) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
        let (mut nan_count, mut count) = (0usize, 0usize);
        for v in values {
            count += 1;
            if v.is_nan() {
                nan_count += 1;
                continue;
            }
            min = min.min(v);
            max = max.max(v);
            sum += v;
        }
        let n = count - nan_count;
        if n == 0 {
            return ValueStats {
                min: f64::NAN,
                max: f64::NAN,
                mean: f64::NAN,
                nan_count,
                count,
            };
        }
        ValueStats {
            min,
            max,
            mean: sum / n as f64,
            nan_count,
            count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_is_counted_not_summed() {
        let s = ValueStats::of([1.0, f64::NAN, 3.0].into_iter());
        assert_eq!(
            (s.min, s.max, s.mean, s.nan_count, s.count),
            (1.0, 3.0, 2.0, 1, 3)
        );
        assert!(ValueStats::of([f64::NAN].into_iter()).mean.is_nan());
    }
}
