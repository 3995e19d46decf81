// Softmax, log_softmax and the fused softmax + cross-entropy, forward and backward; compiled once
// per instruction set. A tensor is (outer, D, inner) around the softmax dim. inner == 1 is the
// contiguous-row fast path; otherwise blocks of kBlock adjacent columns are reduced together so
// that the inner loops stay contiguous (no transposed copies).
// Cross-entropy: N = batch, C = classes, S = spatial positions; one position at a time, the
// probabilities are never materialised: forward keeps log_sum = log(sum(exp(x - m))) with m the
// row max, backward recomputes m and p = exp((x - m) - log_sum) from the logits. Subtracting m
// first keeps log p exact at large |x|, where x - (m + log_sum) would cancel catastrophically.
#include <cmath>

#include "core/parallel.h"
#include "cpu/kernels/vec_lanes.h"
#include "cpu/kernels/vec_math.h"
#include "ops/softmax.h"

namespace ember {
namespace CPU_CAPABILITY {
namespace {

constexpr int64_t kBlock = 32;

// exp in the softmax loops: vec_math's for float32 so that the loops vectorise, libm's for double.
inline float exp_t(float x) { return vec_math::exp_f32(x); }
inline double exp_t(double x) { return std::exp(x); }

// The max m of a contiguous float32 row and Σ exp(x - m) in one pass (vec_math::max_exp_sum_f32);
// false (double, or a NaN / inf / all -inf row) sends the caller to row_max and sum_exp.
inline bool max_exp_sum(const float* x, int64_t n, float& m, double& sum) {
  return vec_math::max_exp_sum_f32(x, n, m, sum);
}
inline bool max_exp_sum(const double*, int64_t, double&, double&) { return false; }

// Contiguous rows are reduced in kLanes independent lanes, combined at the end: one serial chain of
// compares or additions would cost its latency per element and never vectorise.
constexpr int64_t kLanes = 16;

// Row max of a softmax row (NaN wins); a row of -inf gives 0 so that exp(-inf - 0) = 0.
template <typename T>
T row_max(const T* x, int64_t n, int64_t stride) {
  const T m = extreme_run<T, true>(x, n, stride, T(-INFINITY));  // vector lanes on contiguous rows
  return std::isinf(m) && m < 0 ? T(0) : m;
}

// sum of exp(x[i * stride] - m) over the row, accumulated in double; with `out`, also stores each
// exp(x - m) there (contiguous rows only).
template <typename T>
double sum_exp(const T* x, int64_t n, int64_t stride, T m, T* out = nullptr) {
  double sum = 0;
  if constexpr (std::is_same_v<T, float>) {
    if (stride == 1 && !out && std::isfinite(m)) return vec_math::exp_sum_f32(x, n, m);
    if (stride == 1 && std::isfinite(m)) return vec_math::exp_store_sum_f32(x, n, m, out);
    if (stride == 1) {  // blocks of x - m, exponentiated in place by vec_math::exp_f32_array
      constexpr int64_t kBlk = 256;
      float buf[kBlk];
      double lane[kLanes] = {};
      for (int64_t b = 0; b < n; b += kBlk) {
        const int64_t w = std::min(kBlk, n - b);
        float* e = out ? out + b : buf;
        for (int64_t i = 0; i < w; ++i) e[i] = x[b + i] - m;
        vec_math::exp_f32_array(e, e, w);
        int64_t i = 0;
        for (; i + kLanes <= w; i += kLanes)
          for (int64_t j = 0; j < kLanes; ++j) lane[j] += e[i + j];
        for (; i < w; ++i) sum += e[i];
      }
      for (int64_t j = 0; j < kLanes; ++j) sum += lane[j];
      return sum;
    }
  }
  if (stride == 1) {
    double lane[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes)
      for (int64_t j = 0; j < kLanes; ++j) {
        const T e = exp_t(T(x[i + j] - m));
        if (out) out[i + j] = e;
        lane[j] += e;
      }
    for (; i < n; ++i) {
      const T e = exp_t(T(x[i] - m));
      if (out) out[i] = e;
      sum += e;
    }
    for (int64_t j = 0; j < kLanes; ++j) sum += lane[j];
  } else {
    for (int64_t i = 0; i < n; ++i) sum += exp_t(T(x[i * stride] - m));
  }
  return sum;
}

template <typename T>
void softmax_rows(T* out, const T* x, int64_t rows, int64_t D, bool log) {
  parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(D, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * D;
      T* yr = out + r * D;
      if (log) {
        // (x - m) - log(sum), not x - (m + log(sum)): with |m| ~ 1e4 or more, m + log(sum) rounds
        // log(sum) to the spacing of m in float32 (0.001 at 1e4, 1 at 1e7).
        T m;
        double sum;
        if (!max_exp_sum(xr, D, m, sum)) {
          m = row_max(xr, D, 1);  // a row of -inf: exp(-inf - 0) = 0, gives NaN like torch
          sum = sum_exp(xr, D, 1, m);
        }
        const T log_sum = T(std::log(sum));
        for (int64_t d = 0; d < D; ++d) yr[d] = (xr[d] - m) - log_sum;
      } else {
        const T m = row_max(xr, D, 1);
        const T inv = T(1.0 / sum_exp(xr, D, 1, m, yr));
        for (int64_t d = 0; d < D; ++d) yr[d] *= inv;
      }
    }
  });
}

template <typename T>
void softmax_strided(T* out, const T* x, int64_t outer, int64_t D, int64_t inner, bool log) {
  const int64_t nblocks = (inner + kBlock - 1) / kBlock;
  parallel_for(0, outer * nblocks, 1, [&](int64_t b0, int64_t b1) {
    T m[kBlock];
    double sum[kBlock];
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t o = b / nblocks, i0 = (b % nblocks) * kBlock;
      const int64_t n = std::min(kBlock, inner - i0);
      const T* xb = x + o * D * inner + i0;
      T* yb = out + o * D * inner + i0;
      for (int64_t j = 0; j < n; ++j) { m[j] = -INFINITY; sum[j] = 0; }
      for (int64_t d = 0; d < D; ++d)
        for (int64_t j = 0; j < n; ++j) {
          const T v = xb[d * inner + j];
          m[j] = v > m[j] || v != v ? v : m[j];
        }
      for (int64_t j = 0; j < n; ++j)
        if (std::isinf(m[j]) && m[j] < 0) m[j] = 0;
      for (int64_t d = 0; d < D; ++d)
        for (int64_t j = 0; j < n; ++j) {
          const T e = exp_t(T(xb[d * inner + j] - m[j]));
          if (!log) yb[d * inner + j] = e;
          sum[j] += e;
        }
      if (log) {
        T log_sum[kBlock];  // (x - m) - log(sum), as in softmax_rows
        for (int64_t j = 0; j < n; ++j) log_sum[j] = T(std::log(sum[j]));
        for (int64_t d = 0; d < D; ++d)
          for (int64_t j = 0; j < n; ++j) yb[d * inner + j] = (xb[d * inner + j] - m[j]) - log_sum[j];
      } else {
        T inv[kBlock];
        for (int64_t j = 0; j < n; ++j) inv[j] = T(1.0 / sum[j]);
        for (int64_t d = 0; d < D; ++d)
          for (int64_t j = 0; j < n; ++j) yb[d * inner + j] *= inv[j];
      }
    }
  });
}

void softmax_kernel(DType dtype, char* out, const char* x, int64_t outer, int64_t D, int64_t inner, bool log) {
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "softmax", [&] {
    if (inner == 1)
      softmax_rows(reinterpret_cast<scalar_t*>(out), reinterpret_cast<const scalar_t*>(x), outer, D, log);
    else
      softmax_strided(reinterpret_cast<scalar_t*>(out), reinterpret_cast<const scalar_t*>(x), outer, D, inner, log);
  });
}

// softmax: dx = y * (dy - sum(dy * y)); log_softmax: dx = dy - exp(y) * sum(dy).
template <typename T>
void softmax_backward_rows(T* dx, const T* dy, const T* y, int64_t rows, int64_t D, bool log) {
  parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(D, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* g = dy + r * D;
      const T* yr = y + r * D;
      T* o = dx + r * D;
      double lane[kLanes] = {}, acc = 0;
      int64_t d = 0;
      for (; d + kLanes <= D; d += kLanes)
        for (int64_t j = 0; j < kLanes; ++j) lane[j] += log ? double(g[d + j]) : double(g[d + j]) * double(yr[d + j]);
      for (; d < D; ++d) acc += log ? double(g[d]) : double(g[d]) * double(yr[d]);
      for (int64_t j = 0; j < kLanes; ++j) acc += lane[j];
      const T a = T(acc);
      if (log)
        for (int64_t k = 0; k < D; ++k) o[k] = g[k] - exp_t(yr[k]) * a;
      else
        for (int64_t k = 0; k < D; ++k) o[k] = yr[k] * (g[k] - a);
    }
  });
}

template <typename T>
void softmax_backward_impl(T* dx, const T* dy, const T* y, int64_t outer, int64_t D, int64_t inner, bool log) {
  if (inner == 1) return softmax_backward_rows(dx, dy, y, outer, D, log);
  const int64_t nblocks = (inner + kBlock - 1) / kBlock;
  parallel_for(0, outer * nblocks, std::max<int64_t>(1, 16384 / std::max<int64_t>(D * inner, 1)),
               [&](int64_t b0, int64_t b1) {
    double acc[kBlock];
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t o = b / nblocks, i0 = (b % nblocks) * kBlock;
      const int64_t n = std::min(kBlock, inner - i0);
      const int64_t base = o * D * inner + i0;
      for (int64_t j = 0; j < n; ++j) acc[j] = 0;
      for (int64_t d = 0; d < D; ++d)
        for (int64_t j = 0; j < n; ++j) {
          const int64_t k = base + d * inner + j;
          acc[j] += log ? double(dy[k]) : double(dy[k]) * double(y[k]);
        }
      for (int64_t d = 0; d < D; ++d)
        for (int64_t j = 0; j < n; ++j) {
          const int64_t k = base + d * inner + j;
          dx[k] = log ? T(dy[k] - exp_t(y[k]) * T(acc[j])) : T(y[k] * (dy[k] - T(acc[j])));
        }
    }
  });
}

void softmax_backward_kernel(DType dtype, char* dx, const char* dy, const char* y, int64_t outer, int64_t D,
                             int64_t inner, bool log) {
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "softmax_backward", [&] {
    softmax_backward_impl(reinterpret_cast<scalar_t*>(dx), reinterpret_cast<const scalar_t*>(dy),
                          reinterpret_cast<const scalar_t*>(y), outer, D, inner, log);
  });
}

// ---- fused cross-entropy ----
// loss = -(1-ls) w[t] logp[t] - ls/C sum_c w[c] logp[c]       (class targets)
// loss = -sum_c w[c] y'[c] logp[c],  y' = (1-ls) y + ls/C      (probability targets)
// d loss / d x_c = p_c * sum_c' q_c' - q_c, where q is the weighted target distribution.
template <typename T>
void xent_forward_impl(const XentArgs& a) {
  const int64_t C = a.C, S = a.S;
  const T* in = reinterpret_cast<const T*>(a.input);
  const T* w = reinterpret_cast<const T*>(a.weight);
  const T* prob = reinterpret_cast<const T*>(a.target_prob);
  T* loss = reinterpret_cast<T*>(a.loss);
  double* log_sum_out = reinterpret_cast<double*>(a.lse);  // float64 whatever T is: see softmax.h
  T* denom = reinterpret_cast<T*>(a.denom);
  const double ls = a.label_smoothing;
  parallel_for(0, a.N * S, std::max<int64_t>(1, 8192 / std::max<int64_t>(C, 1)), [&](int64_t p0, int64_t p1) {
    for (int64_t pos = p0; pos < p1; ++pos) {
      const int64_t n = pos / S, s = pos % S;
      const T* x = in + n * C * S + s;  // class c at x[c * S]
      // logp(c) = (x_c - m) - log_sum; nll_loss's input already is logp (m = log_sum = 0)
      double m = 0, log_sum = 0;
      if (!a.log_probs_input) {
        T mt;
        double sum;
        if (S != 1 || !max_exp_sum(x, C, mt, sum)) {
          mt = row_max(x, C, S);
          sum = sum_exp(x, C, S, mt);
        }
        m = double(mt);
        log_sum = std::log(sum);
      }
      log_sum_out[pos] = log_sum;
      const auto logp = [&](int64_t c) { return (double(x[c * S]) - m) - log_sum; };
      double l = 0, den = 1;
      if (a.target_idx) {
        const int64_t t = a.target_idx[pos];
        if (t == a.ignore_index) {
          loss[pos] = 0;
          denom[pos] = 0;
          continue;
        }
        const double wt = w ? double(w[t]) : 1.0;
        l = -(1 - ls) * wt * logp(t);
        if (ls > 0) {
          double sm = 0;
          for (int64_t c = 0; c < C; ++c) sm += (w ? double(w[c]) : 1.0) * logp(c);
          l -= ls / double(C) * sm;
        }
        den = wt;
      } else {
        const T* y = prob + n * C * S + s;
        for (int64_t c = 0; c < C; ++c) {
          const double q = (w ? double(w[c]) : 1.0) * ((1 - ls) * double(y[c * S]) + ls / double(C));
          l -= q * logp(c);
        }
      }
      loss[pos] = T(l);
      denom[pos] = T(den);
    }
  });
}

template <typename T>
void xent_backward_impl(const XentArgs& a) {
  const int64_t C = a.C, S = a.S;
  const T* in = reinterpret_cast<const T*>(a.input);
  const T* w = reinterpret_cast<const T*>(a.weight);
  const T* prob = reinterpret_cast<const T*>(a.target_prob);
  const double* log_sum_in = reinterpret_cast<const double*>(a.lse_in);
  const T* grad = reinterpret_cast<const T*>(a.grad);
  T* dinput = reinterpret_cast<T*>(a.dinput);
  const double ls = a.label_smoothing;
  parallel_for(0, a.N * S, std::max<int64_t>(1, 8192 / std::max<int64_t>(C, 1)), [&](int64_t p0, int64_t p1) {
    for (int64_t pos = p0; pos < p1; ++pos) {
      const int64_t n = pos / S, s = pos % S;
      const T* x = in + n * C * S + s;
      T* dx = dinput + n * C * S + s;
      const double g = double(grad[pos * a.grad_stride]) * a.scale;
      if (a.target_idx) {
        const int64_t t = a.target_idx[pos];
        if (t == a.ignore_index) {
          for (int64_t c = 0; c < C; ++c) dx[c * S] = 0;
          continue;
        }
        const double wt = w ? double(w[t]) : 1.0;
        if (a.log_probs_input) {  // nll_loss: d/dx_t = -w[t]
          for (int64_t c = 0; c < C; ++c) dx[c * S] = 0;
          dx[t * S] = T(-wt * g);
          continue;
        }
        const T m = row_max(x, C, S), log_sum = T(log_sum_in[pos]);
        const double total = (1 - ls) * wt + ls / double(C) * a.weight_sum;
        const double smooth = ls / double(C);
        // p = exp((x - m) - log_sum), in T: float32 rows vectorise on vec_math's exp.
        if (S == 1 && !w) {
          const T gt = T(g * total), gq = T(g * smooth);
          if constexpr (std::is_same_v<T, float>) {  // the exponent in place, then the block exp
            for (int64_t c = 0; c < C; ++c) dx[c] = T(x[c] - m) - log_sum;
            vec_math::exp_f32_array(dx, dx, C);
            for (int64_t c = 0; c < C; ++c) dx[c] = gt * dx[c] - gq;
          } else {
            for (int64_t c = 0; c < C; ++c) dx[c] = gt * exp_t(T(T(x[c] - m) - log_sum)) - gq;
          }
        } else {
          for (int64_t c = 0; c < C; ++c) {
            const double p = exp_t(T(T(x[c * S] - m) - log_sum));
            const double q = smooth * (w ? double(w[c]) : 1.0);
            dx[c * S] = T(g * (p * total - q));
          }
        }
        dx[t * S] += T(-g * (1 - ls) * wt);
      } else {
        const T* y = prob + n * C * S + s;
        const double m = a.log_probs_input ? 0.0 : double(row_max(x, C, S));
        const double log_sum = a.log_probs_input ? 0.0 : log_sum_in[pos];
        double total = 0;
        for (int64_t c = 0; c < C; ++c)
          total += (w ? double(w[c]) : 1.0) * ((1 - ls) * double(y[c * S]) + ls / double(C));
        for (int64_t c = 0; c < C; ++c) {
          const double q = (w ? double(w[c]) : 1.0) * ((1 - ls) * double(y[c * S]) + ls / double(C));
          const double p = a.log_probs_input ? 0.0 : double(exp_t(T(T(x[c * S] - T(m)) - T(log_sum))));
          dx[c * S] = T(g * (p * total - q));
        }
      }
    }
  });
}

void xent_forward_kernel(DType dtype, const XentArgs& a) {
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "cross_entropy", [&] { xent_forward_impl<scalar_t>(a); });
}
void xent_backward_kernel(DType dtype, const XentArgs& a) {
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "cross_entropy_backward", [&] { xent_backward_impl<scalar_t>(a); });
}

}  // namespace

REGISTER_CPU_KERNEL(softmax_stub, &softmax_kernel);
REGISTER_CPU_KERNEL(softmax_backward_stub, &softmax_backward_kernel);
REGISTER_CPU_KERNEL(xent_forward_stub, &xent_forward_kernel);
REGISTER_CPU_KERNEL(xent_backward_stub, &xent_backward_kernel);

}  // namespace CPU_CAPABILITY
}  // namespace ember
