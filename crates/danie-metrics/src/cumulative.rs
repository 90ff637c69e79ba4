//! A cumulative metric in the manner of MONAI's: `update` per case, `aggregate`, `reset`.
use std::collections::BTreeMap;

use ndarray::ArrayViewD;
use serde::{Deserialize, Serialize};

use crate::case::{evaluate_case, CaseMetrics};
use crate::cohort::CohortSummary;
use crate::convention::Convention;
use crate::error::{MetricsError, Result};
use crate::label::LabelValue;

/// What to evaluate and how (embeddable in a training or evaluation TOML).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricConfig {
    /// Labels to evaluate, in table order (Synapse: 1..=8; background 0 only if wanted).
    pub labels: Vec<u32>,
    /// Class names by label, for tables (optional).
    #[serde(default)]
    pub class_names: BTreeMap<u32, String>,
    /// Convention of every value (default `medpy`).
    #[serde(default)]
    pub convention: Convention,
    /// Unit written beside distances (`mm` for physical spacing, `voxel` for unit spacing).
    #[serde(default = "default_unit")]
    pub distance_unit: String,
}

fn default_unit() -> String {
    "mm".to_string()
}

impl MetricConfig {
    /// Evaluates `labels` under `convention`, distances in mm, no class names.
    pub fn new(labels: Vec<u32>, convention: Convention) -> Self {
        Self {
            labels,
            class_names: BTreeMap::new(),
            convention,
            distance_unit: default_unit(),
        }
    }
}

/// Accumulates per-case results; [`aggregate`](Self::aggregate) gives the cohort table.
#[derive(Debug, Clone)]
pub struct CumulativeMetric {
    config: MetricConfig,
    cases: Vec<CaseMetrics>,
}

impl CumulativeMetric {
    /// An empty accumulator.
    pub fn new(config: MetricConfig) -> Self {
        Self {
            config,
            cases: Vec::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &MetricConfig {
        &self.config
    }

    /// Evaluates one case and keeps its result.
    ///
    /// # Shapes
    /// `pred`, `gt`: the same N-D shape; `spacing`: one value per axis, or empty for unit.
    pub fn update<T: LabelValue>(
        &mut self,
        name: Option<&str>,
        pred: ArrayViewD<T>,
        gt: ArrayViewD<T>,
        spacing: &[f64],
    ) -> Result<&CaseMetrics> {
        let mut case = evaluate_case(
            pred,
            gt,
            &self.config.labels,
            spacing,
            self.config.convention,
        )?;
        case.case = name.map(str::to_string);
        self.cases.push(case);
        Ok(self.cases.last().expect("just pushed"))
    }

    /// Keeps a case evaluated elsewhere (e.g. in parallel); it must use this convention.
    pub fn push(&mut self, case: CaseMetrics) -> Result<()> {
        if case.convention != self.config.convention {
            return Err(MetricsError::MixedConventions {
                expected: self.config.convention.to_string(),
                got: case.convention.to_string(),
            });
        }
        self.cases.push(case);
        Ok(())
    }

    /// The cases so far.
    pub fn cases(&self) -> &[CaseMetrics] {
        &self.cases
    }

    /// The cohort summary of the cases so far.
    pub fn aggregate(&self) -> CohortSummary {
        CohortSummary::from_cases(
            self.cases.clone(),
            self.config.convention,
            &self.config.class_names,
            &self.config.distance_unit,
        )
    }

    /// Forgets every case.
    pub fn reset(&mut self) {
        self.cases.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn update_aggregate_reset() {
        let mut m = CumulativeMetric::new(MetricConfig::new(vec![1, 2], Convention::TransUnet));
        let mut g = Array2::<u8>::zeros((6, 6));
        g.slice_mut(ndarray::s![1..4, 1..4]).fill(1);
        let p = g.clone();
        m.update(Some("a"), p.view().into_dyn(), g.view().into_dyn(), &[])
            .unwrap();
        let empty = Array2::<u8>::zeros((6, 6));
        m.update(Some("b"), empty.view().into_dyn(), g.view().into_dyn(), &[])
            .unwrap();
        let s = m.aggregate();
        assert_eq!(s.n_cases, 2);
        assert_eq!(s.classes[0].dice.mean, 0.5); // (1 + 0) / 2
        assert_eq!(s.classes[1].dice.mean, 0.0); // both empty: 0 under transunet
        assert_eq!(s.mean.dice, 0.25);
        let other = evaluate_case(
            p.view().into_dyn(),
            g.view().into_dyn(),
            &[1],
            &[],
            Convention::Medpy,
        )
        .unwrap();
        assert!(m.push(other).is_err());
        m.reset();
        assert_eq!(m.aggregate().n_cases, 0);
        let cfg: MetricConfig = toml_like_json();
        assert_eq!(cfg.convention, Convention::Monai);
    }

    fn toml_like_json() -> MetricConfig {
        serde_json::from_str(r#"{"labels":[1,2],"convention":"monai"}"#).unwrap()
    }
}
