//! `ParamGroup`: the trainable variables of a `VarStore`, packed on the first update into one
//! contiguous parameter buffer and one gradient buffer, so that an optimiser updates every
//! variable with a handful of whole-buffer kernels instead of a handful per variable.
//!
//! This is what `torch.optim`'s `foreach` path buys PyTorch on CUDA (a few multi-tensor kernels
//! per step); tch has no `_foreach_*` ops, and a per-variable loop costs about seven kernel
//! launches per variable (about 1,400 a step for the S preset's 197 variables, as many as its
//! whole forward and backward). Each variable becomes a view into the packed buffer
//! (`param.data = view`, as apex's flat parameters); its gradient likewise, and autograd
//! accumulates into the gradient in place. The arithmetic per element is unchanged.
//!
//! Only variables that already have a gradient when [`ParamGroup::pack`] runs are packed (as
//! `torch.optim` skips variables whose `.grad` is None), and only those of the first such
//! variable's kind and device; the rest stay loose and are updated one by one.
use tch::nn::VarStore;
use tch::Tensor;

/// Alignment of each variable inside the packed buffers.
const ALIGN_BYTES: usize = 512;

/// Elements per piece of a CPU update (1 MiB of float32).
const CPU_PIECE: i64 = 1 << 18;

/// The packed part of a group.
#[derive(Debug)]
pub struct Packed {
    /// Indices of the packed variables (into [`ParamGroup::names`]), in buffer order.
    pub members: Vec<usize>,
    /// (offset, length) of each member in the buffers.
    spans: Vec<(i64, i64)>,
    /// All members' values, one after the other: (N,).
    pub params: Tensor,
    /// All members' gradients, laid out as `params`: (N,).
    pub grads: Tensor,
}

/// Trainable variables sorted by name, optionally packed.
#[derive(Debug)]
pub struct ParamGroup {
    names: Vec<String>,
    vars: Vec<Tensor>,
    packed: Option<Packed>,
    /// For each variable: its index in `packed.members`, if packed.
    slot: Vec<Option<usize>>,
}

impl ParamGroup {
    /// Every trainable variable of `vs`, sorted by name.
    pub fn new(vs: &VarStore) -> Self {
        let mut vars: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let slot = vec![None; vars.len()];
        let (names, vars) = vars.into_iter().unzip();
        Self {
            names,
            vars,
            packed: None,
            slot,
        }
    }

    /// Variable names, sorted.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Variable `i` (shares storage with the model's).
    pub fn var(&self, i: usize) -> &Tensor {
        &self.vars[i]
    }

    /// Number of variables.
    pub fn len(&self) -> usize {
        self.vars.len()
    }

    /// Whether the group has no variables.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    /// The packed part, once [`ParamGroup::pack`] has run.
    pub fn packed(&self) -> Option<&Packed> {
        self.packed.as_ref()
    }

    /// Whether variable `i` is in the packed buffers.
    pub fn is_packed(&self, i: usize) -> bool {
        self.slot[i].is_some()
    }

    /// Indices of the variables updated one by one (not packed).
    pub fn loose(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.vars.len()).filter(|&i| self.slot[i].is_none())
    }

    /// Every gradient as the optimiser will read it: the packed gradient buffer (one flat
    /// tensor) once packed, then each loose variable's defined gradient (before packing: every
    /// variable's). In-place changes to them change the gradients (a data-parallel average).
    pub fn gradients(&self) -> Vec<Tensor> {
        let packed = self.packed.iter().map(|p| p.grads.shallow_clone());
        let loose = self
            .loose()
            .map(|i| self.vars[i].grad())
            .filter(Tensor::defined);
        packed.chain(loose).collect()
    }

    /// Zeroes every gradient (`zero_grad(set_to_none=False)`): one kernel for the packed ones.
    pub fn zero_grad(&mut self) {
        if let Some(p) = &mut self.packed {
            let _ = p.grads.zero_();
        }
        for i in 0..self.vars.len() {
            if self.slot[i].is_none() {
                let mut g = self.vars[i].grad();
                if g.defined() {
                    let _ = g.detach_().zero_();
                }
            }
        }
    }

    /// Packs the variables that have a gradient and for which `eligible(i)` holds (at most
    /// once; later calls do nothing). Returns whether anything is packed.
    pub fn pack(&mut self, eligible: impl Fn(usize) -> bool) -> bool {
        if self.packed.is_some() {
            return true;
        }
        let grads: Vec<Tensor> = self.vars.iter().map(Tensor::grad).collect();
        let first = (0..self.vars.len()).find(|&i| grads[i].defined() && eligible(i));
        let Some(first) = first else {
            return false;
        };
        let (kind, device) = (self.vars[first].kind(), self.vars[first].device());
        let members: Vec<usize> = (0..self.vars.len())
            .filter(|&i| {
                let v = &self.vars[i];
                grads[i].defined()
                    && eligible(i)
                    && v.kind() == kind
                    && v.device() == device
                    && grads[i].kind() == kind
                    && grads[i].size() == v.size()
            })
            .collect();
        // Each variable starts on a 512-byte boundary, as its own allocation would: cuDNN finds
        // no convolution engine for misaligned weights. The padding stays zero under updates.
        let align = (ALIGN_BYTES / kind.elt_size_in_bytes()).max(1) as i64;
        let mut spans = Vec::with_capacity(members.len());
        let mut total = 0i64;
        for &i in &members {
            let n = self.vars[i].numel() as i64;
            spans.push((total, n));
            total += (n + align - 1) / align * align;
        }
        let _guard = tch::no_grad_guard();
        let params = Tensor::zeros([total], (kind, device));
        let flat_grads = Tensor::zeros([total], (kind, device));
        for (k, &i) in members.iter().enumerate() {
            let (off, n) = spans[k];
            let pv = dense_view(&params, off, n, &self.vars[i]);
            pv.shallow_clone().copy_(&self.vars[i]);
            self.vars[i].set_data(&pv); // the variable now lives in `params`
            let gv = dense_view(&flat_grads, off, n, &self.vars[i]);
            gv.shallow_clone().copy_(&grads[i]);
            let mut g = grads[i].shallow_clone();
            g.set_data(&gv); // autograd accumulates into `grads` from now on
            self.slot[i] = Some(k);
        }
        self.packed = Some(Packed {
            members,
            spans,
            params,
            grads: flat_grads,
        });
        true
    }

    /// Concatenates per-variable tensors (`per_var(i)`, shaped as variable `i`) of the packed
    /// variables into one buffer laid out as [`Packed::params`].
    ///
    /// # Panics
    /// If nothing is packed.
    pub fn flatten(&self, per_var: impl Fn(usize) -> Tensor) -> Tensor {
        let p = self.packed.as_ref().expect("flatten needs a packed group");
        let _guard = tch::no_grad_guard();
        let flat = p.params.zeros_like();
        for &i in &p.members {
            self.view_of(&flat, i).copy_(&per_var(i));
        }
        flat
    }

    /// The view of packed variable `i` inside `flat` (a buffer laid out as [`Packed::params`]).
    ///
    /// # Panics
    /// If variable `i` is not packed.
    pub fn view_of(&self, flat: &Tensor, i: usize) -> Tensor {
        let p = self.packed.as_ref().expect("view_of needs a packed group");
        let (off, n) = p.spans[self.slot[i].expect("variable is packed")];
        dense_view(flat, off, n, &self.vars[i])
    }

    /// (offset, length) pieces covering the packed buffers, for updates: the whole buffer on a
    /// GPU (fewest kernels), pieces of 256K elements on the CPU, so that an update's chain of
    /// element-wise ops and its temporaries stay in cache instead of streaming the whole
    /// buffer through memory once per op.
    pub fn pieces(&self) -> Vec<(i64, i64)> {
        let Some(p) = &self.packed else {
            return Vec::new();
        };
        let total = p.params.size()[0];
        let piece = if p.params.device().is_cuda() {
            total.max(1)
        } else {
            CPU_PIECE
        };
        (0..total)
            .step_by(piece as usize)
            .map(|o| (o, piece.min(total - o)))
            .collect()
    }
}

/// Elements `off..off + n` of the 1D buffer `flat`, viewed with the shape and the layout of
/// `like`: contiguous, or channels-last for a 4D variable laid out so (the same dense block of
/// memory, strides permuted), so packing keeps a variable's layout.
fn dense_view(flat: &Tensor, off: i64, n: i64, like: &Tensor) -> Tensor {
    let piece = flat.narrow(0, off, n);
    let size = like.size();
    if danie_model::memory_format::is_channels_last(like) && !like.is_contiguous() {
        let [b, c, h, w] = [size[0], size[1], size[2], size[3]];
        // (B, H, W, C) in memory, viewed as (B, C, H, W)
        piece.view([b, h, w, c]).permute([0, 3, 1, 2])
    } else {
        piece.view(size.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::{self, Module};
    use tch::{Device, Kind};

    /// Two linear layers, of which only `used` takes part in the loss.
    fn model() -> (VarStore, nn::Linear, nn::Linear) {
        tch::manual_seed(3);
        let vs = VarStore::new(Device::Cpu);
        let used = nn::linear(vs.root() / "used", 4, 3, Default::default());
        let unused = nn::linear(vs.root() / "unused", 4, 2, Default::default());
        (vs, used, unused)
    }

    #[test]
    fn packing_keeps_values_and_gradients_and_backward_accumulates_into_the_buffer() {
        let (vs, used, unused) = model();
        let x = Tensor::randn([5, 4], tch::kind::FLOAT_CPU);
        let mut g = ParamGroup::new(&vs);
        used.forward(&x).sum(Kind::Float).backward();
        let w_before = used.ws.copy();
        let gw_before = used.ws.grad().copy();
        assert!(g.pack(|_| true));
        let p = g.packed().unwrap();
        // Only `used.bias` and `used.weight` had gradients.
        let packed: Vec<&str> = p.members.iter().map(|&i| g.names()[i].as_str()).collect();
        assert_eq!(packed, ["used.bias", "used.weight"]);
        // Each member starts 512 bytes after the previous one at least (128 float32s).
        assert_eq!(p.params.size(), [128 + 128]);
        // One piece covers it on the CPU (pieces are 256K elements there).
        assert_eq!(g.pieces(), [(0, 256)]);
        let base = p.params.data_ptr() as usize;
        for &i in &p.members {
            let off = g.var(i).data_ptr() as usize - base;
            assert_eq!(off % ALIGN_BYTES, 0, "{} at byte {off}", g.names()[i]);
        }
        assert!(!g.is_packed(g.names().iter().position(|n| n == "unused.weight").unwrap()));
        // The model's own handles see the buffer: same values, and they alias it.
        assert!(used.ws.equal(&w_before));
        assert!(used.ws.grad().equal(&gw_before));
        tch::no_grad(|| {
            let _ = p.params.shallow_clone().narrow(0, 128, 12).fill_(0.5);
        });
        assert!(used
            .ws
            .equal(&Tensor::full([3, 4], 0.5, tch::kind::FLOAT_CPU)));
        // A second backward accumulates into the packed gradient buffer in place.
        used.forward(&x).sum(Kind::Float).backward();
        let gw = p.grads.narrow(0, 128, 12).view([3, 4]);
        assert!(gw.allclose(&(&gw_before * 2.0), 1e-6, 1e-6, false));
        // zero_grad clears it with one kernel; the unused layer never had a gradient.
        g.zero_grad();
        assert_eq!(used.ws.grad().abs().sum(Kind::Float).double_value(&[]), 0.0);
        assert!(!unused.ws.grad().defined());
        // flatten / view_of round-trip.
        let flat = g.flatten(|i| g.var(i).ones_like() * i as f64);
        let bias_i = g.names().iter().position(|n| n == "used.bias").unwrap();
        assert!(g.view_of(&flat, bias_i).equal(&Tensor::full(
            [3],
            bias_i as f64,
            tch::kind::FLOAT_CPU
        )));
    }

    #[test]
    fn packing_keeps_a_channels_last_layout_and_the_arithmetic() {
        use crate::optim::sgd::{Sgd, SgdConfig};
        use danie_model::memory_format::{is_channels_last, vars_channels_last};
        // The same conv weight, NCHW and NHWC, with the same exact gradient (d/dw of
        // sum(w * c) is c): two SGD steps give equal weights, and the NHWC one stays NHWC.
        let run = |nhwc: bool| {
            let vs = VarStore::new(Device::Cpu);
            let conv = nn::conv2d(vs.root() / "c", 3, 4, 3, Default::default());
            tch::no_grad(|| {
                let w = Tensor::linspace(-1.0, 1.0, 108, tch::kind::FLOAT_CPU).view([4, 3, 3, 3]);
                conv.ws.shallow_clone().copy_(&w);
            });
            if nhwc {
                vars_channels_last(&vs);
            }
            let c = (Tensor::arange(108, tch::kind::FLOAT_CPU) * 0.37)
                .sin()
                .view([4, 3, 3, 3]);
            let mut opt = Sgd::new(&vs, SgdConfig::default());
            for _ in 0..2 {
                opt.zero_grad();
                (&conv.ws * &c).sum(Kind::Float).backward();
                opt.step();
            }
            assert_eq!(is_channels_last(&conv.ws), nhwc, "layout after packing");
            assert_eq!(is_channels_last(&conv.ws.grad()), nhwc, "gradient layout");
            let (name, buf) = opt.momentum_buffers()[1];
            assert_eq!(name, "c.weight");
            (conv.ws.copy(), buf.expect("momentum").copy())
        };
        let ((w0, m0), (w1, m1)) = (run(false), run(true));
        assert!(w0.equal(&w1), "{w0} vs {w1}");
        assert!(m0.equal(&m1), "momentum buffers by name");
    }

    #[test]
    fn nothing_to_pack_before_a_backward() {
        let (vs, _, _) = model();
        let mut g = ParamGroup::new(&vs);
        assert!(!g.pack(|_| true));
        assert!(g.packed().is_none());
        assert_eq!(g.loose().count(), 4);
    }
}
