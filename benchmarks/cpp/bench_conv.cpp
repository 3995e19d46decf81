// conv2d kernel micro-benchmarks (forward, input gradient, weight+bias gradient) on the shapes of
// the reference CNN and a CIFAR ResNet, batch 64, float32, reporting GFLOP/s; plus the direct-loop
// reference on a small shape. Threads: EMBER_THREADS=n (default: all); instruction set:
// EMBER_CPU_CAPABILITY=avx2|default.
//   cmake -S . -B build -DEMBER_BUILD_BENCHMARKS=ON && cmake --build build -j --target bench_conv
//   EMBER_THREADS=2 build/benchmarks/cpp/bench_conv --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <random>

#include "core/parallel.h"
#include "core/tensor.h"
#include "ops/conv.h"

namespace {

using ember::ConvOptions;
using ember::DType;
using ember::Tensor;

Tensor random_tensor(const ember::Shape& shape, unsigned seed) {
  Tensor t = Tensor::empty(shape, DType::Float32);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

void set_threads() {
  if (const char* s = std::getenv("EMBER_THREADS")) ember::set_num_threads(std::atoi(s));
}

enum Pass { kForward = 0, kBackwardInput = 1, kBackwardWeight = 2, kReference = 3 };

// Args: N, C, H (= W), O, k, stride, pass.
void BM_Conv2d(benchmark::State& state) {
  set_threads();
  const int64_t N = state.range(0), C = state.range(1), H = state.range(2), O = state.range(3);
  const int64_t k = state.range(4), s = state.range(5);
  const int pass = int(state.range(6));
  const int64_t p = k / 2, oH = (H + 2 * p - k) / s + 1;
  ConvOptions opt;
  opt.stride = {s, s};
  opt.padding = {p, p, p, p};
  const Tensor x = random_tensor({N, C, H, H}, 1), w = random_tensor({O, C, k, k}, 2);
  const Tensor b = random_tensor({O}, 3), dy = random_tensor({N, O, oH, oH}, 4);
  for (auto _ : state) {
    if (pass == kForward) benchmark::DoNotOptimize(ember::conv2d(x, w, &b, opt));
    else if (pass == kBackwardInput) benchmark::DoNotOptimize(ember::conv2d_backward_input(dy, w, nullptr, opt, {H, H}));
    else if (pass == kBackwardWeight) benchmark::DoNotOptimize(ember::conv2d_backward_weight(dy, x, w.shape(), opt, true, true));
    else benchmark::DoNotOptimize(ember::conv2d_reference(x, w, &b, opt));
  }
  const double flops = 2.0 * double(N * O * oH * oH * C * k * k);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void cnn_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"N", "C", "H", "O", "k", "S", "pass"});
  const int64_t shapes[][6] = {{64, 1, 28, 32, 3, 1},  {64, 32, 14, 64, 3, 1}, {64, 16, 32, 16, 3, 1},
                               {64, 32, 16, 32, 3, 1}, {64, 64, 8, 64, 3, 1},  {64, 16, 32, 32, 3, 2},
                               {64, 32, 16, 64, 3, 2}, {64, 16, 32, 32, 1, 2}, {64, 32, 16, 64, 1, 2}};
  for (const auto& s : shapes)
    for (int pass = kForward; pass <= kBackwardWeight; ++pass) b->Args({s[0], s[1], s[2], s[3], s[4], s[5], pass});
  b->Args({2, 16, 16, 16, 3, 1, kReference});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

BENCHMARK(BM_Conv2d)->Apply(cnn_shapes);
BENCHMARK_MAIN();
