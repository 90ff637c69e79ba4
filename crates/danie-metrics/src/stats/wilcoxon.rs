//! The paired Wilcoxon signed-rank test, two-sided, as `scipy.stats.wilcoxon(x, y)` computes it
//! with its defaults in scipy 1.17 (`zero_method='wilcox'`, `correction=False`,
//! `method='auto'`).
//!
//! The differences `d = x - y` that are zero are dropped (Wilcoxon's rule); the others are
//! ranked by `|d|` (ties get their average rank) and `r+` sums the ranks of the positive ones.
//! `method='auto'` picks the p-value from the whole sample size `n` (zeros included):
//! - `n <= 50`, no ties and no zeros: the exact null distribution of `r+`;
//! - `n <= 13` with ties or zeros: the exact permutation test over all `2^n` sign flips;
//! - otherwise the normal approximation with the tie correction of the variance (no
//!   continuity correction).
//!
//! One exception: a single pair with a zero difference, which scipy refuses (its permutation test
//! wants two observations), gets the permutation answer, p = 1.
use crate::error::{MetricsError, Result};
use crate::stats::normal::normal_sf;

/// How the p-value was computed (scipy's choice under `method='auto'`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WilcoxonMethod {
    /// Exact distribution of `r+` (no ties, no zeros, n <= 50).
    Exact,
    /// Every sign flip of the differences enumerated (ties or zeros, n <= 13).
    Permutation,
    /// Normal approximation with tie correction.
    Asymptotic,
}

/// The result of [`wilcoxon`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Wilcoxon {
    /// `min(r+, r-)`, scipy's two-sided statistic.
    pub statistic: f64,
    /// Two-sided p-value; NaN when every difference is zero and n > 13 (as scipy gives).
    pub p_value: f64,
    /// How `p_value` was computed.
    pub method: WilcoxonMethod,
    /// Pairs with a non-zero difference (the ones ranked).
    pub n_nonzero: usize,
}

/// Two-sided paired Wilcoxon signed-rank test of `x` against `y` (see the module doc).
///
/// # Errors
/// Unequal lengths, no pairs, or a value that is not finite.
pub fn wilcoxon(x: &[f64], y: &[f64]) -> Result<Wilcoxon> {
    if x.len() != y.len() {
        return Err(MetricsError::Statistics(format!(
            "the Wilcoxon test needs pairs: {} values against {}",
            x.len(),
            y.len()
        )));
    }
    if x.is_empty() {
        return Err(MetricsError::Statistics(
            "the Wilcoxon test needs at least one pair".into(),
        ));
    }
    if let Some(v) = x.iter().chain(y).find(|v| !v.is_finite()) {
        return Err(MetricsError::Statistics(format!(
            "the Wilcoxon test got a value that is not finite ({v})"
        )));
    }
    let d: Vec<f64> = x.iter().zip(y).map(|(a, b)| a - b).collect();
    let n = d.len();
    let ranks = signed_ranks(&d);
    let r_plus: f64 = d
        .iter()
        .zip(&ranks)
        .filter(|(v, _)| **v > 0.0)
        .map(|(_, r)| r)
        .sum();
    let r_minus: f64 = d
        .iter()
        .zip(&ranks)
        .filter(|(v, _)| **v < 0.0)
        .map(|(_, r)| r)
        .sum();
    let nonzero: Vec<f64> = d.iter().copied().filter(|v| *v != 0.0).collect();
    let count = nonzero.len();
    let tie_sizes = tie_sizes(&nonzero);
    let has_ties = tie_sizes.iter().any(|&t| t > 1);
    let has_zeros = count < n;

    let method = if n > 50 {
        WilcoxonMethod::Asymptotic
    } else if !(has_ties || has_zeros) {
        WilcoxonMethod::Exact
    } else if n <= 13 {
        WilcoxonMethod::Permutation
    } else {
        WilcoxonMethod::Asymptotic
    };
    let p_value = match method {
        WilcoxonMethod::Exact => exact_p(count, r_plus),
        WilcoxonMethod::Permutation => permutation_p(&d, &ranks, r_plus),
        WilcoxonMethod::Asymptotic => {
            let c = count as f64;
            let mn = c * (c + 1.0) * 0.25;
            let tie_correct: f64 = tie_sizes
                .iter()
                .map(|&t| {
                    let t = t as f64;
                    t * t * t - t
                })
                .sum();
            let se = ((c * (c + 1.0) * (2.0 * c + 1.0) - tie_correct / 2.0) / 24.0).sqrt();
            let z = (r_plus - mn) / se;
            2.0 * normal_sf(z.abs())
        }
    };
    Ok(Wilcoxon {
        statistic: r_plus.min(r_minus),
        p_value,
        method,
        n_nonzero: count,
    })
}

/// Average ranks of `|d|` among the non-zero differences (0 for the zeros, which are dropped).
fn signed_ranks(d: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..d.len()).filter(|&i| d[i] != 0.0).collect();
    order.sort_by(|&a, &b| d[a].abs().total_cmp(&d[b].abs()));
    let mut ranks = vec![0.0; d.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && d[order[end]].abs() == d[order[start]].abs() {
            end += 1;
        }
        // Ranks start+1 ..= end share their average.
        let avg = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = avg;
        }
        start = end;
    }
    ranks
}

/// Sizes of the groups of equal `|d|`.
fn tie_sizes(nonzero: &[f64]) -> Vec<usize> {
    let mut a: Vec<f64> = nonzero.iter().map(|v| v.abs()).collect();
    a.sort_by(f64::total_cmp);
    let mut sizes = Vec::new();
    let mut start = 0;
    while start < a.len() {
        let mut end = start + 1;
        while end < a.len() && a[end] == a[start] {
            end += 1;
        }
        sizes.push(end - start);
        start = end;
    }
    sizes
}

/// `2 min(P(R+ >= r), P(R+ <= r))` under the exact null distribution of `R+` for `n` untied,
/// non-zero differences. The counts of each rank sum are integers below 2^50, so every sum
/// here is exact in f64.
fn exact_p(n: usize, r_plus: f64) -> f64 {
    let mut counts = vec![1.0f64];
    for k in 1..=n {
        let mut next = vec![0.0; counts.len() + k];
        for (r, &c) in counts.iter().enumerate() {
            next[r] += c;
            next[r + k] += c;
        }
        counts = next;
    }
    let total = 2f64.powi(n as i32);
    let k_sf = r_plus.floor() as usize;
    let k_cdf = r_plus.ceil() as usize;
    let sf = counts[k_sf.min(counts.len())..].iter().sum::<f64>() / total;
    let cdf = counts[..=k_cdf.min(counts.len() - 1)].iter().sum::<f64>() / total;
    (2.0 * sf.min(cdf)).clamp(0.0, 1.0)
}

/// The exact permutation test scipy runs for small samples with ties or zeros: `r+` of every
/// one of the `2^n` sign flips of `d` (zeros flip too and change nothing), compared with the
/// observed `r+` with scipy's relative tolerance of 100 machine epsilons.
fn permutation_p(d: &[f64], ranks: &[f64], observed: f64) -> f64 {
    let n = d.len();
    let total = 1usize << n;
    let gamma = (f64::EPSILON * 100.0 * observed).abs();
    let (mut less, mut greater) = (0usize, 0usize);
    for flips in 0..total {
        let stat: f64 = (0..n)
            .filter(|&i| d[i] != 0.0 && ((d[i] > 0.0) != (flips >> i & 1 == 1)))
            .map(|i| ranks[i])
            .sum();
        if stat <= observed + gamma {
            less += 1;
        }
        if stat >= observed - gamma {
            greater += 1;
        }
    }
    (2.0 * less.min(greater) as f64 / total as f64).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(wilcoxon(&[1.0], &[1.0, 2.0]).is_err());
        assert!(wilcoxon(&[], &[]).is_err());
        assert!(wilcoxon(&[f64::NAN], &[1.0]).is_err());
    }

    #[test]
    fn picks_scipys_method() {
        let up: Vec<f64> = (1..=10).map(f64::from).collect();
        let zero = vec![0.0; 10];
        assert_eq!(wilcoxon(&up, &zero).unwrap().method, WilcoxonMethod::Exact);
        // All ten positive: P = 2 / 2^10.
        assert_eq!(wilcoxon(&up, &zero).unwrap().p_value, 2.0 / 1024.0);
        let mut tied = up.clone();
        tied[1] = 1.0;
        assert_eq!(
            wilcoxon(&tied, &zero).unwrap().method,
            WilcoxonMethod::Permutation
        );
        let long: Vec<f64> = (1..=51).map(f64::from).collect();
        assert_eq!(
            wilcoxon(&long, &vec![0.0; 51]).unwrap().method,
            WilcoxonMethod::Asymptotic
        );
    }
}
