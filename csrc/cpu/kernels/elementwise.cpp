// CPU elementwise kernels, compiled once per instruction set. Each op is a small functor; the
// loops below give every functor a contiguous path (which the compiler vectorises), a path with
// one broadcast scalar operand, and a general strided path.
#include <cmath>
#include <cstring>
#include <type_traits>

#include "cpu/kernels/vec_math.h"
#include "ops/elementwise.h"

namespace ember {
namespace CPU_CAPABILITY {
namespace {

constexpr int64_t kGrain = 32768;

template <typename TO, typename TI, typename F>
void unary_loop(const LoopPlan<2>& plan, char* out, char* in, F f) {
  run_loop<2>(plan, {out, in}, kGrain, [f](char** p, const int64_t* s, int64_t n) {
    if (s[0] == sizeof(TO) && s[1] == sizeof(TI)) {
      TO* o = reinterpret_cast<TO*>(p[0]);
      const TI* x = reinterpret_cast<const TI*>(p[1]);
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i]);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<TO*>(p[0] + i * s[0]) = f(*reinterpret_cast<const TI*>(p[1] + i * s[1]));
    }
  });
}

template <typename TO, typename TI, typename F>
void binary_loop(const LoopPlan<3>& plan, char* out, char* a, char* b, F f) {
  run_loop<3>(plan, {out, a, b}, kGrain, [f](char** p, const int64_t* s, int64_t n) {
    TO* o = reinterpret_cast<TO*>(p[0]);
    const TI* x = reinterpret_cast<const TI*>(p[1]);
    const TI* y = reinterpret_cast<const TI*>(p[2]);
    if (s[0] == sizeof(TO) && s[1] == sizeof(TI) && s[2] == sizeof(TI)) {
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
    } else if (s[0] == sizeof(TO) && s[1] == sizeof(TI) && s[2] == 0) {
      const TI yv = *y;
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], yv);
    } else if (s[0] == sizeof(TO) && s[1] == 0 && s[2] == sizeof(TI)) {
      const TI xv = *x;
      for (int64_t i = 0; i < n; ++i) o[i] = f(xv, y[i]);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<TO*>(p[0] + i * s[0]) = f(*reinterpret_cast<const TI*>(p[1] + i * s[1]),
                                                    *reinterpret_cast<const TI*>(p[2] + i * s[2]));
    }
  });
}

template <typename TO, typename TA, typename T, typename F>
void ternary_loop(const LoopPlan<4>& plan, char* out, char* a, char* b, char* c, F f) {
  run_loop<4>(plan, {out, a, b, c}, kGrain, [f](char** p, const int64_t* s, int64_t n) {
    if (s[0] == sizeof(TO) && s[1] == sizeof(TA) && s[2] == sizeof(T) && s[3] == sizeof(T)) {
      TO* o = reinterpret_cast<TO*>(p[0]);
      const TA* x = reinterpret_cast<const TA*>(p[1]);
      const T* y = reinterpret_cast<const T*>(p[2]);
      const T* z = reinterpret_cast<const T*>(p[3]);
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i], z[i]);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<TO*>(p[0] + i * s[0]) = f(*reinterpret_cast<const TA*>(p[1] + i * s[1]),
                                                    *reinterpret_cast<const T*>(p[2] + i * s[2]),
                                                    *reinterpret_cast<const T*>(p[3] + i * s[3]));
    }
  });
}

template <typename T>
inline T sigmoid(T x) {
  // Stable for large |x|: never exponentiates a large positive number.
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

// The same, branch-free on vec_math's exp so that it vectorises.
inline float sigmoid_f32(float x) { return vec_math::sigmoid_of_exp_f32(x, vec_math::exp_f32(vec_math::neg_abs_f32(x))); }

// sin / cos of float32: vec_math's vectorised version, and libm for |x| > kTrigMax (and NaN).
// Works through a local copy of each block so that in-place calls (out == in) can be fixed up.
template <bool kCos>
void trig_f32(const LoopPlan<2>& plan, char* out, char* in) {
  run_loop<2>(plan, {out, in}, kGrain, [](char** p, const int64_t* s, int64_t n) {
    constexpr int64_t kBlock = 256;
    float xb[kBlock], ob[kBlock];
    for (int64_t b = 0; b < n; b += kBlock) {
      const int64_t m = n - b < kBlock ? n - b : kBlock;
      if (s[1] == sizeof(float)) std::memcpy(xb, p[1] + b * sizeof(float), size_t(m) * sizeof(float));
      else for (int64_t i = 0; i < m; ++i) xb[i] = *reinterpret_cast<const float*>(p[1] + (b + i) * s[1]);
      int big = 0;
      for (int64_t i = 0; i < m; ++i) {
        ob[i] = vec_math::sincos_f32(xb[i], kCos);
        big |= !(std::fabs(xb[i]) <= vec_math::kTrigMax);
      }
      if (big) {
        for (int64_t i = 0; i < m; ++i)
          if (!(std::fabs(xb[i]) <= vec_math::kTrigMax)) ob[i] = kCos ? std::cos(xb[i]) : std::sin(xb[i]);
      }
      if (s[0] == sizeof(float)) std::memcpy(p[0] + b * sizeof(float), ob, size_t(m) * sizeof(float));
      else for (int64_t i = 0; i < m; ++i) *reinterpret_cast<float*>(p[0] + (b + i) * s[0]) = ob[i];
    }
  });
}

// exp and sigmoid of float32: contiguous runs by blocks (vec_math::exp_f32_array), strided ones
// per element.
void exp_f32_loop(const LoopPlan<2>& plan, char* out, char* in) {
  run_loop<2>(plan, {out, in}, kGrain, [](char** p, const int64_t* s, int64_t n) {
    if (s[0] == sizeof(float) && s[1] == sizeof(float)) {
      vec_math::exp_f32_array(reinterpret_cast<const float*>(p[1]), reinterpret_cast<float*>(p[0]), n);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<float*>(p[0] + i * s[0]) = vec_math::exp_f32(*reinterpret_cast<const float*>(p[1] + i * s[1]));
    }
  });
}
void sigmoid_f32_loop(const LoopPlan<2>& plan, char* out, char* in) {
  run_loop<2>(plan, {out, in}, kGrain, [](char** p, const int64_t* s, int64_t n) {
    vec_math::exp_map_f32_chunk(p, s, n, vec_math::neg_abs_f32, vec_math::sigmoid_of_exp_f32);
  });
}

template <typename T>
void unary_float(UnaryOp op, const LoopPlan<2>& plan, char* out, char* in) {
  if constexpr (std::is_same_v<T, float>) {
    switch (op) {
      case UnaryOp::Exp: return exp_f32_loop(plan, out, in);
      case UnaryOp::Log: return unary_loop<T, T>(plan, out, in, [](T x) { return vec_math::log_f32(x); });
      case UnaryOp::Sigmoid: return sigmoid_f32_loop(plan, out, in);
      case UnaryOp::Tanh: return unary_loop<T, T>(plan, out, in, [](T x) { return vec_math::tanh_f32(x); });
      case UnaryOp::Sin: return trig_f32<false>(plan, out, in);
      case UnaryOp::Cos: return trig_f32<true>(plan, out, in);
      default: break;
    }
  }
  switch (op) {
    case UnaryOp::Exp: return unary_loop<T, T>(plan, out, in, [](T x) { return std::exp(x); });
    case UnaryOp::Log: return unary_loop<T, T>(plan, out, in, [](T x) { return std::log(x); });
    case UnaryOp::Log1p: return unary_loop<T, T>(plan, out, in, [](T x) { return std::log1p(x); });
    case UnaryOp::Expm1: return unary_loop<T, T>(plan, out, in, [](T x) { return std::expm1(x); });
    case UnaryOp::Sqrt: return unary_loop<T, T>(plan, out, in, [](T x) { return std::sqrt(x); });
    case UnaryOp::Rsqrt: return unary_loop<T, T>(plan, out, in, [](T x) { return T(1) / std::sqrt(x); });
    case UnaryOp::Sin: return unary_loop<T, T>(plan, out, in, [](T x) { return std::sin(x); });
    case UnaryOp::Cos: return unary_loop<T, T>(plan, out, in, [](T x) { return std::cos(x); });
    case UnaryOp::Tanh: return unary_loop<T, T>(plan, out, in, [](T x) { return std::tanh(x); });
    case UnaryOp::Sigmoid: return unary_loop<T, T>(plan, out, in, [](T x) { return sigmoid(x); });
    case UnaryOp::Reciprocal: return unary_loop<T, T>(plan, out, in, [](T x) { return T(1) / x; });
    case UnaryOp::Erf: return unary_loop<T, T>(plan, out, in, [](T x) { return std::erf(x); });
    case UnaryOp::Log2: return unary_loop<T, T>(plan, out, in, [](T x) { return std::log2(x); });
    case UnaryOp::Exp2: return unary_loop<T, T>(plan, out, in, [](T x) { return std::exp2(x); });
    case UnaryOp::Frac: return unary_loop<T, T>(plan, out, in, [](T x) { return x - std::trunc(x); });
    case UnaryOp::Floor: return unary_loop<T, T>(plan, out, in, [](T x) { return std::floor(x); });
    case UnaryOp::Ceil: return unary_loop<T, T>(plan, out, in, [](T x) { return std::ceil(x); });
    case UnaryOp::Round: return unary_loop<T, T>(plan, out, in, [](T x) { return std::nearbyint(x); });
    case UnaryOp::Trunc: return unary_loop<T, T>(plan, out, in, [](T x) { return std::trunc(x); });
    case UnaryOp::IsNan: return unary_loop<bool, T>(plan, out, in, [](T x) { return x != x; });
    case UnaryOp::IsInf: return unary_loop<bool, T>(plan, out, in, [](T x) { return std::isinf(x); });
    case UnaryOp::IsFinite: return unary_loop<bool, T>(plan, out, in, [](T x) { return std::isfinite(x); });
    default: break;
  }
  throw_unsupported_dtype("unary", dtype_of<T>::value);
}

template <typename T>
void unary_common(UnaryOp op, const LoopPlan<2>& plan, char* out, char* in) {
  switch (op) {
    case UnaryOp::Neg: return unary_loop<T, T>(plan, out, in, [](T x) { return T(-x); });
    case UnaryOp::Abs:
      return unary_loop<T, T>(plan, out, in, [](T x) {
        if constexpr (std::is_unsigned_v<T> || std::is_same_v<T, bool>) return x;
        else return x < T(0) ? T(-x) : x;
      });
    case UnaryOp::Sign:
      return unary_loop<T, T>(plan, out, in, [](T x) { return T((T(0) < x) - (x < T(0))); });
    case UnaryOp::Relu: return unary_loop<T, T>(plan, out, in, [](T x) { return x > T(0) ? x : T(0); });
    case UnaryOp::Square: return unary_loop<T, T>(plan, out, in, [](T x) { return T(x * x); });
    case UnaryOp::LogicalNot: return unary_loop<bool, T>(plan, out, in, [](T x) { return !bool(x); });
    default: break;
  }
  if constexpr (std::is_floating_point_v<T>) {
    unary_float<T>(op, plan, out, in);
  } else {
    switch (op) {
      case UnaryOp::Floor: case UnaryOp::Ceil: case UnaryOp::Round: case UnaryOp::Trunc:
        return unary_loop<T, T>(plan, out, in, [](T x) { return x; });
      case UnaryOp::IsNan: case UnaryOp::IsInf:
        return unary_loop<bool, T>(plan, out, in, [](T) { return false; });
      case UnaryOp::IsFinite: return unary_loop<bool, T>(plan, out, in, [](T) { return true; });
      case UnaryOp::BitwiseNot:
        if constexpr (std::is_same_v<T, bool>) return unary_loop<T, T>(plan, out, in, [](T x) { return !x; });
        else return unary_loop<T, T>(plan, out, in, [](T x) { return T(~x); });
      default: throw_unsupported_dtype("unary", dtype_of<T>::value);
    }
  }
}

void unary_kernel(UnaryOp op, const LoopPlan<2>& plan, char* out, char* in, DType out_dtype, DType in_dtype) {
  EMBER_DISPATCH_ALL_TYPES_AND_BOOL(in_dtype, "unary", [&] { unary_common<scalar_t>(op, plan, out, in); });
}

template <typename T>
inline T floor_div(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::floor(a / b);
  } else {
    if (b == 0) return T(0);  // checked by the op layer for integers
    if constexpr (std::is_signed_v<T>)  // INT_MIN / -1 traps; wrap as two's complement, like torch
      if (b == T(-1)) return T(std::make_unsigned_t<T>(0) - std::make_unsigned_t<T>(a));
    T q = a / b;
    if constexpr (std::is_signed_v<T>)
      if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
    return q;
  }
}

template <typename T>
inline T py_mod(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    T r = std::fmod(a, b);
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
  } else {
    if (b == 0) return T(0);
    if constexpr (std::is_signed_v<T>)
      if (b == T(-1)) return T(0);  // INT_MIN % -1 traps
    T r = a % b;
    if constexpr (std::is_signed_v<T>)
      if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
  }
}

template <typename T>
inline T int_pow(T base, T exp) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::pow(base, exp);
  } else {
    if (std::is_signed_v<T> && exp < 0) return base == 1 ? T(1) : base == T(-1) ? ((exp & 1) ? T(-1) : T(1)) : T(0);
    T r = 1;
    while (exp) {
      if (exp & 1) r = T(r * base);
      base = T(base * base);
      exp >>= 1;
    }
    return r;
  }
}

// bool operands: arithmetic was promoted to int64 by the op layer, except for these.
void binary_bool(BinaryOp op, const LoopPlan<3>& plan, char* out, char* a, char* b) {
  using B = bool;
  switch (op) {
    case BinaryOp::Add: case BinaryOp::Maximum: case BinaryOp::LogicalOr: case BinaryOp::BitwiseOr:
      return binary_loop<B, B>(plan, out, a, b, [](B x, B y) { return x || y; });
    case BinaryOp::Mul: case BinaryOp::Minimum: case BinaryOp::LogicalAnd: case BinaryOp::BitwiseAnd:
      return binary_loop<B, B>(plan, out, a, b, [](B x, B y) { return x && y; });
    case BinaryOp::Eq: return binary_loop<B, B>(plan, out, a, b, [](B x, B y) { return x == y; });
    case BinaryOp::Ne: case BinaryOp::LogicalXor: case BinaryOp::BitwiseXor:
      return binary_loop<B, B>(plan, out, a, b, [](B x, B y) { return x != y; });
    case BinaryOp::Lt: return binary_loop<B, B>(plan, out, a, b, [](B x, B y) { return !x && y; });
    case BinaryOp::Le: return binary_loop<B, B>(plan, out, a, b, [](B x, B y) { return !x || y; });
    case BinaryOp::Gt: return binary_loop<B, B>(plan, out, a, b, [](B x, B y) { return x && !y; });
    case BinaryOp::Ge: return binary_loop<B, B>(plan, out, a, b, [](B x, B y) { return x || !y; });
    default: throw_unsupported_dtype("binary", DType::Bool);
  }
}

template <typename T>
void binary_typed(BinaryOp op, const LoopPlan<3>& plan, char* out, char* a, char* b, Scalar alpha_s) {
  using B = bool;
  const T alpha = alpha_s.to<T>();
  switch (op) {
    case BinaryOp::Add:
      if (alpha == T(1)) return binary_loop<T, T>(plan, out, a, b, [](T x, T y) { return T(x + y); });
      return binary_loop<T, T>(plan, out, a, b, [alpha](T x, T y) { return T(x + alpha * y); });
    case BinaryOp::Sub:
      if (alpha == T(1)) return binary_loop<T, T>(plan, out, a, b, [](T x, T y) { return T(x - y); });
      return binary_loop<T, T>(plan, out, a, b, [alpha](T x, T y) { return T(x - alpha * y); });
    case BinaryOp::Mul: return binary_loop<T, T>(plan, out, a, b, [](T x, T y) { return T(x * y); });
    case BinaryOp::Div: return binary_loop<T, T>(plan, out, a, b, [](T x, T y) { return T(x / y); });
    case BinaryOp::Pow: return binary_loop<T, T>(plan, out, a, b, [](T x, T y) { return int_pow(x, y); });
    case BinaryOp::Maximum:
      return binary_loop<T, T>(plan, out, a, b, [](T x, T y) { return (x != x) ? x : (x > y || y != y) ? x : y; });
    case BinaryOp::Minimum:
      return binary_loop<T, T>(plan, out, a, b, [](T x, T y) { return (x != x) ? x : (x < y || y != y) ? x : y; });
    case BinaryOp::Eq: return binary_loop<B, T>(plan, out, a, b, [](T x, T y) { return x == y; });
    case BinaryOp::Ne: return binary_loop<B, T>(plan, out, a, b, [](T x, T y) { return x != y; });
    case BinaryOp::Lt: return binary_loop<B, T>(plan, out, a, b, [](T x, T y) { return x < y; });
    case BinaryOp::Le: return binary_loop<B, T>(plan, out, a, b, [](T x, T y) { return x <= y; });
    case BinaryOp::Gt: return binary_loop<B, T>(plan, out, a, b, [](T x, T y) { return x > y; });
    case BinaryOp::Ge: return binary_loop<B, T>(plan, out, a, b, [](T x, T y) { return x >= y; });
    case BinaryOp::LogicalAnd: return binary_loop<B, T>(plan, out, a, b, [](T x, T y) { return bool(x) && bool(y); });
    case BinaryOp::LogicalOr: return binary_loop<B, T>(plan, out, a, b, [](T x, T y) { return bool(x) || bool(y); });
    case BinaryOp::LogicalXor: return binary_loop<B, T>(plan, out, a, b, [](T x, T y) { return bool(x) != bool(y); });
    case BinaryOp::FloorDivide: return binary_loop<T, T>(plan, out, a, b, [](T x, T y) { return floor_div(x, y); });
    case BinaryOp::Remainder: return binary_loop<T, T>(plan, out, a, b, [](T x, T y) { return py_mod(x, y); });
    default: break;
  }
  if constexpr (std::is_floating_point_v<T>) {
    switch (op) {
      case BinaryOp::Atan2: return binary_loop<T, T>(plan, out, a, b, [](T x, T y) { return std::atan2(x, y); });
      case BinaryOp::ReluBackward:
        return binary_loop<T, T>(plan, out, a, b, [](T g, T y) { return y > T(0) ? g : T(0); });
      case BinaryOp::SigmoidBackward:
        return binary_loop<T, T>(plan, out, a, b, [](T g, T y) { return g * y * (T(1) - y); });
      case BinaryOp::TanhBackward:
        return binary_loop<T, T>(plan, out, a, b, [](T g, T y) { return g * (T(1) - y * y); });
      default: break;
    }
  } else {
    switch (op) {
      case BinaryOp::BitwiseAnd: return binary_loop<T, T>(plan, out, a, b, [](T x, T y) { return T(x & y); });
      case BinaryOp::BitwiseOr: return binary_loop<T, T>(plan, out, a, b, [](T x, T y) { return T(x | y); });
      case BinaryOp::BitwiseXor: return binary_loop<T, T>(plan, out, a, b, [](T x, T y) { return T(x ^ y); });
      default: break;
    }
  }
  throw_unsupported_dtype("binary", dtype_of<T>::value);
}

void binary_kernel(BinaryOp op, const LoopPlan<3>& plan, char* out, char* a, char* b, DType out_dtype,
                   DType in_dtype, Scalar alpha) {
  if (in_dtype == DType::Bool) return binary_bool(op, plan, out, a, b);
  EMBER_DISPATCH_ALL_TYPES(in_dtype, "binary", [&] { binary_typed<scalar_t>(op, plan, out, a, b, alpha); });
}

void ternary_kernel(TernaryOp op, const LoopPlan<4>& plan, char* out, char* a, char* b, char* c, DType dtype,
                    int mode) {
  EMBER_DISPATCH_ALL_TYPES_AND_BOOL(dtype, "ternary", [&] {
    using T = scalar_t;
    switch (op) {
      case TernaryOp::Where:
        return ternary_loop<T, bool, T>(plan, out, a, b, c, [](bool m, T x, T y) { return m ? x : y; });
      case TernaryOp::Clamp:
        // NaN in x propagates; a NaN bound also gives NaN, as in torch.
        if (mode == 3)
          return ternary_loop<T, T, T>(plan, out, a, b, c, [](T x, T lo, T hi) {
            if (x != x || lo != lo || hi != hi) return (x != x) ? x : (lo != lo ? lo : hi);
            return x < lo ? lo : (x > hi ? hi : x);
          });
        if (mode == 1)
          return ternary_loop<T, T, T>(plan, out, a, b, c, [](T x, T lo, T) {
            return (x != x || lo != lo) ? (x != x ? x : lo) : (x < lo ? lo : x);
          });
        return ternary_loop<T, T, T>(plan, out, a, b, c, [](T x, T, T hi) {
          return (x != x || hi != hi) ? (x != x ? x : hi) : (x > hi ? hi : x);
        });
      case TernaryOp::Lerp:
        if constexpr (std::is_floating_point_v<T>) {
          return ternary_loop<T, T, T>(plan, out, a, b, c, [](T x, T y, T w) {
            // torch's formulation: exact at both ends.
            return std::abs(w) < T(0.5) ? x + w * (y - x) : y - (y - x) * (T(1) - w);
          });
        }
        break;
    }
    throw_unsupported_dtype("ternary", dtype);
  });
}

}  // namespace

REGISTER_CPU_KERNEL(unary_stub, &unary_kernel);
REGISTER_CPU_KERNEL(binary_stub, &binary_kernel);
REGISTER_CPU_KERNEL(ternary_stub, &ternary_kernel);

}  // namespace CPU_CAPABILITY
}  // namespace ember
