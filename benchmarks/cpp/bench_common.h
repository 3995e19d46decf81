// Shared by the memory-bound kernel micro-benchmarks (pool, activation, norm, softmax/xent,
// elementwise, reduce, optim): random tensors, the thread count from EMBER_THREADS, the bytes/s
// counters, the result checks that turn a wrong answer into an error row instead of a number, and
// the memcpy baseline that every binary registers at its own sizes.
//
// Bytes per iteration are what the kernel must read plus write (each operand once); a kernel that
// makes two passes over its input, or a write-allocate of the destination, is not counted, so
// GB/s compares directly with the memcpy rows (2 x size: read the source, write the destination).
#pragma once
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/parallel.h"
#include "core/tensor.h"

namespace bench {

using ember::DType;
using ember::Shape;
using ember::Tensor;
using ember::shape_numel;

inline void set_threads_from_env() {
  if (const char* t = std::getenv("EMBER_THREADS")) ember::set_num_threads(std::atoi(t));
}

// Uniform in [lo, hi), reproducible per seed.
inline Tensor random_tensor(const Shape& shape, unsigned seed, float lo = -1.f, float hi = 1.f) {
  Tensor t = Tensor::empty(shape, DType::Float32);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = dist(rng);
  return t;
}

inline Tensor filled_tensor(const Shape& shape, float value) {
  Tensor t = Tensor::empty(shape, DType::Float32);
  std::fill_n(t.data<float>(), t.numel(), value);
  return t;
}

inline std::string shape_string(const Shape& s) {
  std::ostringstream o;
  for (size_t i = 0; i < s.size(); ++i) o << (i ? "x" : "") << s[i];
  return o.str();
}

// SetBytesProcessed (Google Benchmark prints it in binary units, GiB/s) plus a decimal "GB/s"
// counter comparable with the Python tables, and "tensor_MB": the size of the main tensor, which
// names the memcpy row to compare with (results_table.py pairs them). The label gives the threads.
inline void report_bytes(benchmark::State& state, int64_t bytes_per_iteration, int64_t tensor_bytes) {
  state.SetBytesProcessed(int64_t(state.iterations()) * bytes_per_iteration);
  state.counters["GB/s"] = benchmark::Counter(double(bytes_per_iteration) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
  state.counters["tensor_MB"] = benchmark::Counter(double(tensor_bytes) * 1e-6);
  state.SetLabel(std::to_string(ember::get_num_threads()) + " threads");
}

// Compares `got` with `want` elementwise (|got - want| <= atol + rtol * |want|, NaN fails). On the
// first mismatch marks the benchmark as failed (it then reports no timing) and returns false.
template <typename Got, typename Want>
bool check_close(benchmark::State& state, const char* what, const Got* got, const Want* want, int64_t n,
                 double rtol, double atol) {
  for (int64_t i = 0; i < n; ++i) {
    const double g = double(got[i]), w = double(want[i]);
    if (!(std::fabs(g - w) <= atol + rtol * std::fabs(w))) {
      std::ostringstream o;
      o << what << ": element " << i << " is " << g << ", expected " << w;
      state.SkipWithError(o.str().c_str());
      return false;
    }
  }
  return true;
}

inline bool check_value(benchmark::State& state, const char* what, double got, double want, double rtol,
                        double atol) {
  return check_close(state, what, &got, &want, 1, rtol, atol);
}

// The baseline: std::memcpy of range(0) bytes, one contiguous piece per ember thread (run with
// parallel_for as the kernels are), between buffers written once beforehand (no page faults
// timed). Large pieces matter: glibc switches to non-temporal stores, which skip the
// write-allocate read of the destination, only above a size threshold: on the development VM a
// 51 MB buffer copied in 64 KiB pieces ran at 10 GB/s, in one piece at 15 GB/s (one thread).
inline void BM_memcpy(benchmark::State& state) {
  set_threads_from_env();
  const int64_t bytes = state.range(0);
  std::vector<char> src(size_t(bytes), 1), dst(size_t(bytes), 0);
  const int64_t pieces = ember::get_num_threads(), piece = (bytes + pieces - 1) / pieces;
  for (auto _ : state) {
    ember::parallel_for(0, pieces, 1, [&](int64_t b, int64_t e) {
      const int64_t begin = std::min(bytes, b * piece), end = std::min(bytes, e * piece);
      std::memcpy(dst.data() + begin, src.data() + begin, size_t(end - begin));
    });
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  if (std::memcmp(src.data(), dst.data(), size_t(bytes)) != 0) state.SkipWithError("memcpy: copy differs");
  report_bytes(state, 2 * bytes, bytes);
}

// Every memory-bound benchmark: milliseconds; rates from wall time when the kernels run on several
// threads (the main thread's CPU time would miss the workers'), from CPU time with EMBER_THREADS=1
// (a busy machine then disturbs the figure less).
inline benchmark::internal::Benchmark* configure(benchmark::internal::Benchmark* b) {
  b->Unit(benchmark::kMillisecond);
  const char* t = std::getenv("EMBER_THREADS");
  return t && std::atoi(t) == 1 ? b : b->UseRealTime();
}

// memcpy rows named by size, one per tensor size the binary's kernels stream.
inline void register_memcpy(const std::vector<int64_t>& sizes_in_bytes) {
  for (int64_t bytes : sizes_in_bytes) {
    std::ostringstream name;
    name << "memcpy/" << std::fixed << std::setprecision(1) << double(bytes) * 1e-6 << "MB";
    configure(benchmark::RegisterBenchmark(name.str().c_str(), BM_memcpy)->Arg(bytes));
  }
}

}  // namespace bench
