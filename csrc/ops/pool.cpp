// 2-D pooling: torch's argument checks and output-size formulas, then dispatch per plane.
#include "ops/pool.h"

#include "ops/reduce.h"

namespace ember {

DEFINE_DISPATCH(pool2d_stub);
DEFINE_DISPATCH(pool2d_backward_stub);

namespace {
int64_t div_floor(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

const char* kind_name(PoolKind k) {
  static const char* names[] = {"max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d"};
  return names[int(k)];
}

// Fills the geometry; `x` must be (C, H, W) or (N, C, H, W).
Pool2dParams make_params(PoolKind kind, const Tensor& x, std::pair<int64_t, int64_t> k,
                         std::pair<int64_t, int64_t> s, std::pair<int64_t, int64_t> pad,
                         std::pair<int64_t, int64_t> d, bool ceil_mode, bool count_include_pad,
                         int64_t divisor_override) {
  const char* name = kind_name(kind);
  EMBER_CHECK(is_floating(x.dtype()), TypeError, name, ": expected a floating-point input, got ",
              dtype_name(x.dtype()));
  EMBER_CHECK(x.dim() == 3 || x.dim() == 4, ValueError, name,
              ": Expected 3D or 4D (batch mode) tensor for input, but got input of shape ", x.shape());
  Pool2dParams p;
  const int64_t nd = x.dim();
  p.H = x.shape()[nd - 2], p.W = x.shape()[nd - 1];
  p.planes = x.numel() / std::max<int64_t>(1, p.H * p.W);
  if (nd == 4) p.planes = x.shape()[0] * x.shape()[1];
  else p.planes = x.shape()[0];
  if (kind == PoolKind::AdaptiveAvg || kind == PoolKind::AdaptiveMax) {
    EMBER_CHECK(k.first >= 0 && k.second >= 0, ValueError, name, ": output_size must be non-negative, got (",
                k.first, ", ", k.second, ")");
    for (int64_t i = nd == 4 ? 1 : 0; i < nd; ++i)
      EMBER_CHECK(x.shape()[i] > 0, ValueError, name, ": Expected input to have non-zero size for non-batch "
                  "dimensions, but input has sizes ", x.shape());
    p.oH = k.first, p.oW = k.second;
    return p;
  }
  p.kH = k.first, p.kW = k.second, p.sH = s.first, p.sW = s.second;
  p.pH = pad.first, p.pW = pad.second, p.dH = d.first, p.dW = d.second;
  EMBER_CHECK(p.kH > 0 && p.kW > 0, ValueError, name, ": kernel_size should be greater than zero, but got kH: ",
              p.kH, " kW: ", p.kW);
  EMBER_CHECK(p.sH > 0 && p.sW > 0, ValueError, name, ": stride should be greater than zero, but got sH: ", p.sH,
              " sW: ", p.sW);
  EMBER_CHECK(p.dH > 0 && p.dW > 0, ValueError, name, ": dilation should be greater than zero, but got dH: ", p.dH,
              " dW: ", p.dW);
  EMBER_CHECK(p.pH >= 0 && p.pW >= 0, ValueError, name, ": pad must be non-negative, but got padH: ", p.pH,
              " padW: ", p.pW);
  if (kind == PoolKind::Max) {
    for (int i = 0; i < 2; ++i) {
      const int64_t kk = i ? p.kW : p.kH, pp = i ? p.pW : p.pH, dd = i ? p.dW : p.dH;
      EMBER_CHECK(pp <= ((kk - 1) * dd + 1) / 2, ValueError,
                  "pad should be at most half of effective kernel size, but got pad=", pp, ", kernel_size=", kk,
                  " and dilation=", dd);
    }
  } else {
    EMBER_CHECK(p.pH <= p.kH / 2 && p.pW <= p.kW / 2, ValueError,
                "pad should be smaller than or equal to half of kernel size, but got padW = ", p.pW, ", padH = ",
                p.pH, ", kW = ", p.kW, ", kH = ", p.kH);
  }
  EMBER_CHECK(divisor_override >= 0, ValueError, name, ": divisor must be not zero");
  p.oH = pooling_output_size(p.H, p.kH, p.pH, p.sH, p.dH, ceil_mode);
  p.oW = pooling_output_size(p.W, p.kW, p.pW, p.sW, p.dW, ceil_mode);
  EMBER_CHECK(p.oH > 0 && p.oW > 0, ValueError, name, ": Given input size: (", x.shape(),
              "). Calculated output size: (", p.oH, "x", p.oW, "). Output size is too small");
  p.count_include_pad = count_include_pad;
  p.divisor_override = divisor_override;
  return p;
}

Shape out_shape(const Tensor& x, const Pool2dParams& p) {
  Shape s = x.shape();
  s[s.size() - 2] = p.oH;
  s[s.size() - 1] = p.oW;
  return s;
}
}  // namespace

int64_t pooling_output_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dilation, bool ceil_mode) {
  int64_t out = div_floor(in + 2 * pad - dilation * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0), stride) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

std::pair<Tensor, Tensor> pool2d_forward(PoolKind kind, const Tensor& x, std::pair<int64_t, int64_t> kernel,
                                         std::pair<int64_t, int64_t> stride, std::pair<int64_t, int64_t> padding,
                                         std::pair<int64_t, int64_t> dilation, bool ceil_mode,
                                         bool count_include_pad, int64_t divisor_override, bool need_indices) {
  const Pool2dParams p =
      make_params(kind, x, kernel, stride, padding, dilation, ceil_mode, count_include_pad, divisor_override);
  const Shape os = out_shape(x, p);
  Tensor y = Tensor::empty(os, x.dtype(), x.device());
  const bool with_idx = need_indices && (kind == PoolKind::Max || kind == PoolKind::AdaptiveMax);
  Tensor idx = with_idx ? Tensor::empty(os, DType::Int64, x.device()) : Tensor();
  if (y.numel() == 0) return {y, idx};
  Tensor xc = x.contiguous();
  pool2d_stub.get(x.device())(kind, x.dtype(), p, static_cast<const char*>(xc.raw_data()),
                              static_cast<char*>(y.raw_data()), with_idx ? idx.data<int64_t>() : nullptr);
  return {y, idx};
}

Tensor pool2d_backward(PoolKind kind, const Tensor& dy, const Tensor& x, const Tensor& indices,
                       std::pair<int64_t, int64_t> kernel, std::pair<int64_t, int64_t> stride,
                       std::pair<int64_t, int64_t> padding, std::pair<int64_t, int64_t> dilation, bool ceil_mode,
                       bool count_include_pad, int64_t divisor_override) {
  const Pool2dParams p =
      make_params(kind, x, kernel, stride, padding, dilation, ceil_mode, count_include_pad, divisor_override);
  EMBER_CHECK(dy.shape() == out_shape(x, p), ValueError, kind_name(kind), "_backward: grad shape ", dy.shape(),
              " differs from output shape ", out_shape(x, p));
  check_same_device(dy, x, kind_name(kind));
  if (indices.defined()) check_same_device(indices, x, kind_name(kind));
  Tensor dx = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.numel() == 0) return dx;
  Tensor g = dy.contiguous_as(x.dtype(), x.device());
  const bool with_idx = kind == PoolKind::Max || kind == PoolKind::AdaptiveMax;
  if (with_idx) {
    EMBER_CHECK(indices.defined() && indices.dtype() == DType::Int64 && indices.shape() == dy.shape(), ValueError,
                "pool backward: indices must be an int64 tensor of the gradient's shape ", dy.shape());
    if (!x.device().is_cpu()) {  // the CPU kernel checks each plane's indices as it reaches them
      const auto [lo, hi] = min_max_int64(indices);  // the kernel writes dx[plane + index]
      EMBER_CHECK(lo >= 0 && hi < x.size(-2) * x.size(-1), IndexError, "pool backward: index ",
                  lo < 0 ? lo : hi, " is out of bounds for a ", x.size(-2), "x", x.size(-1), " plane");
    }
  }
  Tensor ic = with_idx ? indices.contiguous() : Tensor();
  pool2d_backward_stub.get(x.device())(kind, x.dtype(), p, static_cast<const char*>(g.raw_data()),
                                       with_idx ? ic.data<int64_t>() : nullptr, static_cast<char*>(dx.raw_data()));
  return dx;
}

}  // namespace ember
