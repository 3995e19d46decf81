// Activation kernels on 16M float32 (64 MB, far beyond the caches), forward and backward, in GB/s
// next to a memcpy of the same size: relu, sigmoid and tanh through the elementwise unary ops with
// their fused gradient helpers (backward reads the saved output), gelu and silu through the fused
// activation kernels (backward reads the input). These are the entry points autograd calls.
// Threads: EMBER_THREADS=n (default: all).
//   EMBER_THREADS=2 build/bench/benchmarks/cpp/bench_activation --benchmark_counters_tabular=true
#include <cmath>

#include "bench_common.h"
#include "ops/activation.h"
#include "ops/elementwise.h"

namespace {

using bench::Tensor;
using ember::ActOp;
using ember::BinaryOp;
using ember::Operand;
using ember::UnaryOp;

constexpr int64_t kNumel = int64_t(1) << 24;

enum class Act : int { Relu, Sigmoid, Tanh, Gelu, Silu };
const char* const kActNames[] = {"relu", "sigmoid", "tanh", "gelu", "silu"};

double act_reference(Act a, double x) {
  switch (a) {
    case Act::Relu: return x > 0 ? x : 0;
    case Act::Sigmoid: return 1 / (1 + std::exp(-x));
    case Act::Tanh: return std::tanh(x);
    case Act::Gelu: return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case Act::Silu: return x / (1 + std::exp(-x));
  }
  return 0;
}

double act_grad_reference(Act a, double x) {
  const double s = 1 / (1 + std::exp(-x));
  switch (a) {
    case Act::Relu: return x > 0 ? 1 : 0;
    case Act::Sigmoid: return s * (1 - s);
    case Act::Tanh: return 1 - std::tanh(x) * std::tanh(x);
    case Act::Gelu: return 0.5 * (1 + std::erf(x / std::sqrt(2.0))) + x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
    case Act::Silu: return s * (1 + x * (1 - s));
  }
  return 0;
}

bool uses_fused_activation(Act a) { return a == Act::Gelu || a == Act::Silu; }
ActOp fused_op(Act a) { return a == Act::Gelu ? ActOp::Gelu : ActOp::Silu; }
UnaryOp unary_op(Act a) { return a == Act::Relu ? UnaryOp::Relu : a == Act::Sigmoid ? UnaryOp::Sigmoid : UnaryOp::Tanh; }
BinaryOp unary_grad_op(Act a) {
  return a == Act::Relu ? BinaryOp::ReluBackward : a == Act::Sigmoid ? BinaryOp::SigmoidBackward : BinaryOp::TanhBackward;
}

Tensor forward(Act a, const Tensor& x) {
  return uses_fused_activation(a) ? ember::activation(fused_op(a), x, 0, 0, 0) : ember::unary(unary_op(a), x);
}

// The gradient helpers of relu/sigmoid/tanh take the forward's output, the fused ones its input.
Tensor backward(Act a, const Tensor& grad, const Tensor& x, const Tensor& y) {
  if (uses_fused_activation(a)) return ember::activation_backward(fused_op(a), grad, x, 0, 0, 0);
  return ember::binary(unary_grad_op(a), Operand::of(grad), Operand::of(y));
}

// Checks y and dx against double-precision formulas on every element before any timing.
bool check(benchmark::State& state, Act a, const Tensor& x, const Tensor& grad, const Tensor& y, const Tensor& dx) {
  const size_t n = static_cast<size_t>(x.numel());
  std::vector<double> want_y(n), want_dx(n);
  const float* xp = x.data<float>();
  const float* gp = grad.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    want_y[size_t(i)] = act_reference(a, xp[i]);
    want_dx[size_t(i)] = gp[i] * act_grad_reference(a, xp[i]);
  }
  // float32 kernels with vectorised exp/erf: a few ulp, so 1e-5 relative plus a small absolute
  // term for values near zero; a wrong formula or index is off by far more.
  return bench::check_close(state, "forward", y.data<float>(), want_y.data(), x.numel(), 1e-5, 1e-6) &&
         bench::check_close(state, "backward", dx.data<float>(), want_dx.data(), x.numel(), 1e-4, 1e-6);
}

void BM_activation(benchmark::State& state, Act a, bool is_backward) {
  bench::set_threads_from_env();
  const Tensor x = bench::random_tensor({kNumel}, 1, -6.f, 6.f), grad = bench::random_tensor({kNumel}, 2);
  const Tensor y = forward(a, x);
  if (!check(state, a, x, grad, y, backward(a, grad, x, y))) return;
  for (auto _ : state) {
    if (is_backward) benchmark::DoNotOptimize(backward(a, grad, x, y));
    else benchmark::DoNotOptimize(forward(a, x));
  }
  // forward: read x, write y; backward: read grad and x (or y), write dx.
  bench::report_bytes(state, (is_backward ? 3 : 2) * 4 * kNumel, 4 * kNumel);
}

[[maybe_unused]] const bool kRegistered = [] {
  bench::register_memcpy({4 * kNumel});
  for (int a = int(Act::Relu); a <= int(Act::Silu); ++a)
    for (bool bwd : {false, true})
      bench::configure(benchmark::RegisterBenchmark(
          (std::string(kActNames[a]) + (bwd ? "/backward" : "/forward") + "/16M").c_str(), BM_activation, Act(a), bwd));
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
