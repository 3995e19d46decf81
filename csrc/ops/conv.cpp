// 2-D convolution: torch's argument checks and error messages, output sizes, output allocation
// and dispatch to the kernels (cpu/conv.cpp, cuda/conv.cu). 3-D inputs are unbatched (C, H, W).
#include "ops/conv.h"

#include <atomic>
#include <cmath>
#include <vector>

namespace ember {

DEFINE_DISPATCH(conv2d_forward_stub);
DEFINE_DISPATCH(conv2d_backward_input_stub);
DEFINE_DISPATCH(conv2d_backward_weight_stub);
DEFINE_DISPATCH(conv2d_depthwise_forward_stub);
DEFINE_DISPATCH(conv2d_depthwise_backward_input_stub);
DEFINE_DISPATCH(conv2d_depthwise_backward_weight_stub);
DEFINE_DISPATCH(conv2d_small_k_forward_stub);
DEFINE_DISPATCH(conv2d_small_k_backward_weight_stub);
DEFINE_DISPATCH(conv2d_reference_stub);
DEFINE_DISPATCH(conv_im2col_stub);
DEFINE_DISPATCH(conv_col2im_stub);
DEFINE_DISPATCH(conv2d_winograd_forward_stub);
DEFINE_DISPATCH(conv2d_winograd_backward_input_stub);
DEFINE_DISPATCH(conv2d_winograd_backward_weight_stub);
DEFINE_DISPATCH(conv2d_winograd43_forward_stub);
DEFINE_DISPATCH(conv2d_winograd43_backward_input_stub);
DEFINE_DISPATCH(conv2d_winograd43_backward_weight_stub);

namespace {
std::atomic<int> g_conv_algorithm{int(ConvAlgorithm::Auto)};
}
void set_conv_algorithm(ConvAlgorithm a) { g_conv_algorithm.store(int(a), std::memory_order_relaxed); }
ConvAlgorithm conv_algorithm() { return ConvAlgorithm(g_conv_algorithm.load(std::memory_order_relaxed)); }

namespace {

const char* type_word(DType d) { return d == DType::Float64 ? "double" : d == DType::Float32 ? "float" : dtype_name(d); }

void check_float(const Tensor& t, const char* what, const char* op) {
  EMBER_CHECK(t.dtype() == DType::Float32 || t.dtype() == DType::Float64, TypeError, op, ": expected ", what,
              " to be float32 or float64, but got ", dtype_name(t.dtype()));
}

void check_types(const Tensor& x, const Tensor& w, const Tensor* bias, const char* op) {
  check_float(x, "input", op);
  EMBER_CHECK(w.dtype() == x.dtype(), TypeError, op, ": Input type (", type_word(x.dtype()), ") and weight type (",
              type_word(w.dtype()), ") should be the same");
  check_same_device(x, w, op);
  if (bias) {
    EMBER_CHECK(bias->dtype() == x.dtype(), TypeError, op, ": Input type (", type_word(x.dtype()),
                ") and bias type (", type_word(bias->dtype()), ") should be the same");
    check_same_device(x, *bias, op);
  }
}

void check_options(const ConvOptions& o) {
  EMBER_CHECK(o.stride.first > 0 && o.stride.second > 0, ValueError, "non-positive stride is not supported, got (",
              o.stride.first, ", ", o.stride.second, ")");
  for (int64_t p : o.padding)
    EMBER_CHECK(p >= 0, ValueError, "negative padding is not supported, got (", o.padding[0], ", ", o.padding[2],
                ")");
  EMBER_CHECK(o.dilation.first > 0 && o.dilation.second > 0, ValueError,
              "dilation should be greater than zero, got (", o.dilation.first, ", ", o.dilation.second, ")");
  EMBER_CHECK(o.groups > 0, ValueError, "non-positive groups is not supported, got ", o.groups);
}

// 3-D (C, H, W) -> a (1, C, H, W) view; 4-D unchanged; anything else raises.
Tensor as_batched(const Tensor& t, const char* op, const char* what) {
  EMBER_CHECK(t.dim() == 3 || t.dim() == 4, ValueError, "Expected 3D (unbatched) or 4D (batched) ", what, " to ",
              op, ", but got ", what, " of size: ", t.shape());
  if (t.dim() == 4) return t;
  Shape shape{1}, strides{t.numel() ? t.stride(0) * t.size(0) : 1};
  for (int64_t d = 0; d < 3; ++d) {
    shape.push_back(t.size(d));
    strides.push_back(t.stride(d));
  }
  return t.as_strided(shape, strides, t.offset());
}

Tensor unbatch_like(const Tensor& y, const Tensor& like) {
  if (like.dim() == 4) return y;
  return y.as_strided({y.size(1), y.size(2), y.size(3)}, {y.stride(1), y.stride(2), y.stride(3)}, y.offset());
}

void check_weight(const Tensor& w, const Tensor& x, const char* op) {
  EMBER_CHECK(w.dim() == 4, ValueError, op, ": Expected 4-dimensional weight for 4-dimensional input ", x.shape(),
              ", but got ", w.dim(), "-dimensional weight of size ", w.shape(), " instead");
}

// Geometry of conv2d(x4, w) with options; `transposed` words the channel message as torch's
// conv_transpose2d does. oH/oW are torch's formula.
Conv2dGeometry make_geometry(const Shape& xs, const Shape& ws, const ConvOptions& o, bool transposed) {
  Conv2dGeometry g;
  g.N = xs[0], g.C = xs[1], g.H = xs[2], g.W = xs[3];
  g.O = ws[0], g.kH = ws[2], g.kW = ws[3];
  g.sH = o.stride.first, g.sW = o.stride.second;
  g.padT = o.padding[0], g.padL = o.padding[2];
  g.dilH = o.dilation.first, g.dilW = o.dilation.second;
  g.G = o.groups;
  // A zero-size kernel would pass the size check below and give an output larger than the input.
  EMBER_CHECK(g.kH > 0 && g.kW > 0, ValueError, "kernel size should be greater than zero, but got kernel_height: ",
              g.kH, " kernel_width: ", g.kW, " (weight of size ", ws, ")");
  EMBER_CHECK(ws[0] % g.G == 0, ValueError, "Given groups=", g.G, ", expected weight to be divisible by ", g.G,
              " at dimension 0, but got weight of shape ", ws, " instead");
  if (!transposed) {
    EMBER_CHECK(g.C == ws[1] * g.G, ValueError, "Given groups=", g.G, ", weight of size ", ws, ", expected input",
                xs, " to have ", ws[1] * g.G, " channels, but got ", g.C, " channels instead");
  }
  const int64_t pH = g.H + o.padding[0] + o.padding[1], pW = g.W + o.padding[2] + o.padding[3];
  const int64_t ekH = g.dilH * (g.kH - 1) + 1, ekW = g.dilW * (g.kW - 1) + 1;
  EMBER_CHECK(pH >= ekH && pW >= ekW, ValueError, "Calculated padded input size per channel: (", pH, " x ", pW,
              "). Kernel size: (", ekH, " x ", ekW, "). Kernel size can't be greater than actual input size");
  g.oH = (pH - ekH) / g.sH + 1;
  g.oW = (pW - ekW) / g.sW + 1;
  return g;
}

void check_bias(const Tensor* bias, const Shape& ws, int64_t n, bool transposed) {
  if (!bias) return;
  EMBER_CHECK(bias->dim() == 1 && bias->size(0) == n, ValueError, "Given ", transposed ? "transposed=1, " : "",
              "weight of size ", ws, ", expected bias to be 1-dimensional with ", n,
              " elements, but got bias of size ", bias->shape(), " instead");
}

void* data_or_null(const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }

// Checks that dy (N, O, oH, oW) fits the geometry: oH/oW at most the formula's (conv_transpose2d
// with output_padding >= stride uses fewer rows than the formula gives), then sets them.
void fit_grad_output(Conv2dGeometry& g, const Tensor& dy4, const char* op) {
  EMBER_CHECK(dy4.size(0) == g.N && dy4.size(1) == g.O && dy4.size(2) >= 1 && dy4.size(2) <= g.oH &&
                  dy4.size(3) >= 1 && dy4.size(3) <= g.oW,
              ValueError, op, ": grad_output of size ", dy4.shape(), " does not fit an output of size [", g.N, ", ",
              g.O, ", ", g.oH, ", ", g.oW, "]");
  g.oH = dy4.size(2);
  g.oW = dy4.size(3);
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, const ConvOptions& opt) {
  check_types(x, w, bias, "conv2d");
  const Tensor x4 = as_batched(x, "conv2d", "input");
  check_weight(w, x4, "conv2d");
  check_options(opt);
  const Conv2dGeometry g = make_geometry(x4.shape(), w.shape(), opt, false);
  check_bias(bias, w.shape(), g.O, false);
  Tensor y = Tensor::empty({g.N, g.O, g.oH, g.oW}, x.dtype(), x.device());
  if (y.numel() == 0) return unbatch_like(y, x);
  const Tensor xc = x4.contiguous(), wc = w.contiguous();
  const Tensor bc = bias ? bias->contiguous() : Tensor();
  conv2d_forward_stub.get(x.device())(x.dtype(), g, xc.raw_data(), wc.raw_data(), data_or_null(bc), y.raw_data());
  return unbatch_like(y, x);
}

Tensor conv2d_backward_input(const Tensor& dy, const Tensor& w, const Tensor* bias, const ConvOptions& opt,
                             Pair64 input_hw) {
  const char* op = "conv2d_backward_input";
  check_types(dy, w, bias, op);
  const Tensor dy4 = as_batched(dy, op, "grad_output");
  check_weight(w, dy4, op);
  check_options(opt);
  EMBER_CHECK(input_hw.first > 0 && input_hw.second > 0, ValueError, op, ": invalid input size (", input_hw.first,
              ", ", input_hw.second, ")");
  const Shape xs{dy4.size(0), w.size(1) * opt.groups, input_hw.first, input_hw.second};
  Conv2dGeometry g = make_geometry(xs, w.shape(), opt, true);
  fit_grad_output(g, dy4, op);
  check_bias(bias, w.shape(), g.C, true);
  Tensor dx = Tensor::empty(xs, dy.dtype(), dy.device());
  if (dx.numel() == 0) return unbatch_like(dx, dy);
  const Tensor dyc = dy4.contiguous(), wc = w.contiguous();
  const Tensor bc = bias ? bias->contiguous() : Tensor();
  conv2d_backward_input_stub.get(dy.device())(dy.dtype(), g, dyc.raw_data(), wc.raw_data(), data_or_null(bc),
                                              dx.raw_data());
  return unbatch_like(dx, dy);
}

std::pair<Tensor, Tensor> conv2d_backward_weight(const Tensor& dy, const Tensor& x, const Shape& weight_shape,
                                                 const ConvOptions& opt, bool need_weight, bool need_bias) {
  const char* op = "conv2d_backward_weight";
  check_float(x, "input", op);
  EMBER_CHECK(dy.dtype() == x.dtype(), TypeError, op, ": grad_output type (", type_word(dy.dtype()),
              ") and input type (", type_word(x.dtype()), ") should be the same");
  check_same_device(dy, x, op);
  EMBER_CHECK(dy.dim() == x.dim(), ValueError, op, ": grad_output ", dy.shape(), " and input ", x.shape(),
              " differ in rank");
  const Tensor x4 = as_batched(x, op, "input"), dy4 = as_batched(dy, op, "grad_output");
  EMBER_CHECK(weight_shape.size() == 4, ValueError, op, ": expected a 4-D weight shape, got ", weight_shape);
  check_options(opt);
  Conv2dGeometry g = make_geometry(x4.shape(), weight_shape, opt, false);
  fit_grad_output(g, dy4, op);
  Tensor dw = need_weight ? Tensor::empty(weight_shape, x.dtype(), x.device()) : Tensor();
  Tensor db = need_bias ? Tensor::empty({g.O}, x.dtype(), x.device()) : Tensor();
  if (!need_weight && !need_bias) return {dw, db};
  const Tensor xc = x4.contiguous(), dyc = dy4.contiguous();
  conv2d_backward_weight_stub.get(x.device())(x.dtype(), g, dyc.raw_data(), xc.raw_data(), data_or_null(dw),
                                              data_or_null(db));
  return {dw, db};
}

std::tuple<Tensor, Tensor, Tensor> conv2d_backward(const Tensor& dy, const Tensor& x, const Tensor& w,
                                                   const ConvOptions& opt, bool need_input, bool need_weight,
                                                   bool need_bias) {
  Tensor dx, dw, db;
  if (need_input) {
    const Tensor x4 = as_batched(x, "conv2d_backward", "input");
    dx = conv2d_backward_input(dy, w, nullptr, opt, {x4.size(2), x4.size(3)});
  }
  if (need_weight || need_bias) std::tie(dw, db) = conv2d_backward_weight(dy, x, w.shape(), opt, need_weight, need_bias);
  return {dx, dw, db};
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor* bias, const ConvOptions& opt,
                        Pair64 output_padding) {
  const char* op = "conv_transpose2d";
  check_types(x, w, bias, op);
  const Tensor x4 = as_batched(x, op, "input");
  check_weight(w, x4, op);
  check_options(opt);
  const int64_t opH = output_padding.first, opW = output_padding.second;
  EMBER_CHECK(opH >= 0 && opW >= 0, ValueError, "negative output_padding is not supported, got (", opH, ", ", opW,
              ")");
  EMBER_CHECK((opH < opt.stride.first || opH < opt.dilation.first) &&
                  (opW < opt.stride.second || opW < opt.dilation.second),
              ValueError, "output padding must be smaller than either stride or dilation, but got "
              "output_padding_height: ", opH, " output_padding_width: ", opW, " stride_height: ", opt.stride.first,
              " stride_width: ", opt.stride.second, " dilation_height: ", opt.dilation.first, " dilation_width: ",
              opt.dilation.second);
  const int64_t G = opt.groups;
  EMBER_CHECK(w.size(0) % G == 0, ValueError, "Given groups=", G, ", expected weight to be divisible by ", G,
              " at dimension 0, but got weight of shape ", w.shape(), " instead");
  EMBER_CHECK(x4.size(1) == w.size(0), ValueError, "Given transposed=1, weight of size ", w.shape(),
              ", expected input", x4.shape(), " to have ", w.size(0), " channels, but got ", x4.size(1),
              " channels instead");
  check_bias(bias, w.shape(), w.size(1) * G, true);
  const int64_t H = x4.size(2), W = x4.size(3);
  const int64_t oH = (H - 1) * opt.stride.first - opt.padding[0] - opt.padding[1] +
                     opt.dilation.first * (w.size(2) - 1) + opH + 1;
  const int64_t oW = (W - 1) * opt.stride.second - opt.padding[2] - opt.padding[3] +
                     opt.dilation.second * (w.size(3) - 1) + opW + 1;
  EMBER_CHECK(oH > 0 && oW > 0, ValueError, "Given input size per channel: (", H, " x ", W,
              "). Calculated output size per channel: (", oH, " x ", oW, "). Output size is too small");
  return conv2d_backward_input(x, w, bias, opt, {oH, oW});
}

Tensor conv2d_reference(const Tensor& x, const Tensor& w, const Tensor* bias, const ConvOptions& opt) {
  check_types(x, w, bias, "conv2d_reference");
  const Tensor x4 = as_batched(x, "conv2d_reference", "input");
  check_weight(w, x4, "conv2d_reference");
  check_options(opt);
  const Conv2dGeometry g = make_geometry(x4.shape(), w.shape(), opt, false);
  check_bias(bias, w.shape(), g.O, false);
  Tensor y = Tensor::empty({g.N, g.O, g.oH, g.oW}, x.dtype(), x.device());
  if (y.numel() == 0) return unbatch_like(y, x);
  const Tensor xc = x4.contiguous(), wc = w.contiguous();
  const Tensor bc = bias ? bias->contiguous() : Tensor();
  conv2d_reference_stub.get(x.device())(x.dtype(), g, xc.raw_data(), wc.raw_data(), data_or_null(bc), y.raw_data());
  return unbatch_like(y, x);
}

}  // namespace ember
