// Index arithmetic shared by the convolution kernels of csrc/cpu/kernels/ (depthwise, im2col,
// Winograd). Like vec_math.h, included only by files under csrc/cpu/kernels/, so each
// instruction-set build gets its own copy in its own namespace.
#pragma once
#include <cstdint>

namespace ember {
namespace CPU_CAPABILITY {

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }
inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Outputs o in [0, out) whose input index o * stride + off lies in [0, in): [lo, hi).
inline void valid_range(int64_t off, int64_t stride, int64_t in, int64_t out, int64_t* lo, int64_t* hi) {
  *lo = imin(out, imax(0, -floor_div(off, stride)));  // ceil(-off / stride)
  *hi = imax(*lo, imin(out, floor_div(in - 1 - off, stride) + 1));
}

}  // namespace CPU_CAPABILITY
}  // namespace ember
