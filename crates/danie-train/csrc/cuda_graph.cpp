// CUDA graph capture and replay for danie (tch exposes none): a thin C ABI over libtorch's
// at::cuda::CUDAGraph and its stream pool. Every entry point catches C++ exceptions and returns
// the message, so no exception crosses into Rust. Only libtorch / c10 functions are called (no
// CUDA runtime symbol), so the shim links against libtorch alone.
#include <ATen/cuda/CUDAGraph.h>
#include <c10/core/Event.h>
#include <c10/cuda/CUDAStream.h>

#include <cstring>
#include <exception>
#include <optional>
#include <stdexcept>

namespace {

// Copies `what` into the caller's buffer (NUL-terminated, truncated to fit).
void set_error(char* err, size_t len, const char* what) {
  if (err != nullptr && len > 0) {
    std::strncpy(err, what, len - 1);
    err[len - 1] = '\0';
  }
}

// Runs `f`, turning any C++ exception into a return code of 1 and a message.
template <typename F>
int guarded(char* err, size_t len, F&& f) {
  try {
    f();
    return 0;
  } catch (const std::exception& e) {
    set_error(err, len, e.what());
  } catch (...) {
    set_error(err, len, "unknown C++ exception");
  }
  return 1;
}

// `waiter` waits for the work queued on `on` so far (PyTorch's Stream.wait_stream).
void wait_stream(const c10::cuda::CUDAStream& waiter, const c10::cuda::CUDAStream& on) {
  c10::Event ev(c10::DeviceType::CUDA);
  ev.record(on.unwrap());
  ev.block(waiter.unwrap());
}

}  // namespace

// A graph, the side stream it is captured (and warmed up) on, and the stream that was current
// when the side stream was entered.
struct DanieGraph {
  at::cuda::CUDAGraph graph;
  c10::cuda::CUDAStream side;
  std::optional<c10::cuda::CUDAStream> previous;
  explicit DanieGraph(c10::DeviceIndex device)
      : side(c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device)) {}
};

extern "C" {

// A new graph for CUDA device `device`, with a side stream from libtorch's pool; null on error.
DanieGraph* danie_graph_new(int device, char* err, size_t len) {
  DanieGraph* g = nullptr;
  guarded(err, len, [&] { g = new DanieGraph(static_cast<c10::DeviceIndex>(device)); });
  return g;
}

void danie_graph_free(DanieGraph* g) { delete g; }

// Makes the side stream current, after it has waited for the current stream's queued work
// (`s.wait_stream(torch.cuda.current_stream()); with torch.cuda.stream(s):`).
int danie_graph_enter_side_stream(DanieGraph* g, char* err, size_t len) {
  return guarded(err, len, [&] {
    auto current = c10::cuda::getCurrentCUDAStream(g->side.device_index());
    wait_stream(g->side, current);
    g->previous = current;
    c10::cuda::setCurrentCUDAStream(g->side);
  });
}

// Restores the stream that was current before, which then waits for the side stream's work.
int danie_graph_leave_side_stream(DanieGraph* g, char* err, size_t len) {
  return guarded(err, len, [&] {
    if (!g->previous) {
      throw std::runtime_error("leave_side_stream without enter_side_stream");
    }
    auto previous = *g->previous;
    g->previous.reset();
    c10::cuda::setCurrentCUDAStream(previous);
    wait_stream(previous, g->side);
  });
}

// Starts capturing the side stream (which must be current) into the graph.
int danie_graph_capture_begin(DanieGraph* g, char* err, size_t len) {
  return guarded(err, len, [&] { g->graph.capture_begin(); });
}

// Ends the capture and instantiates the graph.
int danie_graph_capture_end(DanieGraph* g, char* err, size_t len) {
  return guarded(err, len, [&] { g->graph.capture_end(); });
}

// Launches the captured work on the current stream.
int danie_graph_replay(DanieGraph* g, char* err, size_t len) {
  return guarded(err, len, [&] { g->graph.replay(); });
}

}  // extern "C"
