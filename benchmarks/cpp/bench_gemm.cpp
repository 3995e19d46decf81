// GEMM micro-benchmarks: ember::gemm (and the reference loop on small sizes) on squares and on
// the training shapes of the MLP and CNN examples, reporting GFLOP/s. Shapes are M x K x N
// (C = A @ B, A: M x K, B: K x N); "At" / "Bt" mean that operand is stored transposed.
// Threads: EMBER_THREADS=n (default: all); instruction set: EMBER_CPU_CAPABILITY=avx2|default.
//   cmake -S . -B build -DEMBER_BUILD_BENCHMARKS=ON && cmake --build build -j --target bench_gemm
//   EMBER_THREADS=2 build/benchmarks/cpp/bench_gemm --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <random>
#include <vector>

#include "core/cpu_features.h"
#include "core/parallel.h"
#include "cpu/gemm.h"

namespace {

using ember::DType;
using ember::GemmArgs;

struct Problem {
  std::vector<float> A, B, C, bias;
  GemmArgs args;
};

// M x K times K x N; trans_a / trans_b store the operand transposed (column-major).
Problem make_problem(int64_t M, int64_t K, int64_t N, bool trans_a, bool trans_b, bool bias_relu) {
  Problem p;
  std::mt19937 rng(0);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  p.A.resize(size_t(M * K));
  p.B.resize(size_t(K * N));
  p.C.assign(size_t(M * N), 0.f);
  p.bias.resize(size_t(N));
  for (auto& v : p.A) v = dist(rng);
  for (auto& v : p.B) v = dist(rng);
  for (auto& v : p.bias) v = dist(rng);
  GemmArgs& a = p.args;
  a.M = M; a.N = N; a.K = K;
  a.A = p.A.data(); a.lda_row = trans_a ? 1 : K; a.lda_col = trans_a ? M : 1;
  a.B = p.B.data(); a.ldb_row = trans_b ? 1 : N; a.ldb_col = trans_b ? K : 1;
  a.C = p.C.data(); a.ldc_row = N; a.ldc_col = 1;
  if (bias_relu) {
    a.bias = p.bias.data();
    a.activation = ember::GemmActivation::ReLU;
  }
  return p;
}

void set_threads_from_env() {
  if (const char* t = std::getenv("EMBER_THREADS")) ember::set_num_threads(std::atoi(t));
}

void report(benchmark::State& state, double flops_per_iter) {
  state.counters["GFLOP/s"] = benchmark::Counter(
      flops_per_iter * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(ember::cpu_capability_name(ember::cpu_capability()));
}

// args: M, K, N, trans_a, trans_b, bias+relu
void BM_gemm_f32(benchmark::State& state) {
  set_threads_from_env();
  Problem p = make_problem(state.range(0), state.range(1), state.range(2), state.range(3),
                           state.range(4), state.range(5));
  for (auto _ : state) {
    ember::gemm(DType::Float32, p.args);
    benchmark::DoNotOptimize(p.C.data());
    benchmark::ClobberMemory();
  }
  report(state, 2.0 * double(p.args.M) * double(p.args.N) * double(p.args.K));
}

// Batched form of the im2col convolution: 64 images, out channels x (C*3*3) x (H*W) each.
void BM_gemm_batched_f32(benchmark::State& state) {
  set_threads_from_env();
  const int64_t batch = state.range(0), M = state.range(1), K = state.range(2), N = state.range(3);
  // Image b: weights M x K (shared, stride 0), columns K x N at b*K*N, output M x N at b*M*N.
  Problem p = make_problem(M, K, N * batch, false, false, false);
  GemmArgs a = p.args;
  a.N = N;
  a.ldb_row = N;
  std::vector<float> C(size_t(batch * M * N));
  a.C = C.data(); a.ldc_row = N;
  for (auto _ : state) {
    ember::gemm_batched(DType::Float32, a, batch, 0, K * N, M * N);
    benchmark::DoNotOptimize(C.data());
    benchmark::ClobberMemory();
  }
  report(state, 2.0 * double(batch) * double(M) * double(N) * double(K));
}

void BM_gemm_f64(benchmark::State& state) {
  set_threads_from_env();
  const int64_t n = state.range(0);
  std::vector<double> A(size_t(n * n), 0.5), B(size_t(n * n), 0.25), C(size_t(n * n));
  GemmArgs a;
  a.M = a.N = a.K = n;
  a.A = A.data(); a.lda_row = n;
  a.B = B.data(); a.ldb_row = n;
  a.C = C.data(); a.ldc_row = n;
  for (auto _ : state) {
    ember::gemm(DType::Float64, a);
    benchmark::DoNotOptimize(C.data());
    benchmark::ClobberMemory();
  }
  report(state, 2.0 * double(n) * double(n) * double(n));
}

void BM_gemm_reference_f32(benchmark::State& state) {
  const int64_t n = state.range(0);
  Problem p = make_problem(n, n, n, false, false, false);
  for (auto _ : state) {
    ember::gemm_reference(DType::Float32, p.args);
    benchmark::DoNotOptimize(p.C.data());
  }
  report(state, 2.0 * double(n) * double(n) * double(n));
}

}  // namespace

BENCHMARK(BM_gemm_f32)
    ->ArgNames({"M", "K", "N", "At", "Bt", "bias_relu"})
    // squares
    ->Args({64, 64, 64, 0, 0, 0})
    ->Args({128, 128, 128, 0, 0, 0})
    ->Args({256, 256, 256, 0, 0, 0})
    ->Args({512, 512, 512, 0, 0, 0})
    ->Args({1024, 1024, 1024, 0, 0, 0})
    ->Args({2048, 2048, 2048, 0, 0, 0})
    // MLP 784-512-512-10, batch 128. Forward Y = relu(X W^T + b): B = W^T (stored transposed)
    ->Args({128, 784, 512, 0, 1, 1})
    ->Args({128, 512, 512, 0, 1, 1})
    ->Args({128, 512, 10, 0, 1, 0})
    // backward dX = dY W
    ->Args({128, 10, 512, 0, 0, 0})
    ->Args({128, 512, 512, 0, 0, 0})
    ->Args({128, 512, 784, 0, 0, 0})
    // backward dW = dY^T X: A = dY^T (stored transposed)
    ->Args({10, 128, 512, 1, 0, 0})
    ->Args({512, 128, 512, 1, 0, 0})
    ->Args({512, 128, 784, 1, 0, 0})
    // tall-skinny MLP (42 -> 64 -> 64), batch 16384: forward, dX, dW
    ->Args({16384, 42, 64, 0, 1, 1})
    ->Args({16384, 64, 64, 0, 1, 1})
    ->Args({16384, 64, 42, 0, 0, 0})
    ->Args({64, 16384, 42, 1, 0, 0})
    ->Args({64, 16384, 64, 1, 0, 0})
    // 3x3 conv 32 -> 64 channels, 14x14, batch 64, via im2col: per image, and as one GEMM
    ->Args({64, 288, 196, 0, 0, 0})
    ->Args({12544, 288, 64, 0, 1, 0})
    ->Args({12544, 64, 288, 0, 0, 0})
    ->Args({288, 12544, 64, 1, 0, 0})
    ->Unit(benchmark::kMicrosecond);

BENCHMARK(BM_gemm_batched_f32)
    ->ArgNames({"batch", "M", "K", "N"})
    ->Args({64, 64, 288, 196})
    ->Unit(benchmark::kMicrosecond);

BENCHMARK(BM_gemm_f64)->ArgName("n")->Arg(64)->Arg(256)->Arg(1024)->Unit(benchmark::kMicrosecond);

BENCHMARK(BM_gemm_reference_f32)->ArgName("n")->Arg(64)->Arg(256)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
