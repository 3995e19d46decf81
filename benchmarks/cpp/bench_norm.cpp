// Normalisation kernels, float32, in GB/s next to a memcpy of the input's size: batch_norm in
// training mode (batch statistics, running stats updated) forward and backward (dx, dweight,
// dbias) on CNN activations (N, C, H, W), and layer_norm forward and backward over the last dim
// of (M, D). The op entry points (ops/norm.h) are timed, as autograd calls them.
// Threads: EMBER_THREADS=n (default: all).
//   EMBER_THREADS=2 build/bench/benchmarks/cpp/bench_norm --benchmark_counters_tabular=true
#include <cmath>
#include <optional>

#include "bench_common.h"
#include "ops/norm.h"

namespace {

using bench::Shape;
using bench::Tensor;

constexpr double kEps = 1e-5;

// Normalisation of `groups` sets of `count` values each; element j of group g is at
// g * group_stride + (j / run) * run_stride + j % run (a BN channel: runs of L elements every C*L;
// a LN row: one run of D). The affine parameter of element j is per group (BN) or per j % run (LN).
struct Layout {
  int64_t groups, count, run, group_stride, run_stride;
  bool affine_per_group;
  int64_t at(int64_t g, int64_t j) const { return g * group_stride + (j / run) * run_stride + j % run; }
  int64_t param(int64_t g, int64_t j) const { return affine_per_group ? g : j % run; }
};

// y and dx (and dw, db) by the definitions, in double:
//   xhat = (x - mean) / sqrt(var + eps), y = w * xhat + b,
//   dx = (g - mean(g) - xhat * mean(g * xhat)) / sqrt(var + eps) with g = dy * w,
//   dw = sum(dy * xhat), db = sum(dy), summed over the groups' shared parameter.
struct NormReference {
  std::vector<double> y, dx, dw, db;
  NormReference(const Layout& l, const float* x, const float* dy, const float* w, const float* b, int64_t nparams) {
    const int64_t n = l.groups * l.count;
    y.assign(size_t(n), 0), dx.assign(size_t(n), 0), dw.assign(size_t(nparams), 0), db.assign(size_t(nparams), 0);
    for (int64_t g = 0; g < l.groups; ++g) {
      double mean = 0, var = 0, mg = 0, mgx = 0;
      for (int64_t j = 0; j < l.count; ++j) mean += x[l.at(g, j)];
      mean /= double(l.count);
      for (int64_t j = 0; j < l.count; ++j) var += (x[l.at(g, j)] - mean) * (x[l.at(g, j)] - mean);
      const double rstd = 1 / std::sqrt(var / double(l.count) + kEps);
      for (int64_t j = 0; j < l.count; ++j) {
        const int64_t i = l.at(g, j), p = l.param(g, j);
        const double xhat = (x[i] - mean) * rstd, gw = double(dy[i]) * w[p];
        y[size_t(i)] = w[p] * xhat + b[p];
        mg += gw, mgx += gw * xhat;
        dw[size_t(p)] += dy[i] * xhat, db[size_t(p)] += dy[i];
      }
      mg /= double(l.count), mgx /= double(l.count);
      for (int64_t j = 0; j < l.count; ++j) {
        const int64_t i = l.at(g, j), p = l.param(g, j);
        dx[size_t(i)] = (double(dy[i]) * w[p] - mg - (x[i] - mean) * rstd * mgx) * rstd;
      }
    }
  }
};

bool check(benchmark::State& state, const NormReference& want, const Tensor& y, const Tensor& dx, const Tensor& dw,
           const Tensor& db) {
  // dw and db sum up to millions of terms: their float32 rounding is relative to the sum of |terms|.
  return bench::check_close(state, "y", y.data<float>(), want.y.data(), y.numel(), 1e-4, 1e-5) &&
         bench::check_close(state, "dx", dx.data<float>(), want.dx.data(), dx.numel(), 1e-3, 1e-4) &&
         bench::check_close(state, "dweight", dw.data<float>(), want.dw.data(), dw.numel(), 1e-3, 1e-1) &&
         bench::check_close(state, "dbias", db.data<float>(), want.db.data(), db.numel(), 1e-3, 1e-1);
}

struct BatchNorm {
  Tensor x, dy, weight, bias, running_mean, running_var;
  explicit BatchNorm(const Shape& s)
      : x(bench::random_tensor(s, 1)), dy(bench::random_tensor(s, 2)), weight(bench::random_tensor({s[1]}, 3, 0.5f, 2.f)),
        bias(bench::random_tensor({s[1]}, 4)), running_mean(bench::filled_tensor({s[1]}, 0.f)),
        running_var(bench::filled_tensor({s[1]}, 1.f)) {}
  std::tuple<Tensor, Tensor, Tensor> forward() const {
    return ember::batch_norm_forward(x, running_mean, running_var, weight, bias, true, 0.1, kEps);
  }
  std::tuple<Tensor, Tensor, Tensor> backward(const Tensor& mean, const Tensor& var) const {
    return ember::batch_norm_backward(dy, x, weight, mean, var, true, kEps, true, true, true);
  }
  Layout layout() const {
    const int64_t N = x.size(0), C = x.size(1), L = x.numel() / (N * C);
    return {C, N * L, L, L, C * L, true};
  }
};

struct LayerNorm {
  Tensor x, dy, weight, bias;
  explicit LayerNorm(const Shape& s)
      : x(bench::random_tensor(s, 1)), dy(bench::random_tensor(s, 2)), weight(bench::random_tensor({s[1]}, 3, 0.5f, 2.f)),
        bias(bench::random_tensor({s[1]}, 4)) {}
  std::tuple<Tensor, Tensor, Tensor> forward() const {
    return ember::layer_norm_forward(x, {x.size(1)}, weight, bias, kEps);
  }
  std::tuple<Tensor, Tensor, Tensor> backward(const Tensor& mean, const Tensor& rstd) const {
    return ember::layer_norm_backward(dy, x, {x.size(1)}, weight, mean, rstd, true, true, true);
  }
  Layout layout() const { return {x.size(0), x.size(1), x.size(1), x.size(1), 0, false}; }
};

template <typename Norm>
void BM_norm(benchmark::State& state, Shape shape, bool is_backward) {
  bench::set_threads_from_env();
  const Norm norm(shape);
  const auto [y, stat0, stat1] = norm.forward();
  {
    const auto [dx, dw, db] = norm.backward(stat0, stat1);
    const NormReference want(norm.layout(), norm.x.template data<float>(), norm.dy.template data<float>(),
                             norm.weight.template data<float>(), norm.bias.template data<float>(), norm.weight.numel());
    if (!check(state, want, y, dx, dw, db)) return;
  }
  for (auto _ : state) {
    if (is_backward) benchmark::DoNotOptimize(norm.backward(stat0, stat1));
    else benchmark::DoNotOptimize(norm.forward());
  }
  // forward: read x, write y; backward: read dy and x, write dx (the per-channel parts are noise).
  // The statistics need a pass over x before y can be written, so a kernel streaming from memory
  // moves at least 1.5x (forward) and 1.67x (backward) these bytes unless the input stays cached.
  bench::report_bytes(state, (is_backward ? 3 : 2) * 4 * norm.x.numel(), 4 * norm.x.numel());
}

[[maybe_unused]] const bool kRegistered = [] {
  const Shape bn_shapes[] = {{64, 32, 28, 28}, {64, 64, 14, 14}, {64, 64, 56, 56}};
  const Shape ln_shapes[] = {{8192, 768}, {16384, 1024}};
  std::vector<int64_t> sizes;
  for (const Shape& s : bn_shapes) sizes.push_back(4 * ember::shape_numel(s));
  for (const Shape& s : ln_shapes) sizes.push_back(4 * ember::shape_numel(s));
  bench::register_memcpy(sizes);
  for (bool bwd : {false, true}) {
    const std::string pass = bwd ? "/backward" : "/forward";
    for (const Shape& s : bn_shapes)
      bench::configure(benchmark::RegisterBenchmark(("batch_norm_train/" + bench::shape_string(s) + pass).c_str(),
                                                    BM_norm<BatchNorm>, s, bwd));
    for (const Shape& s : ln_shapes)
      bench::configure(benchmark::RegisterBenchmark(("layer_norm/" + bench::shape_string(s) + pass).c_str(),
                                                    BM_norm<LayerNorm>, s, bwd));
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
