// Activation ops: dtype checks, broadcasting of the gradient, and dispatch.
#include "ops/activation.h"

#include "ops/copy.h"

namespace ember {

DEFINE_DISPATCH(activation_stub);
DEFINE_DISPATCH(activation_backward_stub);

Tensor activation(ActOp op, const Tensor& x, double p0, double p1, double p2, const Tensor* out) {
  EMBER_CHECK(int(op) >= 0 && op < ActOp::Count, ValueError, "unknown activation ", int(op));
  EMBER_CHECK(is_floating(x.dtype()), TypeError, "activation: expected a floating-point tensor, got ",
              dtype_name(x.dtype()));
  if (out) check_same_device(*out, x, "activation");
  Tensor result = out ? *out : Tensor::empty(x.shape(), x.dtype(), x.device());
  EMBER_CHECK(result.shape() == x.shape() && result.dtype() == x.dtype(), ValueError,
              "activation: output shape/dtype differ from the input's");
  if (x.numel() == 0) return result;
  const auto plan = make_loop_plan<2>(x.shape(), {result.strides(), x.strides()}, {x.itemsize(), x.itemsize()});
  activation_stub.get(x.device())(op, x.dtype(), plan, static_cast<char*>(result.raw_data()),
                                  static_cast<char*>(x.raw_data()), p0, p1, p2);
  if (out) out->bump_version();
  return result;
}

Tensor activation_backward(ActOp op, const Tensor& grad, const Tensor& x, double p0, double p1, double p2) {
  EMBER_CHECK(int(op) >= 0 && op < ActOp::Count, ValueError, "unknown activation ", int(op));
  EMBER_CHECK(grad.shape() == x.shape(), ValueError, "activation_backward: grad shape ", grad.shape(),
              " differs from input shape ", x.shape());
  check_same_device(grad, x, "activation_backward");
  Tensor g = grad.dtype() == x.dtype() ? grad : grad.to(x.dtype(), x.device());
  Tensor dx = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.numel() == 0) return dx;
  const auto plan = make_loop_plan<3>(x.shape(), {dx.strides(), g.strides(), x.strides()},
                                      {x.itemsize(), x.itemsize(), x.itemsize()});
  activation_backward_stub.get(x.device())(op, x.dtype(), plan, static_cast<char*>(dx.raw_data()),
                                           static_cast<char*>(g.raw_data()), static_cast<char*>(x.raw_data()), p0,
                                           p1, p2);
  return dx;
}

}  // namespace ember
