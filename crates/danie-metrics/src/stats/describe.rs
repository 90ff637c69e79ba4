//! Mean and sample standard deviation, as numpy's `mean` and `std(ddof=1)`.

/// Arithmetic mean (NaN for no values).
pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

/// Sample standard deviation (ddof = 1, the spread of seeds around their mean); NaN for fewer
/// than two values, as numpy gives.
pub fn sample_std(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return f64::NAN;
    }
    let m = mean(values);
    let ss = values.iter().map(|v| (v - m) * (v - m)).sum::<f64>();
    (ss / (values.len() - 1) as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_hand_computed_values() {
        assert_eq!(mean(&[1.0, 2.0, 6.0]), 3.0);
        // ((1-3)^2 + (2-3)^2 + (6-3)^2) / 2 = 7
        assert!((sample_std(&[1.0, 2.0, 6.0]) - 7f64.sqrt()).abs() < 1e-15);
        assert!(mean(&[]).is_nan() && sample_std(&[4.0]).is_nan());
    }
}
