//! The training loader: shuffled, augmented batches built in parallel and prefetched.
//!
//! A background thread builds each batch with rayon (one task per sample) and sends it into a
//! bounded channel of `prefetch` batches, so the next batches are ready while the model trains
//! on the current one; [`EpochLoader`] carries on into the next epochs, so that a new epoch
//! finds its first batches ready too. The order is a permutation drawn from `(seed, epoch)`;
//! each sample's augmentation draws from its own generator seeded by `(seed, epoch, index)`
//! ([`crate::augment::sample_rng`]), so batches are identical whatever the number of threads.
//!
//! A failure never looks like the end of the data: an error or a panic while a sample is built
//! becomes an `Err` in the stream (naming the sample and carrying the panic's message), and a
//! worker that stops before an epoch's last batch is an `Err` too, never a short epoch. A run
//! that trains on what is left of an epoch would "succeed" having learned nothing.
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use ndarray::{Array2, Array3, Array4, Axis};
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::augment::{sample_rng, splitmix64, Augment};
use crate::datasets::SliceDataset;
use crate::limits::{human_bytes, max_decoded_bytes, MAX_DECODED_BYTES_ENV};
use crate::preprocess::Interp;
use crate::{DataError, Result};

/// The most worker threads a loader starts: more only add contention (and 10^8 is a thread
/// storm that never finishes starting).
pub const MAX_THREADS: usize = 1024;

/// The most batches built ahead: the channel reserves a slot per batch up front, and more than
/// a few never helps a consumer that is slower than the workers.
pub const MAX_PREFETCH: usize = 64;

/// Bytes per pixel of one sample while a batch is alive, for the memory bound: the batch's
/// float32 image (up to 3 channels) and int64 label, plus the prepared float32 sample and u8
/// label it is stacked from.
const BYTES_PER_PIXEL: u64 = 3 * 4 + 8 + 3 * 4 + 1;

/// How the loader builds batches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoaderConfig {
    /// Samples per batch (TransUNet: 24).
    pub batch_size: usize,
    /// Side of the square model input in pixels (TransUNet: 224).
    pub image_size: usize,
    /// Augmentation applied to each sample.
    pub augment: Augment,
    /// Interpolation for resizing images (labels always use nearest).
    pub interp: Interp,
    /// Visit samples in a random order drawn from `(seed, epoch)`; otherwise in index order.
    pub shuffle: bool,
    /// Seed of the order and of every sample's augmentation.
    pub seed: u64,
    /// Drop the last batch when it has fewer than `batch_size` samples.
    pub drop_last: bool,
    /// Batches built ahead of the consumer (1 to [`MAX_PREFETCH`]); the batches in flight must
    /// fit in [`max_decoded_bytes`].
    pub prefetch: usize,
    /// Worker threads building samples (at most [`MAX_THREADS`]); 0 uses rayon's global pool.
    pub threads: usize,
    /// Which share of each epoch this process builds, for data-parallel training: the epoch's
    /// order split as PyTorch's `DistributedSampler` splits it ([`crate::shard`]), in local
    /// batches of `batch_size / count` samples. One share (the default) is the whole epoch.
    pub shard: Shard,
}

/// Share `index` of `count` of every epoch (see [`crate::shard`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shard {
    /// This process's rank.
    pub index: usize,
    /// The world size.
    pub count: usize,
}

impl Default for Shard {
    fn default() -> Self {
        Self { index: 0, count: 1 }
    }
}

impl Default for LoaderConfig {
    fn default() -> Self {
        Self {
            batch_size: 24,
            image_size: 224,
            augment: Augment::TransUnet,
            interp: Interp::Cubic,
            shuffle: true,
            seed: 1234,
            drop_last: false,
            prefetch: 3,
            threads: 0,
            shard: Shard::default(),
        }
    }
}

impl LoaderConfig {
    /// Checks the values, naming the field at fault.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(DataError::invalid("loader config", m.to_string()));
        if self.batch_size == 0 {
            return bad("batch_size must be at least 1");
        }
        if self.image_size < 2 {
            return bad("image_size must be at least 2");
        }
        if self.shard.count == 0 || self.shard.index >= self.shard.count {
            return bad(&format!(
                "shard {} of {}: the index must be below the count",
                self.shard.index, self.shard.count
            ));
        }
        if let Err(e) = crate::shard::local_batch_size(self.batch_size, self.shard.count) {
            return bad(&e.to_string());
        }
        if self.prefetch == 0 {
            return bad("prefetch must be at least 1");
        }
        if self.prefetch > MAX_PREFETCH {
            return bad(&format!(
                "prefetch = {} is over the limit of {MAX_PREFETCH} batches",
                self.prefetch
            ));
        }
        if self.threads > MAX_THREADS {
            return bad(&format!(
                "threads = {} is over the limit of {MAX_THREADS} worker threads",
                self.threads
            ));
        }
        // Alive at once: `prefetch` batches queued, one being built, one being consumed.
        let budget = max_decoded_bytes();
        let bytes = [
            self.batch_size as u64,
            self.image_size as u64,
            self.image_size as u64,
            BYTES_PER_PIXEL,
            self.prefetch as u64 + 2,
        ]
        .iter()
        .try_fold(1u64, |acc, &v| acc.checked_mul(v));
        match bytes {
            Some(b) if b <= budget => Ok(()),
            _ => bad(&format!(
                "batch_size = {}, image_size = {} and prefetch = {} would hold {} of batches \
                 in memory, over the limit of {} (lower them, or raise {MAX_DECODED_BYTES_ENV})",
                self.batch_size,
                self.image_size,
                self.prefetch,
                bytes.map_or_else(|| "more than 16 EiB".to_string(), human_bytes),
                human_bytes(budget)
            )),
        }
    }
}

/// One batch, ready to become tensors.
#[derive(Clone, Debug)]
pub struct Batch {
    /// Images `(B, C, S, S)`.
    pub images: Array4<f32>,
    /// Class ids `(B, S, S)`.
    pub labels: Array3<i64>,
    /// Sample names, in batch order.
    pub names: Vec<String>,
    /// Dataset indices, in batch order.
    pub indices: Vec<usize>,
}

/// An epoch of batches: an iterator of `Result<Batch>` fed by a background thread.
pub struct Loader {
    stream: EpochLoader,
    epoch: u64,
    /// Batches of the epoch not yet served.
    left: usize,
}

impl Loader {
    /// Starts building the batches of `epoch` of `dataset` in the background.
    pub fn new(dataset: Arc<dyn SliceDataset>, config: LoaderConfig, epoch: u64) -> Result<Self> {
        let stream = EpochLoader::new(dataset, config, epoch..epoch + 1)?;
        Ok(Self {
            left: stream.batches_per_epoch,
            stream,
            epoch,
        })
    }

    /// Number of batches in the epoch.
    pub fn num_batches(&self) -> usize {
        self.stream.batches_per_epoch
    }

    /// The order in which `epoch` visits `len` samples.
    pub fn order(len: usize, config: &LoaderConfig, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..len).collect();
        if config.shuffle {
            let mut rng = sample_rng(splitmix64(config.seed), epoch, u64::MAX);
            order.shuffle(&mut rng);
        }
        order
    }

    /// Reads, augments and resizes sample `index` as `epoch` of the loader does.
    ///
    /// # Shapes
    /// -> image `(C, S, S)`, label `(S, S)`
    pub fn prepare(
        dataset: &dyn SliceDataset,
        index: usize,
        config: &LoaderConfig,
        epoch: u64,
    ) -> Result<(Array3<f32>, Array2<u8>)> {
        let sample = dataset.sample(index)?;
        let size = (config.image_size, config.image_size);
        let mut rng = sample_rng(config.seed, epoch, index as u64);
        Ok(config.augment.apply(
            sample.image.view(),
            sample.label.view(),
            size,
            config.interp,
            &mut rng,
        ))
    }

    /// [`Loader::prepare`], with a panic turned into an error naming the sample: one bad
    /// sample must fail the run with its name, not take the worker down silently.
    fn prepare_caught(
        dataset: &dyn SliceDataset,
        index: usize,
        config: &LoaderConfig,
        epoch: u64,
    ) -> Result<(Array3<f32>, Array2<u8>)> {
        catch_unwind(AssertUnwindSafe(|| {
            Self::prepare(dataset, index, config, epoch)
        }))
        .unwrap_or_else(|payload| {
            let name = catch_unwind(AssertUnwindSafe(|| dataset.name(index)))
                .unwrap_or_else(|_| format!("sample {index}"));
            Err(DataError::invalid(
                name,
                format!(
                    "sample {index} of epoch {}: the loader panicked while preparing it: {}",
                    epoch + 1, // counted from 1 in messages, as the training log counts
                    panic_message(payload.as_ref())
                ),
            ))
        })
    }

    /// Builds the batch of dataset `indices` in parallel. An error or a panic while a sample
    /// is read or prepared is an `Err` naming the sample.
    pub fn batch(
        dataset: &dyn SliceDataset,
        indices: &[usize],
        config: &LoaderConfig,
        epoch: u64,
    ) -> Result<Batch> {
        let samples: Vec<(Array3<f32>, Array2<u8>)> = indices
            .par_iter()
            .map(|&i| Self::prepare_caught(dataset, i, config, epoch))
            .collect::<Result<_>>()?;
        let (Some(first), Some(&first_index)) = (samples.first(), indices.first()) else {
            return Err(DataError::invalid("loader", "an empty batch"));
        };
        let channels = first.0.shape()[0];
        if let Some(k) = samples.iter().position(|s| s.0.shape()[0] != channels) {
            return Err(DataError::invalid(
                dataset.name(indices[k]),
                format!(
                    "has {} channels but {} has {channels}",
                    samples[k].0.shape()[0],
                    dataset.name(first_index)
                ),
            ));
        }
        let s = config.image_size;
        // augmentations resize to (S, S); anything else would panic in the stacking below
        if let Some(k) = samples
            .iter()
            .position(|(img, lab)| img.dim() != (channels, s, s) || lab.dim() != (s, s))
        {
            return Err(DataError::invalid(
                dataset.name(indices[k]),
                format!(
                    "prepared as image {:?} and label {:?}, expected ({channels}, {s}, {s}) and ({s}, {s})",
                    samples[k].0.shape(),
                    samples[k].1.shape(),
                ),
            ));
        }
        // B x (C, S, S) -> (B, C, S, S); B x (S, S) -> (B, S, S)
        let mut images = Array4::<f32>::zeros((indices.len(), channels, s, s));
        let mut labels = Array3::<i64>::zeros((indices.len(), s, s));
        images
            .axis_iter_mut(Axis(0))
            .into_par_iter()
            .zip(labels.axis_iter_mut(Axis(0)).into_par_iter())
            .zip(samples.par_iter())
            .for_each(|((mut img, mut lab), (si, sl))| {
                img.assign(si);
                lab.zip_mut_with(sl, |d, &v| *d = v as i64);
            });
        Ok(Batch {
            images,
            labels,
            names: indices.iter().map(|&i| dataset.name(i)).collect(),
            indices: indices.to_vec(),
        })
    }
}

impl Iterator for Loader {
    type Item = Result<Batch>;
    fn next(&mut self) -> Option<Result<Batch>> {
        self.stream.next_of(self.epoch, &mut self.left)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left))
    }
}

/// The text of a panic's payload (`panic!` gives a `&str` or a `String`).
fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Batches of consecutive epochs from one background thread, which goes on to the next epoch's
/// batches as soon as the current epoch's are built: an epoch never starts with an empty
/// pipeline (a loader per epoch leaves training waiting for the first batch of each).
///
/// The first failure ends the stream: its `Err` is served in its place in the batch order, and
/// every later request for a batch is an `Err` repeating it; the stream never just ends early.
///
/// ```no_run
/// # use danie_data::loader::{EpochLoader, LoaderConfig};
/// # fn f(ds: std::sync::Arc<dyn danie_data::datasets::SliceDataset>) -> danie_data::Result<()> {
/// let mut loader = EpochLoader::new(ds, LoaderConfig::default(), 0..3)?;
/// for epoch in 0..3 {
///     for batch in loader.next_epoch() {
///         let batch = batch?; // epoch `epoch`'s batches, in order
///     }
/// }
/// # Ok(()) }
/// ```
pub struct EpochLoader {
    rx: Option<Receiver<(u64, Result<Batch>)>>,
    worker: Option<JoinHandle<()>>,
    batches_per_epoch: usize,
    /// The epoch [`EpochLoader::next_epoch`] serves next.
    next: u64,
    /// One past the last epoch built.
    end: u64,
    /// The first failure served, repeated to any later request.
    failure: Option<String>,
}

impl EpochLoader {
    /// Starts building the batches of `epochs` in the background (the thread stops early when
    /// the loader is dropped).
    pub fn new(
        dataset: Arc<dyn SliceDataset>,
        config: LoaderConfig,
        epochs: std::ops::Range<u64>,
    ) -> Result<Self> {
        config.validate()?;
        if dataset.is_empty() {
            return Err(DataError::invalid("loader", "the dataset has no samples"));
        }
        let batches_per_epoch = epoch_batches(dataset.len(), &config, epochs.start)?.len();
        let pool = if config.threads > 0 {
            Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(config.threads)
                    .thread_name(|i| format!("danie-loader-{i}"))
                    .build()
                    .map_err(|e| DataError::invalid("loader", format!("thread pool: {e}")))?,
            )
        } else {
            None
        };
        let (tx, rx) = sync_channel(config.prefetch);
        let (next, end) = (epochs.start, epochs.end);
        let worker = std::thread::Builder::new()
            .name("danie-loader".into())
            .spawn(move || {
                for epoch in epochs {
                    let chunks = match epoch_batches(dataset.len(), &config, epoch) {
                        Ok(c) => c,
                        Err(e) => {
                            let _ = tx.send((epoch, Err(e)));
                            return;
                        }
                    };
                    for chunk in chunks {
                        let build = || Loader::batch(dataset.as_ref(), &chunk, &config, epoch);
                        // Samples catch their own panics; this catches the rest of the
                        // batch's assembly, so nothing ends the thread without a message.
                        let batch = catch_unwind(AssertUnwindSafe(|| match &pool {
                            Some(p) => p.install(build),
                            None => build(),
                        }))
                        .unwrap_or_else(|payload| {
                            Err(DataError::invalid(
                                "loader",
                                format!(
                                    "epoch {}: building a batch panicked: {}",
                                    epoch + 1,
                                    panic_message(payload.as_ref())
                                ),
                            ))
                        });
                        let failed = batch.is_err();
                        // a closed channel means the consumer stopped
                        if tx.send((epoch, batch)).is_err() || failed {
                            return;
                        }
                    }
                }
            })
            .map_err(|e| DataError::io("loader thread", e))?;
        Ok(Self {
            rx: Some(rx),
            worker: Some(worker),
            batches_per_epoch,
            next,
            end,
            failure: None,
        })
    }

    /// Batches in each epoch.
    pub fn batches_per_epoch(&self) -> usize {
        self.batches_per_epoch
    }

    /// The batches of the next epoch, in order. Batches of an epoch left unfinished are
    /// skipped. Past the loader's last epoch, the epoch is empty.
    pub fn next_epoch(&mut self) -> EpochBatches<'_> {
        let epoch = self.next;
        self.next += 1;
        EpochBatches {
            left: if epoch < self.end {
                self.batches_per_epoch
            } else {
                0
            },
            loader: self,
            epoch,
        }
    }

    /// The next batch of `epoch` while `left` of them are due: an `Err` (and `left` = 0) when
    /// the stream failed or stopped short.
    fn next_of(&mut self, epoch: u64, left: &mut usize) -> Option<Result<Batch>> {
        if *left == 0 {
            return None;
        }
        loop {
            let Some((e, batch)) = self.recv() else {
                *left = 0;
                return Some(Err(self.stopped(epoch)));
            };
            if e < epoch {
                // the rest of an epoch the consumer left early; its failure still counts
                if let Err(err) = batch {
                    self.failure.get_or_insert(err.to_string());
                }
                continue;
            }
            *left -= 1;
            if let Err(err) = &batch {
                self.failure = Some(err.to_string());
                *left = 0;
            }
            return Some(batch);
        }
    }

    /// The next batch built, with its epoch; `None` once the thread has stopped.
    fn recv(&mut self) -> Option<(u64, Result<Batch>)> {
        match self.rx.as_ref()?.recv() {
            Ok(item) => Some(item),
            Err(_) => {
                self.rx = None;
                None
            }
        }
    }

    /// The error for a stream that ended while `epoch` still had batches due: the failure
    /// already served, or what the worker thread's end says (its panic, checked on joining).
    fn stopped(&mut self, epoch: u64) -> DataError {
        if let Some(f) = &self.failure {
            return DataError::invalid("loader", format!("stopped after an error: {f}"));
        }
        let why = match self.worker.take().map(JoinHandle::join) {
            Some(Err(payload)) => {
                format!("its thread panicked: {}", panic_message(payload.as_ref()))
            }
            _ => "its thread ended without finishing the epoch".into(),
        };
        let message = format!("epoch {} has batches left, but {why}", epoch + 1);
        self.failure = Some(message.clone());
        DataError::invalid("loader", message)
    }
}

/// The dataset indices of each batch of `epoch` that this loader's shard builds.
///
/// With several shards, this process's share of the order in local batches (validated sizes:
/// `count` divides `batch_size`); the number of batches is the same for every share and equals
/// the single-process count, since `ceil(ceil(n / W) / (B / W)) = ceil(n / B)`.
///
/// # Errors
/// A shard that does not fit (an index not below the count, a batch size the count does not
/// divide), as [`LoaderConfig::validate`] says.
pub fn epoch_batches(len: usize, config: &LoaderConfig, epoch: u64) -> Result<Vec<Vec<usize>>> {
    let order = Loader::order(len, config, epoch);
    let Shard { index, count } = config.shard;
    let bad = |e: crate::shard::ShardError| DataError::invalid("loader config", e.to_string());
    let batch = crate::shard::local_batch_size(config.batch_size, count).map_err(bad)?;
    let order = crate::shard::shard(&order, index, count, config.drop_last).map_err(bad)?;
    Ok(order
        .chunks(batch)
        .filter(|c| !config.drop_last || c.len() == batch)
        .map(<[usize]>::to_vec)
        .collect())
}

impl Drop for EpochLoader {
    fn drop(&mut self) {
        // closing the channel first unblocks the worker, which then exits; a panic it ended
        // with has been served already as an `Err` (or nobody is left to read it)
        self.rx.take();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

/// One epoch of an [`EpochLoader`]: an iterator of `Result<Batch>`.
pub struct EpochBatches<'a> {
    loader: &'a mut EpochLoader,
    epoch: u64,
    left: usize,
}

impl EpochBatches<'_> {
    /// The epoch these batches belong to.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }
}

impl Iterator for EpochBatches<'_> {
    type Item = Result<Batch>;
    fn next(&mut self) -> Option<Result<Batch>> {
        self.loader.next_of(self.epoch, &mut self.left)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left))
    }
}
