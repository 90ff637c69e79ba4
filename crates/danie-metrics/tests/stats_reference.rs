//! danie-metrics' statistics against scipy 1.17 (`tests/python/stats_reference.py`): the
//! Wilcoxon signed-rank p-value of `scipy.stats.wilcoxon(x, y)` to 1e-9 for n = 1..60 with and
//! without ties and zero differences (exact, permutation and normal-approximation cases), and
//! the percentile bootstrap interval of the mean against `scipy.stats.bootstrap`.
use danie_metrics::stats::{bootstrap_mean_ci, wilcoxon, WilcoxonMethod, BOOTSTRAP_RESAMPLES};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// Paired samples of every size 1..=60 in three flavours: continuous (no ties), rounded to
/// 0.05 (ties, and zero differences where the pair rounds alike), and continuous with a few
/// pairs made equal (zeros without ties). A few shifted, so that p-values span (0, 1].
/// Ties or zeros with 10 <= n <= 13 are left out: scipy's permutation test takes seconds
/// there (14 s at n = 13); n <= 9 covers that branch.
fn samples() -> Vec<(Vec<f64>, Vec<f64>)> {
    let mut rng = ChaCha8Rng::seed_from_u64(18);
    let mut out = Vec::new();
    for n in 1..=60usize {
        for flavour in 0..3 {
            if flavour > 0 && (10..=13).contains(&n) {
                continue;
            }
            let shift = if n % 2 == 0 { 0.15 } else { 0.0 };
            let mut x: Vec<f64> = (0..n).map(|_| rng.gen::<f64>() + shift).collect();
            let mut y: Vec<f64> = (0..n).map(|_| rng.gen::<f64>()).collect();
            match flavour {
                1 => {
                    for v in x.iter_mut().chain(y.iter_mut()) {
                        *v = (*v * 4.0).round() / 4.0;
                    }
                }
                2 => {
                    for i in (0..n).step_by(5) {
                        y[i] = x[i];
                    }
                }
                _ => {}
            }
            out.push((x, y));
        }
    }
    // Edge cases: all differences zero (small and large), one pair, all of one sign.
    out.push((vec![0.5; 5], vec![0.5; 5]));
    out.push((vec![0.5; 20], vec![0.5; 20]));
    out.push((vec![0.9], vec![0.1]));
    out.push(((1..=20).map(f64::from).collect(), vec![0.0; 20]));
    out
}

#[test]
fn wilcoxon_p_values_match_scipy() {
    let samples = samples();
    let boot: Vec<Vec<f64>> = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.json");
    std::fs::write(
        &input,
        json!({"wilcoxon": samples, "bootstrap": boot, "n_resamples": 10}).to_string(),
    )
    .unwrap();
    let reference = danie_testkit::run_python_json("stats_reference.py", &[&input]);
    let refs = reference["wilcoxon"].as_array().unwrap();
    assert_eq!(refs.len(), samples.len());
    let mut seen = std::collections::BTreeSet::new();
    for ((x, y), r) in samples.iter().zip(refs) {
        let got = wilcoxon(x, y).unwrap();
        seen.insert(format!("{:?}", got.method));
        if r.get("error").is_some() {
            // scipy refuses one pair with a zero difference (its permutation test wants two
            // observations); danie gives the permutation answer, p = 1.
            assert_eq!((x.len(), got.p_value), (1, 1.0), "scipy: {r}");
            continue;
        }
        let p = r["pvalue"].as_f64();
        match p {
            Some(p) => assert!(
                (got.p_value - p).abs() <= 1e-9,
                "n={} {:?}: p {} vs scipy {p}\nx={x:?}\ny={y:?}",
                x.len(),
                got.method,
                got.p_value
            ),
            None => assert!(got.p_value.is_nan(), "scipy NaN, danie {}", got.p_value),
        }
        let s = r["statistic"].as_f64().unwrap();
        assert!(
            (got.statistic - s).abs() <= 1e-9,
            "statistic {} vs {s}",
            got.statistic
        );
    }
    // Every branch of method='auto' was exercised.
    for m in [
        WilcoxonMethod::Exact,
        WilcoxonMethod::Permutation,
        WilcoxonMethod::Asymptotic,
    ] {
        assert!(
            seen.contains(&format!("{m:?}")),
            "{m:?} never used: {seen:?}"
        );
    }
}

#[test]
fn bootstrap_interval_matches_scipy_within_resampling_noise() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let sets: Vec<Vec<f64>> = [12usize, 30, 60]
        .iter()
        .map(|&n| (0..n).map(|_| rng.gen::<f64>() * 0.2 - 0.05).collect())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.json");
    let empty: Vec<(Vec<f64>, Vec<f64>)> = Vec::new();
    std::fs::write(
        &input,
        json!({"wilcoxon": empty, "bootstrap": sets, "n_resamples": BOOTSTRAP_RESAMPLES})
            .to_string(),
    )
    .unwrap();
    let reference: Value = danie_testkit::run_python_json("stats_reference.py", &[&input]);
    for (d, r) in sets.iter().zip(reference["bootstrap"].as_array().unwrap()) {
        let (lo, hi) = bootstrap_mean_ci(d, 0.95, BOOTSTRAP_RESAMPLES, 0).unwrap();
        let se = r["standard_error"].as_f64().unwrap();
        // Each end is a 2.5 % quantile of 9999 resampled means: its Monte Carlo error is about
        // 0.027 standard errors, so two independent draws differ by 0.04 SE typically. 0.2 SE
        // is five times that, and still far below the interval's own width (3.9 SE).
        for (got, want) in [
            (lo, r["low"].as_f64().unwrap()),
            (hi, r["high"].as_f64().unwrap()),
        ] {
            assert!(
                (got - want).abs() <= 0.2 * se,
                "n={}: {got} vs scipy {want} (standard error {se})",
                d.len()
            );
        }
    }
}
