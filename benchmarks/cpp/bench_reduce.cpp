// Reduction kernels on 16M float32 (4096 x 4096, 64 MB), in GB/s next to a memcpy of the same
// size: sum, mean and max over all elements, over each row (dim 1: contiguous) and over each
// column (dim 0: strided), and max with indices over rows and columns (torch's x.max(dim)).
// The op entry points (ops/reduce.h) are timed, output allocation included.
// Threads: EMBER_THREADS=n (default: all).
//   EMBER_THREADS=2 build/bench/benchmarks/cpp/bench_reduce --benchmark_counters_tabular=true
#include <cmath>
#include <limits>

#include "bench_common.h"
#include "ops/reduce.h"

namespace {

using bench::Tensor;
using ember::ReduceOp;

constexpr int64_t kRows = 4096, kCols = 4096, kNumel = kRows * kCols;

enum class Over { All, Rows, Columns };  // all elements; dim 1 (one result per row); dim 0

struct Case {
  const char* name;
  ReduceOp op;
  Over over;
  bool with_indices;  // reduce_with_indices: values and int64 indices
};

std::vector<int64_t> dims_of(Over over) {
  if (over == Over::All) return {};
  return {over == Over::Rows ? 1 : 0};
}

// Output o reduces the elements x[o * outer_stride + j * inner_stride], j < count.
struct Geometry {
  int64_t outputs, count, outer_stride, inner_stride;
};

Geometry geometry(Over over) {
  if (over == Over::All) return {1, kNumel, 0, 1};
  if (over == Over::Rows) return {kRows, kCols, kCols, 1};
  return {kCols, kRows, 1, kCols};
}

// Sums in double (within 1e-6 of the sum of |x| allowed for float32 accumulation); max, and its
// first index, exactly.
bool check(benchmark::State& state, const Case& k, const Tensor& x, const Tensor& values, const Tensor& indices) {
  const Geometry g = geometry(k.over);
  const float* xp = x.data<float>();
  for (int64_t o = 0; o < g.outputs; ++o) {
    double sum = 0, abs_sum = 0, best = -std::numeric_limits<double>::infinity();
    int64_t arg = 0;
    for (int64_t j = 0; j < g.count; ++j) {
      const double v = xp[o * g.outer_stride + j * g.inner_stride];
      sum += v, abs_sum += std::fabs(v);
      if (v > best) best = v, arg = j;
    }
    const double got = values.data<float>()[o];
    bool ok;
    if (k.op == ReduceOp::Max) ok = bench::check_value(state, k.name, got, best, 0, 0);
    else if (k.op == ReduceOp::Mean) ok = bench::check_value(state, k.name, got, sum / double(g.count), 0, 1e-6 * abs_sum / double(g.count));
    else ok = bench::check_value(state, k.name, got, sum, 0, 1e-6 * abs_sum);
    if (ok && k.with_indices) ok = bench::check_value(state, "indices", double(indices.data<int64_t>()[o]), double(arg), 0, 0);
    if (!ok) return false;
  }
  return true;
}

std::pair<Tensor, Tensor> run(const Case& k, const Tensor& x) {
  if (k.with_indices) return ember::reduce_with_indices(true, x, k.over == Over::Rows ? 1 : 0, false);
  return {ember::reduce(k.op, x, dims_of(k.over), false, x.dtype()), Tensor()};
}

void BM_reduce(benchmark::State& state, Case k) {
  bench::set_threads_from_env();
  const Tensor x = bench::random_tensor({kRows, kCols}, 1);
  {
    const auto [values, indices] = run(k, x);
    if (!check(state, k, x, values, indices)) return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(run(k, x));
  // read x; write one float (+ one int64 index) per output.
  const int64_t outputs = geometry(k.over).outputs;
  bench::report_bytes(state, 4 * kNumel + outputs * (k.with_indices ? 12 : 4), 4 * kNumel);
}

[[maybe_unused]] const bool kRegistered = [] {
  bench::register_memcpy({4 * kNumel});
  const Case cases[] = {
      {"sum/all/4096x4096", ReduceOp::Sum, Over::All, false},
      {"sum/dim1_rows/4096x4096", ReduceOp::Sum, Over::Rows, false},
      {"sum/dim0_columns/4096x4096", ReduceOp::Sum, Over::Columns, false},
      {"mean/all/4096x4096", ReduceOp::Mean, Over::All, false},
      {"mean/dim1_rows/4096x4096", ReduceOp::Mean, Over::Rows, false},
      {"mean/dim0_columns/4096x4096", ReduceOp::Mean, Over::Columns, false},
      {"amax/all/4096x4096", ReduceOp::Max, Over::All, false},
      {"amax/dim1_rows/4096x4096", ReduceOp::Max, Over::Rows, false},
      {"amax/dim0_columns/4096x4096", ReduceOp::Max, Over::Columns, false},
      {"max_with_indices/dim1_rows/4096x4096", ReduceOp::Max, Over::Rows, true},
      {"max_with_indices/dim0_columns/4096x4096", ReduceOp::Max, Over::Columns, true},
  };
  for (const Case& k : cases) bench::configure(benchmark::RegisterBenchmark(k.name, BM_reduce, k));
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
