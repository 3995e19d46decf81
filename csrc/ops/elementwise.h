// Elementwise ops: unary, binary (NumPy broadcasting, torch type promotion) and ternary
// (where, clamp, lerp), out-of-place or into an existing tensor (in-place forms).
#pragma once
#include <optional>

#include "core/dispatch.h"
#include "core/loop.h"
#include "core/scalar.h"
#include "core/tensor.h"

namespace ember {

enum class UnaryOp : int {
  Neg, Exp, Log, Log1p, Expm1, Sqrt, Rsqrt, Abs, Sign, Sin, Cos, Tanh, Sigmoid, Relu, Floor, Ceil,
  Round, Reciprocal, Square, LogicalNot, Erf, Log2, Exp2, Trunc, Frac, IsNan, IsInf, IsFinite, BitwiseNot,
  Count
};

enum class BinaryOp : int {
  Add, Sub, Mul, Div, Pow, Maximum, Minimum, Eq, Ne, Lt, Le, Gt, Ge, LogicalAnd, LogicalOr, LogicalXor,
  FloorDivide, Remainder, Atan2, BitwiseAnd, BitwiseOr, BitwiseXor,
  // Gradient helpers: d/dx of common activations given the output or input, fused with the
  // incoming gradient (a = grad, b = saved tensor).
  ReluBackward,     // a * (b > 0)
  SigmoidBackward,  // a * b * (1 - b), b = sigmoid output
  TanhBackward,     // a * (1 - b^2), b = tanh output
  Count
};

// An operand: a tensor, or a Python number that takes part in promotion as torch's
// "wrapped number" (it never widens a tensor of its own category).
struct Operand {
  const Tensor* tensor = nullptr;
  Scalar scalar;
  static Operand of(const Tensor& t) { Operand o; o.tensor = &t; return o; }
  static Operand of(Scalar s) { Operand o; o.scalar = s; return o; }
};

// torch.result_type over operands (0-d tensors rank below dimensioned ones, scalars below both).
DType result_type(std::initializer_list<Operand> operands);
Shape broadcast_shapes(const Shape& a, const Shape& b);

Tensor unary(UnaryOp op, const Tensor& x, const Tensor* out = nullptr);
// a (op) b; `alpha` scales b for Add/Sub (torch.add(a, b, alpha=...)).
Tensor binary(BinaryOp op, Operand a, Operand b, const Tensor* out = nullptr, Scalar alpha = Scalar::from_int(1));
Tensor where(const Tensor& cond, Operand a, Operand b);
// clamp(x, lo, hi): either bound may be absent; bounds are numbers or tensors.
Tensor clamp(const Tensor& x, std::optional<Operand> lo, std::optional<Operand> hi, const Tensor* out = nullptr);
// a + w * (b - a)
Tensor lerp(const Tensor& a, const Tensor& b, Operand w, const Tensor* out = nullptr);

// Kernels: operands already converted to the compute dtype, plan over (out, in...).
using unary_fn = void (*)(UnaryOp op, const LoopPlan<2>& plan, char* out, char* x, DType out_dtype, DType in_dtype);
using binary_fn = void (*)(BinaryOp op, const LoopPlan<3>& plan, char* out, char* a, char* b, DType out_dtype,
                           DType in_dtype, Scalar alpha);
// where: cond is bool; clamp: a = x, b = lo, c = hi (mode bit 1 = has lo, bit 2 = has hi); lerp: x, y, w.
enum class TernaryOp : int { Where, Clamp, Lerp };
using ternary_fn = void (*)(TernaryOp op, const LoopPlan<4>& plan, char* out, char* a, char* b, char* c,
                            DType dtype, int mode);
DECLARE_DISPATCH(unary_fn, unary_stub);
DECLARE_DISPATCH(binary_fn, binary_stub);
DECLARE_DISPATCH(ternary_fn, ternary_stub);

}  // namespace ember
