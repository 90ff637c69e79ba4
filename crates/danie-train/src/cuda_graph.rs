//! CUDA graphs: capture a sequence of libtorch calls once and replay it as one launch.
//!
//! A DANIE training step at 224 x 224 is about 1,600 dispatched ops; on a fast GPU their launch
//! cost rivals the kernels themselves (docs/performance-notes.md). A captured step replays every
//! kernel with no per-op host work, as `torch.cuda.graph` does in PyTorch's whole-network
//! capture. tch binds no graph API, so `csrc/cuda_graph.cpp` wraps libtorch's
//! `at::cuda::CUDAGraph` (its private memory pool and RNG bookkeeping included) behind a C ABI;
//! the build compiles it only against a libtorch with CUDA ([`available`] says whether it did).
//!
//! The rules are PyTorch's: capture on a side stream after a few eager warm-up runs on that
//! stream; no host synchronisation inside the capture (no `.item()`, no device-to-host copy);
//! inputs and outputs are the tensors the capture used, refilled and read in place.
use std::fmt;

use tch::Device;

/// Why a graph could not be made, captured or replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError(pub String);

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CUDA graph: {}", self.0)
    }
}

impl std::error::Error for GraphError {}

/// Whether this build has the graph shim (libtorch with CUDA and the CUDA headers at build time).
pub fn available() -> bool {
    cfg!(danie_cuda_graph)
}

#[cfg(danie_cuda_graph)]
mod ffi {
    use std::os::raw::{c_char, c_int};

    /// `DanieGraph` of csrc/cuda_graph.cpp.
    #[repr(C)]
    pub struct RawGraph {
        _private: [u8; 0],
    }

    extern "C" {
        pub fn danie_graph_new(device: c_int, err: *mut c_char, len: usize) -> *mut RawGraph;
        pub fn danie_graph_free(g: *mut RawGraph);
        pub fn danie_graph_enter_side_stream(
            g: *mut RawGraph,
            err: *mut c_char,
            len: usize,
        ) -> c_int;
        pub fn danie_graph_leave_side_stream(
            g: *mut RawGraph,
            err: *mut c_char,
            len: usize,
        ) -> c_int;
        pub fn danie_graph_capture_begin(g: *mut RawGraph, err: *mut c_char, len: usize) -> c_int;
        pub fn danie_graph_capture_end(g: *mut RawGraph, err: *mut c_char, len: usize) -> c_int;
        pub fn danie_graph_replay(g: *mut RawGraph, err: *mut c_char, len: usize) -> c_int;
    }
}

#[cfg(danie_cuda_graph)]
type Raw = std::ptr::NonNull<ffi::RawGraph>;
#[cfg(not(danie_cuda_graph))]
type Raw = std::convert::Infallible;

/// One CUDA graph and the side stream it is warmed up and captured on.
pub struct CudaGraph {
    raw: Raw,
    captured: bool,
}

impl fmt::Debug for CudaGraph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CudaGraph")
            .field("captured", &self.captured)
            .finish()
    }
}

/// Calls a shim function with an error buffer; its message on failure.
#[cfg(danie_cuda_graph)]
fn call(f: impl FnOnce(*mut std::os::raw::c_char, usize) -> i32) -> Result<(), GraphError> {
    let mut buf = vec![0u8; 2048];
    if f(buf.as_mut_ptr().cast(), buf.len()) == 0 {
        return Ok(());
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Err(GraphError(
        String::from_utf8_lossy(&buf[..end]).into_owned(),
    ))
}

impl CudaGraph {
    /// An empty graph for `device` (which must be CUDA), with its own side stream.
    pub fn new(device: Device) -> Result<Self, GraphError> {
        let Device::Cuda(index) = device else {
            return Err(GraphError(format!(
                "graphs need a CUDA device, not {device:?}"
            )));
        };
        #[cfg(danie_cuda_graph)]
        {
            let mut raw = std::ptr::null_mut();
            // SAFETY: the shim allocates the graph or returns null with a message.
            call(|e, n| {
                raw = unsafe { ffi::danie_graph_new(index as i32, e, n) };
                i32::from(raw.is_null())
            })?;
            let raw = std::ptr::NonNull::new(raw).expect("non-null after success");
            Ok(Self {
                raw,
                captured: false,
            })
        }
        #[cfg(not(danie_cuda_graph))]
        {
            let _ = index;
            Err(GraphError(
                "this build of danie has no CUDA graph support (it was built against a \
                 libtorch without CUDA, or without the CUDA runtime headers)"
                    .into(),
            ))
        }
    }

    /// Runs `f` eagerly on the side stream (the warm-up before a capture): the side stream first
    /// waits for the work already queued, and the stream current before waits for `f`'s work.
    pub fn on_side_stream<T>(&self, f: impl FnOnce() -> T) -> Result<T, GraphError> {
        let _side = SideStream::enter(self)?;
        Ok(f())
    }

    /// Captures the work `f` queues on the side stream (nothing of it runs now); its result is
    /// returned, and its tensors are the graph's outputs, refreshed by every
    /// [`CudaGraph::replay`]. A panic inside `f` (tch panics when libtorch refuses an op during
    /// capture, for example a host synchronisation) ends the capture and becomes an error.
    pub fn capture<T>(&mut self, f: impl FnOnce() -> T) -> Result<T, GraphError> {
        if self.captured {
            return Err(GraphError("this graph is already captured".into()));
        }
        let side = SideStream::enter(self)?;
        self.begin()?;
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let ended = self.end();
        drop(side);
        match out {
            Ok(v) => {
                ended?;
                self.captured = true;
                Ok(v)
            }
            Err(panic) => {
                let what = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("a panic");
                Err(GraphError(format!("capture failed: {what}")))
            }
        }
    }

    /// Launches the captured work on the current stream.
    pub fn replay(&self) -> Result<(), GraphError> {
        if !self.captured {
            return Err(GraphError("replay before a successful capture".into()));
        }
        #[cfg(danie_cuda_graph)]
        // SAFETY: `raw` is a live graph owned by self.
        return call(|e, n| unsafe { ffi::danie_graph_replay(self.raw.as_ptr(), e, n) });
        #[cfg(not(danie_cuda_graph))]
        match self.raw {}
    }

    fn begin(&self) -> Result<(), GraphError> {
        #[cfg(danie_cuda_graph)]
        // SAFETY: `raw` is a live graph owned by self.
        return call(|e, n| unsafe { ffi::danie_graph_capture_begin(self.raw.as_ptr(), e, n) });
        #[cfg(not(danie_cuda_graph))]
        match self.raw {}
    }

    fn end(&self) -> Result<(), GraphError> {
        #[cfg(danie_cuda_graph)]
        // SAFETY: `raw` is a live graph owned by self.
        return call(|e, n| unsafe { ffi::danie_graph_capture_end(self.raw.as_ptr(), e, n) });
        #[cfg(not(danie_cuda_graph))]
        match self.raw {}
    }
}

impl Drop for CudaGraph {
    fn drop(&mut self) {
        #[cfg(danie_cuda_graph)]
        // SAFETY: `raw` came from danie_graph_new and is freed once, here.
        unsafe {
            ffi::danie_graph_free(self.raw.as_ptr())
        };
    }
}

/// The graph's side stream made current; the previous stream is restored (and made to wait for
/// the side stream's work) on drop, a panic included.
struct SideStream<'a> {
    #[allow(dead_code)] // read only when the shim is built
    graph: &'a CudaGraph,
}

impl<'a> SideStream<'a> {
    fn enter(graph: &'a CudaGraph) -> Result<Self, GraphError> {
        #[cfg(danie_cuda_graph)]
        // SAFETY: `raw` is a live graph.
        call(|e, n| unsafe { ffi::danie_graph_enter_side_stream(graph.raw.as_ptr(), e, n) })?;
        #[cfg(not(danie_cuda_graph))]
        match graph.raw {}
        #[allow(unreachable_code)]
        Ok(Self { graph })
    }
}

impl Drop for SideStream<'_> {
    fn drop(&mut self) {
        #[cfg(danie_cuda_graph)]
        // SAFETY: `raw` is a live graph whose side stream was entered by `enter`.
        if let Err(e) = call(|e, n| unsafe {
            ffi::danie_graph_leave_side_stream(self.graph.raw.as_ptr(), e, n)
        }) {
            eprintln!("warning: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cpu_device_is_refused_with_a_clear_error() {
        let err = CudaGraph::new(Device::Cpu).unwrap_err();
        assert!(err.to_string().contains("CUDA device"), "{err}");
    }

    #[test]
    fn this_build_has_the_shim_when_libtorch_has_cuda() {
        // The project's libtorch (pip torch 2.11.0) has CUDA, and its Triton ships the CUDA
        // headers: the shim must have been built, or CUDA training would silently lose graphs.
        if option_env!("DANIE_LIBTORCH_HAS_CUDA").is_some() {
            assert!(
                available(),
                "libtorch has CUDA but the graph shim was not built"
            );
        }
    }

    #[test]
    fn replay_recomputes_from_the_refilled_input_on_a_gpu() {
        // On a machine with a GPU, capture and replay of a small computation must equal eager.
        if !tch::Cuda::is_available() || !available() {
            return;
        }
        let dev = Device::Cuda(0);
        let x = tch::Tensor::rand([64, 64], (tch::Kind::Float, dev));
        let mut g = CudaGraph::new(dev).unwrap();
        let _ = g
            .on_side_stream(|| (&x * 2.0 + 1.0).sum(tch::Kind::Float))
            .unwrap();
        let y = g
            .capture(|| (&x * 2.0 + 1.0).sum(tch::Kind::Float))
            .unwrap();
        let _ = x.shallow_clone().fill_(0.5);
        g.replay().unwrap();
        let got = y.double_value(&[]);
        assert!((got - 64.0 * 64.0 * 2.0).abs() < 1e-3, "{got}");
    }
}
