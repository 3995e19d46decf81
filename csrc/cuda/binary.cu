// CUDA binary elementwise kernels: the BinaryOp set of ops/elementwise.h with the semantics of
// csrc/cpu/kernels/elementwise.cpp (NaN-propagating maximum/minimum, torch's floor_divide and
// remainder, integer pow, activation-backward helpers). Broadcast operands arrive with stride 0
// in the plan; dtypes are dispatched over float, double, int64, int32, uint8 (and bool for the
// logical/comparison subset) only.
#include "cuda/loop.cuh"
#include "cuda/math.cuh"
#include "ops/elementwise.h"

namespace ember {
namespace cuda {
namespace {

// ---- kernels (functors) ---------------------------------------------------------------------
#define EMBER_BINARY(Name, expr)                                                    \
  struct Name {                                                                     \
    template <typename T>                                                           \
    __device__ __forceinline__ auto operator()(T x, T y) const { return expr; }     \
  };

EMBER_BINARY(Add, T(x + y))
EMBER_BINARY(Sub, T(x - y))
EMBER_BINARY(Mul, T(x * y))
EMBER_BINARY(Div, T(x / y))
EMBER_BINARY(Pow, int_pow(x, y))
EMBER_BINARY(Maximum, is_nan(x) ? x : ((x > y || is_nan(y)) ? x : y))
EMBER_BINARY(Minimum, is_nan(x) ? x : ((x < y || is_nan(y)) ? x : y))
EMBER_BINARY(Eq, x == y)
EMBER_BINARY(Ne, x != y)
EMBER_BINARY(Lt, x < y)
EMBER_BINARY(Le, x <= y)
EMBER_BINARY(Gt, x > y)
EMBER_BINARY(Ge, x >= y)
EMBER_BINARY(LogicalAnd, bool(x) && bool(y))
EMBER_BINARY(LogicalOr, bool(x) || bool(y))
EMBER_BINARY(LogicalXor, bool(x) != bool(y))
EMBER_BINARY(FloorDivide, floor_div(x, y))
EMBER_BINARY(Remainder, py_mod(x, y))
EMBER_BINARY(Atan2, m_atan2(x, y))
EMBER_BINARY(BitwiseAnd, T(x & y))
EMBER_BINARY(BitwiseOr, T(x | y))
EMBER_BINARY(BitwiseXor, T(x ^ y))
EMBER_BINARY(ReluBackward, y > T(0) ? x : T(0))             // x = grad, y = saved input/output
EMBER_BINARY(SigmoidBackward, x * y * (T(1) - y))           // y = sigmoid output
EMBER_BINARY(TanhBackward, x * (T(1) - y * y))              // y = tanh output
// bool operands (arithmetic on bools was promoted to int64 by the op layer, except these)
EMBER_BINARY(BoolLt, !x && y)
EMBER_BINARY(BoolLe, !x || y)
EMBER_BINARY(BoolGt, x && !y)
EMBER_BINARY(BoolGe, x || !y)
#undef EMBER_BINARY

template <typename T>
struct AddAlpha {
  T alpha;
  __device__ __forceinline__ T operator()(T x, T y) const { return T(x + alpha * y); }
};
template <typename T>
struct SubAlpha {
  T alpha;
  __device__ __forceinline__ T operator()(T x, T y) const { return T(x - alpha * y); }
};

// ---- launchers ----------------------------------------------------------------------------
template <typename TO, typename TI, typename F>
void run(const LoopPlan<3>& plan, char* out, char* a, char* b, F f) {
  launch_elementwise<TO, TI, TI>(plan, {out, a, b}, f, "binary");
}

void binary_bool(BinaryOp op, const LoopPlan<3>& plan, char* out, char* a, char* b) {
  using B = bool;
  switch (op) {
    case BinaryOp::Add: case BinaryOp::Maximum: case BinaryOp::LogicalOr: case BinaryOp::BitwiseOr:
      return run<B, B>(plan, out, a, b, LogicalOr{});
    case BinaryOp::Mul: case BinaryOp::Minimum: case BinaryOp::LogicalAnd: case BinaryOp::BitwiseAnd:
      return run<B, B>(plan, out, a, b, LogicalAnd{});
    case BinaryOp::Eq: return run<B, B>(plan, out, a, b, Eq{});
    case BinaryOp::Ne: case BinaryOp::LogicalXor: case BinaryOp::BitwiseXor:
      return run<B, B>(plan, out, a, b, Ne{});
    case BinaryOp::Lt: return run<B, B>(plan, out, a, b, BoolLt{});
    case BinaryOp::Le: return run<B, B>(plan, out, a, b, BoolLe{});
    case BinaryOp::Gt: return run<B, B>(plan, out, a, b, BoolGt{});
    case BinaryOp::Ge: return run<B, B>(plan, out, a, b, BoolGe{});
    default: throw_unsupported_dtype("binary", DType::Bool);
  }
}

template <typename T>
void binary_typed(BinaryOp op, const LoopPlan<3>& plan, char* out, char* a, char* b, Scalar alpha_s) {
  using B = bool;
  const T alpha = alpha_s.to<T>();
  switch (op) {
    case BinaryOp::Add:
      if (alpha == T(1)) return run<T, T>(plan, out, a, b, Add{});
      return run<T, T>(plan, out, a, b, AddAlpha<T>{alpha});
    case BinaryOp::Sub:
      if (alpha == T(1)) return run<T, T>(plan, out, a, b, Sub{});
      return run<T, T>(plan, out, a, b, SubAlpha<T>{alpha});
    case BinaryOp::Mul: return run<T, T>(plan, out, a, b, Mul{});
    case BinaryOp::Div: return run<T, T>(plan, out, a, b, Div{});
    case BinaryOp::Pow: return run<T, T>(plan, out, a, b, Pow{});
    case BinaryOp::Maximum: return run<T, T>(plan, out, a, b, Maximum{});
    case BinaryOp::Minimum: return run<T, T>(plan, out, a, b, Minimum{});
    case BinaryOp::Eq: return run<B, T>(plan, out, a, b, Eq{});
    case BinaryOp::Ne: return run<B, T>(plan, out, a, b, Ne{});
    case BinaryOp::Lt: return run<B, T>(plan, out, a, b, Lt{});
    case BinaryOp::Le: return run<B, T>(plan, out, a, b, Le{});
    case BinaryOp::Gt: return run<B, T>(plan, out, a, b, Gt{});
    case BinaryOp::Ge: return run<B, T>(plan, out, a, b, Ge{});
    case BinaryOp::LogicalAnd: return run<B, T>(plan, out, a, b, LogicalAnd{});
    case BinaryOp::LogicalOr: return run<B, T>(plan, out, a, b, LogicalOr{});
    case BinaryOp::LogicalXor: return run<B, T>(plan, out, a, b, LogicalXor{});
    case BinaryOp::FloorDivide: return run<T, T>(plan, out, a, b, FloorDivide{});
    case BinaryOp::Remainder: return run<T, T>(plan, out, a, b, Remainder{});
    default: break;
  }
  if constexpr (std::is_floating_point_v<T>) {
    switch (op) {
      case BinaryOp::Atan2: return run<T, T>(plan, out, a, b, Atan2{});
      case BinaryOp::ReluBackward: return run<T, T>(plan, out, a, b, ReluBackward{});
      case BinaryOp::SigmoidBackward: return run<T, T>(plan, out, a, b, SigmoidBackward{});
      case BinaryOp::TanhBackward: return run<T, T>(plan, out, a, b, TanhBackward{});
      default: break;
    }
  } else {
    switch (op) {
      case BinaryOp::BitwiseAnd: return run<T, T>(plan, out, a, b, BitwiseAnd{});
      case BinaryOp::BitwiseOr: return run<T, T>(plan, out, a, b, BitwiseOr{});
      case BinaryOp::BitwiseXor: return run<T, T>(plan, out, a, b, BitwiseXor{});
      default: break;
    }
  }
  throw_unsupported_dtype("binary", dtype_of<T>::value);
}

void binary_kernel(BinaryOp op, const LoopPlan<3>& plan, char* out, char* a, char* b, DType /*out_dtype*/,
                   DType in_dtype, Scalar alpha) {
  if (in_dtype == DType::Bool) return binary_bool(op, plan, out, a, b);
  EMBER_DISPATCH_ALL_TYPES(in_dtype, "binary", [&] { binary_typed<scalar_t>(op, plan, out, a, b, alpha); });
}

}  // namespace

REGISTER_CUDA_KERNEL(binary_stub, &binary_kernel);

}  // namespace cuda
}  // namespace ember
