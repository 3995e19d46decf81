// Interpolation kernels (nearest and bilinear over the index tables of ops/interpolate.cpp),
// forward and backward; one task per (n, c) plane, so the backward scatter never races.
// Compiled once per instruction set; no templates shared with portable code (core/loop.h).
#include <cstdint>
#include <cstring>

#include "core/parallel.h"
#include "ops/interpolate.h"

namespace ember {
namespace CPU_CAPABILITY {
namespace {

inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

template <typename T>
void forward(const InterpTables& t, const T* x, T* y) {
  const int64_t HW = t.H * t.W, oHW = t.oH * t.oW;
  parallel_for(0, t.planes, imax(1, 8192 / imax(oHW, 1)), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* xp = x + p * HW;
      T* yp = y + p * oHW;
      for (int64_t oh = 0; oh < t.oH; ++oh) {
        T* yrow = yp + oh * t.oW;
        const T* r0 = xp + t.h0[oh] * t.W;
        if (t.nearest) {
          for (int64_t ow = 0; ow < t.oW; ++ow) yrow[ow] = r0[t.w0[ow]];
          continue;
        }
        const T* r1 = xp + t.h1[oh] * t.W;
        const T a0 = T(t.lh0[oh]), a1 = T(t.lh1[oh]);
        for (int64_t ow = 0; ow < t.oW; ++ow) {
          const int64_t c0 = t.w0[ow], c1 = t.w1[ow];
          const T b0 = T(t.lw0[ow]), b1 = T(t.lw1[ow]);
          yrow[ow] = a0 * (b0 * r0[c0] + b1 * r0[c1]) + a1 * (b0 * r1[c0] + b1 * r1[c1]);
        }
      }
    }
  });
}

template <typename T>
void backward(const InterpTables& t, const T* dy, T* dx) {
  const int64_t HW = t.H * t.W, oHW = t.oH * t.oW;
  parallel_for(0, t.planes, imax(1, 8192 / imax(oHW, 1)), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      T* dxp = dx + p * HW;
      const T* dyp = dy + p * oHW;
      std::memset(dxp, 0, size_t(HW) * sizeof(T));
      for (int64_t oh = 0; oh < t.oH; ++oh) {
        const T* grow = dyp + oh * t.oW;
        T* r0 = dxp + t.h0[oh] * t.W;
        if (t.nearest) {
          for (int64_t ow = 0; ow < t.oW; ++ow) r0[t.w0[ow]] += grow[ow];
          continue;
        }
        T* r1 = dxp + t.h1[oh] * t.W;
        const T a0 = T(t.lh0[oh]), a1 = T(t.lh1[oh]);
        for (int64_t ow = 0; ow < t.oW; ++ow) {
          const int64_t c0 = t.w0[ow], c1 = t.w1[ow];
          const T b0 = T(t.lw0[ow]), b1 = T(t.lw1[ow]);
          const T g = grow[ow];
          r0[c0] += a0 * b0 * g;
          r0[c1] += a0 * b1 * g;
          r1[c0] += a1 * b0 * g;
          r1[c1] += a1 * b1 * g;
        }
      }
    }
  });
}

void interpolate_kernel(DType dtype, const InterpTables& t, const void* x, void* y) {
  if (dtype == DType::Float32) forward(t, static_cast<const float*>(x), static_cast<float*>(y));
  else if (dtype == DType::Float64) forward(t, static_cast<const double*>(x), static_cast<double*>(y));
  else throw_unsupported_dtype("interpolate", dtype);
}

void interpolate_backward_kernel(DType dtype, const InterpTables& t, const void* dy, void* dx) {
  if (dtype == DType::Float32) backward(t, static_cast<const float*>(dy), static_cast<float*>(dx));
  else if (dtype == DType::Float64) backward(t, static_cast<const double*>(dy), static_cast<double*>(dx));
  else throw_unsupported_dtype("interpolate_backward", dtype);
}

}  // namespace

REGISTER_CPU_KERNEL(interpolate_stub, &interpolate_kernel);
REGISTER_CPU_KERNEL(interpolate_backward_stub, &interpolate_backward_kernel);

}  // namespace CPU_CAPABILITY
}  // namespace ember
