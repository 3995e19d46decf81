// Binary elementwise kernels on 16M float32 (4096 x 4096, 64 MB per operand), in GB/s next to a
// memcpy of the same size: add and mul of two contiguous tensors, with a row vector (4096,) and a
// column (4096, 1) broadcast, with a Python-number scalar, and the in-place a += b that gradient
// accumulation uses. The op entry point (ops/elementwise.h) is timed, output allocation included.
// Threads: EMBER_THREADS=n (default: all).
//   EMBER_THREADS=2 build/bench/benchmarks/cpp/bench_elementwise --benchmark_counters_tabular=true
#include "bench_common.h"
#include "ops/elementwise.h"

namespace {

using bench::Shape;
using bench::Tensor;
using ember::BinaryOp;
using ember::Operand;
using ember::Scalar;

constexpr int64_t kRows = 4096, kCols = 4096, kNumel = kRows * kCols;

enum class Rhs { Tensor, Row, Column, Number, InPlace };

struct Case {
  const char* name;
  BinaryOp op;
  Rhs rhs;
};

Shape rhs_shape(Rhs rhs) {
  if (rhs == Rhs::Row) return {kCols};
  if (rhs == Rhs::Column) return {kRows, 1};
  return {kRows, kCols};
}

constexpr float kNumber = 0.75f;

float apply(BinaryOp op, float a, float b) { return op == BinaryOp::Add ? a + b : a * b; }

// b's element for output (r, c), however it broadcasts.
float rhs_at(Rhs rhs, const Tensor& b, int64_t r, int64_t c) {
  switch (rhs) {
    case Rhs::Row: return b.data<float>()[c];
    case Rhs::Column: return b.data<float>()[r];
    case Rhs::Number: return kNumber;
    default: return b.data<float>()[r * kCols + c];
  }
}

Tensor run(const Case& k, const Tensor& a, const Tensor& b) {
  const Operand rhs = k.rhs == Rhs::Number ? Operand::of(Scalar::from_double(kNumber)) : Operand::of(b);
  return ember::binary(k.op, Operand::of(a), rhs, k.rhs == Rhs::InPlace ? &a : nullptr);
}

void BM_binary(benchmark::State& state, Case k) {
  bench::set_threads_from_env();
  const Tensor a = bench::random_tensor({kRows, kCols}, 1), b = bench::random_tensor(rhs_shape(k.rhs), 2);
  {  // every element against the scalar float operation (the in-place form on a copy of a)
    const Tensor a_copy = a.clone();
    const Tensor out = run(k, a_copy, b);
    std::vector<float> want(static_cast<size_t>(kNumel));
    for (int64_t r = 0; r < kRows; ++r)
      for (int64_t c = 0; c < kCols; ++c) want[size_t(r * kCols + c)] = apply(k.op, a.data<float>()[r * kCols + c], rhs_at(k.rhs, b, r, c));
    if (!bench::check_close(state, k.name, out.data<float>(), want.data(), kNumel, 0, 0)) return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(run(k, a, b));
  // read a, write the output; read b when it has a's size (a broadcast operand stays cached).
  const bool full_rhs = k.rhs == Rhs::Tensor || k.rhs == Rhs::InPlace;
  bench::report_bytes(state, 4 * kNumel * (full_rhs ? 3 : 2), 4 * kNumel);
}

[[maybe_unused]] const bool kRegistered = [] {
  bench::register_memcpy({4 * kNumel});
  const Case cases[] = {
      {"add/4096x4096+4096x4096", BinaryOp::Add, Rhs::Tensor},
      {"add/4096x4096+4096(row_broadcast)", BinaryOp::Add, Rhs::Row},
      {"add/4096x4096+4096x1(column_broadcast)", BinaryOp::Add, Rhs::Column},
      {"add/4096x4096+scalar", BinaryOp::Add, Rhs::Number},
      {"add_inplace/4096x4096+=4096x4096", BinaryOp::Add, Rhs::InPlace},
      {"mul/4096x4096*4096x4096", BinaryOp::Mul, Rhs::Tensor},
      {"mul/4096x4096*4096(row_broadcast)", BinaryOp::Mul, Rhs::Row},
      {"mul/4096x4096*4096x1(column_broadcast)", BinaryOp::Mul, Rhs::Column},
      {"mul/4096x4096*scalar", BinaryOp::Mul, Rhs::Number},
  };
  for (const Case& k : cases) bench::configure(benchmark::RegisterBenchmark(k.name, BM_binary, k));
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
