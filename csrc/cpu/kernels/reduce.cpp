// CPU reductions, compiled per instruction set. Each output element reduces the sub-space of
// reduced dims; a contiguous innermost run is reduced with several accumulators (vectorised),
// and the common "reduce the leading dim of a row-major matrix" case (bias gradients,
// batch statistics) accumulates whole rows instead of striding down columns ("rows" below:
// R = reduced length, C = kept length, rs = row stride). A full reduction of one long contiguous
// run is split into fixed chunks reduced in parallel and combined in order, so its result does not
// depend on the thread count.
// Accumulation: integers in int64; float64 in double; float32 contiguous runs in 32 float lanes over
// blocks of 256 elements whose lane sums go into double accumulators (each float partial holds 8
// terms, so the error stays within a few ulp of the block's magnitude; elsewhere double throughout;
// a run whose float partials overflowed is summed again in double).
// var/std take two passes (the mean, then deviations from it, corrected by their own sum),
// logsumexp shifts by the max.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/parallel.h"
#include "cpu/kernels/vec_lanes.h"
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

// Columns per thread in the rows case: one contiguous range per thread (each row is then read in
// as few and as long pieces as possible), at least 256 columns and 64K elements.
inline int64_t rows_grain(int64_t R, int64_t C) {
  const int64_t nt = get_num_threads();
  return std::max<int64_t>({256, 65536 / std::max<int64_t>(R, 1), (C + nt - 1) / nt});
}

// Column blocks of the rows case, split over threads: f(c_begin, c_end) with c_end - c_begin <= kBlock.
constexpr int64_t kBlock = 2048;
template <typename F>
inline void for_each_column_block(const ReducePlan& p, const F& f) {
  const int64_t R = p.red_shape[0], C = p.kept_shape[0];
  parallel_for(0, C, rows_grain(R, C), [&](int64_t c0, int64_t c1) {
    for (int64_t cb = c0; cb < c1; cb += kBlock) f(cb, std::min(c1, cb + kBlock));
  });
}

inline int64_t grain_for(const ReducePlan& p) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(p.red_numel, 1)); }

// Sum of a contiguous float32 run (see the top of the file for the accuracy): four vectors of
// float lanes over each 256-element block, the block's lanes then widened into double vectors.
inline double lane_sum_f32(const float* x, int64_t n) {
  using V = Vec32<float>::type;
  using D = Vec32<double>::type;
  typedef float f32x4 __attribute__((vector_size(16)));
  constexpr int kBlk = 256;
  D acc[2] = {};
  int64_t i = 0;
  for (; i + kBlk <= n; i += kBlk) {
    V l[4];
    std::memcpy(l, x + i, sizeof l);
    for (int j = 32; j < kBlk; j += 32)
      for (int k = 0; k < 4; ++k) {
        V v;
        std::memcpy(&v, x + i + j + 8 * k, sizeof v);
        l[k] += v;
      }
    const V t = (l[0] + l[1]) + (l[2] + l[3]);
    f32x4 h[2];
    std::memcpy(h, &t, sizeof h);
    acc[0] += __builtin_convertvector(h[0], D);
    acc[1] += __builtin_convertvector(h[1], D);
  }
  const D a = acc[0] + acc[1];
  double s = (a[0] + a[1]) + (a[2] + a[3]);
  for (; i < n; ++i) s += double(x[i]);
  if (!std::isfinite(s)) {  // an inf/NaN input, or a float partial overflowed: redo it all in double
    double d[4] = {};
    for (i = 0; i + 4 <= n; i += 4)
      for (int k = 0; k < 4; ++k) d[k] += double(x[i + k]);
    s = (d[0] + d[1]) + (d[2] + d[3]);
    for (; i < n; ++i) s += double(x[i]);
  }
  return s;
}

// Full reductions of one long contiguous run: chunks of kChunk elements (fixed, so that the result
// does not depend on the thread count), part[c] = f(begin, end) in parallel, combined by the caller.
constexpr int64_t kChunk = int64_t(1) << 16;
inline bool is_long_run(const ReducePlan& p) {
  return p.out_numel == 1 && p.red_shape.size() == 1 && p.red_strides[0] == 1 && p.red_numel >= 2 * kChunk;
}
template <typename R, typename F>
std::vector<R> chunk_parts(int64_t n, const F& f) {
  std::vector<R> parts(size_t((n + kChunk - 1) / kChunk));
  parallel_for(0, int64_t(parts.size()), 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) parts[size_t(c)] = f(c * kChunk, std::min(n, (c + 1) * kChunk));
  });
  return parts;
}

template <typename T, typename A>
inline A sum_run(const T* x, int64_t n, int64_t stride) {
  if constexpr (std::is_same_v<T, float>)
    if (stride == 1) return lane_sum_f32(x, n);
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
    // Four rows at a time (for floats, their pairwise sum in T, then widened): four streams
    // instead of one, and a quarter of the widening adds.
    const int64_t R = p.red_shape[0], C = p.kept_shape[0], rs = p.red_strides[0];
    constexpr int64_t kCols = 2048;
    parallel_for(0, C, rows_grain(R, C), [&](int64_t c0, int64_t c1) {
      A acc[kCols];
      for (int64_t cb = c0; cb < c1; cb += kCols) {
        const int64_t w = std::min(c1 - cb, kCols);
        for (int64_t c = 0; c < w; ++c) acc[c] = 0;
        int64_t r = 0;
        for (; r + 4 <= R; r += 4) {
          const T *r0 = x + r * rs + cb, *r1 = r0 + rs, *r2 = r1 + rs, *r3 = r2 + rs;
          if constexpr (std::is_floating_point_v<T>) {
            for (int64_t c = 0; c < w; ++c) acc[c] += A((r0[c] + r1[c]) + (r2[c] + r3[c]));
          } else {
            for (int64_t c = 0; c < w; ++c) acc[c] += (A(r0[c]) + A(r1[c])) + (A(r2[c]) + A(r3[c]));
          }
        }
        for (; r < R; ++r) {
          const T* row = x + r * rs + cb;
          for (int64_t c = 0; c < w; ++c) acc[c] += A(row[c]);
        }
        if constexpr (std::is_floating_point_v<T>) {
          for (int64_t c = 0; c < w; ++c)
            if (!std::isfinite(acc[c])) {  // an inf/NaN, or a pairwise sum in T overflowed: in A
              acc[c] = 0;
              for (int64_t q = 0; q < R; ++q) acc[c] += A(x[q * rs + cb + c]);
            }
        }
        for (int64_t c = 0; c < w; ++c) out[cb + c] = O(mean ? double(acc[c]) * scale : acc[c]);
      }
    });
    return;
  }
  if (is_long_run(p)) {
    const std::vector<A> parts = chunk_parts<A>(p.red_numel, [&](int64_t b, int64_t e) { return sum_run<T, A>(x + b, e - b, 1); });
    A s = 0;
    for (const A& v : parts) s += v;
    out[0] = O(mean ? double(s) * scale : s);
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
// The first extreme wins; NaN is the extreme of everything (torch's rule), and the first NaN wins.
// Values: fold() lets a NaN stick once seen. Indices: takes() replaces only by something strictly
// more extreme (or a first NaN), so a lane, a run or a chunk keeps its first extreme; lanes are
// merged by also taking an equal value at a smaller index.
template <typename T, bool kMax>
inline bool takes(T v, T best) { return (kMax ? v > best : v < best) || (is_nan(v) && !is_nan(best)); }
template <typename T, bool kMax>
inline bool takes_at(T v, int64_t j, T best, int64_t bj) {
  const bool same = is_nan(v) ? is_nan(best) : v == best;
  return takes<T, kMax>(v, best) || (same && j < bj);
}

// The extreme of a run and its first index (k0 = index of x[0] in the sub-space), merged into
// (best, bi), which hold the earlier elements' answer. Contiguous runs go in two vectors of lanes,
// each lane with its own index vector element of the value's width.
template <typename T, bool kMax>
inline void first_extreme_run(const T* x, int64_t n, int64_t st, int64_t k0, T& best, int64_t& bi) {
  int64_t i = 0;
  if constexpr (kHasVec32<T>) {
    using I = index_of_t<T>;
    using V = typename Vec32<T>::type;
    using IV = typename Vec32<I>::type;
    constexpr int W = int(32 / sizeof(T));
    if (st == 1 && n >= 2 * W && n <= int64_t(std::numeric_limits<I>::max())) {
      IV iota;
      for (int j = 0; j < W; ++j) iota[j] = I(j);
      V m[2];
      IV mi[2];
      std::memcpy(m, x, sizeof m);
      for (int k = 0; k < 2; ++k) mi[k] = iota + I(k * W);
      for (i = 2 * W; i + 2 * W <= n; i += 2 * W)
        for (int k = 0; k < 2; ++k) {
          V v;
          std::memcpy(&v, x + i + k * W, sizeof v);
          const IV take = (kMax ? v > m[k] : v < m[k]) | ((v != v) & (m[k] == m[k]));
          m[k] = take ? v : m[k];
          mi[k] = take ? iota + I(i + k * W) : mi[k];
        }
      for (int k = 0; k < 2; ++k)
        for (int j = 0; j < W; ++j)
          if (takes_at<T, kMax>(m[k][j], k0 + int64_t(mi[k][j]), best, bi)) {
            best = m[k][j];
            bi = k0 + int64_t(mi[k][j]);
          }
    }
  }
  for (; i < n; ++i) {
    const T v = x[i * st];
    if (takes<T, kMax>(v, best)) { best = v; bi = k0 + i; }
  }
}

// Values (when `vals`) and/or indices (when `idx`) of the extreme of each output's sub-space.
template <typename T, bool kMax>
void extreme_kernel(const ReducePlan& p, const T* x, T* vals, int64_t* idx) {
  if (is_rows(p)) {
    const int64_t R = p.red_shape[0], rs = p.red_strides[0];
    for_each_column_block(p, [&](int64_t cb, int64_t ce) {
      T best[kBlock];
      const int64_t w = ce - cb;
      for (int64_t c = 0; c < w; ++c) best[c] = x[cb + c];
      if (idx) {
        auto rows_with_index = [&](auto index_type) {  // index width matches T's where R allows
          using I = decltype(index_type);
          I bi[kBlock];
          for (int64_t c = 0; c < w; ++c) bi[c] = 0;
          for (int64_t r = 1; r < R; ++r) {
            const T* row = x + r * rs + cb;
            for (int64_t c = 0; c < w; ++c) {
              const T v = row[c];
              const bool take = takes<T, kMax>(v, best[c]);
              best[c] = take ? v : best[c];
              bi[c] = take ? I(r) : bi[c];
            }
          }
          for (int64_t c = 0; c < w; ++c) idx[cb + c] = int64_t(bi[c]);
        };
        if (sizeof(T) == 8 || R > int64_t(std::numeric_limits<int32_t>::max())) rows_with_index(int64_t{});
        else rows_with_index(int32_t{});
      } else {
        for (int64_t r = 1; r < R; ++r) {
          const T* row = x + r * rs + cb;
          for (int64_t c = 0; c < w; ++c) best[c] = fold<T, kMax>(best[c], row[c]);
        }
      }
      if (vals)
        for (int64_t c = 0; c < w; ++c) vals[cb + c] = best[c];
    });
    return;
  }
  if (is_long_run(p)) {
    struct Part { T best; int64_t bi; };
    const std::vector<Part> parts = chunk_parts<Part>(p.red_numel, [&](int64_t b, int64_t e) {
      Part r{x[b], b};
      if (idx) first_extreme_run<T, kMax>(x + b, e - b, 1, b, r.best, r.bi);
      else r.best = extreme_run<T, kMax>(x + b, e - b, 1, r.best);
      return r;
    });
    Part r = parts[0];
    for (const Part& q : parts)  // in order: an earlier chunk keeps a tie
      if (takes<T, kMax>(q.best, r.best)) r = q;
    if (vals) vals[0] = r.best;
    if (idx) idx[0] = r.bi;
    return;
  }
  parallel_for(0, p.out_numel, grain_for(p), [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      const int64_t base = kept_offset(p, o);
      T best = x[base];
      int64_t bi = 0, k = 0;
      if (idx) {
        for_each_run(p, base, [&](int64_t off, int64_t n, int64_t st) {
          first_extreme_run<T, kMax>(x + off, n, st, k, best, bi);
          k += n;
        });
        idx[o] = bi;
      } else {
        for_each_run(p, base, [&](int64_t off, int64_t n, int64_t st) { best = extreme_run<T, kMax>(x + off, n, st, best); });
      }
      if (vals) vals[o] = best;
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
struct Sum2 {  // Σd and Σd²
  double a = 0, b = 0;
  Sum2& operator+=(const Sum2& o) {
    a += o.a;
    b += o.b;
    return *this;
  }
};

// The sub-space of one output, visited run by run; a long contiguous run (a full reduction) is
// visited in parallel chunks whose results combine in order.
template <typename T>
struct StatInput {
  const ReducePlan& p;
  const T* x;
  int64_t base;

  // Σ g(ptr, n, stride) over the runs, in R (double, or Sum2).
  template <typename R = double, typename G>
  R sum(const G& g) const {
    R s{};
    if (is_long_run(p)) {
      for (const R& v : chunk_parts<R>(p.red_numel, [&](int64_t b, int64_t e) { return g(x + b, e - b, 1); })) s += v;
      return s;
    }
    for_each_run(p, base, [&](int64_t off, int64_t n, int64_t st) { s += g(x + off, n, st); });
    return s;
  }

  // Σ f(double(x)), four accumulators on contiguous runs.
  template <typename F>
  double map_sum(const F& f) const {
    return sum([&](const T* xp, int64_t n, int64_t st) {
      double a[4] = {};
      if (st == 1) {
        int64_t i = 0;
        for (; i + 4 <= n; i += 4)
          for (int k = 0; k < 4; ++k) a[k] += f(double(xp[i + k]));
        for (; i < n; ++i) a[0] += f(double(xp[i]));
      } else {
        for (int64_t i = 0; i < n; ++i) a[0] += f(double(xp[i * st]));
      }
      return (a[0] + a[1]) + (a[2] + a[3]);
    });
  }

  T max() const {  // NaN if any element is NaN
    T best = x[base];
    if (is_long_run(p)) {
      for (T v : chunk_parts<T>(p.red_numel, [&](int64_t b, int64_t e) { return extreme_run<T, true>(x + b, e - b, 1, x[b]); }))
        best = fold<T, true>(best, v);
      return best;
    }
    for_each_run(p, base, [&](int64_t off, int64_t n, int64_t st) { best = extreme_run<T, true>(x + off, n, st, best); });
    return best;
  }

  // Max (kMax) or min of |x|; NaN propagates.
  template <bool kMax>
  double abs_extreme() const {
    double best = kMax ? 0.0 : std::numeric_limits<double>::infinity();
    bool nan = false;
    for_each_run(p, base, [&](int64_t off, int64_t n, int64_t st) {
      for (int64_t i = 0; i < n; ++i) {
        const double v = std::fabs(double(x[off + i * st]));
        best = kMax ? std::max(best, v) : std::min(best, v);
        nan |= v != v;
      }
    });
    return nan ? std::numeric_limits<double>::quiet_NaN() : best;
  }
};

template <typename T>
double stat_one(StatOp op, const StatInput<T>& in, double param) {
  const double N = double(in.p.red_numel);
  switch (op) {
    case StatOp::Var: case StatOp::Std: {
      const double mean = in.sum([](const T* xp, int64_t n, int64_t st) { return double(sum_run<T, double>(xp, n, st)); }) / N;
      double m2 = std::numeric_limits<double>::quiet_NaN();
      if constexpr (std::is_same_v<T, float>) {
        // Deviations from the float-rounded mean, corrected by their own sum: Σ(x-m)² = Σd² - (Σd)²/N.
        const float mf = float(mean);
        const Sum2 d = in.template sum<Sum2>([mf](const float* xp, int64_t n, int64_t st) {
          Sum2 r;
          if (st == 1) {
            lane_pair_sums_f32(nullptr, xp, n, mf, r.a, r.b);
          } else {
            for (int64_t i = 0; i < n; ++i) {
              const double v = double(xp[i * st] - mf);
              r.a += v;
              r.b += v * v;
            }
          }
          return r;
        });
        m2 = d.b - d.a * d.a / N;
        m2 = m2 < 0 ? 0 : m2;  // (NaN stays NaN)
      }
      if (!std::is_same_v<T, float> || m2 == std::numeric_limits<double>::infinity())  // float d² overflowed
        m2 = in.map_sum([mean](double v) { return (v - mean) * (v - mean); });
      const double var = m2 / std::max(0.0, N - param);
      return op == StatOp::Std ? std::sqrt(var) : var;
    }
    case StatOp::LogSumExp: {
      if constexpr (std::is_same_v<T, float>) {  // one contiguous run: max and sum in one pass
        float mf;
        double s;
        if (in.p.red_shape.size() == 1 && in.p.red_strides[0] == 1 && !is_long_run(in.p) &&
            vec_math::max_exp_sum_f32(in.x + in.base, in.p.red_numel, mf, s))
          return double(mf) + std::log(s);
      }
      double m = double(in.max());
      if (m != m) return m;
      const bool finite = !std::isinf(m);
      if (!finite) m = 0;  // all -inf gives -inf, any +inf gives +inf, without inf - inf
      if constexpr (std::is_same_v<T, float>) {  // vec_math's exp vectorises; libm's is one call each
        const float mf = float(m);
        return m + std::log(in.sum([mf, finite](const float* xp, int64_t n, int64_t st) {
          if (st == 1 && finite) return vec_math::exp_sum_f32(xp, n, mf);  // mf: the max
          constexpr int64_t kBlk = 256;  // exp of a block into a buffer (the loop vectorises), then summed
          float e[kBlk];
          double s = 0;
          for (int64_t b = 0; b < n; b += kBlk) {
            const int64_t w = std::min(kBlk, n - b);
            for (int64_t i = 0; i < w; ++i) e[i] = xp[(b + i) * st] - mf;
            vec_math::exp_f32_array(e, e, w);
            s += lane_sum_f32(e, w);
          }
          return s;
        }));
      }
      return m + std::log(in.map_sum([m](double v) { return std::exp(v - m); }));
    }
    default: {  // Norm
      if (param == 2) return std::sqrt(in.map_sum([](double v) { return v * v; }));
      if (param == 1) return in.map_sum([](double v) { return std::fabs(v); });
      if (param == 0) return in.map_sum([](double v) { return v != 0 ? 1.0 : 0.0; });
      if (std::isinf(param)) return param > 0 ? in.template abs_extreme<true>() : in.template abs_extreme<false>();
      return std::pow(in.map_sum([param](double v) { return std::pow(std::fabs(v), param); }), 1.0 / param);
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
      for (int64_t o = o0; o < o1; ++o) op_[o] = scalar_t(stat_one(op, StatInput<scalar_t>{p, xp, kept_offset(p, o)}, param));
    });
  });
}

// ---- cumsum -------------------------------------------------------------------------------------
// One contiguous row's inclusive scan, accumulated in A. For float32, eight elements at a time:
// their prefix sums in float (shift-and-add steps in two halves of four, the upper half then
// offset by the lower half's total; each partial holds at most eight terms), widened and added to
// the running total in double, which advances by one scalar add per eight elements. (The plain loop
// was bounded by its serial chain of adds and by the float/double conversions of every element.)
// A float partial can overflow only if some |x| >= FLT_MAX / 8: such a row (seen from the running
// max of |x|, or an inf) is scanned again entirely in double.
template <typename T, typename A>
void scan_row(const T* x, T* y, int64_t len) {
  int64_t i = 0;
  A s = 0;
  if constexpr (std::is_same_v<T, float>) {
    typedef float f32x4 __attribute__((vector_size(16)));
    typedef int32_t i32x4 __attribute__((vector_size(16)));
    using D = Vec32<double>::type;
    const f32x4 zero = {};
    const auto prefix4 = [&zero](f32x4 p) {
      p += __builtin_shuffle(p, zero, i32x4{4, 0, 1, 2});  // [x0, x0+x1, x1+x2, x2+x3]
      p += __builtin_shuffle(p, zero, i32x4{4, 5, 0, 1});  // inclusive prefix sums
      return p;
    };
    const i32x4 abs_mask = {0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff};
    f32x4 amax = zero;
    double carry = 0;
    for (; i + 8 <= len; i += 8) {
      f32x4 lo, hi;
      std::memcpy(&lo, x + i, sizeof lo);
      std::memcpy(&hi, x + i + 4, sizeof hi);
      const f32x4 a = f32x4(i32x4(lo) & abs_mask), b = f32x4(i32x4(hi) & abs_mask);
      amax = a > amax ? a : amax;
      amax = b > amax ? b : amax;
      lo = prefix4(lo);
      hi = prefix4(hi) + __builtin_shuffle(lo, i32x4{3, 3, 3, 3});
      const f32x4 o0 = __builtin_convertvector(__builtin_convertvector(lo, D) + carry, f32x4);
      const f32x4 o1 = __builtin_convertvector(__builtin_convertvector(hi, D) + carry, f32x4);
      std::memcpy(y + i, &o0, sizeof o0);
      std::memcpy(y + i + 4, &o1, sizeof o1);
      carry += double(hi[3]);
    }
    const float big = std::max(std::max(amax[0], amax[1]), std::max(amax[2], amax[3]));
    if (big >= std::numeric_limits<float>::max() / 8) {
      i = 0;
      carry = 0;
    }
    s = carry;
  }
  for (; i < len; ++i) { s += A(x[i]); y[i] = T(s); }
}

template <typename T>
void cumsum_typed(const T* x, T* out, int64_t outer, int64_t len, int64_t inner) {
  using A = acc_t<T>;
  if (inner == 1) {
    parallel_for(0, outer, std::max<int64_t>(1, 32768 / std::max<int64_t>(len, 1)), [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) scan_row<T, A>(x + o * len, out + o * len, len);
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
