//! `[train] sync_bn`: danie-model's cross-rank BatchNorm hook served by danie-dist's
//! SyncBatchNorm over the run's process group. The trainer installs it with
//! `danie_model::batch_norm::install_cross_rank(Some(adapter.clone()))` after joining the group
//! (and removes it with `None` when the run ends).
//!
//! The model's forward cannot return an error, and a failed collective must not panic: the
//! adapter records the first error and returns a NaN-filled output; once an error is recorded it
//! skips the collectives of the layers after it (so a lost rank costs one timeout, not one per
//! layer). The trainer calls [`SyncBatchNorm::take_error`] after each training forward and,
//! when there is one, stops with it instead of using the output. A collective that fails in
//! backward makes tch's `f_backward` return the error (csrc/sync_bn.cpp).
use std::sync::{Arc, Mutex};

use danie_dist::ProcessGroup;
use danie_model::batch_norm::CrossRankNorm;
use tch::Tensor;

/// The cross-rank normaliser of one data-parallel run.
pub struct SyncBatchNorm {
    group: Arc<ProcessGroup>,
    error: Mutex<Option<String>>,
}

impl SyncBatchNorm {
    pub fn new(group: Arc<ProcessGroup>) -> Self {
        Self {
            group,
            error: Mutex::new(None),
        }
    }

    /// The first error since the last call (a failed collective in some layer's forward), if
    /// any: the forward that produced it returned NaN and must not be used.
    pub fn take_error(&self) -> Option<String> {
        self.error_slot().take()
    }

    fn error_slot(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        // A poisoned lock only means a panic elsewhere while it was held; the value is whole.
        self.error.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl CrossRankNorm for SyncBatchNorm {
    /// # Shapes
    /// x (N, C, H, W), weight, bias, running_mean, running_var (C) -> (N, C, H, W)
    fn forward(
        &self,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        running_mean: &Tensor,
        running_var: &Tensor,
        momentum: f64,
        eps: f64,
    ) -> Tensor {
        if self.error_slot().is_none() {
            match danie_dist::sync_bn::sync_batch_norm(
                &self.group,
                x,
                weight,
                bias,
                running_mean,
                running_var,
                momentum,
                eps,
            ) {
                Ok(y) => return y,
                Err(e) => {
                    self.error_slot().get_or_insert(e.to_string());
                }
            }
        }
        x.full_like(f64::NAN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use danie_dist::DistEnv;
    use std::time::Duration;
    use tch::{Device, Kind};

    /// A one-process group: SyncBatchNorm over it is batch norm over this batch.
    fn solo_group() -> Arc<ProcessGroup> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free local port")
            .port();
        let env = DistEnv {
            rank: 0,
            world_size: 1,
            local_rank: 0,
            local_world_size: 1,
            master_addr: "127.0.0.1".into(),
            master_port: port,
        };
        Arc::new(ProcessGroup::new_gloo(&env, Duration::from_secs(10)).expect("a solo group"))
    }

    #[test]
    fn serves_batch_norm_and_turns_a_failure_into_nan_and_an_error() {
        if !danie_dist::available() {
            return;
        }
        let norm = SyncBatchNorm::new(solo_group());
        let opts = (Kind::Float, Device::Cpu);
        let x = Tensor::randn([3, 4, 5, 5], opts);
        let (w, b) = (Tensor::rand([4], opts), Tensor::randn([4], opts));
        let (rm, rv) = (Tensor::zeros([4], opts), Tensor::ones([4], opts));
        let (rm_ref, rv_ref) = (rm.copy(), rv.copy());
        let want = Tensor::batch_norm(
            &x,
            Some(&w),
            Some(&b),
            Some(&rm_ref),
            Some(&rv_ref),
            true,
            0.1,
            1e-5,
            false,
        );
        let got = norm.forward(&x, &w, &b, &rm, &rv, 0.1, 1e-5);
        assert!(got.allclose(&want, 1e-5, 1e-5, false));
        assert!(rv.allclose(&rv_ref, 1e-6, 1e-6, false));
        assert_eq!(norm.take_error(), None);

        // Three channels of weight for four of input: the shim's error, not a panic.
        let bad = norm.forward(&x, &w.narrow(0, 0, 3), &b, &rm, &rv, 0.1, 1e-5);
        assert_eq!(bad.size(), x.size());
        assert!(bad.isnan().all().int64_value(&[]) == 1, "not NaN-filled");
        let err = norm.take_error().expect("the failure recorded");
        assert!(
            err.starts_with("sync batch norm failed on rank 0: "),
            "{err}"
        );
        assert!(
            err.contains("weight, bias and running statistics must be (C)"),
            "{err}"
        );
        assert_eq!(norm.take_error(), None, "taken once");
        // After the error was taken, the next forward normalises again.
        let again = norm.forward(&x, &w, &b, &rm, &rv, 0.1, 1e-5);
        assert!(again.allclose(&want, 1e-5, 1e-5, false));
    }
}
