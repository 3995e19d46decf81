// CPU reductions, compiled per instruction set. Each output element reduces the sub-space of
// reduced dims; a contiguous innermost run is reduced with several accumulators (vectorised),
// and the common "reduce the leading dim of a row-major matrix" case (bias gradients,
// batch statistics) accumulates whole rows instead of striding down columns ("rows" below:
// R = reduced length, C = kept length, rs = row stride). Float statistics accumulate in double;
// var/std use two passes (mean, then squared deviations), logsumexp shifts by the max.
#include <cmath>
#include <limits>
#include <type_traits>

#include "core/parallel.h"
#include "cpu/kernels/vec_math.h"
#include "core/loop.h"
#include "ops/reduce.h"

namespace ember {
namespace CPU_CAPABILITY {
namespace {

template <typename T>
using acc_t = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

// Visits input offsets (elements) of the reduced sub-space in row-major order, calling
// f(offset, run_length, run_stride) for each run of the innermost reduced dim.
template <typename F>
inline void for_each_run(const ReducePlan& p, int64_t base, F f) {
  const int64_t nd = int64_t(p.red_shape.size());
  if (nd == 0) { f(base, 1, 1); return; }
  if (p.red_numel == 0) return;  // an empty sub-space: the identity of the reduction
  const int64_t inner = p.red_shape[nd - 1], inner_stride = p.red_strides[nd - 1];
  const int64_t outer = p.red_numel / inner;
  int64_t idx[kMaxLoopDims] = {};
  int64_t off = base;
  for (int64_t o = 0; o < outer; ++o) {
    f(off, inner, inner_stride);
    for (int64_t d = nd - 2; d >= 0; --d) {
      off += p.red_strides[d];
      if (++idx[d] < p.red_shape[d]) break;
      off -= p.red_strides[d] * p.red_shape[d];
      idx[d] = 0;
    }
  }
}

// Input offset of output element `i` (kept dims in row-major order).
inline int64_t kept_offset(const ReducePlan& p, int64_t i) {
  int64_t off = 0;
  for (int64_t d = int64_t(p.kept_shape.size()) - 1; d >= 0; --d) {
    off += (i % p.kept_shape[d]) * p.kept_strides[d];
    i /= p.kept_shape[d];
  }
  return off;
}

// The "rows" case: one reduced dim that is outermost-strided, one kept dim that is contiguous.
inline bool is_rows(const ReducePlan& p) {
  return p.red_shape.size() == 1 && p.kept_shape.size() == 1 && p.kept_strides[0] == 1 &&
         p.red_strides[0] >= p.kept_shape[0] && p.out_numel >= 16;
}

// Column blocks of the rows case, split over threads: f(c_begin, c_end) with c_end - c_begin <= kBlock.
constexpr int64_t kBlock = 512;
template <typename F>
inline void for_each_column_block(const ReducePlan& p, const F& f) {
  const int64_t R = p.red_shape[0], C = p.kept_shape[0];
  parallel_for(0, C, std::max<int64_t>(256, 65536 / std::max<int64_t>(R, 1)), [&](int64_t c0, int64_t c1) {
    for (int64_t cb = c0; cb < c1; cb += kBlock) f(cb, std::min(c1, cb + kBlock));
  });
}

inline int64_t grain_for(const ReducePlan& p) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(p.red_numel, 1)); }

template <typename T>
inline bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  else return false;
}

template <typename T, typename A>
inline A sum_run(const T* x, int64_t n, int64_t stride) {
  if (stride == 1) {
    A acc[8] = {};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
      for (int k = 0; k < 8; ++k) acc[k] += A(x[i + k]);
    A s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; ++i) s += A(x[i]);
    return s;
  }
  A s = 0;
  for (int64_t i = 0; i < n; ++i) s += A(x[i * stride]);
  return s;
}

template <typename T, typename O>
void sum_kernel(const ReducePlan& p, const T* x, O* out, bool mean) {
  using A = acc_t<T>;
  const double scale = p.red_numel ? 1.0 / double(p.red_numel) : std::numeric_limits<double>::quiet_NaN();
  // Row accumulation: one reduced dim that is outermost-strided, kept dims contiguous.
  if (is_rows(p)) {
    const int64_t R = p.red_shape[0], C = p.kept_shape[0], rs = p.red_strides[0];
    parallel_for(0, C, std::max<int64_t>(256, 65536 / std::max<int64_t>(R, 1)), [&](int64_t c0, int64_t c1) {
      A acc[kBlock];
      for (int64_t cb = c0; cb < c1; cb += kBlock) {
        const int64_t ce = std::min(c1, cb + kBlock);
        for (int64_t c = cb; c < ce; ++c) acc[c - cb] = 0;
        for (int64_t r = 0; r < R; ++r) {
          const T* row = x + r * rs;
          for (int64_t c = cb; c < ce; ++c) acc[c - cb] += A(row[c]);
        }
        for (int64_t c = cb; c < ce; ++c) out[c] = O(mean ? double(acc[c - cb]) * scale : acc[c - cb]);
      }
    });
    return;
  }
  parallel_for(0, p.out_numel, std::max<int64_t>(1, 32768 / std::max<int64_t>(p.red_numel, 1)),
               [&](int64_t o0, int64_t o1) {
                 for (int64_t o = o0; o < o1; ++o) {
                   A s = 0;
                   for_each_run(p, kept_offset(p, o), [&](int64_t off, int64_t n, int64_t st) {
                     s += sum_run<T, A>(x + off, n, st);
                   });
                   out[o] = O(mean ? double(s) * scale : s);
                 }
               });
}

template <typename T>
void prod_all_any_kernel(ReduceOp op, const ReducePlan& p, const T* x, const Tensor& out) {
  parallel_for(0, p.out_numel, grain_for(p), [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      const int64_t base = kept_offset(p, o);
      if (op == ReduceOp::Prod) {
        acc_t<T> r = 1;
        for_each_run(p, base, [&](int64_t off, int64_t n, int64_t st) {
          for (int64_t i = 0; i < n; ++i) r *= acc_t<T>(x[off + i * st]);
        });
        if (std::is_floating_point_v<T>) out.data<T>()[o] = T(r);
        else out.data<int64_t>()[o] = int64_t(r);
      } else {
        const bool want_all = op == ReduceOp::All;
        bool r = want_all;
        for_each_run(p, base, [&](int64_t off, int64_t n, int64_t st) {
          for (int64_t i = 0; i < n; ++i) {
            const bool v = x[off + i * st] != T(0);
            r = want_all ? (r && v) : (r || v);
          }
        });
        out.data<bool>()[o] = r;
      }
    }
  });
}

// ---- max / min / argmax / argmin ---------------------------------------------------------------
// The first extreme wins; NaN is the extreme of everything (torch's rule).
template <typename T, bool kMax>
inline T better(T best, T v) { return kMax ? (v > best ? v : best) : (v < best ? v : best); }

// Folds a run into (best, nan); select-based so that the contiguous case vectorises.
template <typename T, bool kMax>
inline void extreme_run(const T* x, int64_t n, int64_t st, T& best, bool& nan) {
  int64_t i = 0;
  if (st == 1 && n >= 16) {
    T m[8];
    unsigned char nf[8] = {};
    for (int k = 0; k < 8; ++k) m[k] = x[k];
    for (; i + 8 <= n; i += 8)
      for (int k = 0; k < 8; ++k) {
        const T v = x[i + k];
        m[k] = better<T, kMax>(m[k], v);
        nf[k] |= is_nan(v);
      }
    for (int k = 0; k < 8; ++k) { best = better<T, kMax>(best, m[k]); nan |= nf[k] != 0; }
  }
  for (; i < n; ++i) {
    const T v = x[i * st];
    best = better<T, kMax>(best, v);
    nan |= is_nan(v);
  }
}

// Values (when `vals`) and/or indices (when `idx`) of the extreme of each output's sub-space.
template <typename T, bool kMax>
void extreme_kernel(const ReducePlan& p, const T* x, T* vals, int64_t* idx) {
  if (is_rows(p)) {
    const int64_t R = p.red_shape[0], rs = p.red_strides[0];
    for_each_column_block(p, [&](int64_t cb, int64_t ce) {
      T best[kBlock];
      int64_t bi[kBlock];
      unsigned char nf[kBlock];
      for (int64_t c = cb; c < ce; ++c) { best[c - cb] = x[c]; bi[c - cb] = 0; nf[c - cb] = is_nan(x[c]); }
      for (int64_t r = 1; r < R; ++r) {
        const T* row = x + r * rs;
        if (idx) {
          for (int64_t c = cb; c < ce; ++c) {
            const T v = row[c];
            const bool take = (kMax ? v > best[c - cb] : v < best[c - cb]) || (is_nan(v) && !nf[c - cb]);
            best[c - cb] = take ? v : best[c - cb];
            bi[c - cb] = take ? r : bi[c - cb];
            nf[c - cb] |= is_nan(v);
          }
        } else {
          for (int64_t c = cb; c < ce; ++c) {
            best[c - cb] = better<T, kMax>(best[c - cb], row[c]);
            nf[c - cb] |= is_nan(row[c]);
          }
        }
      }
      for (int64_t c = cb; c < ce; ++c) {
        if (vals) vals[c] = nf[c - cb] ? std::numeric_limits<T>::quiet_NaN() : best[c - cb];
        if (idx) idx[c] = bi[c - cb];
      }
    });
    return;
  }
  parallel_for(0, p.out_numel, grain_for(p), [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      const int64_t base = kept_offset(p, o);
      T best = x[base];
      bool nan = false;
      for_each_run(p, base, [&](int64_t off, int64_t n, int64_t st) { extreme_run<T, kMax>(x + off, n, st, best, nan); });
      if (nan) best = std::numeric_limits<T>::quiet_NaN();
      if (vals) vals[o] = best;
      if (!idx) continue;
      // Second pass: the first position holding the extreme (usually still in cache).
      int64_t k = 0, found = -1;
      for_each_run(p, base, [&](int64_t off, int64_t n, int64_t st) {
        if (found >= 0) return;
        for (int64_t i = 0; i < n; ++i) {
          const T v = x[off + i * st];
          if (nan ? is_nan(v) : v == best) { found = k + i; return; }
        }
        k += n;
      });
      idx[o] = found;
    }
  });
}

template <typename T>
void extreme_dispatch(bool is_max, const ReducePlan& p, const T* x, T* vals, int64_t* idx) {
  if (is_max) extreme_kernel<T, true>(p, x, vals, idx);
  else extreme_kernel<T, false>(p, x, vals, idx);
}

void reduce_kernel(ReduceOp op, const ReducePlan& p, const Tensor& x, const Tensor& out) {
  EMBER_DISPATCH_ALL_TYPES_AND_BOOL(x.dtype(), "reduce", [&] {
    const scalar_t* xp = x.data<scalar_t>();
    switch (op) {
      case ReduceOp::Sum: case ReduceOp::Mean: {
        const bool mean = op == ReduceOp::Mean;
        if constexpr (std::is_floating_point_v<scalar_t>) {
          EMBER_DISPATCH_FLOATING_TYPES(out.dtype(), "sum", [&] { sum_kernel(p, xp, out.data<scalar_t>(), mean); });
        } else {
          EMBER_DISPATCH_ALL_TYPES(out.dtype(), "sum", [&] { sum_kernel(p, xp, out.data<scalar_t>(), mean); });
        }
        return;
      }
      case ReduceOp::Max: case ReduceOp::Min:
        return extreme_dispatch<scalar_t>(op == ReduceOp::Max, p, xp, out.data<scalar_t>(), nullptr);
      case ReduceOp::ArgMax: case ReduceOp::ArgMin:
        return extreme_dispatch<scalar_t>(op == ReduceOp::ArgMax, p, xp, nullptr, out.data<int64_t>());
      default:
        return prod_all_any_kernel<scalar_t>(op, p, xp, out);
    }
  });
}

void reduce_index_kernel(bool is_max, const ReducePlan& p, const Tensor& x, const Tensor& values,
                         const Tensor& indices) {
  EMBER_DISPATCH_ALL_TYPES_AND_BOOL(x.dtype(), "max", [&] {
    extreme_dispatch<scalar_t>(is_max, p, x.data<scalar_t>(), values.data<scalar_t>(), indices.data<int64_t>());
  });
}

// ---- var / std / norm / logsumexp ---------------------------------------------------------------
// sum over the sub-space of f(double(x)), four accumulators on contiguous runs.
template <typename T, typename F>
inline double map_sum(const ReducePlan& p, const T* x, int64_t base, const F& f) {
  double s = 0;
  for_each_run(p, base, [&](int64_t off, int64_t n, int64_t st) {
    const T* xp = x + off;
    if (st == 1) {
      double a[4] = {};
      int64_t i = 0;
      for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; ++k) a[k] += f(double(xp[i + k]));
      for (; i < n; ++i) a[0] += f(double(xp[i]));
      s += (a[0] + a[1]) + (a[2] + a[3]);
    } else {
      for (int64_t i = 0; i < n; ++i) s += f(double(xp[i * st]));
    }
  });
  return s;
}

// Max (kMax) or min of |x| or x over the sub-space; NaN propagates.
template <typename T, bool kMax, bool kAbs>
inline double map_extreme(const ReducePlan& p, const T* x, int64_t base) {
  double best = kMax ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  bool nan = false;
  for_each_run(p, base, [&](int64_t off, int64_t n, int64_t st) {
    for (int64_t i = 0; i < n; ++i) {
      const double v = kAbs ? std::fabs(double(x[off + i * st])) : double(x[off + i * st]);
      best = better<double, kMax>(best, v);
      nan |= v != v;
    }
  });
  return nan ? std::numeric_limits<double>::quiet_NaN() : best;
}

template <typename T>
double stat_one(StatOp op, const ReducePlan& p, const T* x, int64_t base, double param) {
  const double N = double(p.red_numel);
  switch (op) {
    case StatOp::Var: case StatOp::Std: {
      const double mean = map_sum(p, x, base, [](double v) { return v; }) / N;
      const double m2 = map_sum(p, x, base, [mean](double v) { return (v - mean) * (v - mean); });
      const double var = m2 / std::max(0.0, N - param);
      return op == StatOp::Std ? std::sqrt(var) : var;
    }
    case StatOp::LogSumExp: {
      double m = map_extreme<T, true, false>(p, x, base);
      if (std::isinf(m)) m = 0;  // all -inf gives -inf, any +inf gives +inf, without inf - inf
      if constexpr (std::is_same_v<T, float>)  // vec_math's exp vectorises; libm's is one call each
        return m + std::log(map_sum(p, x, base, [m](double v) { return double(vec_math::exp_f32(float(v - m))); }));
      return m + std::log(map_sum(p, x, base, [m](double v) { return std::exp(v - m); }));
    }
    default: {  // Norm
      if (param == 2) return std::sqrt(map_sum(p, x, base, [](double v) { return v * v; }));
      if (param == 1) return map_sum(p, x, base, [](double v) { return std::fabs(v); });
      if (param == 0) return map_sum(p, x, base, [](double v) { return v != 0 ? 1.0 : 0.0; });
      if (std::isinf(param))
        return param > 0 ? map_extreme<T, true, true>(p, x, base) : map_extreme<T, false, true>(p, x, base);
      return std::pow(map_sum(p, x, base, [param](double v) { return std::pow(std::fabs(v), param); }), 1.0 / param);
    }
  }
}

// The rows case of var/std and the 1- and 2-norms: whole rows per pass, per-column accumulators.
template <typename T>
void stat_rows(StatOp op, const ReducePlan& p, const T* x, T* out, double param) {
  const int64_t R = p.red_shape[0], rs = p.red_strides[0];
  for_each_column_block(p, [&](int64_t cb, int64_t ce) {
    double acc[kBlock], mean[kBlock];
    const int64_t w = ce - cb;
    const T* xb = x + cb;
    for (int64_t c = 0; c < w; ++c) acc[c] = 0;
    if (op == StatOp::Norm) {
      for (int64_t r = 0; r < R; ++r) {
        const T* row = xb + r * rs;
        if (param == 2) for (int64_t c = 0; c < w; ++c) acc[c] += double(row[c]) * double(row[c]);
        else for (int64_t c = 0; c < w; ++c) acc[c] += std::fabs(double(row[c]));
      }
      for (int64_t c = 0; c < w; ++c) out[cb + c] = T(param == 2 ? std::sqrt(acc[c]) : acc[c]);
      return;
    }
    for (int64_t r = 0; r < R; ++r) {
      const T* row = xb + r * rs;
      for (int64_t c = 0; c < w; ++c) acc[c] += double(row[c]);
    }
    for (int64_t c = 0; c < w; ++c) { mean[c] = acc[c] / double(R); acc[c] = 0; }
    for (int64_t r = 0; r < R; ++r) {
      const T* row = xb + r * rs;
      for (int64_t c = 0; c < w; ++c) {
        const double d = double(row[c]) - mean[c];
        acc[c] += d * d;
      }
    }
    const double denom = std::max(0.0, double(R) - param);
    for (int64_t c = 0; c < w; ++c) {
      const double var = acc[c] / denom;
      out[cb + c] = T(op == StatOp::Std ? std::sqrt(var) : var);
    }
  });
}

void reduce_stat_kernel(StatOp op, const ReducePlan& p, const Tensor& x, const Tensor& out, double param) {
  EMBER_DISPATCH_FLOATING_TYPES(x.dtype(), "reduce_stat", [&] {
    const scalar_t* xp = x.data<scalar_t>();
    scalar_t* op_ = out.data<scalar_t>();
    const bool rows_ok = op == StatOp::Var || op == StatOp::Std || (op == StatOp::Norm && (param == 1 || param == 2));
    if (rows_ok && is_rows(p)) return stat_rows(op, p, xp, op_, param);
    parallel_for(0, p.out_numel, grain_for(p), [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) op_[o] = scalar_t(stat_one(op, p, xp, kept_offset(p, o), param));
    });
  });
}

// ---- cumsum -------------------------------------------------------------------------------------
template <typename T>
void cumsum_typed(const T* x, T* out, int64_t outer, int64_t len, int64_t inner) {
  using A = acc_t<T>;
  if (inner == 1) {
    parallel_for(0, outer, std::max<int64_t>(1, 32768 / std::max<int64_t>(len, 1)), [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        A s = 0;
        const T* xr = x + o * len;
        T* yr = out + o * len;
        for (int64_t i = 0; i < len; ++i) { s += A(xr[i]); yr[i] = T(s); }
      }
    });
    return;
  }
  // Scan whole rows of `inner` elements at once, kBlock columns at a time.
  const int64_t nblk = (inner + kBlock - 1) / kBlock;
  parallel_for(0, outer * nblk, std::max<int64_t>(1, 64 / std::max<int64_t>(len, 1)), [&](int64_t t0, int64_t t1) {
    A acc[kBlock];
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = t / nblk, cb = (t % nblk) * kBlock, w = std::min(kBlock, inner - cb);
      for (int64_t c = 0; c < w; ++c) acc[c] = 0;
      for (int64_t l = 0; l < len; ++l) {
        const int64_t off = (o * len + l) * inner + cb;
        for (int64_t c = 0; c < w; ++c) { acc[c] += A(x[off + c]); out[off + c] = T(acc[c]); }
      }
    }
  });
}

void cumsum_kernel(const Tensor& x, const Tensor& out, int64_t outer, int64_t len, int64_t inner) {
  EMBER_DISPATCH_ALL_TYPES(x.dtype(), "cumsum", [&] {
    cumsum_typed<scalar_t>(x.data<scalar_t>(), out.data<scalar_t>(), outer, len, inner);
  });
}

}  // namespace

REGISTER_CPU_KERNEL(reduce_stub, &reduce_kernel);
REGISTER_CPU_KERNEL(reduce_index_stub, &reduce_index_kernel);
REGISTER_CPU_KERNEL(reduce_stat_stub, &reduce_stat_kernel);
REGISTER_CPU_KERNEL(cumsum_stub, &cumsum_kernel);

}  // namespace CPU_CAPABILITY
}  // namespace ember
