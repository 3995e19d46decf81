// batch_norm and layer_norm kernels, forward and backward; compiled once per instruction set.
// batch_norm: x is (N, C, L); one task per channel. Statistics take one pass, accumulating
// shifted sums (shift = the channel's first value, which keeps var exact for data with a large
// mean): in double, or for float32 in float vector lanes flushed into double every 256 elements. Backward: one reduction pass (sum dy, sum dy*xhat), then
//   dx = (w/std) * (dy - mean(dy) - xhat * mean(dy*xhat)).
// Fused ReLU (nn.Sequential's BatchNorm + ReLU): the forward clamps y = x*a + off at 0 in its one
// write pass; the backward reads dy as 0 wherever that y was not positive, recomputing y from x
// with the forward's own coefficients and expression (bn_affine) instead of reading the output.
// layer_norm: x is (M, D), one task per row; dweight/dbias are column sums over the rows.
#include <cmath>
#include <type_traits>

#include "core/parallel.h"
#include "cpu/kernels/vec_lanes.h"
#include "ops/norm.h"

namespace ember {
namespace CPU_CAPABILITY {
namespace {

// The normalisation as one multiply-add per element, a = w / std and off = b - mean * a rounded to
// T: the forward and the fused ReLU's backward mask both use these (the same rounding, the same
// expression), so that the mask is exactly "the forward's output was positive".
template <typename T>
inline void bn_coefficients(const T* w, const T* b, const double* mean, const double* var, double eps, int64_t c,
                            T& a, T& off) {
  const double invstd = 1.0 / std::sqrt(var[c] + eps);
  const double scale = (w ? double(w[c]) : 1.0) * invstd;
  a = T(scale);
  off = T((b ? double(b[c]) : 0.0) - mean[c] * scale);
}
template <typename T>
inline T bn_affine(T x, T a, T off) { return x * a + off; }

template <typename T>
void batch_norm_impl(const T* x, T* y, const T* w, const T* b, double* mean, double* var, int64_t N, int64_t C,
                     int64_t L, double eps, bool compute_stats, bool relu) {
  parallel_for(0, C, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      if (compute_stats) {
        const double shift = N * L > 0 ? double(x[c * L]) : 0.0;
        double s = 0, s2 = 0;
        for (int64_t n = 0; n < N; ++n) {
          const T* xp = x + (n * C + c) * L;
          if constexpr (std::is_same_v<T, float>) {
            lane_pair_sums_f32(nullptr, xp, L, float(shift), s, s2);  // float lanes, double totals
          } else {
            for (int64_t l = 0; l < L; ++l) {
              const double v = double(xp[l]) - shift;
              s += v;
              s2 += v * v;
            }
          }
        }
        const double cnt = double(N * L);
        const double m = s / cnt;
        mean[c] = shift + m;
        var[c] = std::max(0.0, s2 / cnt - m * m);
      }
      T a, off;
      bn_coefficients(w, b, mean, var, eps, c, a, off);
      for (int64_t n = 0; n < N; ++n) {
        const T* xp = x + (n * C + c) * L;
        T* yp = y + (n * C + c) * L;
        if (relu) {
          for (int64_t l = 0; l < L; ++l) {  // the unary ReLU's rule, so fused == unfused
            const T v = bn_affine(xp[l], a, off);
            yp[l] = v > T(0) ? v : T(0);
          }
        } else {
          for (int64_t l = 0; l < L; ++l) yp[l] = bn_affine(xp[l], a, off);
        }
      }
    }
  });
}

template <typename T>
void batch_norm_backward_impl(const T* dy, const T* x, const T* w, const T* b, const double* mean, const double* var,
                              double eps, T* dx, T* dw, T* db, int64_t N, int64_t C, int64_t L, bool training,
                              bool relu) {
  parallel_for(0, C, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const double invstd = 1.0 / std::sqrt(var[c] + eps);
      const double m = mean[c];
      T ra = T(1), roff = T(0);  // with a fused ReLU, dy counts where bn_affine(x, ra, roff) > 0
      if (relu) bn_coefficients(w, b, mean, var, eps, c, ra, roff);
      // dy as the fused ReLU passes it on
      auto grad = [&](T g, T xv) { return !relu || bn_affine(xv, ra, roff) > T(0) ? g : T(0); };
      double sdy = 0, sdyx = 0;  // sum dy, sum dy * (x - mean)
      if constexpr (std::is_same_v<T, float>) {
        // Float lanes around the float-rounded mean mf; Σdy(x - m) = Σdy(x - mf) + (mf - m)Σdy.
        const float mf = float(m);
        const float affine[2] = {ra, roff};
        for (int64_t n = 0; n < N; ++n)
          lane_pair_sums_f32(dy + (n * C + c) * L, x + (n * C + c) * L, L, mf, sdy, sdyx, relu ? affine : nullptr);
        sdyx += (double(mf) - m) * sdy;
      } else {
        for (int64_t n = 0; n < N; ++n) {
          const T* g = dy + (n * C + c) * L;
          const T* xp = x + (n * C + c) * L;
          for (int64_t l = 0; l < L; ++l) {
            const double gl = double(grad(g[l], xp[l]));
            sdy += gl;
            sdyx += gl * (double(xp[l]) - m);
          }
        }
      }
      if (dw) dw[c] = T(sdyx * invstd);
      if (db) db[c] = T(sdy);
      if (!dx) continue;
      const double wc = w ? double(w[c]) : 1.0;
      const double cnt = double(N * L);
      // dx = w*invstd*(dy - mean(dy) - (x-mean)*invstd^2*mean(dy*(x-mean)))
      const double k = training ? sdyx / cnt * invstd * invstd : 0.0;
      const double mdy = training ? sdy / cnt : 0.0;
      const double a = wc * invstd;
      for (int64_t n = 0; n < N; ++n) {
        const T* g = dy + (n * C + c) * L;
        const T* xp = x + (n * C + c) * L;
        T* o = dx + (n * C + c) * L;
        if constexpr (std::is_same_v<T, float>) {  // in float (8 lanes): x - mf is exact near the mean
          const float fa = float(a), fmdy = float(mdy), fm = float(m), fk = float(k);
          if (relu)
            for (int64_t l = 0; l < L; ++l) o[l] = fa * ((grad(g[l], xp[l]) - fmdy) - (xp[l] - fm) * fk);
          else
            for (int64_t l = 0; l < L; ++l) o[l] = fa * ((g[l] - fmdy) - (xp[l] - fm) * fk);
        } else {
          for (int64_t l = 0; l < L; ++l) o[l] = T(a * (double(grad(g[l], xp[l])) - mdy - (double(xp[l]) - m) * k));
        }
      }
    }
  });
}

template <typename T>
void layer_norm_impl(const T* x, T* y, const T* w, const T* b, double* mean, double* rstd, int64_t M, int64_t D,
                     double eps) {
  parallel_for(0, M, std::max<int64_t>(1, 16384 / std::max<int64_t>(D, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * D;
      T* yr = y + r * D;
      const double shift = D > 0 ? double(xr[0]) : 0.0;
      double s = 0, s2 = 0;
      for (int64_t d = 0; d < D; ++d) {
        const double v = double(xr[d]) - shift;
        s += v;
        s2 += v * v;
      }
      const double mm = s / double(D);
      const double m = shift + mm;
      const double var = std::max(0.0, s2 / double(D) - mm * mm);
      const double rs = 1.0 / std::sqrt(var + eps);
      mean[r] = m;
      rstd[r] = rs;
      const T tm = T(m), trs = T(rs);
      if (w || b) {
        for (int64_t d = 0; d < D; ++d)
          yr[d] = (xr[d] - tm) * trs * (w ? w[d] : T(1)) + (b ? b[d] : T(0));
      } else {
        for (int64_t d = 0; d < D; ++d) yr[d] = (xr[d] - tm) * trs;
      }
    }
  });
}

template <typename T>
void layer_norm_backward_impl(const T* dy, const T* x, const T* w, const double* mean, const double* rstd, T* dx,
                              T* dw, T* db, int64_t M, int64_t D) {
  if (dx) {
    parallel_for(0, M, std::max<int64_t>(1, 8192 / std::max<int64_t>(D, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* g = dy + r * D;
        const T* xr = x + r * D;
        T* o = dx + r * D;
        const double m = mean[r], rs = rstd[r];
        double s = 0, sx = 0;  // sum(dxhat), sum(dxhat * xhat) with dxhat = dy * w
        for (int64_t d = 0; d < D; ++d) {
          const double gh = double(g[d]) * (w ? double(w[d]) : 1.0);
          s += gh;
          sx += gh * (double(xr[d]) - m) * rs;
        }
        s /= double(D);
        sx /= double(D);
        // dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
        for (int64_t d = 0; d < D; ++d) {
          const double gh = double(g[d]) * (w ? double(w[d]) : 1.0);
          const double xh = (double(xr[d]) - m) * rs;
          o[d] = T(rs * (gh - s - xh * sx));
        }
      }
    });
  }
  if (dw || db) {
    constexpr int64_t kCols = 64;
    const int64_t nblocks = (D + kCols - 1) / kCols;
    parallel_for(0, nblocks, 1, [&](int64_t b0, int64_t b1) {
      double aw[kCols], ab[kCols];
      for (int64_t blk = b0; blk < b1; ++blk) {
        const int64_t d0 = blk * kCols, n = std::min(kCols, D - d0);
        for (int64_t j = 0; j < n; ++j) aw[j] = ab[j] = 0;
        for (int64_t r = 0; r < M; ++r) {
          const T* g = dy + r * D + d0;
          const T* xr = x + r * D + d0;
          const double m = mean[r], rs = rstd[r];
          for (int64_t j = 0; j < n; ++j) {
            aw[j] += double(g[j]) * (double(xr[j]) - m) * rs;
            ab[j] += double(g[j]);
          }
        }
        for (int64_t j = 0; j < n; ++j) {
          if (dw) dw[d0 + j] = T(aw[j]);
          if (db) db[d0 + j] = T(ab[j]);
        }
      }
    });
  }
}

template <typename T> const T* cp(const char* p) { return reinterpret_cast<const T*>(p); }
template <typename T> T* mp(char* p) { return reinterpret_cast<T*>(p); }

void batch_norm_kernel(DType dtype, const char* x, char* y, const char* w, const char* b, double* mean, double* var,
                       int64_t N, int64_t C, int64_t L, double eps, bool compute_stats, bool relu) {
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "batch_norm", [&] {
    batch_norm_impl(cp<scalar_t>(x), mp<scalar_t>(y), cp<scalar_t>(w), cp<scalar_t>(b), mean, var, N, C, L, eps,
                    compute_stats, relu);
  });
}
void batch_norm_backward_kernel(DType dtype, const char* dy, const char* x, const char* w, const char* b,
                                const double* mean, const double* var, double eps, char* dx, char* dw, char* db,
                                int64_t N, int64_t C, int64_t L, bool training, bool relu) {
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "batch_norm_backward", [&] {
    batch_norm_backward_impl(cp<scalar_t>(dy), cp<scalar_t>(x), cp<scalar_t>(w), cp<scalar_t>(b), mean, var, eps,
                             mp<scalar_t>(dx), mp<scalar_t>(dw), mp<scalar_t>(db), N, C, L, training, relu);
  });
}
void layer_norm_kernel(DType dtype, const char* x, char* y, const char* w, const char* b, double* mean, double* rstd,
                       int64_t M, int64_t D, double eps) {
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "layer_norm", [&] {
    layer_norm_impl(cp<scalar_t>(x), mp<scalar_t>(y), cp<scalar_t>(w), cp<scalar_t>(b), mean, rstd, M, D, eps);
  });
}
void layer_norm_backward_kernel(DType dtype, const char* dy, const char* x, const char* w, const double* mean,
                                const double* rstd, char* dx, char* dw, char* db, int64_t M, int64_t D) {
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "layer_norm_backward", [&] {
    layer_norm_backward_impl(cp<scalar_t>(dy), cp<scalar_t>(x), cp<scalar_t>(w), mean, rstd, mp<scalar_t>(dx),
                             mp<scalar_t>(dw), mp<scalar_t>(db), M, D);
  });
}

}  // namespace

REGISTER_CPU_KERNEL(batch_norm_stub, &batch_norm_kernel);
REGISTER_CPU_KERNEL(batch_norm_backward_stub, &batch_norm_backward_kernel);
REGISTER_CPU_KERNEL(layer_norm_stub, &layer_norm_kernel);
REGISTER_CPU_KERNEL(layer_norm_backward_stub, &layer_norm_backward_kernel);

}  // namespace CPU_CAPABILITY
}  // namespace ember
