// Fused optimizer steps over all of a network's parameters in one call (ops/optim.h), float32, in
// GB/s next to a memcpy of the parameters' size: SGD with momentum 0.9 and weight decay, and Adam,
// on the parameter shapes of ResNet-18 (ImageNet: 11.7M parameters, 47 MB, streams from memory)
// and ResNet-20 (CIFAR: 0.27M, 1.1 MB, cache-resident, where the per-tensor overhead shows).
// The shapes are those of benchmarks/bench_optim.py.
// Threads: EMBER_THREADS=n (default: all).
//   EMBER_THREADS=2 build/bench/benchmarks/cpp/bench_optim --benchmark_counters_tabular=true
#include <cmath>

#include "bench_common.h"
#include "ops/optim.h"

namespace {

using bench::Shape;
using bench::Tensor;
using ember::OptimAlgo;
using ember::OptimHyper;

std::vector<Shape> resnet18_shapes() {
  std::vector<Shape> s = {{64, 3, 7, 7}, {64}, {64}};  // stem conv + BatchNorm weight and bias
  int64_t cin = 64;
  for (auto [cout, stride] : {std::pair<int64_t, int64_t>{64, 1}, {128, 2}, {256, 2}, {512, 2}})
    for (int block = 0; block < 2; ++block) {
      const int64_t st = block == 0 ? stride : 1;
      for (const Shape& t : std::vector<Shape>{{cout, cin, 3, 3}, {cout}, {cout}, {cout, cout, 3, 3}, {cout}, {cout}})
        s.push_back(t);
      if (st != 1 || cin != cout)
        for (const Shape& t : std::vector<Shape>{{cout, cin, 1, 1}, {cout}, {cout}}) s.push_back(t);
      cin = cout;
    }
  s.push_back({1000, 512});
  s.push_back({1000});
  return s;
}

std::vector<Shape> resnet20_shapes() {
  std::vector<Shape> s = {{16, 3, 3, 3}, {16}, {16}};
  int64_t cin = 16;
  for (int64_t cout : {16, 32, 64})
    for (int block = 0; block < 3; ++block) {
      for (const Shape& t : std::vector<Shape>{{cout, cin, 3, 3}, {cout}, {cout}, {cout, cout, 3, 3}, {cout}, {cout}})
        s.push_back(t);
      if (cin != cout)
        for (const Shape& t : std::vector<Shape>{{cout, cin, 1, 1}, {cout}, {cout}}) s.push_back(t);
      cin = cout;
    }
  s.push_back({10, 64});
  s.push_back({10});
  return s;
}

int64_t total_numel(const std::vector<Shape>& shapes) {
  int64_t n = 0;
  for (const Shape& s : shapes) n += ember::shape_numel(s);
  return n;
}

constexpr double kStep = 10;  // Adam's bias corrections at step 10

OptimHyper hyper_for(OptimAlgo algo) {
  OptimHyper h;
  if (algo == OptimAlgo::SGD) {
    h.lr = 0.1, h.momentum = 0.9, h.weight_decay = 5e-4;
  } else {
    h.lr = 1e-3, h.beta1 = 0.9, h.beta2 = 0.999, h.eps = 1e-8;
  }
  return h;
}

// params, grads and state buffers (momentum; Adam's exp_avg and exp_avg_sq) of one network.
struct Model {
  std::vector<Tensor> params, grads;
  std::vector<std::vector<Tensor>> states;
  Model(const std::vector<Shape>& shapes, OptimAlgo algo) : states(algo == OptimAlgo::SGD ? 1 : 2) {
    unsigned seed = 1;
    for (const Shape& s : shapes) {
      params.push_back(bench::random_tensor(s, seed++));
      grads.push_back(bench::random_tensor(s, seed++, -1e-3f, 1e-3f));
      states[0].push_back(bench::random_tensor(s, seed++, -1e-3f, 1e-3f));  // momentum / exp_avg
      if (algo == OptimAlgo::Adam) states[1].push_back(bench::random_tensor(s, seed++, 1e-8f, 1e-6f));  // exp_avg_sq
    }
  }
  Model clone() const {
    Model m = *this;
    for (auto* list : {&m.params, &m.grads, &m.states[0]})
      for (Tensor& t : *list) t = t.clone();
    if (m.states.size() > 1)
      for (Tensor& t : m.states[1]) t = t.clone();
    return m;
  }
  void step(OptimAlgo algo, const OptimHyper& h) const {
    const std::vector<double> steps(params.size(), kStep);
    const std::vector<bool> first(params.size(), false);
    ember::optim_step(algo, h, params, grads, states, steps, first, {});
  }
};

// One step on a copy against torch.optim's update rules in double, every element:
//   SGD:  g += wd p; buf = momentum buf + g; p -= lr buf
//   Adam: m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)
// The parameter's change is compared (it is 1e-4 of p, so p itself would hide a wrong update),
// within float32 rounding of p.
bool check(benchmark::State& state, const Model& before, OptimAlgo algo, const OptimHyper& h) {
  const Model after = before.clone();
  after.step(algo, h);
  const double bc1 = 1 - std::pow(h.beta1, kStep), bc2 = 1 - std::pow(h.beta2, kStep);
  for (size_t t = 0; t < before.params.size(); ++t) {
    const int64_t n = before.params[t].numel();
    const size_t len = static_cast<size_t>(n);
    std::vector<double> want_delta(len), want_s0(len), want_s1(len), got_delta(len);
    const float* p = before.params[t].data<float>();
    const float* g = before.grads[t].data<float>();
    const float* s0 = before.states[0][t].data<float>();
    for (int64_t i = 0; i < n; ++i) {
      got_delta[size_t(i)] = double(after.params[t].data<float>()[i]) - p[i];
      if (algo == OptimAlgo::SGD) {
        const double buf = h.momentum * s0[i] + (g[i] + h.weight_decay * p[i]);
        want_s0[size_t(i)] = buf;
        want_delta[size_t(i)] = -h.lr * buf;
      } else {
        const double m = h.beta1 * s0[i] + (1 - h.beta1) * g[i];
        const double v = h.beta2 * before.states[1][t].data<float>()[i] + (1 - h.beta2) * double(g[i]) * g[i];
        want_s0[size_t(i)] = m, want_s1[size_t(i)] = v;
        want_delta[size_t(i)] = -h.lr / bc1 * m / (std::sqrt(v) / std::sqrt(bc2) + h.eps);
      }
    }
    if (!bench::check_close(state, "parameter update", got_delta.data(), want_delta.data(), n, 1e-3, 2.5e-7) ||
        !bench::check_close(state, "state 0", after.states[0][t].data<float>(), want_s0.data(), n, 1e-5, 1e-10) ||
        (algo == OptimAlgo::Adam &&
         !bench::check_close(state, "state 1", after.states[1][t].data<float>(), want_s1.data(), n, 1e-5, 1e-14)))
      return false;
  }
  return true;
}

void BM_optim(benchmark::State& state, std::vector<Shape> shapes, OptimAlgo algo) {
  bench::set_threads_from_env();
  const OptimHyper h = hyper_for(algo);
  const Model model(shapes, algo);
  if (!check(state, model, algo, h)) return;
  for (auto _ : state) {
    model.step(algo, h);
    benchmark::ClobberMemory();
  }
  // read p, g and every state buffer; write p and the state buffers.
  const int64_t buffers = 1 + int64_t(model.states.size());
  bench::report_bytes(state, 4 * total_numel(shapes) * (2 * buffers + 1), 4 * total_numel(shapes));
}

[[maybe_unused]] const bool kRegistered = [] {
  const std::pair<const char*, std::vector<Shape>> nets[] = {{"resnet18", resnet18_shapes()},
                                                            {"resnet20", resnet20_shapes()}};
  bench::register_memcpy({4 * total_numel(nets[0].second), 4 * total_numel(nets[1].second)});
  for (const auto& [net, shapes] : nets) {
    bench::configure(benchmark::RegisterBenchmark((std::string("sgd_momentum_wd/") + net).c_str(), BM_optim, shapes,
                                                  OptimAlgo::SGD));
    bench::configure(benchmark::RegisterBenchmark((std::string("adam/") + net).c_str(), BM_optim, shapes,
                                                  OptimAlgo::Adam));
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
