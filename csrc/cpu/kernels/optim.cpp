// Fused optimizer updates, compiled per instruction set. Every rule follows torch.optim's
// single-tensor implementation step by step, in the parameter's own precision T, with Python
// scalars converted to T where torch converts them, so results agree with torch to rounding.
// Notation: p = param, g = gradient, lerp(a, b, w) = a + w (b - a) (torch's two-sided form).
#include <math.h>

#include <type_traits>

#include "core/parallel.h"
#include "ops/optim.h"

namespace ember {
namespace CPU_CAPABILITY {
namespace {

// Every flag that is fixed for a whole step (maximize, weight decay, amsgrad, ...) is a template
// parameter, so each loop body is branch-free and the compiler vectorises it; with the flags as
// runtime branches only SGD vectorised and Adam ran at ~2 passes over memory instead of ~1.
// The loops live in functions of their own (<algo>_loop), not in the dispatching lambdas: there
// the constants were captured by reference, and a float store to p[i] might have changed them as
// far as the compiler knew, so it reloaded them every iteration and would not vectorise. The
// __restrict promise (the buffers of one parameter are disjoint) is checked by the op layer.
template <bool B>
using Flag = std::integral_constant<bool, B>;

// Calls f(Flag<b0>{}, Flag<b1>{}, ...) with the runtime bools turned into compile-time constants;
// the callers hand them on as <algo>_loop<T, decltype(flag)::value...>.
template <typename F>
void with_flags(F&& f) {
  f();
}
template <typename F, typename... Rest>
void with_flags(F&& f, bool b, Rest... rest) {
  if (b) {
    with_flags([&](auto... fl) { f(Flag<true>{}, fl...); }, rest...);
  } else {
    with_flags([&](auto... fl) { f(Flag<false>{}, fl...); }, rest...);
  }
}

// torch's two-sided lerp(a, b, w) = a + w (b - a) for w < 0.5, else b - (b - a)(1 - w); the
// weight is fixed for the step, so the side is chosen once (kLowW) rather than per element.
template <bool kLowW, typename T>
inline T lerp(T self, T end, T w, T one_minus_w) {
  return kLowW ? self + w * (end - self) : end - (end - self) * one_minus_w;
}

inline float sqrt_t(float x) { return sqrtf(x); }
inline double sqrt_t(double x) { return sqrt(x); }

template <typename T, bool kMax, bool kWd, bool kMom, bool kFirst, bool kNesterov>
void sgd_loop(const OptimHyper& h, const OptimTensorArgs& a, int64_t b, int64_t e) {
  T* __restrict p = static_cast<T*>(a.param);
  const T* __restrict gr = static_cast<const T*>(a.grad);
  T* __restrict buf = static_cast<T*>(a.state[0]);
  const T wd = T(h.weight_decay), mom = T(h.momentum), damp1 = T(1.0 - h.dampening), neg_lr = T(-h.lr);
  for (int64_t i = b; i < e; ++i) {
    T g = kMax ? -gr[i] : gr[i];
    if (kWd) g = g + wd * p[i];
    if (kMom) {
      buf[i] = kFirst ? g : buf[i] * mom + damp1 * g;
      g = kNesterov ? g + mom * buf[i] : buf[i];
    }
    p[i] = p[i] + neg_lr * g;
  }
}

template <typename T>
void sgd(const OptimHyper& h, const OptimTensorArgs& a, int64_t b, int64_t e) {
  with_flags([&](auto... flag) { sgd_loop<T, decltype(flag)::value...>(h, a, b, e); },
             h.maximize, h.weight_decay != 0, h.momentum != 0, a.first, h.nesterov);
}

// Adam / AdamW. coef[0] = lr / bias_correction1, coef[1] = sqrt(bias_correction2).
template <typename T, bool kMax, bool kDecoupled, bool kWd, bool kAms, bool kLowW>
void adam_loop(const OptimHyper& h, const OptimTensorArgs& a, int64_t b, int64_t e) {
  T* __restrict p = static_cast<T*>(a.param);
  const T* __restrict gr = static_cast<const T*>(a.grad);
  T* __restrict m = static_cast<T*>(a.state[0]);
  T* __restrict v = static_cast<T*>(a.state[1]);
  T* __restrict vmax = static_cast<T*>(a.state[2]);
  const T wd = T(h.weight_decay), decay = T(1.0 - h.lr * h.weight_decay);
  const T w1 = T(1.0 - h.beta1), beta1 = T(h.beta1), beta2 = T(h.beta2), w2 = T(1.0 - h.beta2);
  const T bc2_sqrt = T(a.coef[1]), eps = T(h.eps), neg_step = T(-a.coef[0]);
  for (int64_t i = b; i < e; ++i) {
    T g = kMax ? -gr[i] : gr[i];
    if (kDecoupled) p[i] = p[i] * decay;
    else if (kWd) g = g + wd * p[i];
    const T mi = lerp<kLowW>(m[i], g, w1, beta1);
    const T vi = v[i] * beta2 + w2 * g * g;
    m[i] = mi;
    v[i] = vi;
    T denom;
    if (kAms) {
      const T vm = vmax[i] >= vi ? vmax[i] : vi;  // torch.maximum (NaN propagates)
      vmax[i] = vm;
      denom = sqrt_t(vm) / bc2_sqrt + eps;
    } else {
      denom = sqrt_t(vi) / bc2_sqrt + eps;
    }
    p[i] = p[i] + neg_step * mi / denom;
  }
}

template <typename T>
void adam(const OptimHyper& h, const OptimTensorArgs& a, int64_t b, int64_t e) {
  with_flags([&](auto... flag) { adam_loop<T, decltype(flag)::value...>(h, a, b, e); },
             h.maximize, h.decoupled, h.weight_decay != 0, h.amsgrad, T(1.0 - h.beta1) < T(0.5));
}

template <typename T, bool kMax, bool kWd, bool kCentered, bool kMom, bool kLowW>
void rmsprop_loop(const OptimHyper& h, const OptimTensorArgs& a, int64_t b, int64_t e) {
  T* __restrict p = static_cast<T*>(a.param);
  const T* __restrict gr = static_cast<const T*>(a.grad);
  T* __restrict sq = static_cast<T*>(a.state[0]);
  T* __restrict buf = static_cast<T*>(a.state[1]);
  T* __restrict gavg = static_cast<T*>(a.state[2]);
  const T wd = T(h.weight_decay), alpha = T(h.alpha), w = T(1.0 - h.alpha), eps = T(h.eps);
  const T mom = T(h.momentum), neg_lr = T(-h.lr);
  for (int64_t i = b; i < e; ++i) {
    T g = kMax ? -gr[i] : gr[i];
    if (kWd) g = g + wd * p[i];
    const T si = sq[i] * alpha + w * g * g;
    sq[i] = si;
    T avg;
    if (kCentered) {
      const T ga = lerp<kLowW>(gavg[i], g, w, alpha);
      gavg[i] = ga;
      avg = sqrt_t(si + T(-1) * ga * ga);
    } else {
      avg = sqrt_t(si);
    }
    avg = avg + eps;
    // torch: buf = buf * mom + g / avg; p += -lr * buf   or   p.addcdiv_(g, avg, value=-lr)
    T step;
    if (kMom) {
      step = buf[i] * mom + g / avg;
      buf[i] = step;
      step = neg_lr * step;
    } else {
      step = neg_lr * g / avg;
    }
    p[i] = p[i] + step;
  }
}

template <typename T>
void rmsprop(const OptimHyper& h, const OptimTensorArgs& a, int64_t b, int64_t e) {
  with_flags([&](auto... flag) { rmsprop_loop<T, decltype(flag)::value...>(h, a, b, e); },
             h.maximize, h.weight_decay != 0, h.centered, h.momentum > 0, T(1.0 - h.alpha) < T(0.5));
}

// coef[0] = clr = lr / (1 + (step - 1) * lr_decay).
template <typename T, bool kMax, bool kWd>
void adagrad_loop(const OptimHyper& h, const OptimTensorArgs& a, int64_t b, int64_t e) {
  T* __restrict p = static_cast<T*>(a.param);
  const T* __restrict gr = static_cast<const T*>(a.grad);
  T* __restrict sum = static_cast<T*>(a.state[0]);
  const T wd = T(h.weight_decay), eps = T(h.eps), neg_clr = T(-a.coef[0]);
  for (int64_t i = b; i < e; ++i) {
    T g = kMax ? -gr[i] : gr[i];
    if (kWd) g = g + wd * p[i];
    const T si = sum[i] + T(1) * g * g;
    sum[i] = si;
    const T std_ = sqrt_t(si) + eps;
    p[i] = p[i] + neg_clr * g / std_;
  }
}

template <typename T>
void adagrad(const OptimHyper& h, const OptimTensorArgs& a, int64_t b, int64_t e) {
  with_flags([&](auto... flag) { adagrad_loop<T, decltype(flag)::value...>(h, a, b, e); },
             h.maximize, h.weight_decay != 0);
}

template <typename T, bool kMax, bool kWd>
void adadelta_loop(const OptimHyper& h, const OptimTensorArgs& a, int64_t b, int64_t e) {
  T* __restrict p = static_cast<T*>(a.param);
  const T* __restrict gr = static_cast<const T*>(a.grad);
  T* __restrict sq = static_cast<T*>(a.state[0]);
  T* __restrict acc = static_cast<T*>(a.state[1]);
  const T wd = T(h.weight_decay), rho = T(h.rho), w = T(1.0 - h.rho), eps = T(h.eps), neg_lr = T(-h.lr);
  for (int64_t i = b; i < e; ++i) {
    T g = kMax ? -gr[i] : gr[i];
    if (kWd) g = g + wd * p[i];
    const T si = sq[i] * rho + w * g * g;
    sq[i] = si;
    const T std_ = sqrt_t(si + eps);
    T delta = sqrt_t(acc[i] + eps);
    delta = delta / std_ * g;
    acc[i] = acc[i] * rho + w * delta * delta;
    p[i] = p[i] + neg_lr * delta;
  }
}

template <typename T>
void adadelta(const OptimHyper& h, const OptimTensorArgs& a, int64_t b, int64_t e) {
  with_flags([&](auto... flag) { adadelta_loop<T, decltype(flag)::value...>(h, a, b, e); },
             h.maximize, h.weight_decay != 0);
}

template <typename T, bool kMax>
void rprop_loop(const OptimHyper& h, const OptimTensorArgs& a, int64_t b, int64_t e) {
  T* __restrict p = static_cast<T*>(a.param);
  const T* __restrict gr = static_cast<const T*>(a.grad);
  T* __restrict prev = static_cast<T*>(a.state[0]);
  T* __restrict ss = static_cast<T*>(a.state[1]);
  const T etaminus = T(h.etaminus), etaplus = T(h.etaplus), lo = T(h.step_min), hi = T(h.step_max);
  for (int64_t i = b; i < e; ++i) {
    T g = kMax ? -gr[i] : gr[i];
    const T prod = g * prev[i];
    const T factor = prod > T(0) ? etaplus : (prod < T(0) ? etaminus : T(1));
    T s = ss[i] * factor;
    s = s < lo ? lo : s;
    s = s > hi ? hi : s;
    ss[i] = s;
    g = factor == etaminus ? T(0) : g;  // torch: grad[sign.eq(etaminus)] = 0
    const T sgn = (g > T(0) ? T(1) : T(0)) - (g < T(0) ? T(1) : T(0));
    p[i] = p[i] + T(-1) * sgn * s;
    prev[i] = g;
  }
}

template <typename T>
void rprop(const OptimHyper& h, const OptimTensorArgs& a, int64_t b, int64_t e) {
  with_flags([&](auto... flag) { rprop_loop<T, decltype(flag)::value...>(h, a, b, e); },
             h.maximize);
}

// coef = {-lr (1 - mu) / (1 - mu_product), -lr mu_next / (1 - mu_product_next), bias_correction2}.
template <typename T, bool kMax, bool kWd, bool kDecoupled, bool kLowW>
void nadam_loop(const OptimHyper& h, const OptimTensorArgs& a, int64_t b, int64_t e) {
  T* __restrict p = static_cast<T*>(a.param);
  const T* __restrict gr = static_cast<const T*>(a.grad);
  T* __restrict m = static_cast<T*>(a.state[0]);
  T* __restrict v = static_cast<T*>(a.state[1]);
  const T wd = T(h.weight_decay), decay = T(1.0 - h.lr * h.weight_decay);
  const T w1 = T(1.0 - h.beta1), beta1 = T(h.beta1), beta2 = T(h.beta2), w2 = T(1.0 - h.beta2), eps = T(h.eps);
  const T cg = T(a.coef[0]), cm = T(a.coef[1]), bc2 = T(a.coef[2]);
  for (int64_t i = b; i < e; ++i) {
    T g = kMax ? -gr[i] : gr[i];
    T pi = p[i];
    if (kWd) {
      if (kDecoupled) pi = pi * decay;
      else g = g + wd * pi;
    }
    const T mi = lerp<kLowW>(m[i], g, w1, beta1);
    const T vi = v[i] * beta2 + w2 * g * g;
    m[i] = mi;
    v[i] = vi;
    const T denom = sqrt_t(vi / bc2) + eps;
    pi = pi + cg * g / denom;
    p[i] = pi + cm * mi / denom;
  }
}

template <typename T>
void nadam(const OptimHyper& h, const OptimTensorArgs& a, int64_t b, int64_t e) {
  with_flags([&](auto... flag) { nadam_loop<T, decltype(flag)::value...>(h, a, b, e); },
             h.maximize, h.weight_decay != 0, h.decoupled, T(1.0 - h.beta1) < T(0.5));
}

template <typename T>
void run_chunk(OptimAlgo algo, const OptimHyper& h, const OptimTensorArgs& a, int64_t b, int64_t e) {
  switch (algo) {
    case OptimAlgo::SGD: return sgd<T>(h, a, b, e);
    case OptimAlgo::Adam: return adam<T>(h, a, b, e);
    case OptimAlgo::RMSprop: return rmsprop<T>(h, a, b, e);
    case OptimAlgo::Adagrad: return adagrad<T>(h, a, b, e);
    case OptimAlgo::Adadelta: return adadelta<T>(h, a, b, e);
    case OptimAlgo::Rprop: return rprop<T>(h, a, b, e);
    case OptimAlgo::NAdam: return nadam<T>(h, a, b, e);
  }
}

void optim_step_kernel(OptimAlgo algo, DType dtype, const OptimHyper& hyper, const OptimTensorArgs* tensors,
                       const OptimChunk* chunks, int64_t nchunks) {
  const bool f64 = dtype == DType::Float64;
  // A second thread pays off only with enough elements to share: waking it costs microseconds,
  // and a whole scheduler time slice on a loaded machine (an 11 ms stall on the XOR MLP).
  int64_t total = 0;
  for (int64_t c = 0; c < nchunks; ++c) total += chunks[c].end - chunks[c].begin;
  const int64_t grain = total < (int64_t(1) << 16) ? std::max<int64_t>(nchunks, 1) : 1;
  parallel_for(0, nchunks, grain, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const OptimChunk& ch = chunks[c];
      if (f64) run_chunk<double>(algo, hyper, tensors[ch.tensor], ch.begin, ch.end);
      else run_chunk<float>(algo, hyper, tensors[ch.tensor], ch.begin, ch.end);
    }
  });
}

}  // namespace

REGISTER_CPU_KERNEL(optim_step_stub, &optim_step_kernel);

}  // namespace CPU_CAPABILITY
}  // namespace ember
