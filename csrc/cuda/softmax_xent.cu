// CUDA softmax / log_softmax over any dim and the fused softmax + cross-entropy (and nll_loss),
// forward and backward, with the semantics of csrc/cpu/kernels/softmax_xent.cpp.
// Softmax views a tensor as (outer, D, inner): row r = (o, i) holds D elements at
// base = o*D*inner + i, stride inner. Cross-entropy: N = batch, C = classes, S = spatial
// positions; position pos = (n, s) is a row of C logits at n*C*S + s, stride S.
// Rows go to a thread (strided rows: adjacent threads read adjacent columns; the reference path),
// a warp (contiguous rows up to 1024) or a block (longer ones): see nn_util.cuh.
//
// Stability: m = the row max (NaN wins; a row of -inf uses m = 0), sums of exp(x - m) in double,
// log p = (x - m) - log(sum) (never x - (m + log(sum)), which rounds log(sum) to the spacing of m).
// Cross-entropy never materialises the probabilities: the forward stores log(sum) per position
// (float64), the backward recomputes m and p = exp((x - m) - log(sum)) from the logits.
#include <limits>

#include "cuda/math.cuh"
#include "cuda/nn_util.cuh"
#include "ops/softmax.h"

namespace ember {
namespace cuda {
namespace {

// Row max over the group; -inf (a row of -inf, or an empty part of a row) becomes 0.
template <typename T, typename G>
__device__ __forceinline__ T group_row_max(const T* x, int64_t D, int64_t stride) {
  const T neg_inf = -std::numeric_limits<T>::infinity();
  T m = neg_inf;
  for (int64_t d = G::lane(); d < D; d += G::size()) m = NanMaxOp{}(x[d * stride], m);
  m = G::reduce(m, NanMaxOp{}, neg_inf);
  return (m == neg_inf) ? T(0) : m;
}

// ---- softmax kernels --------------------------------------------------------------------------
template <typename T, typename G>
__global__ void __launch_bounds__(G::kThreads) softmax_forward_kernel(T* out, const T* x, int64_t rows, int64_t D,
                                                                      int64_t inner, bool log) {
  for (int64_t r = G::first(); r < rows; r += G::step()) {
    const int64_t o = r / inner, base = o * D * inner + (r - o * inner);
    const T* xr = x + base;
    T* yr = out + base;
    const T m = group_row_max<T, G>(xr, D, inner);
    double sum = 0;
    for (int64_t d = G::lane(); d < D; d += G::size())
      sum += log ? m_exp(double(xr[d * inner] - m)) : double(m_exp(T(xr[d * inner] - m)));
    sum = G::reduce(sum, SumOp{}, 0.0);
    if (log) {
      const T log_sum = T(::log(sum));
      for (int64_t d = G::lane(); d < D; d += G::size()) yr[d * inner] = (xr[d * inner] - m) - log_sum;
    } else {
      const T inv = T(1.0 / sum);
      for (int64_t d = G::lane(); d < D; d += G::size()) yr[d * inner] = m_exp(T(xr[d * inner] - m)) * inv;
    }
  }
}

// softmax: dx = y * (dy - sum(dy * y)); log_softmax: dx = dy - exp(y) * sum(dy).
template <typename T, typename G>
__global__ void __launch_bounds__(G::kThreads) softmax_backward_kernel(T* dx, const T* dy, const T* y, int64_t rows,
                                                                       int64_t D, int64_t inner, bool log) {
  for (int64_t r = G::first(); r < rows; r += G::step()) {
    const int64_t o = r / inner, base = o * D * inner + (r - o * inner);
    double acc = 0;
    for (int64_t d = G::lane(); d < D; d += G::size()) {
      const int64_t k = base + d * inner;
      acc += log ? double(dy[k]) : double(dy[k]) * double(y[k]);
    }
    const T a = T(G::reduce(acc, SumOp{}, 0.0));
    for (int64_t d = G::lane(); d < D; d += G::size()) {
      const int64_t k = base + d * inner;
      dx[k] = log ? T(dy[k] - m_exp(y[k]) * a) : T(y[k] * (dy[k] - a));
    }
  }
}

// ---- cross-entropy kernels --------------------------------------------------------------------
// loss = -(1-ls) w[t] logp[t] - ls/C sum_c w[c] logp[c]       (class targets)
// loss = -sum_c w[c] y'[c] logp[c],  y' = (1-ls) y + ls/C      (probability targets)
// d loss / d x_c = p_c * sum_c' q_c' - q_c, where q is the weighted target distribution.
template <typename T, typename G>
__global__ void __launch_bounds__(G::kThreads) xent_forward_kernel(const XentArgs a) {
  const int64_t C = a.C, S = a.S, positions = a.N * a.S;
  const T* in = reinterpret_cast<const T*>(a.input);
  const T* w = reinterpret_cast<const T*>(a.weight);
  const T* prob = reinterpret_cast<const T*>(a.target_prob);
  T* loss = reinterpret_cast<T*>(a.loss);
  T* denom = reinterpret_cast<T*>(a.denom);
  double* log_sum_out = reinterpret_cast<double*>(a.lse);
  const double ls = a.label_smoothing;
  const bool leader = G::lane() == 0;
  for (int64_t pos = G::first(); pos < positions; pos += G::step()) {
    const int64_t n = pos / S, off = n * C * S + (pos - n * S);
    const T* x = in + off;
    // logp(c) = (x_c - m) - log_sum; nll_loss's input already is logp (m = log_sum = 0)
    double m = 0, log_sum = 0;
    if (!a.log_probs_input) {
      m = double(group_row_max<T, G>(x, C, S));
      double sum = 0;
      for (int64_t c = G::lane(); c < C; c += G::size()) sum += ::exp(double(x[c * S]) - m);
      log_sum = ::log(G::reduce(sum, SumOp{}, 0.0));
    }
    if (leader) log_sum_out[pos] = log_sum;
    double l = 0, den = 1;
    if (a.target_idx) {
      const int64_t t = a.target_idx[pos];  // the same for the whole group: branches stay uniform
      if (t == a.ignore_index || t < 0 || t >= C) {
        if (leader) {
          if (t != a.ignore_index && a.bad_target) flag_position(a.bad_target, pos);
          loss[pos] = t == a.ignore_index ? T(0) : std::numeric_limits<T>::quiet_NaN();
          denom[pos] = T(0);
        }
        continue;
      }
      const double wt = w ? double(w[t]) : 1.0;
      l = -(1 - ls) * wt * ((double(x[t * S]) - m) - log_sum);
      if (ls > 0) {
        double sm = 0;
        for (int64_t c = G::lane(); c < C; c += G::size())
          sm += (w ? double(w[c]) : 1.0) * ((double(x[c * S]) - m) - log_sum);
        l -= ls / double(C) * G::reduce(sm, SumOp{}, 0.0);
      }
      den = wt;
    } else {
      const T* y = prob + off;
      double acc = 0;
      for (int64_t c = G::lane(); c < C; c += G::size()) {
        const double q = (w ? double(w[c]) : 1.0) * ((1 - ls) * double(y[c * S]) + ls / double(C));
        acc -= q * ((double(x[c * S]) - m) - log_sum);
      }
      l = G::reduce(acc, SumOp{}, 0.0);
    }
    if (leader) {
      loss[pos] = T(l);
      denom[pos] = T(den);
    }
  }
}

// dinput = grad[pos * grad_stride] * scale * d(loss_pos)/d(input)
template <typename T, typename G>
__global__ void __launch_bounds__(G::kThreads) xent_backward_kernel(const XentArgs a) {
  const int64_t C = a.C, S = a.S, positions = a.N * a.S;
  const T* in = reinterpret_cast<const T*>(a.input);
  const T* w = reinterpret_cast<const T*>(a.weight);
  const T* prob = reinterpret_cast<const T*>(a.target_prob);
  const T* grad = reinterpret_cast<const T*>(a.grad);
  const double* log_sum_in = reinterpret_cast<const double*>(a.lse_in);
  T* dinput = reinterpret_cast<T*>(a.dinput);
  const double ls = a.label_smoothing, smooth = ls / double(C);
  for (int64_t pos = G::first(); pos < positions; pos += G::step()) {
    const int64_t n = pos / S, off = n * C * S + (pos - n * S);
    const T* x = in + off;
    T* dx = dinput + off;
    const double g = double(grad[pos * a.grad_stride]) * a.scale;
    if (a.target_idx) {
      const int64_t t = a.target_idx[pos];
      if (t == a.ignore_index || t < 0 || t >= C) {
        if (t != a.ignore_index && a.bad_target && G::lane() == 0) flag_position(a.bad_target, pos);
        for (int64_t c = G::lane(); c < C; c += G::size()) dx[c * S] = T(0);
        continue;
      }
      const double wt = w ? double(w[t]) : 1.0;
      if (a.log_probs_input) {  // nll_loss: d/dx_t = -w[t]
        for (int64_t c = G::lane(); c < C; c += G::size()) dx[c * S] = c == t ? T(-wt * g) : T(0);
        continue;
      }
      const double m = double(group_row_max<T, G>(x, C, S)), log_sum = log_sum_in[pos];
      const double total = (1 - ls) * wt + smooth * a.weight_sum;
      for (int64_t c = G::lane(); c < C; c += G::size()) {
        const double p = ::exp((double(x[c * S]) - m) - log_sum);
        const double q = smooth * (w ? double(w[c]) : 1.0);
        T v = T(g * (p * total - q));
        if (c == t) v = v + T(-g * (1 - ls) * wt);  // the CPU's dx[t] += ..., in T
        dx[c * S] = v;
      }
    } else {
      const T* y = prob + off;
      const double m = a.log_probs_input ? 0.0 : double(group_row_max<T, G>(x, C, S));
      const double log_sum = a.log_probs_input ? 0.0 : log_sum_in[pos];
      double total = 0;
      for (int64_t c = G::lane(); c < C; c += G::size())
        total += (w ? double(w[c]) : 1.0) * ((1 - ls) * double(y[c * S]) + smooth);
      total = G::reduce(total, SumOp{}, 0.0);
      for (int64_t c = G::lane(); c < C; c += G::size()) {
        const double q = (w ? double(w[c]) : 1.0) * ((1 - ls) * double(y[c * S]) + smooth);
        const double p = a.log_probs_input ? 0.0 : ::exp((double(x[c * S]) - m) - log_sum);
        dx[c * S] = T(g * (p * total - q));
      }
    }
  }
}

// ---- launchers --------------------------------------------------------------------------------
void softmax_launch(DType dtype, char* out, const char* x, int64_t outer, int64_t D, int64_t inner, bool log) {
  const int64_t rows = outer * inner;
  if (rows == 0 || D == 0) return;
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "softmax", [&] {
    with_row_group(pick_row_path(D, inner), [&](auto group) {
      using G = decltype(group);
      softmax_forward_kernel<scalar_t, G><<<G::blocks(rows), G::kThreads>>>(
          reinterpret_cast<scalar_t*>(out), reinterpret_cast<const scalar_t*>(x), rows, D, inner, log);
    });
  });
  CUDA_CHECK_LAUNCH();
}

void softmax_backward_launch(DType dtype, char* dx, const char* dy, const char* y, int64_t outer, int64_t D,
                             int64_t inner, bool log) {
  const int64_t rows = outer * inner;
  if (rows == 0 || D == 0) return;
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "softmax_backward", [&] {
    with_row_group(pick_row_path(D, inner), [&](auto group) {
      using G = decltype(group);
      softmax_backward_kernel<scalar_t, G><<<G::blocks(rows), G::kThreads>>>(
          reinterpret_cast<scalar_t*>(dx), reinterpret_cast<const scalar_t*>(dy),
          reinterpret_cast<const scalar_t*>(y), rows, D, inner, log);
    });
  });
  CUDA_CHECK_LAUNCH();
}

void xent_forward_launch(DType dtype, const XentArgs& a) {
  const int64_t positions = a.N * a.S;
  if (positions == 0) return;
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "cross_entropy", [&] {
    with_row_group(pick_row_path(a.C, a.S), [&](auto group) {
      using G = decltype(group);
      xent_forward_kernel<scalar_t, G><<<G::blocks(positions), G::kThreads>>>(a);
    });
  });
  CUDA_CHECK_LAUNCH();
}

void xent_backward_launch(DType dtype, const XentArgs& a) {
  const int64_t positions = a.N * a.S;
  if (positions == 0) return;
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "cross_entropy_backward", [&] {
    with_row_group(pick_row_path(a.C, a.S), [&](auto group) {
      using G = decltype(group);
      xent_backward_kernel<scalar_t, G><<<G::blocks(positions), G::kThreads>>>(a);
    });
  });
  CUDA_CHECK_LAUNCH();
}

}  // namespace

REGISTER_CUDA_KERNEL(softmax_stub, &softmax_launch);
REGISTER_CUDA_KERNEL(softmax_backward_stub, &softmax_backward_launch);
REGISTER_CUDA_KERNEL(xent_forward_stub, &xent_forward_launch);
REGISTER_CUDA_KERNEL(xent_backward_stub, &xent_backward_launch);

}  // namespace cuda
}  // namespace ember
