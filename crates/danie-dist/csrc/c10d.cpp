// The c10d calls danie needs, behind a C interface: a TCPStore rendezvous, a Gloo (or, where
// built with USE_C10D_NCCL, an NCCL) process group, and blocking collectives on tch tensors (a
// tch tensor handle is an `at::Tensor*`). Every C++ exception becomes an error string (freed
// with danie_c10d_free_str), so a failed collective is an error on the Rust side, never an abort.
//
// Beyond what c10d gives, the store carries what lets a rank say *which* peer is lost:
// - start-up checks before the process group is created (each bounded by the timeout): one
//   process per RANK (`danie/rank/<r>` claimed with compareSet), one WORLD_SIZE
//   (`danie/world/<r>`), and every rank arrived (`danie/arrived`); the first process that finds
//   a problem writes it to `danie/startup_error` so that the others stop with the same words;
// - a heartbeat per rank (`danie/heartbeat/<r>`, this process's wall clock in ms, every second)
//   from a background thread on its own store connection;
// - `danie/failed/<r>`: why a rank stopped on its own error (danie_c10d_mark_failed).
// After a failed collective, danie_c10d_diagnose reads those keys (a few seconds at most).
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <condition_variable>
#include <future>
#include <cstring>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

// Store connections that only probe (heartbeats, diagnosis) give up after this, so that a
// check never waits long on a store that stopped answering.
constexpr milliseconds kProbeTimeout = 3s;
// One beat a second; a rank whose beat does not change within kBeatWindow is lost.
constexpr milliseconds kBeatPeriod = 1s;
constexpr milliseconds kBeatWindow = 2500ms;

// Every key of this run starts with "danie/", plus the restart count under torchrun's elastic
// agent (its store outlives a restart: the keys of the failed attempt must not count).
std::string prefix() {
  const char* restart = std::getenv("TORCHELASTIC_RESTART_COUNT");
  return restart && *restart ? "danie/restart" + std::string(restart) + "/" : "danie/";
}
std::string key_rank(int r) { return prefix() + "rank/" + std::to_string(r); }
std::string key_world(int r) { return prefix() + "world/" + std::to_string(r); }
std::string key_beat(int r) { return prefix() + "heartbeat/" + std::to_string(r); }
std::string key_failed(int r) { return prefix() + "failed/" + std::to_string(r); }
const std::string kArrived = prefix() + "arrived";
const std::string kStartupError = prefix() + "startup_error";
const std::string kJoined = prefix() + "joined";       // processes that reached the store
const std::string kSawError = prefix() + "saw_error";  // of those, how many read the startup error

std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }
std::string text(const std::vector<uint8_t>& b) { return {b.begin(), b.end()}; }

long long wall_ms() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// c10 appends a C++ backtrace to its messages: the first line is what a user reads.
std::string first_line(const std::string& m) { return m.substr(0, m.find('\n')); }

// "pid 123 on node0": who claimed a rank.
std::string identity() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) std::strcpy(host, "?");
  return "pid " + std::to_string(getpid()) + " on " + host;
}

// A client connection of its own (not the rank-0 server) whose reads give up after `timeout`.
c10::intrusive_ptr<c10d::Store> client(const std::string& host, int port, milliseconds timeout) {
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(port);
  so.isServer = false;
  so.waitWorkers = false;
  so.timeout = timeout;
  return c10::make_intrusive<c10d::TCPStore>(host, so);
}

// The value of `key`, or "" when it is not set (TCPStore::get would wait for it).
std::string peek(c10d::Store& s, const std::string& key) {
  return s.check({key}) ? text(s.get(key)) : std::string();
}

// The heartbeat thread's state, shared with the group so that the group can stop it and, if
// the thread is stuck on a dead store, leave it behind safely.
struct Beat {
  std::mutex m;
  std::condition_variable cv;
  bool stop = false;
  bool done = false;
};

void beat_loop(c10::intrusive_ptr<c10d::Store> store, std::string key, std::shared_ptr<Beat> st) {
  std::unique_lock<std::mutex> lk(st->m);
  while (!st->stop) {
    lk.unlock();
    bool ok = true;
    try {
      store->set(key, bytes(std::to_string(wall_ms())));
    } catch (...) {
      ok = false;  // the store is gone (rank 0 ended): nothing left to tell
    }
    lk.lock();
    if (!ok) break;
    st->cv.wait_for(lk, kBeatPeriod, [&] { return st->stop; });
  }
  st->done = true;
  st->cv.notify_all();
}

}  // namespace

struct danie_c10d_group {
  std::string host;
  int port = 0;
  int rank = 0;
  int world = 0;
  milliseconds timeout{0};
  c10::intrusive_ptr<c10d::Store> store;  // the rendezvous store (rank 0 serves it)
  c10::intrusive_ptr<c10d::Store> probe;  // its own connection for diagnosis and mark_failed
  c10::intrusive_ptr<c10d::Backend> pg;
  std::shared_ptr<Beat> beat = std::make_shared<Beat>();
  std::thread beat_thread;

  ~danie_c10d_group() {
    if (beat_thread.joinable()) {
      std::unique_lock<std::mutex> lk(beat->m);
      beat->stop = true;
      beat->cv.notify_all();
      // A beat blocked on a store that stopped answering gives up after kProbeTimeout.
      bool done = beat->cv.wait_for(lk, kProbeTimeout + 1s, [&] { return beat->done; });
      lk.unlock();
      if (done)
        beat_thread.join();
      else
        beat_thread.detach();  // it owns its store and state: safe to leave
    }
    pg.reset();
  }
};

static char* dup_message(const std::string& m) {
  char* out = static_cast<char*>(std::malloc(m.size() + 1));
  if (out) std::memcpy(out, m.c_str(), m.size() + 1);
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

namespace {

// An error of the start-up checks: its text is the whole message.
struct StartupError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void fail_startup(c10d::Store& s, const std::string& message) {
  try {
    s.compareSet(kStartupError, {}, bytes(message));
    s.add(kSawError, 1);
  } catch (...) {
  }
  throw StartupError(message);
}

std::string world_of(c10d::Store& s, int r) {
  std::string w = peek(s, key_world(r));
  return w.empty() ? "?" : w;
}

// Rank 0: the store server. A port already bound is either another run or a second process
// with RANK=0 of this run (which then holds a claim on rank 0): each says so.
c10::intrusive_ptr<c10d::Store> serve(const std::string& host, int port, milliseconds timeout) {
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(port);
  so.isServer = true;
  so.waitWorkers = false;  // the arrival check below waits, with a message naming who is missing
  so.timeout = timeout;
  try {
    return c10::make_intrusive<c10d::TCPStore>(host, so);
  } catch (const std::exception& e) {
    std::string m = lower(e.what());
    if (m.find("eaddrinuse") == std::string::npos && m.find("already in use") == std::string::npos)
      throw;
  }
  // Ask the port's holder, from a thread: TCPStore's handshake waits without a limit on a
  // program that is not a store, so the answer is given kProbeTimeout and then left behind.
  auto answer = std::make_shared<std::promise<std::string>>();
  std::future<std::string> told = answer->get_future();
  std::thread([answer, host, port] {
    std::string message;
    try {
      auto s = client(host, port, kProbeTimeout);
      std::string other = peek(*s, key_rank(0));
      if (!other.empty()) {
        message = "RANK=0 is claimed by two processes (" + other + " and " + identity() +
                  "): give each process its own RANK";
        s->compareSet(kStartupError, {}, bytes(message));
      }
    } catch (...) {
      // not a store of ours: another program holds the port
    }
    answer->set_value(message);
  }).detach();
  if (told.wait_for(kProbeTimeout) == std::future_status::ready) {
    std::string message = told.get();
    if (!message.empty()) throw StartupError(message);
  }
  throw StartupError("port " + std::to_string(port) + " on " + host +
                     " is in use: choose another MASTER_PORT");
}

// The checks every process makes through the store before the process group exists.
void rendezvous(c10d::Store& s, int rank, int world, milliseconds timeout) {
  const std::string me = identity();
  s.add(kJoined, 1);
  // One process per rank.
  std::string holder = text(s.compareSet(key_rank(rank), {}, bytes(me)));
  if (holder != me) {
    fail_startup(s, "RANK=" + std::to_string(rank) + " is claimed by two processes (" + holder +
                        " and " + me + "): give each process its own RANK");
  }
  // One WORLD_SIZE: every rank compares its own with rank 0's (rank 0 writes first: the others
  // cannot reach the store before it serves it).
  s.set(key_world(rank), bytes(std::to_string(world)));
  if (rank != 0) {
    // Rank 0 claims and writes right after it starts serving; a moment later at most.
    s.wait({key_world(0)}, std::min<milliseconds>(timeout, 30s));
    std::string w0 = world_of(s, 0);
    if (w0 != std::to_string(world)) {
      fail_startup(s, "the processes disagree on WORLD_SIZE: rank 0 has WORLD_SIZE=" + w0 +
                          ", rank " + std::to_string(rank) + " (" + me + ") has WORLD_SIZE=" +
                          std::to_string(world));
    }
  }
  s.add(kArrived, 1);
  // Everyone arrived, or someone's error, or the timeout naming the ranks that never came.
  auto start = steady_clock::now();
  while (true) {
    std::string err = peek(s, kStartupError);
    if (!err.empty()) {
      s.add(kSawError, 1);
      throw StartupError(err);
    }
    if (s.add(kArrived, 0) >= world) return;
    if (steady_clock::now() - start > timeout) {
      std::string missing;
      for (int r = 0; r < world; ++r) {
        if (!s.check({key_rank(r)})) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
      }
      auto secs = std::chrono::duration_cast<std::chrono::seconds>(timeout).count();
      throw StartupError("rank(s) " + (missing.empty() ? std::string("?") : missing) +
                         " of WORLD_SIZE=" + std::to_string(world) + " did not join within " +
                         std::to_string(secs) + " s (are they started, with this MASTER_ADDR " +
                         "and MASTER_PORT?)");
    }
    std::this_thread::sleep_for(50ms);
  }
}

// The store, the start-up checks and the heartbeat; the caller adds the process group.
danie_c10d_group* join(const char* host, int port, int rank, int world, long long timeout_ms) {
  auto g = std::make_unique<danie_c10d_group>();
  g->host = host;
  g->port = port;
  g->rank = rank;
  g->world = world;
  g->timeout = milliseconds(timeout_ms);
  // Under torchrun the agent already serves a store at MASTER_ADDR:MASTER_PORT (and says so):
  // every rank is its client, as PyTorch's env:// rendezvous does.
  const char* agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
  const bool agent_store = agent && std::string(agent) == "True";
  if (rank == 0 && !agent_store) {
    g->store = serve(g->host, port, g->timeout);
  } else {
    g->store = client(g->host, port, g->timeout);
  }
  try {
    rendezvous(*g->store, rank, world, g->timeout);
  } catch (const StartupError&) {
    if (rank == 0) {
      // The store dies with this process: keep serving until every process that reached it
      // has read the error (a few seconds at most), so that all stop with the same words.
      auto start = steady_clock::now();
      try {
        while (steady_clock::now() - start < kProbeTimeout &&
               g->store->add(kSawError, 0) < g->store->add(kJoined, 0))
          std::this_thread::sleep_for(50ms);
      } catch (...) {
      }
    }
    throw;
  } catch (const std::exception& e) {
    if (rank == 0) throw;
    throw StartupError("rank 0 (which serves the store at " + g->host + ":" +
                       std::to_string(port) + ") stopped during start-up (" + first_line(e.what()) + ")");
  }
  g->probe = client(g->host, port, kProbeTimeout);
  auto beat_store = client(g->host, port, kProbeTimeout);
  beat_store->set(key_beat(rank), bytes(std::to_string(wall_ms())));
  g->beat_thread = std::thread(beat_loop, beat_store, key_beat(rank), g->beat);
  return g.release();
}

std::string ranks_text(const std::vector<int>& ranks) {
  std::string s = ranks.size() == 1 ? "rank " : "ranks ";
  for (size_t i = 0; i < ranks.size(); ++i) s += (i ? ", " : "") + std::to_string(ranks[i]);
  return s;
}

}  // namespace

extern "C" {

void danie_c10d_free_str(char* s) { std::free(s); }

danie_c10d_group* danie_c10d_new_gloo(const char* host, int port, int rank, int world,
                                      long long timeout_ms, char** err) {
  danie_c10d_group* out = nullptr;
  guarded(err, [&] {
    std::unique_ptr<danie_c10d_group> g(join(host, port, rank, world, timeout_ms));
    auto opts = c10d::ProcessGroupGloo::Options::create(g->timeout);
    opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    auto store = c10::make_intrusive<c10d::PrefixStore>(prefix() + "gloo/", g->store);
    g->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, opts);
    out = g.release();
  });
  return out;
}

// 1 when this shim has the NCCL path.
int danie_c10d_has_nccl() {
#ifdef USE_C10D_NCCL
  return 1;
#else
  return 0;
#endif
}

danie_c10d_group* danie_c10d_new_nccl(const char* host, int port, int rank, int world,
                                      int device, long long timeout_ms, char** err) {
  danie_c10d_group* out = nullptr;
  guarded(err, [&] {
#ifdef USE_C10D_NCCL
    c10::cuda::set_device(static_cast<c10::DeviceIndex>(device));
    std::unique_ptr<danie_c10d_group> g(join(host, port, rank, world, timeout_ms));
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = g->timeout;
    auto store = c10::make_intrusive<c10d::PrefixStore>(prefix() + "nccl/", g->store);
    auto pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, opts);
    pg->setBoundDeviceId(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(device)));
    g->pg = pg;
    out = g.release();
#else
    (void)host, (void)port, (void)rank, (void)world, (void)device, (void)timeout_ms;
    throw std::runtime_error("this shim was built without NCCL");
#endif
  });
  return out;
}

void danie_c10d_free(danie_c10d_group* g) { delete g; }

// Tells the others why this rank stops (they quote it after their collective fails).
void danie_c10d_mark_failed(danie_c10d_group* g, const char* reason) {
  try {
    g->probe->set(key_failed(g->rank), bytes(reason));
  } catch (...) {
    // the store is gone: the others will say so
  }
}

// What became of the other ranks, in words: those that said why they stopped, those whose
// heartbeat stopped (watched for kBeatWindow at most), or the store itself gone.
char* danie_c10d_diagnose(danie_c10d_group* g) {
  std::string where = "rank 0 (which serves the store at " + g->host + ":" +
                      std::to_string(g->port) + ")";
  std::vector<std::string> parts;
  try {
    auto& s = *g->probe;
    std::vector<bool> accounted(g->world, false);
    accounted[g->rank] = true;
    for (int r = 0; r < g->world; ++r) {
      if (r == g->rank) continue;
      std::string why = peek(s, key_failed(r));
      if (!why.empty()) {
        parts.push_back("rank " + std::to_string(r) + " stopped: " + why);
        accounted[r] = true;
      }
    }
    std::vector<std::string> first(g->world);
    for (int r = 0; r < g->world; ++r)
      if (!accounted[r]) first[r] = peek(s, key_beat(r));
    auto start = steady_clock::now();
    std::vector<bool> alive = accounted;
    while (steady_clock::now() - start < kBeatWindow &&
           std::find(alive.begin(), alive.end(), false) != alive.end()) {
      std::this_thread::sleep_for(200ms);
      for (int r = 0; r < g->world; ++r)
        if (!alive[r] && peek(s, key_beat(r)) != first[r]) alive[r] = true;
    }
    std::vector<int> lost;
    long long oldest = 0;
    for (int r = 0; r < g->world; ++r) {
      if (alive[r]) continue;
      lost.push_back(r);
      long long last = first[r].empty() ? 0 : std::atoll(first[r].c_str());
      if (last > 0) oldest = std::max(oldest, wall_ms() - last);
    }
    if (!lost.empty()) {
      long long secs = std::max<long long>(oldest / 1000, kBeatWindow.count() / 1000);
      parts.push_back(ranks_text(lost) + (lost.size() == 1 ? " is" : " are") +
                      " gone (no heartbeat for " + std::to_string(secs) + " s)");
    }
  } catch (const std::exception&) {
    parts.push_back(where + " is gone");
  }
  if (parts.empty()) parts.push_back("every rank is alive (heartbeats within the last " +
                                     std::to_string(kBeatWindow.count() / 1000 + 1) +
                                     " s): one did not reach this collective in time?");
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? "; " : "") + parts[i];
  return dup_message(out);
}

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
