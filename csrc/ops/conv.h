// 2-D convolution over NCHW tensors (conv1d and the transposed convolutions are built on it):
// forward, the input gradient (which is also conv_transpose2d's forward) and the weight/bias
// gradients, float32 and float64.
// Shapes: x (N, C, H, W); w (O, C/G, kH, kW); y (N, O, oH, oW); S = stride, P = padding
// (top/bottom/left/right, so that padding='same' with even kernels needs no padded copy),
// D = dilation, G = groups. oH = (H + padT + padB - D*(kH-1) - 1) / S + 1.
#pragma once
#include <array>
#include <cstdint>
#include <tuple>
#include <utility>

#include "core/dispatch.h"
#include "core/tensor.h"

namespace ember {

using Pair64 = std::pair<int64_t, int64_t>;

// Hyper-parameters as the caller gives them; padding is {top, bottom, left, right}.
struct ConvOptions {
  Pair64 stride{1, 1};
  std::array<int64_t, 4> padding{0, 0, 0, 0};
  Pair64 dilation{1, 1};
  int64_t groups = 1;
};

// Geometry handed to the kernels; every tensor it describes is contiguous.
struct Conv2dGeometry {
  int64_t N = 0, C = 0, H = 0, W = 0;  // input
  int64_t O = 0, kH = 1, kW = 1;       // weight (O, C/G, kH, kW)
  int64_t oH = 0, oW = 0;              // output
  int64_t sH = 1, sW = 1, padT = 0, padL = 0, dilH = 1, dilW = 1, G = 1;
};

// y = conv2d(x, w) + bias (bias may be null). x is 3-D (C, H, W) or 4-D.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, const ConvOptions& opt);

// dx of conv2d for an input of spatial size input_hw, given dy and w; bias (C elements, may be
// null) is added to every dx plane, which makes this conv_transpose2d's forward.
Tensor conv2d_backward_input(const Tensor& dy, const Tensor& w, const Tensor* bias, const ConvOptions& opt,
                             Pair64 input_hw);

// dw (and db when need_bias) of conv2d from dy and x; weight_shape is (O, C/G, kH, kW).
std::pair<Tensor, Tensor> conv2d_backward_weight(const Tensor& dy, const Tensor& x, const Shape& weight_shape,
                                                 const ConvOptions& opt, bool need_weight, bool need_bias);

// The three gradients of conv2d in one call; undefined tensors where not asked for.
std::tuple<Tensor, Tensor, Tensor> conv2d_backward(const Tensor& dy, const Tensor& x, const Tensor& w,
                                                   const ConvOptions& opt, bool need_input, bool need_weight,
                                                   bool need_bias);

// torch.nn.functional.conv_transpose2d: w is (C_in, C_out/G, kH, kW); padding is symmetric
// (opt.padding top == bottom, left == right); output_padding < stride or < dilation.
Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor* bias, const ConvOptions& opt,
                        Pair64 output_padding);

// Direct 7-loop convolution accumulating in double, on x's device: the oracle for tests and
// benchmarks.
Tensor conv2d_reference(const Tensor& x, const Tensor& w, const Tensor* bias, const ConvOptions& opt);

// ---- kernels (cpu/conv.cpp: im2col + GEMM; cpu/kernels/conv.cpp: depthwise; cpu/kernels/im2col.cpp;
//      cuda/conv.cu: implicit GEMM; cuda/conv_direct.cu: depthwise and the reference) ---------
// Pointers are contiguous. bias: O elements or null (forward), C elements or null (input grad).
using conv2d_forward_fn = void (*)(DType dtype, const Conv2dGeometry& g, const void* x, const void* w,
                                   const void* bias, void* y);
using conv2d_backward_input_fn = void (*)(DType dtype, const Conv2dGeometry& g, const void* dy, const void* w,
                                          const void* bias, void* dx);
// dw and/or db (either may be null).
using conv2d_backward_weight_fn = void (*)(DType dtype, const Conv2dGeometry& g, const void* dy, const void* x,
                                           void* dw, void* db);
DECLARE_DISPATCH(conv2d_forward_fn, conv2d_forward_stub);
DECLARE_DISPATCH(conv2d_backward_input_fn, conv2d_backward_input_stub);
DECLARE_DISPATCH(conv2d_backward_weight_fn, conv2d_backward_weight_stub);
// Direct loops for G == C (depthwise, channel multiplier O / C); used by the kernels above.
DECLARE_DISPATCH(conv2d_forward_fn, conv2d_depthwise_forward_stub);
DECLARE_DISPATCH(conv2d_backward_input_fn, conv2d_depthwise_backward_input_stub);
DECLARE_DISPATCH(conv2d_backward_weight_fn, conv2d_depthwise_backward_weight_stub);
// Direct loops for the forward and the weight gradient of stride-1, ungrouped convolutions with
// few inputs per output (cpu/conv.cpp's small_k_suits), where the im2col GEMMs have too few
// columns or rows to run well (cpu/kernels/conv_small_k.cpp).
DECLARE_DISPATCH(conv2d_forward_fn, conv2d_small_k_forward_stub);
DECLARE_DISPATCH(conv2d_backward_weight_fn, conv2d_small_k_backward_weight_stub);
// im2col / col2im of one image (cpu/kernels/im2col.cpp), float32 or float64: col (C*kH*kW x
// oH*oW) from x (C, H, W), and dx (C, H, W) overwritten with the sums of col's entries over the
// positions im2col read them from.
using conv_im2col_fn = void (*)(DType dtype, const Conv2dGeometry& g, const void* x, void* col);
using conv_col2im_fn = void (*)(DType dtype, const Conv2dGeometry& g, const void* col, void* dx);
DECLARE_DISPATCH(conv_im2col_fn, conv_im2col_stub);
DECLARE_DISPATCH(conv_col2im_fn, conv_col2im_stub);
// conv2d_reference's loop (any groups; accumulates in double).
DECLARE_DISPATCH(conv2d_forward_fn, conv2d_reference_stub);
// Winograd F(2x2, 3x3) (cpu/kernels/winograd.cpp): float32, 3x3 taps, stride 1, dilation 1; the
// input gradient also needs padT, padL <= 2. Used by the CPU kernels above when winograd_suits().
DECLARE_DISPATCH(conv2d_forward_fn, conv2d_winograd_forward_stub);
DECLARE_DISPATCH(conv2d_backward_input_fn, conv2d_winograd_backward_input_stub);
DECLARE_DISPATCH(conv2d_backward_weight_fn, conv2d_winograd_backward_weight_stub);
// Winograd F(4x4, 3x3) (cpu/kernels/winograd43.cpp), same conditions.
DECLARE_DISPATCH(conv2d_forward_fn, conv2d_winograd43_forward_stub);
DECLARE_DISPATCH(conv2d_backward_input_fn, conv2d_winograd43_backward_input_stub);
DECLARE_DISPATCH(conv2d_backward_weight_fn, conv2d_winograd43_backward_weight_stub);

// Which CPU algorithm 3x3 stride-1 float32 convolutions take: Winograd where it pays (the
// default), or always im2col + GEMM, or always Winograd F(2x2, 3x3), or F(4x4, 3x3) for the
// forward and input gradient (for tests and benchmarks that compare them).
enum class ConvAlgorithm : int { Auto = 0, Im2col = 1, Winograd = 2, Winograd4x4 = 3 };
void set_conv_algorithm(ConvAlgorithm a);
ConvAlgorithm conv_algorithm();

}  // namespace ember
