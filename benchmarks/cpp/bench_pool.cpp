// max_pool2d / avg_pool2d kernels on CNN shapes (N, C, H, W), 2x2 stride 2 and 3x3 stride 2
// padding 1, forward and backward, in GB/s next to a memcpy of the input's size. The op entry
// points (ops/pool.h) are timed, as autograd calls them: output allocation and, for the max
// backward, the bounds check of the indices included.
// Threads: EMBER_THREADS=n (default: all).
//   EMBER_THREADS=2 build/bench/benchmarks/cpp/bench_pool --benchmark_counters_tabular=true
#include <algorithm>
#include <limits>

#include "bench_common.h"
#include "ops/pool.h"

namespace {

using bench::Shape;
using bench::Tensor;
using ember::PoolKind;

struct Window {
  int64_t k, s, p;
};

// One plane (H x W) by the definition (torch's, count_include_pad=true): y, and dx for dy.
void pool_plane_reference(PoolKind kind, const float* x, const float* dy, int64_t H, int64_t W, Window w,
                          int64_t oH, int64_t oW, std::vector<double>& y, std::vector<double>& dx) {
  y.assign(size_t(oH * oW), 0.0);
  dx.assign(size_t(H * W), 0.0);
  for (int64_t oh = 0; oh < oH; ++oh)
    for (int64_t ow = 0; ow < oW; ++ow) {
      const int64_t h0 = oh * w.s - w.p, w0 = ow * w.s - w.p;
      // The divisor counts padding cells inside the padded input (torch's pool_size).
      const int64_t divisor = (std::min(h0 + w.k, H + w.p) - h0) * (std::min(w0 + w.k, W + w.p) - w0);
      double best = -std::numeric_limits<double>::infinity(), sum = 0;
      int64_t arg = -1;
      for (int64_t h = std::max<int64_t>(h0, 0); h < std::min(h0 + w.k, H); ++h)
        for (int64_t c = std::max<int64_t>(w0, 0); c < std::min(w0 + w.k, W); ++c) {
          const double v = x[h * W + c];
          sum += v;
          if (v > best) best = v, arg = h * W + c;
        }
      const double g = dy[oh * oW + ow];
      if (kind == PoolKind::Max) {
        y[size_t(oh * oW + ow)] = best;
        dx[size_t(arg)] += g;
      } else {
        y[size_t(oh * oW + ow)] = sum / double(divisor);
        for (int64_t h = std::max<int64_t>(h0, 0); h < std::min(h0 + w.k, H); ++h)
          for (int64_t c = std::max<int64_t>(w0, 0); c < std::min(w0 + w.k, W); ++c)
            dx[size_t(h * W + c)] += g / double(divisor);
      }
    }
}

// The first and the last few planes of y and dx against the reference.
bool check(benchmark::State& state, PoolKind kind, const Tensor& x, const Tensor& dy, const Tensor& y,
           const Tensor& dx, Window w) {
  const int64_t H = x.size(2), W = x.size(3), oH = y.size(2), oW = y.size(3), planes = x.size(0) * x.size(1);
  std::vector<double> want_y, want_dx;
  for (int64_t plane : {int64_t(0), int64_t(1), int64_t(2), planes / 2, planes - 1}) {
    pool_plane_reference(kind, x.data<float>() + plane * H * W, dy.data<float>() + plane * oH * oW, H, W, w, oH,
                         oW, want_y, want_dx);
    if (!bench::check_close(state, "forward", y.data<float>() + plane * oH * oW, want_y.data(), oH * oW, 1e-6, 1e-6) ||
        !bench::check_close(state, "backward", dx.data<float>() + plane * H * W, want_dx.data(), H * W, 1e-5, 1e-6))
      return false;
  }
  return true;
}

std::pair<Tensor, Tensor> forward(PoolKind kind, const Tensor& x, Window w) {
  return ember::pool2d_forward(kind, x, {w.k, w.k}, {w.s, w.s}, {w.p, w.p}, {1, 1}, false, true, 0);
}

Tensor backward(PoolKind kind, const Tensor& dy, const Tensor& x, const Tensor& indices, Window w) {
  return ember::pool2d_backward(kind, dy, x, indices, {w.k, w.k}, {w.s, w.s}, {w.p, w.p}, {1, 1}, false, true, 0);
}

void BM_pool(benchmark::State& state, Shape shape, PoolKind kind, Window w, bool is_backward) {
  bench::set_threads_from_env();
  const Tensor x = bench::random_tensor(shape, 1);
  const auto [y, indices] = forward(kind, x, w);
  const Tensor dy = bench::random_tensor(y.shape(), 2);
  if (!check(state, kind, x, dy, y, backward(kind, dy, x, indices, w), w)) return;
  for (auto _ : state) {
    if (is_backward) benchmark::DoNotOptimize(backward(kind, dy, x, indices, w));
    else benchmark::DoNotOptimize(forward(kind, x, w));
  }
  // forward: read x, write y (+ int64 indices for max); backward: read dy (+ indices), write dx.
  const int64_t in = 4 * x.numel(), out = 4 * y.numel(), idx = kind == PoolKind::Max ? 8 * y.numel() : 0;
  bench::report_bytes(state, is_backward ? out + idx + in : in + out + idx, in);
}

[[maybe_unused]] const bool kRegistered = [] {
  const Shape shapes[] = {{64, 32, 28, 28}, {64, 64, 56, 56}};  // reference CNN; ResNet after its stem
  bench::register_memcpy({4 * bench::shape_numel(shapes[0]), 4 * bench::shape_numel(shapes[1])});
  const Window windows[] = {{2, 2, 0}, {3, 2, 1}};
  for (const Shape& shape : shapes)
    for (const Window& w : windows)
      for (PoolKind kind : {PoolKind::Max, PoolKind::Avg})
        for (bool bwd : {false, true}) {
          const std::string name = std::string(kind == PoolKind::Max ? "max_pool" : "avg_pool") + "/k" +
                                   std::to_string(w.k) + "s" + std::to_string(w.s) + "p" + std::to_string(w.p) +
                                   "/" + bench::shape_string(shape) + (bwd ? "/backward" : "/forward");
          bench::configure(benchmark::RegisterBenchmark(name.c_str(), BM_pool, shape, kind, w, bwd));
        }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
