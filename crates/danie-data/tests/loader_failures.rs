//! A sample that fails or panics while the loader builds it fails the stream: an `Err` naming the
//! sample, in its place, and never an epoch that just ends early (a run that trains on what is
//! left "succeeds" having learned nothing). Also the bounds of `LoaderConfig::validate`.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use danie_data::augment::Augment;
use danie_data::datasets::{Sample2d, SliceDataset};
use danie_data::loader::{EpochLoader, Loader, LoaderConfig, MAX_PREFETCH, MAX_THREADS};
use danie_data::preprocess::Interp;
use danie_data::{DataError, Result};
use ndarray::{Array2, Array3};

#[derive(Clone, Copy, PartialEq)]
enum Fault {
    Panic,
    Error,
}

/// `len` small samples; sample `bad` fails (`fault`) on its `on_call`-th read (1-based), so
/// `on_call = 2` fails in the second epoch only.
struct Faulty {
    len: usize,
    bad: usize,
    fault: Fault,
    on_call: usize,
    calls: Mutex<HashMap<usize, usize>>,
}

impl Faulty {
    fn dataset(len: usize, bad: usize, fault: Fault, on_call: usize) -> Arc<dyn SliceDataset> {
        Arc::new(Self {
            len,
            bad,
            fault,
            on_call,
            calls: Mutex::new(HashMap::new()),
        })
    }
}

impl SliceDataset for Faulty {
    fn len(&self) -> usize {
        self.len
    }
    fn name(&self, index: usize) -> String {
        format!("slice{index:03}")
    }
    fn sample(&self, index: usize) -> Result<Sample2d> {
        let call = {
            let mut calls = self.calls.lock().unwrap();
            let c = calls.entry(index).or_insert(0);
            *c += 1;
            *c
        };
        if index == self.bad && call == self.on_call {
            match self.fault {
                Fault::Panic => panic!("simulated bad axis"), // the loader must name the sample
                Fault::Error => {
                    return Err(DataError::invalid(
                        format!("slice{index:03}.npz"),
                        "simulated unreadable file",
                    ))
                }
            }
        }
        Ok(Sample2d {
            image: Array3::from_elem((1, 12, 10), 0.5),
            label: Array2::from_elem((12, 10), 1),
            name: self.name(index),
        })
    }
}

fn config(threads: usize) -> LoaderConfig {
    LoaderConfig {
        batch_size: 3,
        image_size: 16,
        augment: Augment::TransUnet,
        interp: Interp::Cubic,
        shuffle: true,
        seed: 3,
        drop_last: false,
        prefetch: 2,
        threads,
        shard: Default::default(),
    }
}

/// Every item of a one-epoch loader: `Ok` batches then exactly one `Err`, which is returned.
fn single_epoch_error(ds: Arc<dyn SliceDataset>, threads: usize) -> String {
    let loader = Loader::new(ds, config(threads), 0).unwrap();
    let total = loader.num_batches();
    let items: Vec<Result<_>> = loader.collect();
    assert!(items.len() <= total, "{} items of {total}", items.len());
    let (last, good) = items.split_last().expect("the stream is not empty");
    assert!(
        good.iter().all(|b| b.is_ok()),
        "an error before the last item"
    );
    match last {
        Ok(_) => panic!(
            "the stream ended without an error ({} of {total} batches)",
            items.len()
        ),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_panicking_sample_is_an_error_naming_it_not_an_early_end() {
    for threads in [0, 1, 3] {
        let e = single_epoch_error(Faulty::dataset(10, 7, Fault::Panic, 1), threads);
        assert!(
            e.contains("slice007") && e.contains("panicked") && e.contains("simulated bad axis"),
            "threads {threads}: {e}"
        );
    }
}

#[test]
fn a_sample_returning_an_error_is_served_in_its_place() {
    let e = single_epoch_error(Faulty::dataset(10, 4, Fault::Error, 1), 2);
    assert!(
        e.contains("slice004.npz") && e.contains("simulated unreadable file"),
        "{e}"
    );
}

#[test]
fn a_failure_in_a_later_epoch_fails_that_epoch_and_every_one_after() {
    for fault in [Fault::Panic, Fault::Error] {
        let mut loader =
            EpochLoader::new(Faulty::dataset(10, 2, fault, 2), config(2), 0..4).unwrap();
        let n = loader.batches_per_epoch();
        // Epoch 0 reads sample 2 for the first time: whole.
        let e0: Vec<_> = loader.next_epoch().collect();
        assert_eq!(e0.len(), n);
        assert!(e0.iter().all(|b| b.is_ok()));
        // Epoch 1 fails at the batch holding sample 2 and stops there.
        let e1: Vec<_> = loader.next_epoch().collect();
        assert!(e1.len() <= n);
        let err = e1
            .last()
            .unwrap()
            .as_ref()
            .expect_err("epoch 1 ends in an error");
        assert!(err.to_string().contains("slice002"), "{err}");
        assert!(e1[..e1.len() - 1].iter().all(|b| b.is_ok()));
        // The next epoch is not silently empty: it repeats the failure.
        let e2: Vec<_> = loader.next_epoch().collect();
        assert_eq!(e2.len(), 1);
        let again = e2[0].as_ref().expect_err("epoch 2 is an error").to_string();
        assert!(again.contains("slice002"), "{again}");
    }
}

#[test]
fn a_failure_in_an_epoch_the_consumer_left_early_is_still_reported() {
    // The last sample epoch 1 visits fails there (its second read); the consumer takes only
    // the first batch of epoch 1, and the failure surfaces in epoch 2 rather than vanishing
    // with the skipped batches.
    let bad = *Loader::order(9, &config(1), 1).last().unwrap();
    let mut loader =
        EpochLoader::new(Faulty::dataset(9, bad, Fault::Error, 2), config(1), 0..3).unwrap();
    assert!(loader.next_epoch().all(|b| b.is_ok()));
    assert!(loader.next_epoch().next().unwrap().is_ok());
    let e2: Vec<_> = loader.next_epoch().collect();
    assert_eq!(
        e2.len(),
        1,
        "epoch 2 must be one error, not batches or nothing"
    );
    let e = e2[0].as_ref().expect_err("epoch 2 is an error").to_string();
    assert!(e.contains(&format!("slice{bad:03}")), "{e}");
}

#[test]
fn config_bounds_are_errors_naming_the_field() {
    let check = |cfg: LoaderConfig, needle: &str| {
        let e = cfg.validate().expect_err(needle).to_string();
        assert!(e.contains(needle) && e.contains("loader config"), "{e}");
    };
    check(
        LoaderConfig {
            threads: 100_000_000,
            ..config(0)
        },
        "threads = 100000000",
    );
    check(
        LoaderConfig {
            threads: MAX_THREADS + 1,
            ..config(0)
        },
        "threads",
    );
    check(
        LoaderConfig {
            prefetch: 1 << 40,
            ..config(0)
        },
        "prefetch",
    );
    check(
        LoaderConfig {
            prefetch: MAX_PREFETCH + 1,
            ..config(0)
        },
        "prefetch",
    );
    // 10^6 x 224^2 samples in flight: far over the decoded-size budget.
    check(
        LoaderConfig {
            batch_size: 1_000_000,
            image_size: 224,
            ..config(0)
        },
        "over the limit",
    );
    // Products that overflow 64 bits are errors too, not panics.
    check(
        LoaderConfig {
            batch_size: usize::MAX,
            image_size: usize::MAX,
            ..config(0)
        },
        "batch_size",
    );
    // The paper's settings pass.
    LoaderConfig::default().validate().unwrap();
    LoaderConfig {
        threads: MAX_THREADS,
        prefetch: 8,
        batch_size: 24,
        image_size: 512,
        ..config(0)
    }
    .validate()
    .unwrap();
    // An invalid config never starts a thread.
    assert!(EpochLoader::new(
        Faulty::dataset(4, 9, Fault::Error, 1),
        LoaderConfig {
            threads: 100_000_000,
            ..config(0)
        },
        0..1
    )
    .is_err());
}
