//! SyncBatchNorm's engine: batch normalisation with the batch statistics of every rank of the
//! group (PyTorch's `nn.SyncBatchNorm` in training mode), through csrc/sync_bn.cpp, a libtorch
//! custom autograd function whose backward all-reduces the per-channel gradient sums itself (tch
//! has no custom autograd functions or tensor hooks).
//!
//! Gradients, as PyTorch's SyncBatchNorm under DDP: the input's gradient uses the global sums;
//! the weight's and bias's are this rank's share, which the data-parallel gradient average then
//! reduces.
//!
//! Errors: a bad shape or a collective that fails in forward is an `Err` here. One that fails in
//! backward (a lost rank) is a `c10::Error` thrown inside the autograd engine, which reaches the
//! caller of backward: tch's `f_backward` returns it as `Err` (its first line reads "sync batch
//! norm backward: the all-reduce of the gradient sums failed on rank R: ...", libtorch's
//! backtrace follows as in every tch error); tch's `backward` panics on it, so a trainer uses
//! `f_backward`.
use tch::Tensor;

use crate::{DistError, ProcessGroup};

#[cfg(danie_c10d)]
extern "C" {
    /// csrc/sync_bn.cpp: a new tensor handle, or null with `err` set.
    #[allow(clippy::too_many_arguments)]
    fn danie_sync_bn_forward(
        g: *mut crate::ffi::Group,
        x: *const std::os::raw::c_void,
        weight: *const std::os::raw::c_void,
        bias: *const std::os::raw::c_void,
        running_mean: *const std::os::raw::c_void,
        running_var: *const std::os::raw::c_void,
        momentum: f64,
        eps: f64,
        err: *mut *mut std::os::raw::c_char,
    ) -> *mut std::os::raw::c_void;
}

/// Batch norm over the batch of every rank: the global per-channel mean and biased variance
/// normalise `x`, then `weight` and `bias` apply; `running_mean` and `running_var` are updated in
/// place as PyTorch does (`momentum`, unbiased variance over the global count). Every rank must
/// call it with the same channel count, in the same order.
///
/// # Shapes
/// x (N, C, H, W) (any (N, C, ...)), weight, bias, running_mean, running_var (C)
/// -> (N, C, H, W); N may differ between ranks.
#[allow(clippy::too_many_arguments)]
pub fn sync_batch_norm(
    group: &ProcessGroup,
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    momentum: f64,
    eps: f64,
) -> Result<Tensor, DistError> {
    #[cfg(not(danie_c10d))]
    {
        let _ = (
            group,
            x,
            weight,
            bias,
            running_mean,
            running_var,
            momentum,
            eps,
        );
        Err(DistError::Unavailable)
    }
    #[cfg(danie_c10d)]
    {
        let mut err = std::ptr::null_mut();
        // SAFETY: live tch tensors (`at::Tensor*` handles the shim only reads or updates in
        // place, as tch's own ops do); the shim catches every C++ exception and returns either
        // a new tensor handle or an error string.
        let out = unsafe {
            danie_sync_bn_forward(
                group.raw(),
                x.as_ptr().cast(),
                weight.as_ptr().cast(),
                bias.as_ptr().cast(),
                running_mean.as_ptr().cast(),
                running_var.as_ptr().cast(),
                momentum,
                eps,
                &mut err,
            )
        };
        if out.is_null() {
            return Err(DistError::Collective {
                op: "sync batch norm",
                rank: group.rank(),
                message: crate::ffi::take(err),
            });
        }
        // SAFETY: a fresh `new at::Tensor` from the shim, owned (and freed) by this Tensor.
        Ok(unsafe { Tensor::from_ptr(out.cast()) })
    }
}
