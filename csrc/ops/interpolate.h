// Resampling of NCHW planes (torch.nn.functional.interpolate): 'nearest', 'nearest-exact' and
// 'bilinear' (align_corners True/False), forward and backward. 3-D inputs (N, C, L) are planes of
// height 1 ('linear' is 'bilinear' on them). Shapes: planes = N*C; (H, W) -> (oH, oW).
// Source coordinates follow torch: with a scale s given (and not recomputed) the ratio is 1/s,
// else in/out; bilinear: src = align_corners ? dst*(in-1)/(out-1) : max((dst+0.5)*ratio-0.5, 0).
#pragma once
#include <cstdint>
#include <optional>
#include <utility>

#include "core/dispatch.h"
#include "core/tensor.h"

namespace ember {

enum class InterpMode : int { Nearest = 0, Bilinear = 1, NearestExact = 2 };

// x: 3-D or 4-D float; size: (oH, oW) (oH must be 1 for 3-D); scale_h / scale_w: the caller's
// scale factors when torch would pass them to its kernel (recompute_scale_factor not set).
Tensor interpolate(const Tensor& x, InterpMode mode, std::pair<int64_t, int64_t> size,
                   std::optional<double> scale_h, std::optional<double> scale_w, bool align_corners);
Tensor interpolate_backward(const Tensor& dy, InterpMode mode, const Shape& input_shape,
                            std::optional<double> scale_h, std::optional<double> scale_w, bool align_corners);

// Per output row (and column): the two source rows and their weights; nearest uses h0 only.
struct InterpTables {
  int64_t planes = 0, H = 0, W = 0, oH = 0, oW = 0;
  bool nearest = false;
  const int64_t *h0 = nullptr, *h1 = nullptr, *w0 = nullptr, *w1 = nullptr;
  const double *lh0 = nullptr, *lh1 = nullptr, *lw0 = nullptr, *lw1 = nullptr;
};
using interpolate_fn = void (*)(DType dtype, const InterpTables& t, const void* x, void* y);
using interpolate_backward_fn = void (*)(DType dtype, const InterpTables& t, const void* dy, void* dx);
DECLARE_DISPATCH(interpolate_fn, interpolate_stub);
DECLARE_DISPATCH(interpolate_backward_fn, interpolate_backward_stub);

}  // namespace ember
