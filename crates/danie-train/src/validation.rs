//! The periodic validation score: mean foreground Dice on the validation split at the model's
//! input size, with true / false positives pooled over the whole split per class. It tracks
//! training; the paper-format numbers come from `danie eval`. In a data-parallel run each
//! process scores its share of the slices ([`Dist::cases`]) and the counts are totalled, so the
//! score is the one process's exactly (the counts are whole numbers).
use std::sync::Arc;

use anyhow::Context;
use danie_data::datasets::{Sample2d, SliceDataset};
use danie_data::loader::Loader;
use danie_model::conv_bn::with_constant_weights;
use danie_model::Danie;
use tch::{Device, Kind, Tensor};

use crate::batches::{batch_tensors, loader_config};
use crate::config::RunConfig;
use crate::distributed::Dist;
use crate::segmenter::predict_probs;

/// Mean over foreground classes of `2 TP / (2 TP + FP + FN)` pooled over `set`; a class absent
/// from both prediction and reference counts as 1.
pub fn validate_dice(
    model: &Danie,
    set: Arc<dyn SliceDataset>,
    cfg: &RunConfig,
    device: Device,
    dist: Option<&Dist>,
) -> anyhow::Result<f64> {
    let k = cfg.data.dataset.num_classes() as i64;
    let mut tp = vec![0f64; k as usize];
    let mut fp = vec![0f64; k as usize];
    let mut fneg = vec![0f64; k as usize];
    let set: Arc<dyn SliceDataset> = match dist {
        Some(d) => Arc::new(Share {
            indices: d.cases(set.len()),
            inner: set,
        }),
        None => set,
    };
    // A process with no slice of its own still takes part in the total below.
    let batches = if set.is_empty() {
        None
    } else {
        Some(Loader::new(set, loader_config(cfg, false), 0).context("validation loader")?)
    };
    // The weights stay as they are through the pass: each BatchNorm folds once (CPU).
    with_constant_weights(|| -> anyhow::Result<()> {
        for batch in batches.into_iter().flatten() {
            let (x, y) = batch_tensors(&batch.context("reading a validation batch")?, device);
            let pred = predict_probs(model, &x, cfg.train.bf16).argmax(1, false); // (B, H, W)
            for c in 1..k {
                let p = pred.eq(c);
                let g = y.eq(c);
                let count = |t: Tensor| t.sum(Kind::Int64).int64_value(&[]) as f64;
                tp[c as usize] += count(p.logical_and(&g));
                fp[c as usize] += count(p.logical_and(&g.logical_not()));
                fneg[c as usize] += count(p.logical_not().logical_and(&g));
            }
        }
        Ok(())
    })?;
    if let Some(d) = dist {
        let mut counts = [Tensor::from_slice(&[tp.as_slice(), &fp, &fneg].concat())];
        d.group().all_reduce_sum(&mut counts)?;
        let all = Vec::<f64>::try_from(&counts[0])?;
        let k = k as usize;
        tp.copy_from_slice(&all[..k]);
        fp.copy_from_slice(&all[k..2 * k]);
        fneg.copy_from_slice(&all[2 * k..]);
    }
    let dice: Vec<f64> = (1..k as usize)
        .map(|c| {
            let den = 2.0 * tp[c] + fp[c] + fneg[c];
            if den == 0.0 {
                1.0
            } else {
                2.0 * tp[c] / den
            }
        })
        .collect();
    Ok(dice.iter().sum::<f64>() / dice.len().max(1) as f64)
}

/// The slices of a validation split one process scores.
struct Share {
    inner: Arc<dyn SliceDataset>,
    indices: Vec<usize>,
}

impl SliceDataset for Share {
    fn len(&self) -> usize {
        self.indices.len()
    }

    fn name(&self, index: usize) -> String {
        self.inner.name(self.indices[index])
    }

    fn sample(&self, index: usize) -> danie_data::Result<Sample2d> {
        self.inner.sample(self.indices[index])
    }
}
