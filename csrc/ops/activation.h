// Fused activation functions and their gradients, (x) -> y and (grad, x) -> dx, each one pass.
// Parameters p0..p2 per op: LeakyRelu(slope), Elu(alpha, scale, input_scale) (selu is an Elu),
// Softplus(beta, threshold), Hardtanh(min, max); the rest take none.
#pragma once
#include "core/dispatch.h"
#include "core/loop.h"
#include "core/tensor.h"

namespace ember {

enum class ActOp : int { LeakyRelu, Elu, Gelu, GeluTanh, Silu, Mish, Softplus, Hardtanh, Hardswish, Hardsigmoid, Count };

// Writes into `out` when given (it may alias x: the in-place forms).
Tensor activation(ActOp op, const Tensor& x, double p0, double p1, double p2, const Tensor* out = nullptr);
Tensor activation_backward(ActOp op, const Tensor& grad, const Tensor& x, double p0, double p1, double p2);

using activation_fn = void (*)(ActOp op, DType dtype, const LoopPlan<2>& plan, char* out, char* x, double p0,
                               double p1, double p2);
using activation_backward_fn = void (*)(ActOp op, DType dtype, const LoopPlan<3>& plan, char* dx, char* grad,
                                        char* x, double p0, double p1, double p2);
DECLARE_DISPATCH(activation_fn, activation_stub);
DECLARE_DISPATCH(activation_backward_fn, activation_backward_stub);

}  // namespace ember
