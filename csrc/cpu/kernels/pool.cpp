// 2-D pooling kernels, forward and backward; compiled once per instruction set. One task per
// (n, c) plane, so backward scatters never race. Window rules follow torch exactly:
//  max: rows h = oh*S - P + k*D inside [0, H); NaN wins; the first maximum's index is kept.
//  avg: window [oh*S - P, min(that + K, H + P)) sets the count_include_pad divisor, then is
//       clipped to the input.
//  adaptive: rows [floor(oh*H/oH), ceil((oh+1)*H/oH)).
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/parallel.h"
#include "ops/pool.h"

namespace ember {
namespace CPU_CAPABILITY {
namespace {

inline int64_t start_index(int64_t o, int64_t out, int64_t in) { return (o * in) / out; }
inline int64_t end_index(int64_t o, int64_t out, int64_t in) { return ((o + 1) * in + out - 1) / out; }

template <typename T>
void max_window(const T* x, int64_t W, int64_t h0, int64_t h1, int64_t dh, int64_t w0, int64_t w1, int64_t dw,
                T* y, int64_t* idx) {
  T best = -INFINITY;
  int64_t bi = h0 * W + w0;
  for (int64_t h = h0; h < h1; h += dh)
    for (int64_t w = w0; w < w1; w += dw) {
      const T v = x[h * W + w];
      if (v > best || v != v) {
        best = v;
        bi = h * W + w;
        if (v != v) goto done;
      }
    }
done:
  *y = best;
  *idx = bi;
}

// max_pool2d over one plane, one output row at a time in two passes: first the maximum down each
// input column over the window's rows (contiguous, so it vectorises), with the row it came from;
// then, for each output, the maximum of those column maxima across the window's columns. Ties and
// NaNs are settled by the flat index h * W + w, which makes the result max_window's: the first
// maximum in row-major order, or the first NaN (NaN wins).
template <typename T>
void max_pool_plane(const Pool2dParams& p, const T* __restrict xp, T* __restrict yp, int64_t* __restrict ip,
                    T* __restrict col_max, int32_t* __restrict col_row) {
  // Locals, so that the stores below cannot be taken to change them (p is a reference).
  const int64_t W = p.W, oW = p.oW, kW = p.kW, sW = p.sW, pW = p.pW, dW = p.dW;
  for (int64_t oh = 0; oh < p.oH; ++oh) {
    int64_t h0 = oh * p.sH - p.pH;
    const int64_t h1 = std::min(h0 + (p.kH - 1) * p.dH + 1, p.H);
    while (h0 < 0) h0 += p.dH;
    for (int64_t w = 0; w < W; ++w) {
      col_max[w] = -INFINITY;
      col_row[w] = int32_t(h0);
    }
    for (int64_t h = h0; h < h1; h += p.dH) {
      const T* __restrict xr = xp + h * W;
      const int32_t hh = int32_t(h);
      for (int64_t w = 0; w < W; ++w) {
        const T v = xr[w], b = col_max[w];
        const bool take = (v > b) | ((v != v) & (b == b));  // NaN wins; the first NaN stays
        col_max[w] = take ? v : b;
        col_row[w] = take ? hh : col_row[w];
      }
    }
    T* __restrict yr = yp + oh * oW;
    int64_t* __restrict ir = ip + oh * oW;
    for (int64_t ow = 0; ow < oW; ++ow) {
      int64_t w0 = ow * sW - pW;
      const int64_t w1 = std::min(w0 + (kW - 1) * dW + 1, W);
      while (w0 < 0) w0 += dW;
      T best = -INFINITY;
      int64_t bi = h0 * W + w0;
      for (int64_t w = w0; w < w1; w += dW) {
        const T v = col_max[w];
        const int64_t i = int64_t(col_row[w]) * W + w;
        const bool before = i < bi;
        const bool take = (v > best) | ((v == best) & before) | ((v != v) & ((best == best) | before));
        best = take ? v : best;
        bi = take ? i : bi;
      }
      yr[ow] = best;
      ir[ow] = bi;
    }
  }
}

// avg_pool2d over one plane in the same two passes: column sums (double) over the window's rows
// clipped to the input, then each output's sum across its clipped columns over torch's divisor.
template <typename T>
void avg_pool_plane(const Pool2dParams& p, const T* __restrict xp, T* __restrict yp, double* __restrict col_sum) {
  const int64_t W = p.W, oW = p.oW, kW = p.kW, sW = p.sW, pW = p.pW;
  for (int64_t oh = 0; oh < p.oH; ++oh) {
    int64_t h0 = oh * p.sH - p.pH, h1 = std::min(h0 + p.kH, p.H + p.pH);
    const int64_t rows_padded = h1 - h0;
    h0 = std::max<int64_t>(h0, 0), h1 = std::min(h1, p.H);
    for (int64_t w = 0; w < W; ++w) col_sum[w] = 0;
    for (int64_t h = h0; h < h1; ++h) {
      const T* __restrict xr = xp + h * W;
      for (int64_t w = 0; w < W; ++w) col_sum[w] += double(xr[w]);
    }
    T* __restrict yr = yp + oh * oW;
    for (int64_t ow = 0; ow < oW; ++ow) {
      int64_t w0 = ow * sW - pW, w1 = std::min(w0 + kW, W + pW);
      const int64_t pool_size = rows_padded * (w1 - w0);
      w0 = std::max<int64_t>(w0, 0), w1 = std::min(w1, W);
      if (h0 >= h1 || w0 >= w1) {
        yr[ow] = 0;
        continue;
      }
      const int64_t count = p.divisor_override ? p.divisor_override
                            : p.count_include_pad ? pool_size : (h1 - h0) * (w1 - w0);
      double sum = 0;
      for (int64_t w = w0; w < w1; ++w) sum += col_sum[w];
      yr[ow] = T(sum / double(count));
    }
  }
}

template <typename T>
void pool_forward(PoolKind kind, const Pool2dParams& p, const T* x, T* y, int64_t* indices) {
  const int64_t HW = p.H * p.W, oHW = p.oH * p.oW;
  parallel_for(0, p.planes, std::max<int64_t>(1, 4096 / std::max<int64_t>(HW, 1)), [&](int64_t a, int64_t b) {
    std::vector<T> col_max(kind == PoolKind::Max ? size_t(p.W) : 0);
    std::vector<int32_t> col_row(col_max.size());
    std::vector<double> col_sum(kind == PoolKind::Avg ? size_t(p.W) : 0);
    for (int64_t pl = a; pl < b; ++pl) {
      const T* xp = x + pl * HW;
      T* yp = y + pl * oHW;
      int64_t* ip = indices ? indices + pl * oHW : nullptr;
      if (kind == PoolKind::Max && p.H <= INT32_MAX) {  // col_row holds row numbers as int32
        max_pool_plane(p, xp, yp, ip, col_max.data(), col_row.data());
        continue;
      }
      if (kind == PoolKind::Avg) {
        avg_pool_plane(p, xp, yp, col_sum.data());
        continue;
      }
      for (int64_t oh = 0; oh < p.oH; ++oh)
        for (int64_t ow = 0; ow < p.oW; ++ow) {
          const int64_t o = oh * p.oW + ow;
          if (kind == PoolKind::Max) {
            int64_t h0 = oh * p.sH - p.pH, w0 = ow * p.sW - p.pW;
            const int64_t h1 = std::min(h0 + (p.kH - 1) * p.dH + 1, p.H);
            const int64_t w1 = std::min(w0 + (p.kW - 1) * p.dW + 1, p.W);
            while (h0 < 0) h0 += p.dH;
            while (w0 < 0) w0 += p.dW;
            max_window(xp, p.W, h0, h1, p.dH, w0, w1, p.dW, yp + o, ip + o);
          } else if (kind == PoolKind::AdaptiveMax) {
            max_window(xp, p.W, start_index(oh, p.oH, p.H), end_index(oh, p.oH, p.H), 1,
                       start_index(ow, p.oW, p.W), end_index(ow, p.oW, p.W), 1, yp + o, ip + o);
          } else {
            int64_t h0, h1, w0, w1, count;
            if (kind == PoolKind::Avg) {
              h0 = oh * p.sH - p.pH, w0 = ow * p.sW - p.pW;
              h1 = std::min(h0 + p.kH, p.H + p.pH), w1 = std::min(w0 + p.kW, p.W + p.pW);
              const int64_t pool_size = (h1 - h0) * (w1 - w0);
              h0 = std::max<int64_t>(h0, 0), w0 = std::max<int64_t>(w0, 0);
              h1 = std::min(h1, p.H), w1 = std::min(w1, p.W);
              count = p.divisor_override ? p.divisor_override
                      : p.count_include_pad ? pool_size : (h1 - h0) * (w1 - w0);
            } else {
              h0 = start_index(oh, p.oH, p.H), h1 = end_index(oh, p.oH, p.H);
              w0 = start_index(ow, p.oW, p.W), w1 = end_index(ow, p.oW, p.W);
              count = (h1 - h0) * (w1 - w0);
            }
            if (h0 >= h1 || w0 >= w1) {
              yp[o] = 0;
              continue;
            }
            double s = 0;
            for (int64_t h = h0; h < h1; ++h)
              for (int64_t w = w0; w < w1; ++w) s += double(xp[h * p.W + w]);
            yp[o] = T(s / double(count));
          }
        }
    }
  });
}

template <typename T>
void pool_backward(PoolKind kind, const Pool2dParams& p, const T* dy, const int64_t* indices, T* dx) {
  const int64_t HW = p.H * p.W, oHW = p.oH * p.oW;
  parallel_for(0, p.planes, std::max<int64_t>(1, 4096 / std::max<int64_t>(HW, 1)), [&](int64_t a, int64_t b) {
    for (int64_t pl = a; pl < b; ++pl) {
      const T* gp = dy + pl * oHW;
      T* xp = dx + pl * HW;
      for (int64_t i = 0; i < HW; ++i) xp[i] = 0;
      if (kind == PoolKind::Max || kind == PoolKind::AdaptiveMax) {
        const int64_t* ip = indices + pl * oHW;
        for (int64_t o = 0; o < oHW; ++o) xp[ip[o]] += gp[o];
        continue;
      }
      for (int64_t oh = 0; oh < p.oH; ++oh)
        for (int64_t ow = 0; ow < p.oW; ++ow) {
          int64_t h0, h1, w0, w1, count;
          if (kind == PoolKind::Avg) {
            h0 = oh * p.sH - p.pH, w0 = ow * p.sW - p.pW;
            h1 = std::min(h0 + p.kH, p.H + p.pH), w1 = std::min(w0 + p.kW, p.W + p.pW);
            const int64_t pool_size = (h1 - h0) * (w1 - w0);
            h0 = std::max<int64_t>(h0, 0), w0 = std::max<int64_t>(w0, 0);
            h1 = std::min(h1, p.H), w1 = std::min(w1, p.W);
            count = p.divisor_override ? p.divisor_override
                    : p.count_include_pad ? pool_size : (h1 - h0) * (w1 - w0);
          } else {
            h0 = start_index(oh, p.oH, p.H), h1 = end_index(oh, p.oH, p.H);
            w0 = start_index(ow, p.oW, p.W), w1 = end_index(ow, p.oW, p.W);
            count = (h1 - h0) * (w1 - w0);
          }
          if (h0 >= h1 || w0 >= w1) continue;
          const T g = T(double(gp[oh * p.oW + ow]) / double(count));
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) xp[h * p.W + w] += g;
        }
    }
  });
}

void pool2d_kernel(PoolKind kind, DType dtype, const Pool2dParams& p, const char* x, char* y, int64_t* indices) {
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "pool2d", [&] {
    pool_forward(kind, p, reinterpret_cast<const scalar_t*>(x), reinterpret_cast<scalar_t*>(y), indices);
  });
}
void pool2d_backward_kernel(PoolKind kind, DType dtype, const Pool2dParams& p, const char* dy,
                            const int64_t* indices, char* dx) {
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "pool2d_backward", [&] {
    pool_backward(kind, p, reinterpret_cast<const scalar_t*>(dy), indices, reinterpret_cast<scalar_t*>(dx));
  });
}

}  // namespace

REGISTER_CPU_KERNEL(pool2d_stub, &pool2d_kernel);
REGISTER_CPU_KERNEL(pool2d_backward_stub, &pool2d_backward_kernel);

}  // namespace CPU_CAPABILITY
}  // namespace ember
