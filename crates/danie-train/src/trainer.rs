//! The training loop.
//!
//! libtorch is seeded once, from `train.seed`, before the weights are initialised: that is its
//! only draw, since the network has no dropout or drop-path and a step draws nothing (a resumed
//! run takes its weights from the checkpoint). Per epoch: build the
//! loader for that epoch (order and augmentation from (seed, epoch, index)), and for each batch
//! forward (bf16 autocast on CUDA if asked), CE + Dice, backward, one optimiser step at the
//! schedule's learning rate. After the epoch: an epoch log row, validation where the dataset has
//! a validation split, and a checkpoint every `checkpoint_every` epochs and at the end. A
//! non-finite loss stops the run before the step, keeping the last checkpoint. With
//! `train.cuda_graphs` the step is captured after its warm-up and replayed ([`GraphedStep`]).
//!
//! Data-parallel (docs/distributed.md), under a launcher's environment: every process starts
//! from rank 0's weights (broadcast after initialisation and after a resume), trains on its
//! share of each global batch ([`danie_data::shard`]), and averages the gradients over the
//! processes in buckets before each update, as PyTorch's DDP does; batch-norm statistics are
//! each process's own with rank 0's running statistics broadcast before each forward (DDP's
//! default), or the whole batch's with `train.sync_bn`. Rank 0 alone writes the run folder.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use danie_data::datasets::{SliceDataset, Split};
use danie_data::loader::{EpochLoader, LoaderConfig};
use danie_model::memory_format::{prefers_channels_last, vars_channels_last};
use danie_model::weights::{assign_strict, named_variables};
use danie_model::{pretrained, Danie};
use indicatif::{ProgressBar, ProgressStyle};
use tch::nn::{ModuleT, VarStore};
use tch::{Device, Kind, Tensor};

use crate::autocast::{with_precision, Precision};
use crate::batches::{batch_tensors, loader_config};
use crate::checkpoint::{fingerprint, load_latest, save_checkpoint, TrainState};
use crate::config::{model_config, RunConfig};
use crate::device_spec::DeviceSpec;
use crate::distributed::{self, Backend, Dist};
use crate::graphed_step::{GraphedStep, DEFAULT_WARMUP};
use crate::loss::{CeDiceLoss, LossTerms};
use crate::model_io::weights_meta;
use crate::optim::Optimizer;
use crate::run_log::{LogRow, RunLog};
use crate::schedule::LrSchedule;
use crate::sync_bn::SyncBatchNorm;
use crate::validation::validate_dice;

/// What a run that trained leaves in its folder: one of them present means the folder holds a
/// run, which only `--resume` continues. (Its logs and `pretrained.json` are written at the
/// start: a run that failed before its first checkpoint left only those, and starting it again
/// replaces them.)
pub const RUN_FILES: [&str; 2] = ["checkpoints", "model.safetensors"];

/// Options that are not part of the config.
#[derive(Debug, Clone, Default)]
pub struct TrainOptions {
    /// Continue from the run folder's latest checkpoint.
    pub resume: bool,
    /// Draw a progress bar (it hides itself when stderr is not a terminal).
    pub progress: bool,
    /// Stop (with a checkpoint) once this many epochs are done in total, without changing the
    /// schedule: a run cut short on purpose, resumable with `resume`.
    pub stop_after_epochs: Option<usize>,
}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// Epochs completed in total.
    pub epochs_done: usize,
    /// Optimiser steps done in total.
    pub iteration: usize,
    /// Loss of every step this invocation ran, in order.
    pub losses: Vec<f64>,
    /// The final weights file (`run_dir/model.safetensors`).
    pub weights: PathBuf,
    /// Last validation mean Dice, where validation ran.
    pub last_val_dice: Option<f64>,
    /// Whether this process wrote the run folder (one process, or rank 0 of several).
    pub is_main: bool,
}

/// Raised for a NaN or infinite loss, or weights that became non-finite.
#[derive(Debug, thiserror::Error)]
#[error("{what} at iteration {iteration} (epoch {epoch}): training stopped; {kept}")]
pub struct NonFinite {
    /// What was not finite (`the loss is NaN`, `the weights are not finite`).
    pub what: String,
    /// The 1-based iteration it was found at.
    pub iteration: usize,
    /// The epoch, counted from 1 (as the log and the checkpoint folders count).
    pub epoch: usize,
    /// Which checkpoint remains.
    pub kept: String,
}

/// One step's loss values, still on the device.
struct Pending {
    iteration: usize,
    lr: f64,
    /// (total, ce, dice): (3,).
    terms: Tensor,
}

/// Reads the pending steps' loss values with one device-to-host copy, emptying `pending`.
fn read_pending(pending: &mut Vec<Pending>) -> Vec<(Pending, [f64; 3])> {
    if pending.is_empty() {
        return Vec::new();
    }
    let stacked: Vec<Tensor> = pending.iter().map(|p| p.terms.shallow_clone()).collect();
    let values = Tensor::stack(&stacked, 0) // (n, 3)
        .to_kind(Kind::Double)
        .to_device(Device::Cpu);
    let values: Vec<f64> = Vec::try_from(values.reshape([-1])).expect("a float64 CPU tensor");
    pending
        .drain(..)
        .zip(values.chunks_exact(3))
        .map(|(p, v)| (p, [v[0], v[1], v[2]]))
        .collect()
}

/// Elements of one gradient all-reduce: PyTorch DDP's default bucket of 25 MiB of float32.
const BUCKET_ELEMS: i64 = 25 * 1024 * 1024 / 4;

/// Trains as the config says; see the module doc.
pub fn train(cfg: &RunConfig, opts: &TrainOptions) -> anyhow::Result<TrainOutcome> {
    let t = &cfg.train;
    if t.threads > 0 {
        tch::set_num_threads(t.threads as i32);
    }
    let device = DeviceSpec::parse(&t.device)
        .map_err(anyhow::Error::msg)?
        .resolve()?;
    let dist = Dist::join(
        Backend::choose(&t.dist_backend, device)?,
        distributed::timeout(t.dist_timeout_s)?,
    )
    .context("joining the data-parallel run")?;
    let device = match &dist {
        Some(d) => d.device(device)?,
        None => device,
    };
    let outcome = train_on(cfg, opts, device, dist.as_ref());
    if let (Err(e), Some(d)) = (&outcome, &dist) {
        // The others quote this when their next collective fails, instead of only "gone".
        d.group().mark_failed(&format!("{e:#}"));
    }
    outcome
}

fn train_on(
    cfg: &RunConfig,
    opts: &TrainOptions,
    device: Device,
    dist: Option<&Dist>,
) -> anyhow::Result<TrainOutcome> {
    let t = &cfg.train;
    let world = dist.map_or(1, Dist::world_size);
    // Rank 0 writes the run folder; the other ranks compute the same values and write nothing.
    let main = dist.is_none_or(Dist::is_main);
    if dist.is_some() && t.cuda_graphs && device.is_cuda() {
        anyhow::bail!(
            "train.cuda_graphs does not work in a data-parallel run (a captured step cannot \
             include the gradient all-reduce): set train.cuda_graphs = false"
        );
    }
    if t.bf16 && !device.is_cuda() {
        eprintln!("warning: train.bf16 is ignored on the CPU");
    }
    if t.cuda_graphs && !device.is_cuda() {
        eprintln!("warning: train.cuda_graphs is ignored on the CPU");
    }
    let run_dir = &cfg.output.run_dir;
    // The weights too, not only a checkpoint (which a user may have deleted for space): a new
    // run would replace them.
    let earlier = RUN_FILES
        .iter()
        .map(|f| run_dir.join(f))
        .find(|p| p.exists());
    if let (false, Some(found)) = (opts.resume, earlier) {
        anyhow::bail!(
            "{} already holds a run ({} exists): pass --resume to continue it, or choose \
             another output.run_dir",
            run_dir.display(),
            found.display()
        );
    }
    let kind = cfg.data.dataset;
    let train_set: Arc<dyn SliceDataset> = kind
        .open_slices(&cfg.data.root, Split::Train)
        .with_context(|| format!("opening the {kind} training split"))?;
    let val_set: Option<Arc<dyn SliceDataset>> =
        if t.val_every > 0 && kind.splits().contains(&Split::Val) {
            Some(
                kind.open_slices(&cfg.data.root, Split::Val)
                    .with_context(|| format!("opening the {kind} validation split"))?,
            )
        } else {
            None
        };
    let batches_per_epoch = train_set.len().div_ceil(cfg.data.batch_size);
    let epochs = cfg.epochs_for(batches_per_epoch);
    let max_iter = cfg.max_iterations(batches_per_epoch);
    let mcfg = model_config(cfg)?;
    let hash = fingerprint(&format!(
        "{}{}{}",
        toml::to_string(&cfg.data)?,
        toml::to_string(&cfg.model)?,
        toml::to_string(&cfg.train)?
    ));

    // The initial weights: the only random numbers libtorch draws in a run (see the module doc).
    tch::manual_seed(t.seed as i64);
    let mut vs = VarStore::new(device);
    let model = Danie::try_new(vs.root(), &mcfg).map_err(|e| anyhow::anyhow!("[model]: {e}"))?;
    // Pretrained streams on a new run only (before the run folder exists, so a checkpoint that
    // does not fit leaves nothing behind); a resumed run continues from its checkpoint. Only rank
    // 0 reads them: the others receive its weights below.
    let started_from = if opts.resume {
        pretrained::read_record(run_dir).map_err(anyhow::Error::msg)?
    } else if !main {
        Default::default()
    } else {
        pretrained::load_pretrained(
            &mut vs,
            &mcfg,
            &cfg.model.pretrained,
            &pretrained::weights_dir(),
        )?
    };
    if main {
        std::fs::create_dir_all(run_dir)
            .with_context(|| format!("cannot create the run folder {}", run_dir.display()))?;
    }
    let mut opt = Optimizer::new(&vs, t);
    let mut graphed = if t.cuda_graphs && device.is_cuda() {
        anyhow::ensure!(
            matches!(opt, Optimizer::Sgd(_)),
            "train.cuda_graphs works with optimizer = \"sgd\" only"
        );
        Some(GraphedStep::new(device, DEFAULT_WARMUP).context("train.cuda_graphs")?)
    } else {
        None
    };
    let (mut epoch0, mut iteration) = (0, 0);
    if opts.resume {
        let mut ck = load_latest(run_dir)?;
        if ck.state.config_hash != hash {
            eprintln!(
                "warning: the config differs from the one that wrote {} (continuing with the new one)",
                ck.dir.display()
            );
        }
        let source = ck.dir.join("model.safetensors");
        assign_strict(&vs, std::mem::take(&mut ck.model), &source)?;
        opt.load_state(&ck.optimizer)
            .with_context(|| format!("{}: optimizer state", ck.dir.display()))?;
        epoch0 = ck.state.epochs_done;
        iteration = ck.state.iteration;
        // A checkpoint past this config's schedule (a shortened config, a damaged state.json)
        // would train nothing and end as a success.
        anyhow::ensure!(
            epoch0 <= epochs && iteration <= max_iter,
            "{}: the checkpoint is at epoch {epoch0}, iteration {iteration}, past this config's \
             {epochs} epochs / {max_iter} iterations: nothing is left to train (raise \
             train.epochs or train.iterations to continue it)",
            ck.dir.display()
        );
        if main {
            eprintln!(
                "resuming from {} (epoch {epoch0}, iteration {iteration})",
                ck.dir.display()
            );
        }
    }
    // A stop at or before where the run stands would train nothing and end as a success.
    if let Some(stop) = opts.stop_after_epochs {
        anyhow::ensure!(
            stop > epoch0,
            "--stop-after-epochs {stop}: the run is at epoch {epoch0} already, so nothing would \
             be trained (give a number above {epoch0})"
        );
    }
    if let Some(d) = dist {
        broadcast_variables(d, &vs).context("sending rank 0's weights to every rank")?;
    }
    // Convolution weights (and, in `batch_tensors`, images) channels-last where danie runs the
    // network so (the CPU: 1.11-1.41x PyTorch eager); the optimiser packs them in that layout.
    if prefers_channels_last(device) {
        vars_channels_last(&vs);
    }
    // The weights as this invocation starts, one sum a variable: a checkpoint after steps that
    // left every sum as it was comes from a run that learns nothing (an lr or loss weight so
    // small that float32 rounds every update away), which must fail, not pass for trained.
    let (start_sums, start_iteration) = (weight_sums(&vs)?, iteration);
    // One loader for the whole run: it builds the next epoch's first batches during this one's
    // end (validation and checkpoint included). Built before the run folder is written: a
    // config whose batches do not fit the memory budget leaves it as it was (on --resume too).
    let shard = danie_data::loader::Shard {
        index: dist.map_or(0, Dist::rank),
        count: world,
    };
    let mut loader = EpochLoader::new(
        train_set.clone(),
        LoaderConfig {
            shard,
            ..loader_config(cfg, true)
        },
        epoch0 as u64..epochs as u64,
    )
    .context("building the training loader")?;
    // A finished run resumed (a requeued job): nothing to train, and nothing is rewritten.
    if opts.resume && (epoch0 >= epochs || iteration >= max_iter) {
        if main {
            eprintln!(
                "{}: the run is complete (epoch {epoch0} of {epochs}, iteration {iteration} of \
                 {max_iter}): nothing left to train",
                run_dir.display()
            );
        }
        return Ok(TrainOutcome {
            epochs_done: epoch0,
            iteration,
            losses: Vec::new(),
            weights: run_dir.join("model.safetensors"),
            last_val_dice: None,
            is_main: main,
        });
    }
    let mut log = if main {
        danie_fs::write_bytes(&run_dir.join("config.toml"), toml::to_string_pretty(cfg)?)?;
        if !opts.resume {
            pretrained::write_record(run_dir, &started_from).map_err(anyhow::Error::msg)?;
        }
        write_split_list(run_dir, "train", train_set.as_ref())?;
        if let Some(val) = &val_set {
            write_split_list(run_dir, "val", val.as_ref())?;
        }
        Some(RunLog::open(run_dir, opts.resume.then_some(iteration))?)
    } else {
        None
    };
    // Rank 0's batch-norm running statistics, sent before each forward as DDP does.
    let buffers: Vec<Tensor> = named_variables(&vs)
        .into_iter()
        .map(|(_, v)| v)
        .filter(|v| !v.requires_grad())
        .collect();
    let loss_fn = CeDiceLoss::new(kind.num_classes() as i64, t.ce_weight, t.dice_weight);
    let schedule = LrSchedule {
        base_lr: t.lr,
        max_iterations: max_iter,
        power: t.poly_power,
        warmup_iters: t.warmup_iters,
        warmup_start_factor: t.warmup_start_factor,
    };
    let bar = if opts.progress && main {
        ProgressBar::new(max_iter as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} it  {msg}  eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_position(iteration as u64);
    let started = Instant::now();
    let mut losses = Vec::new();
    let mut last_val = None;
    let mut last_ckpt: Option<usize> = opts.resume.then_some(epoch0);
    // Loss values are read every `flush_every` steps (every logged step, at most 20 apart).
    let flush_every = if t.log_every > 0 {
        t.log_every.min(20)
    } else {
        10
    };
    let mut epoch = epoch0;
    // SyncBatchNorm: every BatchNorm of the network normalises with the global batch's
    // statistics while this run trains (removed again when it ends, however it ends).
    let sync_norm = match dist {
        Some(d) if t.sync_bn => Some(CrossRankGuard::install(d)),
        _ => None,
    };
    while epoch < epochs && iteration < max_iter && opts.stop_after_epochs.is_none_or(|s| epoch < s)
    {
        let (mut sum, mut n) = (0.0, 0usize);
        let mut window = (Instant::now(), 0usize);
        let mut pending = Vec::new();
        let mut batches = loader.next_epoch();
        let mut served = 0usize;
        loop {
            let next = if iteration < max_iter {
                batches.next()
            } else {
                None
            };
            let done = next.is_none();
            if let Some(batch) = next {
                // A sample that cannot be read or prepared fails the run here: training on
                // the rest would give weights that look like a result and are not one.
                let batch = match batch {
                    Ok(b) => b,
                    Err(e) => {
                        bar.abandon();
                        return Err(anyhow::Error::new(e).context(format!(
                            "reading a training batch of epoch {} failed: training stopped; {}{}",
                            epoch + 1,
                            kept_checkpoint(last_ckpt, run_dir),
                            resume_hint(last_ckpt)
                        )));
                    }
                };
                served += 1;
                let (x, y) = batch_tensors(&batch, device);
                let lr = schedule.lr_at(iteration);
                let prec = Precision::from_bf16(t.bf16);
                let terms = match graphed.as_mut() {
                    Some(g) => {
                        let mut step = |x: &Tensor, y: &Tensor, lr: &Tensor| {
                            let terms = forward_backward(&model, &loss_fn, &mut opt, prec, x, y);
                            opt.step_lr_tensor(lr)
                                .expect("SGD, checked when the run began");
                            terms.stacked()
                        };
                        g.run(&x, &y, lr, &mut step).with_context(|| {
                            format!(
                                "train.cuda_graphs: iteration {} (set train.cuda_graphs = false to train without graphs)",
                                iteration + 1
                            )
                        })?
                    }
                    None => match dist {
                        None => {
                            let terms = forward_backward(&model, &loss_fn, &mut opt, prec, &x, &y);
                            opt.step(lr);
                            terms.stacked()
                        }
                        Some(d) => {
                            let terms = data_parallel_step(
                                d,
                                &model,
                                &loss_fn,
                                &mut opt,
                                prec,
                                &buffers,
                                sync_norm.as_ref().map(|g| g.norm.as_ref()),
                                &x,
                                &y,
                            )
                            .with_context(|| {
                                bar.abandon();
                                format!(
                                    "iteration {} (epoch {}): training stopped; {}",
                                    iteration + 1,
                                    epoch + 1,
                                    kept_checkpoint(last_ckpt, run_dir)
                                )
                            })?;
                            opt.step(lr);
                            terms
                        }
                    },
                };
                iteration += 1;
                window.1 += batch.names.len() * world;
                pending.push(Pending {
                    iteration,
                    lr,
                    terms,
                });
                // Reading a loss waits for the GPU to finish every queued kernel, so values are
                // read a window at a time (and at the epoch's end); the CPU queues steps meanwhile.
                if pending.len() < flush_every {
                    continue;
                }
            }
            for (p, [value, ce, dice]) in read_pending(&mut pending) {
                if !value.is_finite() {
                    bar.abandon();
                    let what = format!("the loss is {value}");
                    return Err(non_finite(what, p.iteration, epoch + 1, last_ckpt, run_dir));
                }
                losses.push(value);
                sum += value;
                n += 1;
                let ips = window.1 as f64 / window.0.elapsed().as_secs_f64().max(1e-9);
                bar.set_position(p.iteration as u64);
                bar.set_message(format!(
                    "epoch {}  loss {value:.4}  lr {:.2e}  {ips:.1} img/s",
                    epoch + 1,
                    p.lr
                ));
                if let Some(log) = log
                    .as_mut()
                    .filter(|_| t.log_every > 0 && p.iteration % t.log_every == 0)
                {
                    log.write(&LogRow {
                        kind: "iter".into(),
                        epoch: epoch + 1,
                        iteration: p.iteration,
                        loss: value,
                        ce: Some(ce),
                        dice_loss: Some(dice),
                        lr: p.lr,
                        images_per_s: Some(ips),
                        val_dice: None,
                        elapsed_s: started.elapsed().as_secs_f64(),
                    })?;
                }
            }
            window = (Instant::now(), 0);
            if done {
                break;
            }
        }
        // The loader serves every batch or an error; an epoch cut short any other way is a bug
        // that must not pass for a trained epoch.
        if iteration < max_iter && served < loader.batches_per_epoch() {
            bar.abandon();
            anyhow::bail!(
                "epoch {} ended after {served} of {} batches: training stopped; {}{}",
                epoch + 1,
                loader.batches_per_epoch(),
                kept_checkpoint(last_ckpt, run_dir),
                resume_hint(last_ckpt)
            );
        }
        epoch += 1;
        let last = epoch >= epochs
            || iteration >= max_iter
            || opts.stop_after_epochs.is_some_and(|s| epoch >= s);
        let val_dice = match &val_set {
            Some(v) if epoch % t.val_every == 0 || last => {
                if let (Some(d), false) = (dist, t.sync_bn) {
                    broadcast_buffers(d, &buffers)?;
                }
                let d = validate_dice(&model, v.clone(), cfg, device, dist).with_context(|| {
                    bar.abandon();
                    format!(
                        "validating after epoch {}: training stopped; {}{}",
                        epoch,
                        kept_checkpoint(last_ckpt, run_dir),
                        resume_hint(last_ckpt)
                    )
                })?;
                last_val = Some(d);
                Some(d)
            }
            _ => None,
        };
        let mean = sum / n.max(1) as f64;
        if let Some(log) = log.as_mut() {
            log.write(&LogRow {
                kind: "epoch".into(),
                epoch,
                iteration,
                loss: mean,
                ce: None,
                dice_loss: None,
                lr: schedule.lr_at(iteration.saturating_sub(1)),
                images_per_s: None,
                val_dice,
                elapsed_s: started.elapsed().as_secs_f64(),
            })?;
        }
        if last || (t.checkpoint_every > 0 && epoch % t.checkpoint_every == 0) {
            // An update can overflow the weights after a finite loss: never checkpoint those.
            if let Some((name, _)) = named_variables(&vs)
                .iter()
                .find(|(_, v)| v.isfinite().all().int64_value(&[]) == 0)
            {
                bar.abandon();
                let what = format!("the weights are not finite (variable {name})");
                return Err(non_finite(what, iteration, epoch, last_ckpt, run_dir));
            }
            if iteration > start_iteration && weight_sums(&vs)? == start_sums {
                bar.abandon();
                anyhow::bail!(
                    "{} optimiser steps changed no weight (train.lr = {}, ce_weight = {}, \
                     dice_weight = {}): the run would learn nothing; training stopped; {}",
                    iteration - start_iteration,
                    t.lr,
                    t.ce_weight,
                    t.dice_weight,
                    kept_checkpoint(last_ckpt, run_dir)
                );
            }
            let state = TrainState {
                epochs_done: epoch,
                iteration,
                seed: t.seed,
                config_hash: hash.clone(),
                last_epoch_loss: mean,
                danie_version: env!("CARGO_PKG_VERSION").into(),
            };
            if main {
                let mut meta = weights_meta(cfg, &mcfg, epoch, iteration);
                meta.started_from = started_from.clone();
                save_checkpoint(run_dir, &state, &named_variables(&vs), &meta, &opt.state())?;
            }
            last_ckpt = Some(epoch);
        }
    }
    bar.finish();
    if main {
        crate::curves::write_curves(run_dir).context("drawing the loss curves")?;
    }
    Ok(TrainOutcome {
        epochs_done: epoch,
        iteration,
        losses,
        weights: run_dir.join("model.safetensors"),
        last_val_dice: last_val,
        is_main: main,
    })
}

/// Forward in train mode (autocast at `prec` on CUDA), CE + Dice on `y`, zeroed gradients,
/// backward: everything of a step but the update.
fn forward_backward(
    model: &Danie,
    loss_fn: &CeDiceLoss,
    opt: &mut Optimizer,
    prec: Precision,
    x: &Tensor,
    y: &Tensor,
) -> LossTerms {
    let logits = with_precision(x.device(), prec, || model.forward_t(x, true)); // (B, K, H, W)
    let terms = loss_fn.forward(&logits, y);
    opt.zero_grad();
    terms.total.backward();
    terms
}

/// One step of a data-parallel process, all but the update: rank 0's batch-norm running
/// statistics in (unless they are synchronised), forward, the loss of
/// [`CeDiceLoss::forward_across_ranks`], backward, then the gradients (in buckets of
/// [`BUCKET_ELEMS`], all started before the first is waited for) and the loss terms averaged
/// over the processes. Returns the averaged (total, ce, dice): (3,).
#[allow(clippy::too_many_arguments)]
fn data_parallel_step(
    dist: &Dist,
    model: &Danie,
    loss_fn: &CeDiceLoss,
    opt: &mut Optimizer,
    prec: Precision,
    buffers: &[Tensor],
    sync_norm: Option<&SyncBatchNorm>,
    x: &Tensor,
    y: &Tensor,
) -> anyhow::Result<Tensor> {
    if sync_norm.is_none() {
        broadcast_buffers(dist, buffers)?;
    }
    let logits = with_precision(x.device(), prec, || model.forward_t(x, true)); // (b, K, H, W)
    if let Some(e) = sync_norm.and_then(SyncBatchNorm::take_error) {
        anyhow::bail!("{e}");
    }
    let group = dist.group();
    let terms = loss_fn.forward_across_ranks(&logits, y, dist.world_size(), |sums| {
        Ok(group.all_reduce_sum(std::slice::from_mut(sums))?)
    })?;
    opt.zero_grad();
    terms.total.f_backward()?;
    let _guard = tch::no_grad_guard();
    let grads = opt.gradients();
    // Collectives need dense row-major memory: a gradient in another layout (channels-last,
    // before the optimiser packs them) goes through a contiguous copy.
    let mut flat: Vec<Tensor> = grads.iter().map(|g| g.contiguous().view([-1])).collect();
    let stacked = terms.stacked().contiguous();
    flat.push(stacked.shallow_clone()); // averaged in place with the gradients
    group.all_reduce_mean(&mut flat, BUCKET_ELEMS)?;
    for (g, f) in grads.iter().zip(&flat) {
        if !g.is_contiguous() {
            g.shallow_clone().copy_(&f.view_as(g));
        }
    }
    Ok(stacked)
}

/// The installed SyncBatchNorm of a run; removed on drop.
struct CrossRankGuard {
    norm: Arc<SyncBatchNorm>,
}

impl CrossRankGuard {
    fn install(dist: &Dist) -> Self {
        let norm = Arc::new(SyncBatchNorm::new(dist.group().clone()));
        danie_model::batch_norm::install_cross_rank(Some(norm.clone()));
        Self { norm }
    }
}

impl Drop for CrossRankGuard {
    fn drop(&mut self) {
        danie_model::batch_norm::install_cross_rank(None);
    }
}

/// Every variable (parameters and running statistics) from rank 0, in place.
fn broadcast_variables(dist: &Dist, vs: &VarStore) -> anyhow::Result<()> {
    let _guard = tch::no_grad_guard();
    let mut vars: Vec<Tensor> = named_variables(vs).into_iter().map(|(_, v)| v).collect();
    anyhow::ensure!(
        vars.iter().all(Tensor::is_contiguous),
        "the weights must be contiguous to be broadcast"
    );
    Ok(dist.group().broadcast(&mut vars, 0)?)
}

/// Rank 0's batch-norm running statistics to every rank, as one flat tensor.
fn broadcast_buffers(dist: &Dist, buffers: &[Tensor]) -> anyhow::Result<()> {
    if buffers.is_empty() {
        return Ok(());
    }
    let _guard = tch::no_grad_guard();
    let flat: Vec<Tensor> = buffers.iter().map(|b| b.reshape([-1])).collect();
    let mut all = [Tensor::cat(&flat, 0)];
    dist.group().broadcast(&mut all, 0)?;
    let mut offset = 0;
    for b in buffers {
        let n = b.numel() as i64;
        b.shallow_clone()
            .copy_(&all[0].narrow(0, offset, n).view_as(b));
        offset += n;
    }
    Ok(())
}

/// The sum of each trainable variable, in float64, read in one transfer from the device.
fn weight_sums(vs: &VarStore) -> anyhow::Result<Vec<f64>> {
    let _no_grad = tch::no_grad_guard();
    let sums: Vec<Tensor> = vs
        .trainable_variables()
        .iter()
        .map(|v| v.sum(Kind::Double))
        .collect();
    Ok(Vec::<f64>::try_from(
        Tensor::stack(&sums, 0).to_device(Device::Cpu),
    )?)
}

fn non_finite(
    what: String,
    iteration: usize,
    epoch: usize,
    last_ckpt: Option<usize>,
    run_dir: &std::path::Path,
) -> anyhow::Error {
    NonFinite {
        what,
        iteration,
        epoch,
        kept: kept_checkpoint(last_ckpt, run_dir),
    }
    .into()
}

/// How to continue a run stopped by bad data, where a checkpoint exists.
fn resume_hint(last_ckpt: Option<usize>) -> &'static str {
    if last_ckpt.is_some() {
        " (fix the data, then continue with --resume)"
    } else {
        ""
    }
}

/// Which checkpoint a stopped run leaves, for its error message.
fn kept_checkpoint(last_ckpt: Option<usize>, run_dir: &Path) -> String {
    match last_ckpt {
        Some(e) => format!(
            "the last good checkpoint (epoch {e}) is kept in {}",
            run_dir.join("checkpoints").display()
        ),
        None => "no checkpoint had been written yet".into(),
    }
}

/// Writes the names of the samples `set` holds, one per line, to `run_dir/lists/NAME.txt`: the
/// split a run trained on, kept with its results. For ISIC and GlaS the names are image ids, so
/// the files can go into a dataset folder's `lists/` to fix the split for later runs.
fn write_split_list(run_dir: &Path, name: &str, set: &dyn SliceDataset) -> anyhow::Result<()> {
    let dir = run_dir.join("lists");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut text = String::with_capacity(set.len() * 24);
    for i in 0..set.len() {
        text.push_str(&set.name(i));
        text.push('\n');
    }
    let path = dir.join(format!("{name}.txt"));
    Ok(danie_fs::write_bytes(&path, text)?)
}
