// Binds conv2d (forward, input/weight gradients, conv_transpose2d) and interpolation.
// Convolution options travel as one tuple (sH, sW, padT, padB, padL, padR, dilH, dilW, groups).
#include <pybind11/stl.h>

#include "bindings/convert.h"
#include "bindings/registry.h"
#include "ops/conv.h"
#include "ops/interpolate.h"

namespace ember {

namespace {
using OptT = std::optional<Tensor>;
using ConvTuple = std::array<int64_t, 9>;

ConvOptions to_options(const ConvTuple& p) {
  ConvOptions o;
  o.stride = {p[0], p[1]};
  o.padding = {p[2], p[3], p[4], p[5]};
  o.dilation = {p[6], p[7]};
  o.groups = p[8];
  return o;
}
py::object opt(const Tensor& t) { return t.defined() ? py::cast(t) : py::none(); }
const Tensor* ptr(const OptT& t) { return t ? &*t : nullptr; }
}  // namespace

EMBER_BINDINGS(conv) {
  m.def("conv2d", [](const Tensor& x, const Tensor& w, const OptT& b, const ConvTuple& p) {
    py::gil_scoped_release nogil;
    return conv2d(x, w, ptr(b), to_options(p));
  }, py::arg("x"), py::arg("w"), py::arg("bias"), py::arg("params"));
  m.def("conv2d_reference", [](const Tensor& x, const Tensor& w, const OptT& b, const ConvTuple& p) {
    py::gil_scoped_release nogil;
    return conv2d_reference(x, w, ptr(b), to_options(p));
  }, py::arg("x"), py::arg("w"), py::arg("bias"), py::arg("params"));
  m.def("conv2d_backward_input", [](const Tensor& dy, const Tensor& w, const OptT& b, const ConvTuple& p,
                                    Pair64 input_hw) {
    py::gil_scoped_release nogil;
    return conv2d_backward_input(dy, w, ptr(b), to_options(p), input_hw);
  }, py::arg("dy"), py::arg("w"), py::arg("bias"), py::arg("params"), py::arg("input_hw"));
  m.def("conv2d_backward_weight", [](const Tensor& dy, const Tensor& x, const Shape& weight_shape,
                                     const ConvTuple& p, bool need_weight, bool need_bias) {
    std::pair<Tensor, Tensor> r;
    {
      py::gil_scoped_release nogil;
      r = conv2d_backward_weight(dy, x, weight_shape, to_options(p), need_weight, need_bias);
    }
    return py::make_tuple(opt(r.first), opt(r.second));
  });
  m.def("conv2d_backward", [](const Tensor& dy, const Tensor& x, const Tensor& w, const ConvTuple& p,
                              bool need_input, bool need_weight, bool need_bias) {
    std::tuple<Tensor, Tensor, Tensor> r;
    {
      py::gil_scoped_release nogil;
      r = conv2d_backward(dy, x, w, to_options(p), need_input, need_weight, need_bias);
    }
    return py::make_tuple(opt(std::get<0>(r)), opt(std::get<1>(r)), opt(std::get<2>(r)));
  });
  m.def("conv_transpose2d", [](const Tensor& x, const Tensor& w, const OptT& b, const ConvTuple& p,
                               Pair64 output_padding) {
    py::gil_scoped_release nogil;
    return conv_transpose2d(x, w, ptr(b), to_options(p), output_padding);
  }, py::arg("x"), py::arg("w"), py::arg("bias"), py::arg("params"), py::arg("output_padding"));

  // 0 auto (Winograd where it pays), 1 always im2col + GEMM, 2 Winograd F(2x2, 3x3) wherever it
  // applies, 3 the same with F(4x4, 3x3) for the forward and the input gradient.
  m.def("set_conv_algorithm", [](int a) {
    EMBER_CHECK(a >= 0 && a <= 3, ValueError, "set_conv_algorithm: expected 0, 1, 2 or 3, got ", a);
    set_conv_algorithm(ConvAlgorithm(a));
  });
  m.def("conv_algorithm", [] { return int(conv_algorithm()); });
  m.def("interpolate", [](const Tensor& x, int mode, Pair64 size, std::optional<double> scale_h,
                          std::optional<double> scale_w, bool align_corners) {
    py::gil_scoped_release nogil;
    return interpolate(x, InterpMode(mode), size, scale_h, scale_w, align_corners);
  });
  m.def("interpolate_backward", [](const Tensor& dy, int mode, const Shape& input_shape,
                                   std::optional<double> scale_h, std::optional<double> scale_w,
                                   bool align_corners) {
    py::gil_scoped_release nogil;
    return interpolate_backward(dy, InterpMode(mode), input_shape, scale_h, scale_w, align_corners);
  });
}

}  // namespace ember
