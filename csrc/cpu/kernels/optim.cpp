// Fused optimizer updates, compiled per instruction set. Every rule follows torch.optim's
// single-tensor implementation step by step, in the parameter's own precision T, with Python
// scalars converted to T where torch converts them, so results agree with torch to rounding.
// Notation: p = param, g = gradient, lerp(a, b, w) = a + w (b - a) (torch's two-sided form).
#include <math.h>

#include "core/parallel.h"
#include "ops/optim.h"

namespace ember {
namespace CPU_CAPABILITY {
namespace {

template <typename T>
inline T lerp(T self, T end, T w) {
  return w < T(0.5) ? self + w * (end - self) : end - (end - self) * (T(1) - w);
}

inline float sqrt_t(float x) { return sqrtf(x); }
inline double sqrt_t(double x) { return sqrt(x); }

template <typename T>
void sgd(const OptimHyper& h, const OptimTensorArgs& a, int64_t b, int64_t e) {
  T* p = static_cast<T*>(a.param);
  const T* gr = static_cast<const T*>(a.grad);
  T* buf = static_cast<T*>(a.state[0]);
  const T wd = T(h.weight_decay), mom = T(h.momentum), damp1 = T(1.0 - h.dampening), neg_lr = T(-h.lr);
  for (int64_t i = b; i < e; ++i) {
    T g = h.maximize ? -gr[i] : gr[i];
    if (h.weight_decay != 0) g = g + wd * p[i];
    if (h.momentum != 0) {
      buf[i] = a.first ? g : buf[i] * mom + damp1 * g;
      g = h.nesterov ? g + mom * buf[i] : buf[i];
    }
    p[i] = p[i] + neg_lr * g;
  }
}

// Adam / AdamW. coef[0] = lr / bias_correction1, coef[1] = sqrt(bias_correction2).
template <typename T>
void adam(const OptimHyper& h, const OptimTensorArgs& a, int64_t b, int64_t e) {
  T* p = static_cast<T*>(a.param);
  const T* gr = static_cast<const T*>(a.grad);
  T* m = static_cast<T*>(a.state[0]);
  T* v = static_cast<T*>(a.state[1]);
  T* vmax = static_cast<T*>(a.state[2]);
  const T wd = T(h.weight_decay), decay = T(1.0 - h.lr * h.weight_decay);
  const T w1 = T(1.0 - h.beta1), beta2 = T(h.beta2), w2 = T(1.0 - h.beta2);
  const T bc2_sqrt = T(a.coef[1]), eps = T(h.eps), neg_step = T(-a.coef[0]);
  for (int64_t i = b; i < e; ++i) {
    T g = h.maximize ? -gr[i] : gr[i];
    if (h.decoupled) p[i] = p[i] * decay;
    else if (h.weight_decay != 0) g = g + wd * p[i];
    m[i] = lerp(m[i], g, w1);
    v[i] = v[i] * beta2 + w2 * g * g;
    T denom;
    if (h.amsgrad) {
      if (!(vmax[i] >= v[i])) vmax[i] = v[i];  // torch.maximum (NaN propagates)
      denom = sqrt_t(vmax[i]) / bc2_sqrt + eps;
    } else {
      denom = sqrt_t(v[i]) / bc2_sqrt + eps;
    }
    p[i] = p[i] + neg_step * m[i] / denom;
  }
}

template <typename T>
void rmsprop(const OptimHyper& h, const OptimTensorArgs& a, int64_t b, int64_t e) {
  T* p = static_cast<T*>(a.param);
  const T* gr = static_cast<const T*>(a.grad);
  T* sq = static_cast<T*>(a.state[0]);
  T* buf = static_cast<T*>(a.state[1]);
  T* gavg = static_cast<T*>(a.state[2]);
  const T wd = T(h.weight_decay), alpha = T(h.alpha), w = T(1.0 - h.alpha), eps = T(h.eps);
  const T mom = T(h.momentum), neg_lr = T(-h.lr);
  for (int64_t i = b; i < e; ++i) {
    T g = h.maximize ? -gr[i] : gr[i];
    if (h.weight_decay != 0) g = g + wd * p[i];
    sq[i] = sq[i] * alpha + w * g * g;
    T avg;
    if (h.centered) {
      gavg[i] = lerp(gavg[i], g, w);
      avg = sqrt_t(sq[i] + T(-1) * gavg[i] * gavg[i]);
    } else {
      avg = sqrt_t(sq[i]);
    }
    avg = avg + eps;
    if (h.momentum > 0) {
      buf[i] = buf[i] * mom + g / avg;
      p[i] = p[i] + neg_lr * buf[i];
    } else {
      p[i] = p[i] + neg_lr * g / avg;
    }
  }
}

// coef[0] = clr = lr / (1 + (step - 1) * lr_decay).
template <typename T>
void adagrad(const OptimHyper& h, const OptimTensorArgs& a, int64_t b, int64_t e) {
  T* p = static_cast<T*>(a.param);
  const T* gr = static_cast<const T*>(a.grad);
  T* sum = static_cast<T*>(a.state[0]);
  const T wd = T(h.weight_decay), eps = T(h.eps), neg_clr = T(-a.coef[0]);
  for (int64_t i = b; i < e; ++i) {
    T g = h.maximize ? -gr[i] : gr[i];
    if (h.weight_decay != 0) g = g + wd * p[i];
    sum[i] = sum[i] + T(1) * g * g;
    const T std_ = sqrt_t(sum[i]) + eps;
    p[i] = p[i] + neg_clr * g / std_;
  }
}

template <typename T>
void adadelta(const OptimHyper& h, const OptimTensorArgs& a, int64_t b, int64_t e) {
  T* p = static_cast<T*>(a.param);
  const T* gr = static_cast<const T*>(a.grad);
  T* sq = static_cast<T*>(a.state[0]);
  T* acc = static_cast<T*>(a.state[1]);
  const T wd = T(h.weight_decay), rho = T(h.rho), w = T(1.0 - h.rho), eps = T(h.eps), neg_lr = T(-h.lr);
  for (int64_t i = b; i < e; ++i) {
    T g = h.maximize ? -gr[i] : gr[i];
    if (h.weight_decay != 0) g = g + wd * p[i];
    sq[i] = sq[i] * rho + w * g * g;
    const T std_ = sqrt_t(sq[i] + eps);
    T delta = sqrt_t(acc[i] + eps);
    delta = delta / std_ * g;
    acc[i] = acc[i] * rho + w * delta * delta;
    p[i] = p[i] + neg_lr * delta;
  }
}

template <typename T>
inline T sign(T x) {
  return T((T(0) < x) - (x < T(0)));
}

template <typename T>
void rprop(const OptimHyper& h, const OptimTensorArgs& a, int64_t b, int64_t e) {
  T* p = static_cast<T*>(a.param);
  const T* gr = static_cast<const T*>(a.grad);
  T* prev = static_cast<T*>(a.state[0]);
  T* ss = static_cast<T*>(a.state[1]);
  const T etaminus = T(h.etaminus), etaplus = T(h.etaplus), lo = T(h.step_min), hi = T(h.step_max);
  for (int64_t i = b; i < e; ++i) {
    T g = h.maximize ? -gr[i] : gr[i];
    const T prod = g * prev[i];
    const T factor = prod > T(0) ? etaplus : prod < T(0) ? etaminus : T(1);
    T s = ss[i] * factor;
    s = s < lo ? lo : s;
    s = s > hi ? hi : s;
    ss[i] = s;
    if (factor == etaminus) g = T(0);  // torch: grad[sign.eq(etaminus)] = 0
    p[i] = p[i] + T(-1) * sign(g) * s;
    prev[i] = g;
  }
}

// coef = {-lr (1 - mu) / (1 - mu_product), -lr mu_next / (1 - mu_product_next), bias_correction2}.
template <typename T>
void nadam(const OptimHyper& h, const OptimTensorArgs& a, int64_t b, int64_t e) {
  T* p = static_cast<T*>(a.param);
  const T* gr = static_cast<const T*>(a.grad);
  T* m = static_cast<T*>(a.state[0]);
  T* v = static_cast<T*>(a.state[1]);
  const T wd = T(h.weight_decay), decay = T(1.0 - h.lr * h.weight_decay);
  const T w1 = T(1.0 - h.beta1), beta2 = T(h.beta2), w2 = T(1.0 - h.beta2), eps = T(h.eps);
  const T cg = T(a.coef[0]), cm = T(a.coef[1]), bc2 = T(a.coef[2]);
  for (int64_t i = b; i < e; ++i) {
    T g = h.maximize ? -gr[i] : gr[i];
    if (h.weight_decay != 0) {
      if (h.decoupled) p[i] = p[i] * decay;
      else g = g + wd * p[i];
    }
    m[i] = lerp(m[i], g, w1);
    v[i] = v[i] * beta2 + w2 * g * g;
    const T denom = sqrt_t(v[i] / bc2) + eps;
    p[i] = p[i] + cg * g / denom;
    p[i] = p[i] + cm * m[i] / denom;
  }
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
