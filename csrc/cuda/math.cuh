// Device math shared by the elementwise kernels: float/double overloads of the libm functions
// (so a functor written once for T picks expf or exp), and the scalar semantics that must match
// csrc/cpu/kernels/elementwise.cpp exactly (NaN rules, torch's floor_divide/remainder, pow).
#pragma once
#include <cstdint>
#include <type_traits>

#include <cuda_runtime.h>

namespace ember {
namespace cuda {

#define EMBER_CUDA_MATH1(name, ffn, dfn)                                   \
  __device__ __forceinline__ float name(float x) { return ::ffn(x); }      \
  __device__ __forceinline__ double name(double x) { return ::dfn(x); }

EMBER_CUDA_MATH1(m_exp, expf, exp)
EMBER_CUDA_MATH1(m_log, logf, log)
EMBER_CUDA_MATH1(m_log1p, log1pf, log1p)
EMBER_CUDA_MATH1(m_expm1, expm1f, expm1)
EMBER_CUDA_MATH1(m_sqrt, sqrtf, sqrt)
EMBER_CUDA_MATH1(m_sin, sinf, sin)
EMBER_CUDA_MATH1(m_cos, cosf, cos)
EMBER_CUDA_MATH1(m_tanh, tanhf, tanh)
EMBER_CUDA_MATH1(m_erf, erff, erf)
EMBER_CUDA_MATH1(m_log2, log2f, log2)
EMBER_CUDA_MATH1(m_exp2, exp2f, exp2)
EMBER_CUDA_MATH1(m_floor, floorf, floor)
EMBER_CUDA_MATH1(m_ceil, ceilf, ceil)
EMBER_CUDA_MATH1(m_trunc, truncf, trunc)
EMBER_CUDA_MATH1(m_rint, rintf, rint)  // round half to even, as std::nearbyint
EMBER_CUDA_MATH1(m_fabs, fabsf, fabs)
#undef EMBER_CUDA_MATH1

__device__ __forceinline__ float m_fmod(float a, float b) { return ::fmodf(a, b); }
__device__ __forceinline__ double m_fmod(double a, double b) { return ::fmod(a, b); }
__device__ __forceinline__ float m_pow(float a, float b) { return ::powf(a, b); }
__device__ __forceinline__ double m_pow(double a, double b) { return ::pow(a, b); }
__device__ __forceinline__ float m_atan2(float a, float b) { return ::atan2f(a, b); }
__device__ __forceinline__ double m_atan2(double a, double b) { return ::atan2(a, b); }

template <typename T>
__device__ __forceinline__ bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  else return false;
}

template <typename T>
__device__ __forceinline__ T sigmoid(T x) {
  // Stable for large |x|: never exponentiates a large positive number.
  if (x >= T(0)) return T(1) / (T(1) + m_exp(-x));
  const T e = m_exp(x);
  return e / (T(1) + e);
}

template <typename T>
__device__ __forceinline__ T floor_div(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    return m_floor(a / b);
  } else {
    if (b == 0) return T(0);  // checked by the op layer for integers
    T q = a / b;
    if constexpr (std::is_signed_v<T>)
      if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
    return q;
  }
}

template <typename T>
__device__ __forceinline__ T py_mod(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    T r = m_fmod(a, b);
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
  } else {
    if (b == 0) return T(0);
    T r = a % b;
    if constexpr (std::is_signed_v<T>)
      if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
  }
}

template <typename T>
__device__ __forceinline__ T int_pow(T base, T exp) {
  if constexpr (std::is_floating_point_v<T>) {
    return m_pow(base, exp);
  } else {
    if constexpr (std::is_signed_v<T>)
      if (exp < 0) return base == 1 ? T(1) : base == T(-1) ? ((exp & 1) ? T(-1) : T(1)) : T(0);
    T r = 1;
    while (exp) {
      if (exp & 1) r = T(r * base);
      base = T(base * base);
      exp >>= 1;
    }
    return r;
  }
}

}  // namespace cuda
}  // namespace ember
