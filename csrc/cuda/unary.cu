// CUDA unary elementwise kernels: the UnaryOp set of ops/elementwise.h with the semantics of
// csrc/cpu/kernels/elementwise.cpp. Each op is a functor run by the shared contiguous
// (vectorised) and strided kernels of loop.cuh.
#include "cuda/loop.cuh"
#include "cuda/math.cuh"
#include "ops/elementwise.h"

namespace ember {
namespace cuda {
namespace {

// ---- kernels (functors) ---------------------------------------------------------------------
#define EMBER_UNARY(Name, expr)                                          \
  struct Name {                                                          \
    template <typename T>                                                \
    __device__ __forceinline__ auto operator()(T x) const { return expr; } \
  };

EMBER_UNARY(Neg, T(-x))
EMBER_UNARY(Relu, x > T(0) ? x : T(0))
EMBER_UNARY(Square, T(x * x))
EMBER_UNARY(LogicalNot, !bool(x))
EMBER_UNARY(Identity, x)
EMBER_UNARY(AlwaysFalse, false)
EMBER_UNARY(AlwaysTrue, true)
EMBER_UNARY(Exp, m_exp(x))
EMBER_UNARY(Log, m_log(x))
EMBER_UNARY(Log1p, m_log1p(x))
EMBER_UNARY(Expm1, m_expm1(x))
EMBER_UNARY(Sqrt, m_sqrt(x))
EMBER_UNARY(Rsqrt, T(1) / m_sqrt(x))
EMBER_UNARY(Sin, m_sin(x))
EMBER_UNARY(Cos, m_cos(x))
EMBER_UNARY(Tanh, m_tanh(x))
EMBER_UNARY(Sigmoid, sigmoid(x))
EMBER_UNARY(Reciprocal, T(1) / x)
EMBER_UNARY(Erf, m_erf(x))
EMBER_UNARY(Log2, m_log2(x))
EMBER_UNARY(Exp2, m_exp2(x))
EMBER_UNARY(Frac, x - m_trunc(x))
EMBER_UNARY(Floor, m_floor(x))
EMBER_UNARY(Ceil, m_ceil(x))
EMBER_UNARY(Round, m_rint(x))
EMBER_UNARY(Trunc, m_trunc(x))
EMBER_UNARY(IsNan, x != x)
EMBER_UNARY(IsInf, ::isinf(x))
EMBER_UNARY(IsFinite, ::isfinite(x))
#undef EMBER_UNARY

struct Abs {
  template <typename T>
  __device__ __forceinline__ T operator()(T x) const {
    if constexpr (std::is_unsigned_v<T> || std::is_same_v<T, bool>) return x;
    else return x < T(0) ? T(-x) : x;
  }
};

struct Sign {
  template <typename T>
  __device__ __forceinline__ T operator()(T x) const {
    if constexpr (std::is_unsigned_v<T> || std::is_same_v<T, bool>) return T(x != T(0));
    else return T((T(0) < x) - (x < T(0)));
  }
};

struct BitwiseNot {
  template <typename T>
  __device__ __forceinline__ T operator()(T x) const {
    if constexpr (std::is_same_v<T, bool>) return !x;
    else return T(~x);
  }
};

// ---- launchers ----------------------------------------------------------------------------
template <typename TO, typename TI, typename F>
void run(const LoopPlan<2>& plan, char* out, char* in, F f) {
  launch_elementwise<TO, TI>(plan, {out, in}, f, "unary");
}

template <typename T>
void unary_float(UnaryOp op, const LoopPlan<2>& plan, char* out, char* in) {
  switch (op) {
    case UnaryOp::Exp: return run<T, T>(plan, out, in, Exp{});
    case UnaryOp::Log: return run<T, T>(plan, out, in, Log{});
    case UnaryOp::Log1p: return run<T, T>(plan, out, in, Log1p{});
    case UnaryOp::Expm1: return run<T, T>(plan, out, in, Expm1{});
    case UnaryOp::Sqrt: return run<T, T>(plan, out, in, Sqrt{});
    case UnaryOp::Rsqrt: return run<T, T>(plan, out, in, Rsqrt{});
    case UnaryOp::Sin: return run<T, T>(plan, out, in, Sin{});
    case UnaryOp::Cos: return run<T, T>(plan, out, in, Cos{});
    case UnaryOp::Tanh: return run<T, T>(plan, out, in, Tanh{});
    case UnaryOp::Sigmoid: return run<T, T>(plan, out, in, Sigmoid{});
    case UnaryOp::Reciprocal: return run<T, T>(plan, out, in, Reciprocal{});
    case UnaryOp::Erf: return run<T, T>(plan, out, in, Erf{});
    case UnaryOp::Log2: return run<T, T>(plan, out, in, Log2{});
    case UnaryOp::Exp2: return run<T, T>(plan, out, in, Exp2{});
    case UnaryOp::Frac: return run<T, T>(plan, out, in, Frac{});
    case UnaryOp::Floor: return run<T, T>(plan, out, in, Floor{});
    case UnaryOp::Ceil: return run<T, T>(plan, out, in, Ceil{});
    case UnaryOp::Round: return run<T, T>(plan, out, in, Round{});
    case UnaryOp::Trunc: return run<T, T>(plan, out, in, Trunc{});
    case UnaryOp::IsNan: return run<bool, T>(plan, out, in, IsNan{});
    case UnaryOp::IsInf: return run<bool, T>(plan, out, in, IsInf{});
    case UnaryOp::IsFinite: return run<bool, T>(plan, out, in, IsFinite{});
    default: break;
  }
  throw_unsupported_dtype("unary", dtype_of<T>::value);
}

template <typename T>
void unary_common(UnaryOp op, const LoopPlan<2>& plan, char* out, char* in) {
  switch (op) {
    case UnaryOp::Neg:
      if constexpr (!std::is_same_v<T, bool>) return run<T, T>(plan, out, in, Neg{});
      break;  // rejected by the op layer
    case UnaryOp::Abs: return run<T, T>(plan, out, in, Abs{});
    case UnaryOp::Sign: return run<T, T>(plan, out, in, Sign{});
    case UnaryOp::Relu: return run<T, T>(plan, out, in, Relu{});
    case UnaryOp::Square: return run<T, T>(plan, out, in, Square{});
    case UnaryOp::LogicalNot: return run<bool, T>(plan, out, in, LogicalNot{});
    default:
      if constexpr (std::is_floating_point_v<T>) {
        return unary_float<T>(op, plan, out, in);
      } else {
        switch (op) {
          case UnaryOp::Floor: case UnaryOp::Ceil: case UnaryOp::Round: case UnaryOp::Trunc:
            return run<T, T>(plan, out, in, Identity{});
          case UnaryOp::IsNan: case UnaryOp::IsInf: return run<bool, T>(plan, out, in, AlwaysFalse{});
          case UnaryOp::IsFinite: return run<bool, T>(plan, out, in, AlwaysTrue{});
          case UnaryOp::BitwiseNot: return run<T, T>(plan, out, in, BitwiseNot{});
          default: break;
        }
      }
  }
  throw_unsupported_dtype("unary", dtype_of<T>::value);
}

void unary_kernel(UnaryOp op, const LoopPlan<2>& plan, char* out, char* in, DType /*out_dtype*/, DType in_dtype) {
  EMBER_DISPATCH_ALL_TYPES_AND_BOOL(in_dtype, "unary", [&] { unary_common<scalar_t>(op, plan, out, in); });
}

}  // namespace

REGISTER_CUDA_KERNEL(unary_stub, &unary_kernel);

}  // namespace cuda
}  // namespace ember
