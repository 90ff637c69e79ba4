// SyncBatchNorm (PyTorch's torch/nn/modules/_functions.py: SyncBatchNorm) as a libtorch custom
// autograd function: batch statistics over every rank of the c10d group in forward, and the
// all-reduce of backward's per-channel sums inside the autograd graph (tch has no custom
// functions or tensor hooks, so the collective of backward has to live here).
//
// Forward all-reduces one float64 tensor (count, per-channel sums, sums of squares), so the
// global mean and variance equal single-process batch_norm's whatever the split. Backward
// all-reduces (sum_dy, sum_dy_xmu) and returns the rank's local weight and bias gradients, which
// the data-parallel gradient average then reduces, as PyTorch's SyncBatchNorm + DDP do.
//
// Errors: forward's C++ exceptions become an error string (freed with danie_c10d_free_str); an
// exception inside backward (a lost rank) is a c10::Error that the autograd engine hands to the
// caller of backward (tch's f_backward returns it as Err).
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/distributed/c10d/Backend.hpp>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

struct danie_c10d_group;
// csrc/c10d.cpp: the group's backend and the timeout every collective waits at most.
c10::intrusive_ptr<c10d::Backend> danie_c10d_backend(danie_c10d_group* g,
                                                     std::chrono::milliseconds* timeout);

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Holds the backend and its timeout for backward (saved_data holds IValues: a capsule keeps the
// backend alive as long as the graph that needs it).
struct GroupHandle : torch::CustomClassHolder {
  c10::intrusive_ptr<c10d::Backend> backend;
  std::chrono::milliseconds timeout;
};

void all_reduce_sum(const GroupHandle& g, at::Tensor& t) {
  std::vector<at::Tensor> one{t};
  c10d::AllreduceOptions o;
  o.reduceOp = c10d::ReduceOp::SUM;
  g.backend->allreduce(one, o)->wait(g.timeout);
}

// Every dimension but the channel one (1): the dimensions batch norm reduces over.
std::vector<int64_t> reduced_dims(const at::Tensor& x) {
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  return dims;
}

// The type batch norm's statistics are kept in for input x.
at::ScalarType stat_type(const at::Tensor& x) {
  return at::isReducedFloatingType(x.scalar_type()) ? at::kFloat : x.scalar_type();
}

// (C) -> (1, C, 1, ...) to broadcast against x.
at::Tensor per_channel(const at::Tensor& v, const at::Tensor& x) {
  std::vector<int64_t> shape(x.dim(), 1);
  shape[1] = v.size(0);
  return v.view(shape);
}

struct SyncBatchNormFn : public torch::autograd::Function<SyncBatchNormFn> {
  // # Shapes
  // x (N, C, ...), weight, bias, running_mean, running_var (C) -> (N, C, ...)
  static at::Tensor forward(AutogradContext* ctx, at::Tensor x, at::Tensor weight,
                            at::Tensor bias, at::Tensor running_mean, at::Tensor running_var,
                            double momentum, double eps,
                            c10::intrusive_ptr<GroupHandle> group) {
    TORCH_CHECK(x.dim() >= 2, "sync batch norm: expected an input (N, C, ...), got shape ",
                x.sizes());
    const int64_t c = x.size(1);
    for (const at::Tensor* t : {&weight, &bias, &running_mean, &running_var}) {
      TORCH_CHECK(t->defined() && t->dim() == 1 && t->size(0) == c,
                  "sync batch norm: weight, bias and running statistics must be (C) with C = ",
                  c, " (the input's channels)");
    }
    const auto dims = reduced_dims(x);
    const auto f64 = x.options().dtype(at::kDouble);
    const at::Tensor xd = x.to(at::kDouble);
    const double local_count = c == 0 ? 0.0 : static_cast<double>(x.numel() / c);
    // (1 + 2C): count, per-channel sum, per-channel sum of squares; one collective.
    at::Tensor stats = at::cat({at::full({1}, local_count, f64), xd.sum(dims),
                                xd.square().sum(dims)});
    all_reduce_sum(*group, stats);
    const double n = stats[0].item<double>();
    TORCH_CHECK(n > 1.0,
                "sync batch norm: expected more than 1 value per channel over all ranks when "
                "training, got ",
                n);
    const at::Tensor mean = stats.slice(0, 1, 1 + c) / n;
    const at::Tensor var = (stats.slice(0, 1 + c, 1 + 2 * c) / n - mean.square()).clamp_min(0.0);
    const at::Tensor invstd = (var + eps).rsqrt();
    {
      // PyTorch's update: the unbiased variance over the global count.
      at::NoGradGuard no_grad;
      running_mean.mul_(1.0 - momentum).add_(mean.to(running_mean.scalar_type()), momentum);
      running_var.mul_(1.0 - momentum)
          .add_((var * (n / (n - 1.0))).to(running_var.scalar_type()), momentum);
    }
    // Statistics in the input's type, float for float16 / bfloat16 inputs (as PyTorch's
    // batch_norm_elemt keeps them); the output in the input's type.
    const at::Tensor mean_x = mean.to(stat_type(x));
    const at::Tensor invstd_x = invstd.to(stat_type(x));
    ctx->save_for_backward({x, weight, mean_x, invstd_x});
    ctx->saved_data["count"] = n;
    ctx->saved_data["group"] = c10::IValue::make_capsule(group);
    const at::Tensor scale = invstd_x * weight;
    return ((x - per_channel(mean_x, x)) * per_channel(scale, x) + per_channel(bias, x))
        .to(x.scalar_type());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    const at::Tensor& weight = saved[1];
    const at::Tensor& mean = saved[2];
    const at::Tensor& invstd = saved[3];
    const double n = ctx->saved_data["count"].toDouble();
    const auto group = c10::static_intrusive_pointer_cast<GroupHandle>(
        ctx->saved_data["group"].toCapsule());
    at::Tensor dy = grad_outputs[0].defined() ? grad_outputs[0] : at::zeros_like(x);
    const auto dims = reduced_dims(x);
    const at::Tensor xmu = x - per_channel(mean, x);
    const at::Tensor sum_dy = dy.sum(dims, false, stat_type(x));
    const at::Tensor sum_dy_xmu = (dy * xmu).sum(dims);
    at::Tensor grad_x, grad_w, grad_b;
    if (ctx->needs_input_grad(1)) grad_w = (sum_dy_xmu * invstd).to(weight.scalar_type());
    if (ctx->needs_input_grad(2)) grad_b = sum_dy.to(weight.scalar_type());
    // As PyTorch: the collective only when the input's gradient is wanted (the same on every
    // rank, since every rank runs the same network).
    if (ctx->needs_input_grad(0)) {
      const int64_t c = x.size(1);
      at::Tensor sums = at::cat({sum_dy, sum_dy_xmu}).to(at::kDouble);
      try {
        all_reduce_sum(*group, sums);
      } catch (const std::exception& e) {
        // What reaches the caller of backward: say which step of which rank failed (gloo's
        // transport errors are not c10::Errors; c10's carry a backtrace, left out).
        const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
        TORCH_CHECK(false, "sync batch norm backward: the all-reduce of the gradient sums failed "
                    "on rank ", group->backend->getRank(), ": ",
                    c10_error ? c10_error->what_without_backtrace() : e.what());
      }
      const at::Tensor mean_dy = (sums.slice(0, 0, c) / n).to(stat_type(x));
      const at::Tensor mean_dy_xmu = (sums.slice(0, c, 2 * c) / n).to(stat_type(x));
      grad_x = (dy - per_channel(mean_dy, x) -
                xmu * per_channel(invstd.square() * mean_dy_xmu, x)) *
               per_channel(invstd * weight, x);
      grad_x = grad_x.to(x.scalar_type());
    }
    // One gradient per forward argument; none for the statistics, momentum, eps and group.
    return {grad_x, grad_w, grad_b, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor()};
  }
};

char* dup_message(const char* m) {
  size_t len = std::strlen(m);
  char* out = static_cast<char*>(std::malloc(len + 1));
  if (out) std::memcpy(out, m, len + 1);
  return out;
}

}  // namespace

extern "C" {

// Returns a new `at::Tensor*` (a tch tensor handle) or null with *err set.
void* danie_sync_bn_forward(danie_c10d_group* g, const void* x, const void* weight,
                            const void* bias, const void* running_mean, const void* running_var,
                            double momentum, double eps, char** err) {
  try {
    auto group = c10::make_intrusive<GroupHandle>();
    group->backend = danie_c10d_backend(g, &group->timeout);
    at::Tensor y = SyncBatchNormFn::apply(
        *static_cast<const at::Tensor*>(x), *static_cast<const at::Tensor*>(weight),
        *static_cast<const at::Tensor*>(bias), *static_cast<const at::Tensor*>(running_mean),
        *static_cast<const at::Tensor*>(running_var), momentum, eps, group);
    return new at::Tensor(std::move(y));
  } catch (const std::exception& e) {
    *err = dup_message(e.what());
  } catch (...) {
    *err = dup_message("unknown C++ exception in sync batch norm");
  }
  return nullptr;
}

}  // extern "C"
