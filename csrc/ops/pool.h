// 2-D pooling over NCHW planes: max_pool2d (with indices), avg_pool2d, adaptive_avg_pool2d,
// adaptive_max_pool2d, forward and backward.
// Shapes: planes = N*C; input (H, W) -> output (oH, oW) per plane; K = kernel, S = stride,
// P = padding, D = dilation. Indices are flat h*W + w within a plane, as torch.
#pragma once
#include <cstdint>
#include <utility>

#include "core/dispatch.h"
#include "core/tensor.h"

namespace ember {

enum class PoolKind : int { Max = 0, Avg = 1, AdaptiveAvg = 2, AdaptiveMax = 3 };

struct Pool2dParams {
  int64_t planes = 0, H = 0, W = 0, oH = 0, oW = 0;
  int64_t kH = 1, kW = 1, sH = 1, sW = 1, pH = 0, pW = 0, dH = 1, dW = 1;
  bool count_include_pad = true;
  int64_t divisor_override = 0;  // 0: none
};

// torch's pooling_output_shape: ceil_mode windows must start inside the input or left padding.
int64_t pooling_output_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dilation, bool ceil_mode);

// Returns (output, indices); indices are defined for the max kinds only, and only when
// need_indices (an inference-only forward skips writing them: eight bytes per output). `kernel` etc. are
// (h, w) pairs; for the adaptive kinds `kernel` holds the output size.
std::pair<Tensor, Tensor> pool2d_forward(PoolKind kind, const Tensor& x, std::pair<int64_t, int64_t> kernel,
                                         std::pair<int64_t, int64_t> stride, std::pair<int64_t, int64_t> padding,
                                         std::pair<int64_t, int64_t> dilation, bool ceil_mode,
                                         bool count_include_pad, int64_t divisor_override,
                                         bool need_indices = true);
Tensor pool2d_backward(PoolKind kind, const Tensor& dy, const Tensor& x, const Tensor& indices,
                       std::pair<int64_t, int64_t> kernel, std::pair<int64_t, int64_t> stride,
                       std::pair<int64_t, int64_t> padding, std::pair<int64_t, int64_t> dilation, bool ceil_mode,
                       bool count_include_pad, int64_t divisor_override);

using pool2d_fn = void (*)(PoolKind kind, DType dtype, const Pool2dParams& p, const char* x, char* y,
                           int64_t* indices);
// Max kinds scatter dy through `indices`; avg kinds spread dy over each window.
using pool2d_backward_fn = void (*)(PoolKind kind, DType dtype, const Pool2dParams& p, const char* dy,
                                    const int64_t* indices, char* dx);
DECLARE_DISPATCH(pool2d_fn, pool2d_stub);
DECLARE_DISPATCH(pool2d_backward_fn, pool2d_backward_stub);

}  // namespace ember
