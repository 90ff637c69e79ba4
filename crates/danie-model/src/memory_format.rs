//! Channels-last (NHWC) layout. oneDNN's CPU convolutions (forward and backward) and cuDNN's
//! tensor-core kernels work in NHWC; given NCHW tensors they reorder around every convolution. A
//! tensor is channels-last when its strides say so (PyTorch's `torch.channels_last`);
//! convolutions, batch norm, element-wise ops and upsampling then keep that layout, and reshapes
//! copy where needed, so the network's results do not change, only its speed. danie runs the
//! network channels-last on the CPU, for inference (`danie_train::load_model`, the Segmenter:
//! 1.16-1.5x PyTorch eager) and training (the trainer: 1.11-1.41x; the optimiser's packed
//! buffers keep each variable's layout), docs/performance-notes.md; on CUDA it has not been
//! measured, so NCHW stays there.
use tch::nn::VarStore;
use tch::{Device, Tensor};

/// Whether danie runs the network channels-last on `device` (weights and input images), in
/// training and inference alike: on the CPU, where it was measured; CUDA keeps NCHW until it is
/// measured there. Every place that lays out weights or inputs asks this one function.
pub fn prefers_channels_last(device: Device) -> bool {
    device == Device::Cpu
}

/// The same values with NHWC strides, for a 4D tensor; other tensors are returned as they are.
/// As `torch.channels_last` does, a tensor with one channel keeps the strides `contiguous` gives
/// it (it is both layouts at once), and a convolution given only such tensors writes NCHW, as
/// PyTorch's does. Training uses this, so that its arithmetic stays PyTorch's: its data-parallel
/// runs are compared with PyTorch's own DDP, and 2 ranks with 1 process, to 1e-5 after 5 steps
/// (crates/danie-cli/tests/train_distributed.rs), where a 1-channel stem in NHWC moved float32's
/// chaos to 5e-5. Inference inputs go through [`channels_last_input`].
///
/// # Shapes
/// (B, C, H, W) -> (B, C, H, W), strides (H*W*C, 1, W*C, C)
pub fn channels_last(x: &Tensor) -> Tensor {
    if x.dim() == 4 {
        // (B, C, H, W) -> (B, H, W, C) in memory, viewed back as (B, C, H, W)
        x.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
    } else {
        x.shallow_clone()
    }
}

/// [`channels_last`] for an inference batch, with NHWC strides spelled out for a 1-channel one
/// too (a CT or MR slice; the same memory), so that the stem convolution writes NHWC and the
/// whole network runs so: otherwise the stem's output travels NCHW through batch norm, pooling
/// and the decoder's last concatenation, and the convolution after it reorders 77 MB (S, eval
/// forward at batch 8 of 224 px: 930 -> 853 ms, docs/performance-notes.md).
///
/// # Shapes
/// (B, C, H, W) -> (B, C, H, W), strides (H*W*C, 1, W*C, C)
pub fn channels_last_input(x: &Tensor) -> Tensor {
    let y = channels_last(x);
    if y.dim() != 4 {
        return y;
    }
    let (c, h, w) = (x.size()[1], x.size()[2], x.size()[3]);
    let nhwc = [h * w * c, 1, w * c, c];
    if y.stride() == nhwc {
        y
    } else {
        y.as_strided(x.size(), nhwc, None) // None: the view's own storage offset
    }
}

/// Whether a 4D tensor has NHWC strides.
pub fn is_channels_last(x: &Tensor) -> bool {
    let (size, stride) = (x.size(), x.stride());
    size.len() == 4 && stride[1] == 1 && stride[3] == size[1] && stride[2] == size[1] * size[3]
}

/// Lays every 4D variable of `vs` (the convolution weights) out channels-last, keeping the
/// variables themselves (the modules holding them see the new layout). Before training, call it
/// before the optimiser's first step: packing keeps the layout it finds.
pub fn vars_channels_last(vs: &VarStore) {
    tch::no_grad(|| {
        for (_, mut v) in vs.variables() {
            if v.dim() == 4 {
                let nhwc = channels_last(&v);
                v.set_data(&nhwc);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn, nn::Module, Device, Kind};

    #[test]
    fn same_values_nhwc_strides() {
        let x = Tensor::rand([2, 3, 4, 5], (Kind::Float, Device::Cpu));
        let y = channels_last(&x);
        assert!(is_channels_last(&y) && !is_channels_last(&x));
        assert_eq!(y.stride(), [60, 1, 15, 3]);
        assert!(y.equal(&x));
    }

    #[test]
    fn one_channel_inputs_get_nhwc_strides_and_convolutions_follow() {
        // A CT slice: both layouts at once unless the strides say.
        let x = Tensor::rand([2, 1, 16, 16], (Kind::Float, Device::Cpu));
        assert_eq!(
            channels_last(&x).stride(),
            [256, 256, 16, 1],
            "as torch.channels_last"
        );
        let y = channels_last_input(&x);
        assert_eq!(y.stride(), [256, 1, 16, 1]);
        assert!(is_channels_last(&y) && y.equal(&x));
        let vs = VarStore::new(Device::Cpu);
        let stem = nn::conv2d(vs.root() / "stem", 1, 8, 3, Default::default());
        let want = tch::no_grad(|| stem.forward(&x));
        vars_channels_last(&vs);
        let got = tch::no_grad(|| stem.forward(&y));
        // otherwise NCHW comes out, and every later NHWC convolution reorders it
        assert!(is_channels_last(&got), "strides {:?}", got.stride());
        let plain = tch::no_grad(|| stem.forward(&channels_last(&x)));
        assert!(!is_channels_last(&plain), "training's layout is PyTorch's");
        let diff = (got - want).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "max abs diff {diff}");
        // More channels: the two agree.
        let x3 = Tensor::rand([2, 3, 4, 5], (Kind::Float, Device::Cpu));
        assert_eq!(
            channels_last_input(&x3).stride(),
            channels_last(&x3).stride()
        );
    }

    #[test]
    fn a_convolution_keeps_its_result_and_takes_the_layout() {
        let vs = VarStore::new(Device::Cpu);
        let conv = nn::conv2d(vs.root() / "c", 3, 8, 3, Default::default());
        let x = Tensor::rand([2, 3, 16, 16], (Kind::Float, Device::Cpu));
        let want = tch::no_grad(|| conv.forward(&x));
        vars_channels_last(&vs);
        assert!(is_channels_last(&conv.ws), "the module sees the new layout");
        let got = tch::no_grad(|| conv.forward(&channels_last(&x)));
        assert!(is_channels_last(&got));
        let diff = (got - want).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "max abs diff {diff}");
    }

    #[test]
    fn the_whole_network_gives_the_same_logits_channels_last() {
        let vs = VarStore::new(Device::Cpu);
        let cfg = crate::DanieConfig::preset("tiny").unwrap();
        let model = crate::Danie::try_new(vs.root(), &cfg).unwrap();
        let x = Tensor::rand([2, 3, 224, 224], (Kind::Float, Device::Cpu));
        let want = tch::no_grad(|| nn::ModuleT::forward_t(&model, &x, false));
        vars_channels_last(&vs);
        let got = tch::no_grad(|| nn::ModuleT::forward_t(&model, &channels_last(&x), false));
        assert_eq!(got.size(), want.size());
        let scale = want.abs().max().double_value(&[]);
        let diff = (got - want).abs().max().double_value(&[]);
        assert!(
            diff <= 1e-4 * scale.max(1.0),
            "max abs diff {diff} (logits up to {scale})"
        );
    }
}
