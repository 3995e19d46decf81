// CPU reductions, compiled per instruction set. Each output element reduces the sub-space of
// reduced dims; a contiguous innermost run is summed with several accumulators (vectorised),
// and the common "reduce the leading dim of a row-major matrix" case (bias gradients,
// batch statistics) accumulates whole rows instead of striding down columns.
#include <cmath>
#include <limits>
#include <type_traits>

#include "core/parallel.h"
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
  const bool rows = p.red_shape.size() == 1 && p.kept_shape.size() == 1 && p.kept_strides[0] == 1 &&
                    p.red_strides[0] >= p.kept_shape[0] && p.out_numel >= 16;
  if (rows) {
    const int64_t R = p.red_shape[0], C = p.kept_shape[0], rs = p.red_strides[0];
    parallel_for(0, C, std::max<int64_t>(256, 65536 / std::max<int64_t>(R, 1)), [&](int64_t c0, int64_t c1) {
      constexpr int64_t kBlock = 512;
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
void generic_kernel(ReduceOp op, const ReducePlan& p, const T* x, const Tensor& out) {
  parallel_for(0, p.out_numel, std::max<int64_t>(1, 32768 / std::max<int64_t>(p.red_numel, 1)),
               [&](int64_t o0, int64_t o1) {
                 for (int64_t o = o0; o < o1; ++o) {
                   const int64_t base = kept_offset(p, o);
                   switch (op) {
                     case ReduceOp::Prod: {
                       acc_t<T> r = 1;
                       for_each_run(p, base, [&](int64_t off, int64_t n, int64_t st) {
                         for (int64_t i = 0; i < n; ++i) r *= acc_t<T>(x[off + i * st]);
                       });
                       if (std::is_floating_point_v<T>) out.data<T>()[o] = T(r);
                       else out.data<int64_t>()[o] = int64_t(r);
                       break;
                     }
                     case ReduceOp::All: case ReduceOp::Any: {
                       const bool want_all = op == ReduceOp::All;
                       bool r = want_all;
                       for_each_run(p, base, [&](int64_t off, int64_t n, int64_t st) {
                         for (int64_t i = 0; i < n; ++i) {
                           const bool v = x[off + i * st] != T(0);
                           r = want_all ? (r && v) : (r || v);
                         }
                       });
                       out.data<bool>()[o] = r;
                       break;
                     }
                     default: {  // Max, Min, ArgMax, ArgMin: first extreme wins; NaN is the extreme
                       const bool is_max = op == ReduceOp::Max || op == ReduceOp::ArgMax;
                       T best = x[base];
                       int64_t best_i = 0, k = 0;
                       bool found_nan = false;
                       for_each_run(p, base, [&](int64_t off, int64_t n, int64_t st) {
                         for (int64_t i = 0; i < n; ++i, ++k) {
                           const T v = x[off + i * st];
                           if (found_nan) continue;
                           if (v != v) { best = v; best_i = k; found_nan = true; continue; }
                           if (is_max ? v > best : v < best) { best = v; best_i = k; }
                         }
                       });
                       if (op == ReduceOp::Max || op == ReduceOp::Min) out.data<T>()[o] = best;
                       else out.data<int64_t>()[o] = best_i;
                     }
                   }
                 }
               });
}

void reduce_kernel(ReduceOp op, const ReducePlan& p, const Tensor& x, const Tensor& out) {
  EMBER_DISPATCH_ALL_TYPES_AND_BOOL(x.dtype(), "reduce", [&] {
    const scalar_t* xp = x.data<scalar_t>();
    if (op == ReduceOp::Sum || op == ReduceOp::Mean) {
      const bool mean = op == ReduceOp::Mean;
      if constexpr (std::is_floating_point_v<scalar_t>) {
        EMBER_DISPATCH_FLOATING_TYPES(out.dtype(), "sum", [&] { sum_kernel(p, xp, out.data<scalar_t>(), mean); });
      } else {
        EMBER_DISPATCH_ALL_TYPES(out.dtype(), "sum", [&] { sum_kernel(p, xp, out.data<scalar_t>(), mean); });
      }
      return;
    }
    generic_kernel<scalar_t>(op, p, xp, out);
  });
}

}  // namespace

REGISTER_CPU_KERNEL(reduce_stub, &reduce_kernel);

}  // namespace CPU_CAPABILITY
}  // namespace ember
