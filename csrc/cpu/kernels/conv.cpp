// Depthwise conv2d (G == C, channel multiplier m = O / C) as direct loops, forward and both
// backward passes; compiled once per instruction set so that the unit-stride inner loops
// vectorise. Shapes: x (N, C, H, W); w (O, 1, kH, kW); y (N, O, oH, oW); output channel o reads
// input channel o / m. This file uses no templates shared with portable code (see core/loop.h).
#include <cstdint>
#include <cstring>

#include "core/parallel.h"
#include "cpu/kernels/conv_index.h"
#include "ops/conv.h"

namespace ember {
namespace CPU_CAPABILITY {
namespace {

// y[ow] += wv * x[ow * S] for ow in [lo, hi)
template <typename T>
inline void axpy_row(T* __restrict y, const T* __restrict x, T wv, int64_t lo, int64_t hi, int64_t stride) {
  if (stride == 1)
    for (int64_t i = lo; i < hi; ++i) y[i] += wv * x[i];
  else
    for (int64_t i = lo; i < hi; ++i) y[i] += wv * x[i * stride];
}

template <typename T>
inline T dot_row(const T* __restrict a, const T* __restrict b, int64_t lo, int64_t hi, int64_t stride) {
  T s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = lo;
  if (stride == 1) {
    for (; i + 8 <= hi; i += 8)
      for (int k = 0; k < 8; ++k) s[k] += a[i + k] * b[i + k];
  }
  for (; i < hi; ++i) s[0] += a[i] * b[i * stride];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

template <typename T>
void forward(const Conv2dGeometry& g, const T* x, const T* w, const T* bias, T* y) {
  const int64_t m = g.O / g.C, HW = g.H * g.W, oHW = g.oH * g.oW, kk = g.kH * g.kW;
  parallel_for(0, g.N * g.O, imax(1, 16384 / imax(oHW * kk, 1)), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / g.O, o = p % g.O;
      const T* xp = x + (n * g.C + o / m) * HW;
      const T* wp = w + o * kk;
      T* yp = y + p * oHW;
      const T b = bias ? bias[o] : T(0);
      for (int64_t i = 0; i < oHW; ++i) yp[i] = b;
      for (int64_t oh = 0; oh < g.oH; ++oh) {
        T* yrow = yp + oh * g.oW;
        for (int64_t kh = 0; kh < g.kH; ++kh) {
          const int64_t ih = oh * g.sH - g.padT + kh * g.dilH;
          if (ih < 0 || ih >= g.H) continue;
          for (int64_t kw = 0; kw < g.kW; ++kw) {
            const int64_t off = kw * g.dilW - g.padL;
            int64_t lo, hi;
            valid_range(off, g.sW, g.W, g.oW, &lo, &hi);
            axpy_row(yrow, xp + ih * g.W + off, wp[kh * g.kW + kw], lo, hi, g.sW);
          }
        }
      }
    }
  });
}

template <typename T>
void backward_input(const Conv2dGeometry& g, const T* dy, const T* w, const T* bias, T* dx) {
  const int64_t m = g.O / g.C, HW = g.H * g.W, oHW = g.oH * g.oW, kk = g.kH * g.kW;
  parallel_for(0, g.N * g.C, imax(1, 16384 / imax(oHW * kk * m, 1)), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / g.C, c = p % g.C;
      T* dxp = dx + p * HW;
      const T b = bias ? bias[c] : T(0);
      for (int64_t i = 0; i < HW; ++i) dxp[i] = b;
      for (int64_t j = 0; j < m; ++j) {
        const int64_t o = c * m + j;
        const T* dyp = dy + (n * g.O + o) * oHW;
        const T* wp = w + o * kk;
        for (int64_t oh = 0; oh < g.oH; ++oh) {
          const T* dyrow = dyp + oh * g.oW;
          for (int64_t kh = 0; kh < g.kH; ++kh) {
            const int64_t ih = oh * g.sH - g.padT + kh * g.dilH;
            if (ih < 0 || ih >= g.H) continue;
            for (int64_t kw = 0; kw < g.kW; ++kw) {
              const int64_t off = kw * g.dilW - g.padL;
              int64_t lo, hi;
              valid_range(off, g.sW, g.W, g.oW, &lo, &hi);
              const T wv = wp[kh * g.kW + kw];
              T* dxrow = dxp + ih * g.W + off;
              if (g.sW == 1)
                for (int64_t i = lo; i < hi; ++i) dxrow[i] += wv * dyrow[i];
              else
                for (int64_t i = lo; i < hi; ++i) dxrow[i * g.sW] += wv * dyrow[i];
            }
          }
        }
      }
    }
  });
}

template <typename T>
void backward_weight(const Conv2dGeometry& g, const T* dy, const T* x, T* dw, T* db) {
  const int64_t m = g.O / g.C, HW = g.H * g.W, oHW = g.oH * g.oW, kk = g.kH * g.kW;
  parallel_for(0, g.O, imax(1, 65536 / imax(g.N * oHW * kk, 1)), [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      const int64_t c = o / m;
      if (dw)
        for (int64_t kh = 0; kh < g.kH; ++kh)
          for (int64_t kw = 0; kw < g.kW; ++kw) {
            const int64_t off = kw * g.dilW - g.padL;
            int64_t lo, hi;
            valid_range(off, g.sW, g.W, g.oW, &lo, &hi);
            double acc = 0.0;
            for (int64_t n = 0; n < g.N; ++n) {
              const T* dyp = dy + (n * g.O + o) * oHW;
              const T* xp = x + (n * g.C + c) * HW;
              T s = T(0);
              for (int64_t oh = 0; oh < g.oH; ++oh) {
                const int64_t ih = oh * g.sH - g.padT + kh * g.dilH;
                if (ih < 0 || ih >= g.H) continue;
                s += dot_row(dyp + oh * g.oW, xp + ih * g.W + off, lo, hi, g.sW);
              }
              acc += double(s);
            }
            dw[o * kk + kh * g.kW + kw] = T(acc);
          }
      if (db) {
        double acc = 0.0;
        for (int64_t n = 0; n < g.N; ++n) {
          const T* dyp = dy + (n * g.O + o) * oHW;
          T s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
          int64_t i = 0;
          for (; i + 8 <= oHW; i += 8)
            for (int k = 0; k < 8; ++k) s[k] += dyp[i + k];
          for (; i < oHW; ++i) s[0] += dyp[i];
          acc += double(((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])));
        }
        db[o] = T(acc);
      }
    }
  });
}

void depthwise_forward_kernel(DType dtype, const Conv2dGeometry& g, const void* x, const void* w, const void* bias,
                              void* y) {
  if (dtype == DType::Float32)
    forward(g, static_cast<const float*>(x), static_cast<const float*>(w), static_cast<const float*>(bias),
            static_cast<float*>(y));
  else if (dtype == DType::Float64)
    forward(g, static_cast<const double*>(x), static_cast<const double*>(w), static_cast<const double*>(bias),
            static_cast<double*>(y));
  else
    throw_unsupported_dtype("conv2d", dtype);
}

void depthwise_backward_input_kernel(DType dtype, const Conv2dGeometry& g, const void* dy, const void* w,
                                     const void* bias, void* dx) {
  if (dtype == DType::Float32)
    backward_input(g, static_cast<const float*>(dy), static_cast<const float*>(w), static_cast<const float*>(bias),
                   static_cast<float*>(dx));
  else if (dtype == DType::Float64)
    backward_input(g, static_cast<const double*>(dy), static_cast<const double*>(w),
                   static_cast<const double*>(bias), static_cast<double*>(dx));
  else
    throw_unsupported_dtype("conv2d_backward_input", dtype);
}

void depthwise_backward_weight_kernel(DType dtype, const Conv2dGeometry& g, const void* dy, const void* x, void* dw,
                                      void* db) {
  if (dtype == DType::Float32)
    backward_weight(g, static_cast<const float*>(dy), static_cast<const float*>(x), static_cast<float*>(dw),
                    static_cast<float*>(db));
  else if (dtype == DType::Float64)
    backward_weight(g, static_cast<const double*>(dy), static_cast<const double*>(x), static_cast<double*>(dw),
                    static_cast<double*>(db));
  else
    throw_unsupported_dtype("conv2d_backward_weight", dtype);
}

}  // namespace

REGISTER_CPU_KERNEL(conv2d_depthwise_forward_stub, &depthwise_forward_kernel);
REGISTER_CPU_KERNEL(conv2d_depthwise_backward_input_stub, &depthwise_backward_input_kernel);
REGISTER_CPU_KERNEL(conv2d_depthwise_backward_weight_stub, &depthwise_backward_weight_kernel);

}  // namespace CPU_CAPABILITY
}  // namespace ember
