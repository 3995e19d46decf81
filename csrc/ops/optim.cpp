// Fused optimizer steps: argument checks, per-tensor coefficients (bias corrections, decayed
// learning rates) and the chunk list that spreads the element-wise update over threads.
#include "ops/optim.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace ember {

DEFINE_DISPATCH(optim_step_stub);

namespace {

const char* algo_name(OptimAlgo algo) {
  static const char* names[] = {"sgd", "adam", "rmsprop", "adagrad", "adadelta", "rprop", "nadam"};
  return names[int(algo)];
}

// Elements per chunk: large enough to amortise scheduling, small enough to balance threads.
constexpr int64_t kChunk = 1 << 15;

void check_like(const char* name, const char* what, size_t i, const Tensor& t, const Tensor& param) {
  EMBER_CHECK(t.defined(), ValueError, name, ": ", what, "[", i, "] is undefined");
  EMBER_CHECK(t.dtype() == param.dtype(), TypeError, name, ": ", what, "[", i, "] has dtype ",
              dtype_name(t.dtype()), " but its parameter has dtype ", dtype_name(param.dtype()));
  EMBER_CHECK(t.shape() == param.shape(), ValueError, name, ": ", what, "[", i, "] has shape ", t.shape(),
              " but its parameter has shape ", param.shape());
  EMBER_CHECK(t.is_contiguous(), ValueError, name, ": ", what, "[", i, "] must be contiguous");
  check_same_device(t, param, name);
}

// The kernels update element i of every buffer from element i of the others and are vectorised
// on the promise that the buffers of one parameter are disjoint (see EMBER_INDEPENDENT_ITERATIONS).
void check_disjoint(const char* name, size_t i, const std::vector<std::pair<const char*, const Tensor*>>& bufs) {
  for (size_t x = 0; x < bufs.size(); ++x) {
    for (size_t y = x + 1; y < bufs.size(); ++y) {
      const Tensor& a = *bufs[x].second;
      const Tensor& b = *bufs[y].second;
      const char* pa = static_cast<const char*>(a.raw_data());
      const char* pb = static_cast<const char*>(b.raw_data());
      const int64_t na = a.numel() * itemsize(a.dtype()), nb = b.numel() * itemsize(b.dtype());
      EMBER_CHECK(na == 0 || nb == 0 || pa + na <= pb || pb + nb <= pa, ValueError, name, ": ", bufs[x].first,
                  " and ", bufs[y].first, " of param[", i, "] share memory; each needs its own buffer");
    }
  }
}

}  // namespace

void optim_step(OptimAlgo algo, const OptimHyper& hyper, const std::vector<Tensor>& params,
                const std::vector<Tensor>& grads, const std::vector<std::vector<Tensor>>& states,
                const std::vector<double>& steps, const std::vector<bool>& first,
                const std::vector<std::vector<double>>& coefs) {
  const char* name = algo_name(algo);
  const size_t n = params.size();
  EMBER_CHECK(grads.size() == n, ValueError, name, ": got ", n, " params but ", grads.size(), " grads");
  EMBER_CHECK(states.size() <= 3, ValueError, name, ": at most 3 state lists");
  for (size_t k = 0; k < states.size(); ++k)
    EMBER_CHECK(states[k].empty() || states[k].size() == n, ValueError, name, ": state list ", k, " has ",
                states[k].size(), " tensors for ", n, " params");
  EMBER_CHECK(steps.empty() || steps.size() == n, ValueError, name, ": ", steps.size(), " steps for ", n, " params");
  EMBER_CHECK(first.empty() || first.size() == n, ValueError, name, ": ", first.size(), " flags for ", n, " params");
  EMBER_CHECK(coefs.empty() || coefs.size() == n, ValueError, name, ": ", coefs.size(), " coefficient sets for ",
              n, " params");
  if (n == 0) return;

  const DType dtype = params[0].dtype();
  EMBER_CHECK(dtype == DType::Float32 || dtype == DType::Float64, TypeError, name,
              ": parameters must be float32 or float64, got ", dtype_name(dtype));
  std::vector<OptimTensorArgs> args(n);
  std::vector<OptimChunk> chunks;
  for (size_t i = 0; i < n; ++i) {
    const Tensor& p = params[i];
    EMBER_CHECK(p.dtype() == dtype, TypeError, name, ": all parameters of a group must share a dtype (param[", i,
                "] is ", dtype_name(p.dtype()), ", param[0] is ", dtype_name(dtype), ")");
    EMBER_CHECK(p.is_contiguous(), ValueError, name, ": param[", i, "] must be contiguous");
    EMBER_CHECK(p.device() == params[0].device(), ValueError, name, ": all parameters must be on one device");
    check_like(name, "grad", i, grads[i], p);
    OptimTensorArgs& a = args[i];
    a.param = p.raw_data();
    a.grad = grads[i].raw_data();
    for (int k = 0; k < 3; ++k) {
      a.state[k] = nullptr;
      if (size_t(k) < states.size() && !states[k].empty()) {
        check_like(name, "state", i, states[k][i], p);
        a.state[k] = states[k][i].raw_data();
      }
    }
    std::vector<std::pair<const char*, const Tensor*>> bufs = {{"the parameter", &p}, {"the gradient", &grads[i]}};
    static const char* state_names[3] = {"state 0", "state 1", "state 2"};
    for (size_t k = 0; k < states.size(); ++k)
      if (!states[k].empty()) bufs.push_back({state_names[k], &states[k][i]});
    check_disjoint(name, i, bufs);
    a.numel = p.numel();
    a.first = first.empty() ? false : bool(first[i]);
    a.coef[0] = a.coef[1] = a.coef[2] = 0.0;
    const double step = steps.empty() ? 1.0 : steps[i];
    switch (algo) {
      case OptimAlgo::Adam: {
        // torch: step_size = lr / bias_correction1; denom = sqrt(v) / sqrt(bias_correction2) + eps
        const double bc1 = 1.0 - std::pow(hyper.beta1, step);
        const double bc2 = 1.0 - std::pow(hyper.beta2, step);
        a.coef[0] = hyper.lr / bc1;
        a.coef[1] = std::pow(bc2, 0.5);
        break;
      }
      case OptimAlgo::Adagrad:  // clr = lr / (1 + (step - 1) * lr_decay)
        a.coef[0] = hyper.lr / (1.0 + (step - 1.0) * hyper.alpha);
        break;
      case OptimAlgo::NAdam:
        EMBER_CHECK(!coefs.empty() && coefs[i].size() == 3, ValueError, name, ": needs 3 coefficients per param");
        for (int k = 0; k < 3; ++k) a.coef[k] = coefs[i][k];
        break;
      default:
        break;
    }
    const int64_t idx = int64_t(i);
    for (int64_t b = 0; b < a.numel; b += kChunk) chunks.push_back({idx, b, std::min(a.numel, b + kChunk)});
  }
  // State buffers each algorithm cannot run without.
  auto need = [&](int k, const char* what) {
    EMBER_CHECK(size_t(k) < states.size() && !states[k].empty(), ValueError, name, ": missing ", what, " buffers");
  };
  switch (algo) {
    case OptimAlgo::SGD: if (hyper.momentum != 0) need(0, "momentum_buffer"); break;
    case OptimAlgo::Adam: need(0, "exp_avg"); need(1, "exp_avg_sq"); if (hyper.amsgrad) need(2, "max_exp_avg_sq"); break;
    case OptimAlgo::RMSprop:
      need(0, "square_avg");
      if (hyper.momentum > 0) need(1, "momentum_buffer");
      if (hyper.centered) need(2, "grad_avg");
      break;
    case OptimAlgo::Adagrad: need(0, "sum"); break;
    case OptimAlgo::Adadelta: need(0, "square_avg"); need(1, "acc_delta"); break;
    case OptimAlgo::Rprop: need(0, "prev"); need(1, "step_size"); break;
    case OptimAlgo::NAdam: need(0, "exp_avg"); need(1, "exp_avg_sq"); break;
  }
  optim_step_stub.get(params[0].device())(algo, dtype, hyper, args.data(), chunks.data(), int64_t(chunks.size()));
  // In-place updates: bump version counters so autograd notices saved tensors that changed.
  for (size_t i = 0; i < n; ++i) {
    params[i].bump_version();
    for (const auto& s : states)
      if (!s.empty()) s[i].bump_version();
  }
}

}  // namespace ember
