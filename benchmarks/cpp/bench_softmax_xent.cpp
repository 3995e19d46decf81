// softmax over the rows of (N, C) forward and backward, and the fused softmax + cross-entropy
// (class-index targets, mean reduction) forward, backward and both, for N = 16384 and
// C = 10, 100, 1000, in GB/s next to a memcpy of the logits' size. (16384, 10) is 655 kB and
// stays in the caches; (16384, 1000) is 66 MB and streams from memory. The op entry points
// (ops/softmax.h) are timed, as autograd calls them.
// Threads: EMBER_THREADS=n (default: all).
//   EMBER_THREADS=2 build/bench/benchmarks/cpp/bench_softmax_xent --benchmark_counters_tabular=true
#include <cmath>
#include <optional>

#include "bench_common.h"
#include "ops/softmax.h"

namespace {

using bench::DType;
using bench::Shape;
using bench::Tensor;
using ember::Reduction;

constexpr int64_t kRows = 16384;

// Row r of x: softmax p = exp(x - max) / sum, its log-sum-exp, and for the mean cross-entropy
// loss = mean(lse - x[target]) the gradient (p - onehot(target)) / N.
struct RowReference {
  std::vector<double> p;
  double lse = 0;
  RowReference(const float* x, int64_t C) : p(size_t(C)) {
    double mx = x[0], sum = 0;
    for (int64_t c = 1; c < C; ++c) mx = std::max(mx, double(x[c]));
    for (int64_t c = 0; c < C; ++c) sum += (p[size_t(c)] = std::exp(double(x[c]) - mx));
    for (auto& v : p) v /= sum;
    lse = mx + std::log(sum);
  }
};

Tensor random_targets(int64_t N, int64_t C) {
  Tensor t = Tensor::empty({N}, DType::Int64);
  std::mt19937 rng(7);
  std::uniform_int_distribution<int64_t> dist(0, C - 1);
  for (int64_t i = 0; i < N; ++i) t.data<int64_t>()[i] = dist(rng);
  return t;
}

// softmax(x) and its backward dx = y * (dy - sum(dy * y)) on every row.
bool check_softmax(benchmark::State& state, const Tensor& x, const Tensor& dy, const Tensor& y, const Tensor& dx) {
  const int64_t N = x.size(0), C = x.size(1);
  for (int64_t r = 0; r < N; ++r) {
    const RowReference ref(x.data<float>() + r * C, C);
    const float* g = dy.data<float>() + r * C;
    double dot = 0;
    for (int64_t c = 0; c < C; ++c) dot += g[c] * ref.p[size_t(c)];
    std::vector<double> want_dx(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) want_dx[size_t(c)] = ref.p[size_t(c)] * (g[c] - dot);
    if (!bench::check_close(state, "softmax", y.data<float>() + r * C, ref.p.data(), C, 1e-5, 1e-7) ||
        !bench::check_close(state, "softmax backward", dx.data<float>() + r * C, want_dx.data(), C, 1e-4, 1e-7))
      return false;
  }
  return true;
}

bool check_xent(benchmark::State& state, const Tensor& x, const Tensor& target, const Tensor& loss, const Tensor& dx) {
  const int64_t N = x.size(0), C = x.size(1);
  double total = 0;
  std::vector<double> want_dx(static_cast<size_t>(C));
  for (int64_t r = 0; r < N; ++r) {
    const RowReference ref(x.data<float>() + r * C, C);
    const int64_t t = target.data<int64_t>()[r];
    total += ref.lse - x.data<float>()[r * C + t];
    for (int64_t c = 0; c < C; ++c) want_dx[size_t(c)] = (ref.p[size_t(c)] - (c == t)) / double(N);
    if (!bench::check_close(state, "cross_entropy backward", dx.data<float>() + r * C, want_dx.data(), C, 1e-4,
                            1e-10))
      return false;
  }
  return bench::check_value(state, "cross_entropy loss", *loss.data<float>(), total / double(N), 1e-5, 0);
}

void BM_softmax(benchmark::State& state, int64_t C, bool is_backward) {
  bench::set_threads_from_env();
  const Tensor x = bench::random_tensor({kRows, C}, 1, -8.f, 8.f), dy = bench::random_tensor({kRows, C}, 2);
  const Tensor y = ember::softmax(x, 1, false);
  if (!check_softmax(state, x, dy, y, ember::softmax_backward(dy, y, 1, false))) return;
  for (auto _ : state) {
    if (is_backward) benchmark::DoNotOptimize(ember::softmax_backward(dy, y, 1, false));
    else benchmark::DoNotOptimize(ember::softmax(x, 1, false));
  }
  // forward: read x, write y; backward: read dy and y, write dx.
  bench::report_bytes(state, (is_backward ? 3 : 2) * 4 * x.numel(), 4 * x.numel());
}

enum class XentPass { Forward, Backward, Both };

void BM_cross_entropy(benchmark::State& state, int64_t C, XentPass pass) {
  bench::set_threads_from_env();
  const Tensor x = bench::random_tensor({kRows, C}, 1, -8.f, 8.f), target = random_targets(kRows, C);
  const Tensor one = bench::filled_tensor({}, 1.f);
  auto forward = [&] { return ember::cross_entropy_forward(x, target, std::nullopt, Reduction::Mean, -100, 0.0, false); };
  auto backward = [&](const Tensor& lse, double total_weight) {
    return ember::cross_entropy_backward(one, x, target, std::nullopt, lse, Reduction::Mean, -100, 0.0, false,
                                         total_weight);
  };
  const auto [loss, lse, total_weight] = forward();
  if (!check_xent(state, x, target, loss, backward(lse, total_weight))) return;
  for (auto _ : state) {
    if (pass == XentPass::Forward) {
      benchmark::DoNotOptimize(forward());
    } else if (pass == XentPass::Backward) {
      benchmark::DoNotOptimize(backward(lse, total_weight));
    } else {
      const auto [l, s, w] = forward();
      benchmark::DoNotOptimize(l);
      benchmark::DoNotOptimize(backward(s, w));
    }
  }
  // forward: read the logits and the int64 targets, write per-row loss, float64 lse and weight;
  // backward: read the logits, targets and lse, write dlogits.
  const int64_t logits = 4 * x.numel(), fwd = logits + kRows * (8 + 4 + 8 + 4), bwd = 2 * logits + kRows * (8 + 8);
  bench::report_bytes(state, pass == XentPass::Forward ? fwd : pass == XentPass::Backward ? bwd : fwd + bwd, logits);
}

[[maybe_unused]] const bool kRegistered = [] {
  const int64_t classes[] = {10, 100, 1000};
  std::vector<int64_t> sizes;
  for (int64_t C : classes) sizes.push_back(4 * kRows * C);
  bench::register_memcpy(sizes);
  for (int64_t C : classes) {
    const std::string shape = "/" + std::to_string(kRows) + "x" + std::to_string(C);
    for (bool bwd : {false, true})
      bench::configure(benchmark::RegisterBenchmark(("softmax" + shape + (bwd ? "/backward" : "/forward")).c_str(),
                                                    BM_softmax, C, bwd));
    const std::pair<XentPass, const char*> passes[] = {
        {XentPass::Forward, "/forward"}, {XentPass::Backward, "/backward"}, {XentPass::Both, "/forward+backward"}};
    for (const auto& [pass, name] : passes)
      bench::configure(benchmark::RegisterBenchmark(("cross_entropy" + shape + name).c_str(), BM_cross_entropy, C, pass));
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
