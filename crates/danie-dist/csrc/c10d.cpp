// The c10d calls danie needs, behind a C interface: a TCPStore rendezvous, a Gloo process
// group, and blocking collectives on tch tensors (a tch tensor handle is an `at::Tensor*`).
// Every C++ exception becomes an error string (freed with danie_c10d_free_str), so a failed
// collective is an error on the Rust side, never an abort.
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

struct danie_c10d_group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  std::chrono::milliseconds timeout;
};

static char* dup_message(const char* m) {
  size_t n = std::strlen(m);
  char* out = static_cast<char*>(std::malloc(n + 1));
  if (out) std::memcpy(out, m, n + 1);
  return out;
}

template <typename F>
static int guarded(char** err, F&& f) {
  try {
    f();
    return 0;
  } catch (const std::exception& e) {
    *err = dup_message(e.what());
  } catch (...) {
    *err = dup_message("unknown C++ exception in c10d");
  }
  return -1;
}

static std::vector<at::Tensor> tensors(void** ptrs, int n) {
  std::vector<at::Tensor> v;
  v.reserve(n);
  for (int i = 0; i < n; ++i) v.push_back(*static_cast<at::Tensor*>(ptrs[i]));
  return v;
}

extern "C" {

void danie_c10d_free_str(char* s) { std::free(s); }

danie_c10d_group* danie_c10d_new_gloo(const char* host, int port, int rank, int world,
                                      long long timeout_ms, char** err) {
  danie_c10d_group* g = nullptr;
  guarded(err, [&] {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(port);
    so.isServer = rank == 0;
    so.numWorkers = static_cast<std::size_t>(world);
    so.waitWorkers = true;
    so.timeout = timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(std::string(host), so);
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, opts);
    g = new danie_c10d_group{store, pg, timeout};
  });
  return g;
}

void danie_c10d_free(danie_c10d_group* g) { delete g; }

int danie_c10d_all_reduce_sum(danie_c10d_group* g, void** ts, int n, char** err) {
  return guarded(err, [&] {
    // One collective per tensor (a list in c10d means one tensor per device), all started
    // before the first wait so that Gloo can overlap them.
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (auto& t : tensors(ts, n)) {
      std::vector<at::Tensor> one{t};
      c10d::AllreduceOptions o;
      o.reduceOp = c10d::ReduceOp::SUM;
      works.push_back(g->pg->allreduce(one, o));
    }
    for (auto& w : works) w->wait(g->timeout);
  });
}

int danie_c10d_broadcast(danie_c10d_group* g, void** ts, int n, int root, char** err) {
  return guarded(err, [&] {
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (auto& t : tensors(ts, n)) {
      std::vector<at::Tensor> one{t};
      c10d::BroadcastOptions o;
      o.rootRank = root;
      works.push_back(g->pg->broadcast(one, o));
    }
    for (auto& w : works) w->wait(g->timeout);
  });
}

int danie_c10d_all_gather(danie_c10d_group* g, void* input, void** outputs, int world,
                          char** err) {
  return guarded(err, [&] {
    std::vector<at::Tensor> in{*static_cast<at::Tensor*>(input)};
    std::vector<std::vector<at::Tensor>> out{tensors(outputs, world)};
    g->pg->allgather(out, in)->wait(g->timeout);
  });
}

int danie_c10d_barrier(danie_c10d_group* g, char** err) {
  return guarded(err, [&] { g->pg->barrier()->wait(g->timeout); });
}

}  // extern "C"

// For csrc/sync_bn.cpp (C++ linkage): the group's backend and the timeout its collectives wait.
c10::intrusive_ptr<c10d::Backend> danie_c10d_backend(danie_c10d_group* g,
                                                     std::chrono::milliseconds* timeout) {
  *timeout = g->timeout;
  return g->pg;
}
