// interpolate: argument checks, torch's source-index tables (computed here, in the input's
// opmath precision: float for float32), then the kernels of cpu/kernels/interpolate.cpp.
#include "ops/interpolate.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace ember {

DEFINE_DISPATCH(interpolate_stub);
DEFINE_DISPATCH(interpolate_backward_stub);

namespace {

const char* mode_name(InterpMode m) {
  return m == InterpMode::Nearest ? "nearest" : m == InterpMode::Bilinear ? "bilinear" : "nearest-exact";
}

// torch's compute_scales_value: 1/scale when a positive scale is given, else in/out.
template <typename S>
S scales_value(std::optional<double> scale, int64_t in, int64_t out) {
  return (scale && *scale > 0.0) ? S(1.0 / *scale) : S(in) / S(out);
}

struct Axis {
  std::vector<int64_t> i0, i1;
  std::vector<double> l0, l1;
};

template <typename S>
Axis make_axis(InterpMode mode, int64_t in, int64_t out, std::optional<double> scale, bool align_corners) {
  Axis a;
  a.i0.resize(size_t(out));
  a.i1.resize(size_t(out));
  a.l0.resize(size_t(out));
  a.l1.resize(size_t(out));
  if (mode != InterpMode::Bilinear) {
    const float ratio = scales_value<float>(scale, in, out);
    for (int64_t o = 0; o < out; ++o) {
      int64_t src;
      if (mode == InterpMode::NearestExact)
        src = std::min(int64_t(floorf(float((double(o) + 0.5) * ratio))), in - 1);
      else if (out == in)
        src = o;
      else if (out == 2 * in)
        src = o >> 1;
      else
        src = std::min(int64_t(floorf(float(o) * ratio)), in - 1);
      a.i0[size_t(o)] = a.i1[size_t(o)] = src;
      a.l0[size_t(o)] = 1.0;
      a.l1[size_t(o)] = 0.0;
    }
    return a;
  }
  const S ratio = align_corners ? (out > 1 ? S(in - 1) / S(out - 1) : S(0)) : scales_value<S>(scale, in, out);
  for (int64_t o = 0; o < out; ++o) {
    S real;
    if (align_corners) {
      real = ratio * S(o);
    } else {
      real = ratio * (S(o) + S(0.5)) - S(0.5);
      if (real < S(0)) real = S(0);
    }
    const int64_t i0 = std::min(int64_t(std::floor(real)), in - 1);
    const S lambda = std::min(std::max(real - S(i0), S(0)), S(1));
    a.i0[size_t(o)] = i0;
    a.i1[size_t(o)] = i0 + (i0 < in - 1 ? 1 : 0);
    a.l1[size_t(o)] = double(lambda);
    a.l0[size_t(o)] = double(S(1) - lambda);
  }
  return a;
}

struct Plan {
  Axis h, w;
  InterpTables t;
};

// x_shape: the input's (3-D or 4-D) shape; out_hw: the output's plane size.
Plan make_plan(DType dtype, InterpMode mode, const Shape& x_shape, std::pair<int64_t, int64_t> out_hw,
               std::optional<double> scale_h, std::optional<double> scale_w, bool align_corners) {
  const int64_t nd = int64_t(x_shape.size());
  Plan p;
  p.t.H = nd == 4 ? x_shape[2] : 1;
  p.t.W = x_shape[size_t(nd - 1)];
  p.t.planes = x_shape[0] * x_shape[1];
  p.t.oH = out_hw.first;
  p.t.oW = out_hw.second;
  p.t.nearest = mode != InterpMode::Bilinear;
  if (dtype == DType::Float64) {
    p.h = make_axis<double>(mode, p.t.H, p.t.oH, scale_h, align_corners);
    p.w = make_axis<double>(mode, p.t.W, p.t.oW, scale_w, align_corners);
  } else {
    p.h = make_axis<float>(mode, p.t.H, p.t.oH, scale_h, align_corners);
    p.w = make_axis<float>(mode, p.t.W, p.t.oW, scale_w, align_corners);
  }
  p.t.h0 = p.h.i0.data(), p.t.h1 = p.h.i1.data(), p.t.lh0 = p.h.l0.data(), p.t.lh1 = p.h.l1.data();
  p.t.w0 = p.w.i0.data(), p.t.w1 = p.w.i1.data(), p.t.lw0 = p.w.l0.data(), p.t.lw1 = p.w.l1.data();
  return p;
}

void check_input(const Tensor& x, InterpMode mode, const char* what) {
  EMBER_CHECK(int(mode) >= 0 && int(mode) <= 2, ValueError, "interpolate: invalid mode code ", int(mode));
  EMBER_CHECK(x.dtype() == DType::Float32 || x.dtype() == DType::Float64, TypeError, "interpolate: expected a ",
              what, " of dtype float32 or float64, but got ", dtype_name(x.dtype()));
  EMBER_CHECK(x.dim() == 3 || x.dim() == 4, ValueError, "interpolate (", mode_name(mode),
              "): expected a 3-D (N, C, L) or 4-D (N, C, H, W) ", what, ", but got ", what, " of size ", x.shape());
}

Shape out_shape_of(const Shape& in, std::pair<int64_t, int64_t> hw) {
  Shape s = in;
  if (s.size() == 4) s[2] = hw.first;
  s.back() = hw.second;
  return s;
}

}  // namespace

Tensor interpolate(const Tensor& x, InterpMode mode, std::pair<int64_t, int64_t> size,
                   std::optional<double> scale_h, std::optional<double> scale_w, bool align_corners) {
  check_input(x, mode, "input");
  if (x.dim() == 3) {
    EMBER_CHECK(size.first == 1, ValueError, "interpolate: a 3-D input has no height to resize");
    scale_h.reset();
  }
  EMBER_CHECK(size.first > 0 && size.second > 0, ValueError, "Input and output sizes should be greater than 0, but "
              "got input (", x.dim() == 4 ? x.size(2) : 1, ", ", x.size(-1), ") output (", size.first, ", ",
              size.second, ")");
  for (int64_t d = 2; d < x.dim(); ++d)
    EMBER_CHECK(x.size(d) > 0, ValueError, "interpolate: input of size ", x.shape(),
                " has an empty spatial dimension");
  Tensor y = Tensor::empty(out_shape_of(x.shape(), size), x.dtype(), x.device());
  if (y.numel() == 0) return y;
  const Plan p = make_plan(x.dtype(), mode, x.shape(), size, scale_h, scale_w, align_corners);
  const Tensor xc = x.contiguous();
  interpolate_stub.get(x.device())(x.dtype(), p.t, xc.raw_data(), y.raw_data());
  return y;
}

Tensor interpolate_backward(const Tensor& dy, InterpMode mode, const Shape& input_shape,
                            std::optional<double> scale_h, std::optional<double> scale_w, bool align_corners) {
  check_input(dy, mode, "grad_output");
  EMBER_CHECK(int64_t(input_shape.size()) == dy.dim() && input_shape[0] == dy.size(0) &&
                  input_shape[1] == dy.size(1),
              ValueError, "interpolate_backward: grad_output ", dy.shape(), " does not match input ", input_shape);
  if (dy.dim() == 3) scale_h.reset();
  for (int64_t d = 2; d < dy.dim(); ++d)
    EMBER_CHECK(input_shape[size_t(d)] > 0, ValueError, "interpolate_backward: empty input size ", input_shape);
  Tensor dx = Tensor::empty(input_shape, dy.dtype(), dy.device());
  if (dx.numel() == 0) return dx;
  const std::pair<int64_t, int64_t> out_hw{dy.dim() == 4 ? dy.size(2) : 1, dy.size(-1)};
  const Plan p = make_plan(dy.dtype(), mode, input_shape, out_hw, scale_h, scale_w, align_corners);
  const Tensor g = dy.contiguous();
  interpolate_backward_stub.get(dy.device())(dy.dtype(), p.t, g.raw_data(), dx.raw_data());
  return dx;
}

}  // namespace ember
