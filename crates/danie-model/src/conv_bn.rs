//! `ConvBn`: a bias-free convolution and the BatchNorm after it (HAP's stem, the ResNet blocks
//! and shortcuts, every `ConvBnRelu`; EH's non-local block keeps its own). In evaluation on the
//! CPU the pair runs as one convolution with the normalisation folded into its weights and bias,
//! as onnxruntime and torch.fx's `fuse` do: one pass over the activations fewer per pair (S's
//! forward 6 % faster at batch 8, measured on the reference; docs/performance-notes.md). The
//! folding (4 ms for S's pairs on 2 threads, measured on the reference) is redone at every
//! forward, so weights that training changes between evaluations are always the ones used,
//! except inside [`with_constant_weights`], where each pair folds once: a prediction's batches
//! share one fold, and a traced export holds the folded weights as constants instead of
//! replaying the folding at every call. On a GPU the pair runs unfolded, as it does in training.
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use tch::nn::{self, ModuleT};
use tch::{Device, Tensor};

use crate::batch_norm::BatchNorm2d;

/// Conv (`k`x`k`, padding `k/2`, no bias) -> BatchNorm. Variables: the convolution's `weight`
/// under its path, the BatchNorm's under its own (torchvision's `conv1` / `bn1`, or `0` / `1`).
#[derive(Debug)]
pub struct ConvBn {
    conv: nn::Conv2D,
    bn: BatchNorm2d,
    stride: i64,
    padding: i64,
    /// This pair's key among a scope's folds (unique in the process).
    id: u64,
}

/// The next [`ConvBn::id`].
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The folded (weight, bias) of each pair evaluated in this thread's open
    /// [`with_constant_weights`] scope, by [`ConvBn::id`]; `None` outside a scope.
    static FOLDS: RefCell<Option<HashMap<u64, (Tensor, Tensor)>>> = const { RefCell::new(None) };
}

/// Runs `f` with the weights of every [`ConvBn`] taken as constants, as `torch.jit.freeze`
/// takes a module's: a pair evaluated on the CPU on this thread folds its BatchNorm into its
/// convolution at its first forward inside and reuses that fold until `f` returns, when the
/// folds are dropped (S: 6.5 M values). The weights must not change inside; the folded weights
/// take no gradient (the input still does). A scope opened inside another is part of it.
pub fn with_constant_weights<T>(f: impl FnOnce() -> T) -> T {
    /// Closes the scope this call opened, also when `f` panics.
    struct Close;
    impl Drop for Close {
        fn drop(&mut self) {
            FOLDS.with(|folds| *folds.borrow_mut() = None);
        }
    }
    let outermost = FOLDS.with(|folds| {
        let mut folds = folds.borrow_mut();
        let outermost = folds.is_none();
        if outermost {
            *folds = Some(HashMap::new());
        }
        outermost
    });
    // Built only by the outermost scope: a guard made and dropped by a nested one would close
    // the outer scope early.
    let _close = if outermost { Some(Close) } else { None };
    f()
}

impl ConvBn {
    /// `c_in` -> `c_out` channels, a `k`x`k` kernel strided by `stride`.
    pub fn new(conv: nn::Path, bn: nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64) -> Self {
        let cfg = nn::ConvConfig {
            stride,
            padding: k / 2,
            bias: false,
            ..Default::default()
        };
        Self {
            conv: nn::conv2d(conv, c_in, c_out, k, cfg),
            bn: BatchNorm2d::new(bn, c_out),
            stride,
            padding: k / 2,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The convolution's weight and bias with the BatchNorm folded in: this scope's fold inside
    /// [`with_constant_weights`] (made at the first call), a fresh one outside.
    fn folded(&self) -> (Tensor, Tensor) {
        FOLDS.with(|folds| match folds.borrow_mut().as_mut() {
            None => self.bn.folded_into(&self.conv.ws),
            Some(folds) => {
                let (w, b) = folds
                    .entry(self.id)
                    .or_insert_with(|| tch::no_grad(|| self.bn.folded_into(&self.conv.ws)));
                (w.shallow_clone(), b.shallow_clone())
            }
        })
    }
}

impl ModuleT for ConvBn {
    /// # Shapes
    /// (B, C_in, H, W) -> (B, C_out, H/stride, W/stride)
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        if train || xs.device() != Device::Cpu {
            return xs.apply(&self.conv).apply_t(&self.bn, train);
        }
        let (weight, bias) = self.folded();
        // Both spatial dimensions spelled out (a 1-element list is broadcast by libtorch, but
        // a traced model carries it into ONNX, whose Conv then has the wrong rank).
        let (s, p) = (self.stride, self.padding);
        xs.conv2d(&weight, Some(&bias), [s, s], [p, p], [1, 1], 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn::Module, Kind};

    /// A pair with non-trivial running statistics and affine parameters, as after training.
    fn trained_pair(vs: &nn::VarStore, stride: i64) -> ConvBn {
        let m = ConvBn::new(vs.root() / "conv", vs.root() / "bn", 6, 8, 3, stride);
        tch::no_grad(|| {
            let x = Tensor::randn([4, 6, 12, 12], tch::kind::FLOAT_CPU) * 3.0 + 1.0;
            for _ in 0..5 {
                let _ = m.forward_t(&x, true); // running statistics move
            }
            for (name, v) in vs.variables() {
                if name.ends_with("bn.weight") || name.ends_with("bn.bias") {
                    let mut v = v;
                    v.copy_(&(Tensor::randn(v.size(), tch::kind::FLOAT_CPU) * 0.5 + 1.0));
                }
            }
        });
        m
    }

    #[test]
    fn evaluation_folds_to_the_unfolded_pair() {
        tch::manual_seed(3);
        for stride in [1, 2] {
            let vs = nn::VarStore::new(Device::Cpu);
            let m = trained_pair(&vs, stride);
            let x = Tensor::randn([2, 6, 12, 12], tch::kind::FLOAT_CPU);
            let folded = tch::no_grad(|| m.forward_t(&x, false));
            let unfolded = tch::no_grad(|| m.conv.forward(&x).apply_t(&m.bn, false));
            assert_eq!(folded.size(), [2, 8, 12 / stride, 12 / stride]);
            let scale = unfolded.abs().max().double_value(&[]);
            let diff = (&folded - &unfolded).abs().max().double_value(&[]);
            assert!(diff <= 1e-5 * scale, "stride {stride}: {diff:e} of {scale}");
            // and the folding is not the identity: the statistics are far from (0, 1)
            let raw = tch::no_grad(|| m.conv.forward(&x));
            assert!((&raw - &unfolded).abs().max().double_value(&[]) > 0.1 * scale);
        }
    }

    /// Pairs folded in this thread's open scope (`None`: no scope open).
    fn folds_held() -> Option<usize> {
        FOLDS.with(|folds| folds.borrow().as_ref().map(HashMap::len))
    }

    #[test]
    fn a_scope_folds_each_pair_once_and_drops_the_folds_at_its_end() {
        tch::manual_seed(5);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = trained_pair(&vs, 1);
        let x = Tensor::randn([2, 6, 12, 12], tch::kind::FLOAT_CPU);
        let gamma = vs
            .variables()
            .into_iter()
            .find(|(n, _)| n == "bn.weight")
            .unwrap()
            .1;
        let eval = || tch::no_grad(|| m.forward_t(&x, false));
        let before = eval();
        let (inside, nested, moved) = with_constant_weights(|| {
            let first = eval();
            assert_eq!(folds_held(), Some(1));
            // Changing a weight inside breaks the scope's contract; done here only to show that
            // the fold made at the first forward is the one used.
            let _ = tch::no_grad(|| gamma.shallow_clone().g_mul_scalar_(2.0));
            let nested = with_constant_weights(eval);
            assert_eq!(
                folds_held(),
                Some(1),
                "a nested scope shares the outer one's folds"
            );
            (first, nested, eval())
        });
        assert_eq!(folds_held(), None);
        assert!(inside.equal(&before));
        assert!(nested.equal(&before) && moved.equal(&before));
        // Outside, every forward folds the weights as they are now.
        let after = eval();
        let unfolded = tch::no_grad(|| m.conv.forward(&x).apply_t(&m.bn, false));
        let scale = unfolded.abs().max().double_value(&[]);
        assert!((&after - &unfolded).abs().max().double_value(&[]) <= 1e-5 * scale);
        assert!((&after - &before).abs().max().double_value(&[]) > 0.1 * scale);
    }

    #[test]
    fn a_scope_keeps_the_gradient_of_the_input_and_closes_when_its_work_panics() {
        tch::manual_seed(6);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = trained_pair(&vs, 2);
        let x = Tensor::randn([2, 6, 12, 12], tch::kind::FLOAT_CPU);
        let input_grad = |scoped: bool| {
            let xg = x.copy().set_requires_grad(true);
            let run = || m.forward_t(&xg, false).square().sum(Kind::Float).backward();
            if scoped {
                with_constant_weights(run);
            } else {
                run();
            }
            xg.grad()
        };
        let (plain, scoped) = (input_grad(false), input_grad(true));
        assert!(scoped.abs().max().double_value(&[]) > 0.0);
        let diff = (&plain - &scoped).abs().max().double_value(&[]);
        assert!(
            diff <= 1e-5 * plain.abs().max().double_value(&[]),
            "{diff:e}"
        );

        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            with_constant_weights(|| {
                let _ = tch::no_grad(|| m.forward_t(&x, false));
                panic!("the work inside fails");
            })
        }));
        assert!(r.is_err());
        assert_eq!(
            folds_held(),
            None,
            "a panic inside must not leave the scope open"
        );
    }

    #[test]
    fn training_still_normalises_with_batch_statistics() {
        tch::manual_seed(4);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = ConvBn::new(vs.root() / "conv", vs.root() / "bn", 3, 5, 1, 1);
        let x = Tensor::randn([8, 3, 6, 6], tch::kind::FLOAT_CPU) * 4.0 + 2.0;
        let y = m.forward_t(&x, true);
        let mean = y.mean_dim(&[0i64, 2, 3][..], false, Kind::Float);
        assert!(mean.abs().max().double_value(&[]) < 1e-5); // batch mean 0 (weight 1, bias 0)
        let names: Vec<String> = vs.variables().into_keys().collect();
        for k in ["conv.weight", "bn.weight", "bn.running_mean"] {
            assert!(names.iter().any(|n| n == k), "{k} missing from {names:?}");
        }
    }
}
