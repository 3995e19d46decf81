// Activation kernels (forward y = f(x) and backward dx = grad * f'(x)); compiled once per
// instruction set. Contiguous runs take a plain loop the compiler can vectorise.
#include <cmath>
#include <type_traits>

#include "cpu/kernels/vec_math.h"
#include "ops/activation.h"

namespace ember {
namespace CPU_CAPABILITY {
namespace {

constexpr int64_t kGrain = 16384;

template <typename T, typename F>
void map1(const LoopPlan<2>& plan, char* out, char* in, F f) {
  run_loop<2>(plan, {out, in}, kGrain, [f](char** p, const int64_t* s, int64_t n) {
    if (s[0] == sizeof(T) && s[1] == sizeof(T)) {
      T* o = reinterpret_cast<T*>(p[0]);
      const T* x = reinterpret_cast<const T*>(p[1]);
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i]);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<T*>(p[0] + i * s[0]) = f(*reinterpret_cast<const T*>(p[1] + i * s[1]));
    }
  });
}

template <typename T, typename F>
void map2(const LoopPlan<3>& plan, char* out, char* a, char* b, F f) {
  run_loop<3>(plan, {out, a, b}, kGrain, [f](char** p, const int64_t* s, int64_t n) {
    if (s[0] == sizeof(T) && s[1] == sizeof(T) && s[2] == sizeof(T)) {
      T* o = reinterpret_cast<T*>(p[0]);
      const T* g = reinterpret_cast<const T*>(p[1]);
      const T* x = reinterpret_cast<const T*>(p[2]);
      for (int64_t i = 0; i < n; ++i) o[i] = f(g[i], x[i]);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<T*>(p[0] + i * s[0]) = f(*reinterpret_cast<const T*>(p[1] + i * s[1]),
                                                   *reinterpret_cast<const T*>(p[2] + i * s[2]));
    }
  });
}

// exp and tanh: vec_math's for float32, so that the loops vectorise; libm's for double.
inline float exp_t(float x) { return vec_math::exp_f32(x); }
inline double exp_t(double x) { return std::exp(x); }
inline float tanh_t(float x) { return vec_math::tanh_f32(x); }
inline double tanh_t(double x) { return std::tanh(x); }
// Phi(x), the standard normal CDF, as 0.5 erfc(-x / sqrt 2): accurate in the lower tail too.
inline float normal_cdf(float x) { return 0.5f * vec_math::erfc_f32(x * -0.70710678118654752440f); }
inline double normal_cdf(double x) { return 0.5 * std::erfc(x * -0.70710678118654752440); }
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
// Phi(x) and the normal density phi(x) = exp(-x^2 / 2) / sqrt(2 pi); in float32 from one exp.
inline float normal_cdf_pdf(float x, float& pdf) {
  float gauss;
  const float cdf = 0.5f * vec_math::erfc_gauss_f32(x * -0.70710678118654752440f, &gauss);
  pdf = float(kInvSqrt2Pi) * gauss;
  return cdf;
}
inline double normal_cdf_pdf(double x, double& pdf) {
  pdf = kInvSqrt2Pi * std::exp(-0.5 * x * x);
  return normal_cdf(x);
}

// Stable for large |x| (never exponentiates a large positive number), and branch-free.
template <typename T> inline T sigmoid(T x) {
  const T e = exp_t(x < T(0) ? x : -x);  // exp(-|x|)
  return x >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
}
// softplus(x) = log(1 + e^x), stable for large |x|
template <typename T> inline T softplus1(T x) { return x > T(20) ? x : std::log1p(exp_t(x)); }

constexpr double kSqrt2OverPi = 0.79788456080286535588;

// Exact GELU over float32 runs: each block of 256 whose |x| are all at most 12.5 (no NaN: the
// compare fails for it) takes erfc's near form (|x / sqrt 2| <= 8.84), the same bits as the
// general one there without its far-tail selects; other blocks take the general form.
inline float gelu_near_f32(float x) {
  float gauss;
  return x * (0.5f * vec_math::erfc_gauss_f32<true>(x * -0.70710678118654752440f, &gauss));
}
void gelu_f32_chunk(char** p, const int64_t* s, int64_t n) {
  if (s[0] != sizeof(float) || s[1] != sizeof(float)) {
    for (int64_t i = 0; i < n; ++i) {
      const float x = *reinterpret_cast<const float*>(p[1] + i * s[1]);
      *reinterpret_cast<float*>(p[0] + i * s[0]) = x * normal_cdf(x);
    }
    return;
  }
  float* y = reinterpret_cast<float*>(p[0]);
  const float* x = reinterpret_cast<const float*>(p[1]);
  constexpr int64_t kBlk = 256;
  for (int64_t b = 0; b < n; b += kBlk) {
    const int64_t m = n - b < kBlk ? n - b : kBlk;
    int near = 1;
    for (int64_t i = 0; i < m; ++i) near &= (x[b + i] <= 12.5f) & (x[b + i] >= -12.5f);
    if (near) {
      for (int64_t i = 0; i < m; ++i) y[b + i] = gelu_near_f32(x[b + i]);
    } else {
      for (int64_t i = 0; i < m; ++i) y[b + i] = x[b + i] * normal_cdf(x[b + i]);
    }
  }
}

template <typename T>
void forward(ActOp op, const LoopPlan<2>& plan, char* out, char* in, double p0, double p1, double p2) {
  const T a = T(p0), b = T(p1), c = T(p2);
  switch (op) {
    case ActOp::LeakyRelu: return map1<T>(plan, out, in, [a](T x) { return x > T(0) ? x : x * a; });
    case ActOp::Elu:
      return map1<T>(plan, out, in, [a, b, c](T x) { return x > T(0) ? b * x : b * a * std::expm1(x * c); });
    case ActOp::Gelu:
      if constexpr (std::is_same_v<T, float>) return run_loop<2>(plan, {out, in}, kGrain, gelu_f32_chunk);
      return map1<T>(plan, out, in, [](T x) { return x * normal_cdf(x); });
    case ActOp::GeluTanh:
      return map1<T>(plan, out, in, [](T x) {
        return T(0.5) * x * (T(1) + tanh_t(T(kSqrt2OverPi) * (x + T(0.044715) * x * x * x)));
      });
    case ActOp::Silu:
      if constexpr (std::is_same_v<T, float>) {  // the block exp of vec_math on contiguous runs
        return run_loop<2>(plan, {out, in}, kGrain, [](char** p, const int64_t* s, int64_t n) {
          vec_math::exp_map_f32_chunk(p, s, n, vec_math::neg_abs_f32,
                                      [](float x, float e) { return x * vec_math::sigmoid_of_exp_f32(x, e); });
        });
      }
      return map1<T>(plan, out, in, [](T x) { return x * sigmoid(x); });
    case ActOp::Mish: return map1<T>(plan, out, in, [](T x) { return x * tanh_t(softplus1(x)); });
    case ActOp::Softplus:  // linear above threshold: x*beta > threshold
      return map1<T>(plan, out, in, [a, b](T x) { return x * a > b ? x : std::log1p(std::exp(x * a)) / a; });
    case ActOp::Hardtanh:
      return map1<T>(plan, out, in, [a, b](T x) { return x != x ? x : (x < a ? a : (x > b ? b : x)); });
    case ActOp::Hardswish:
      return map1<T>(plan, out, in, [](T x) {
        return x <= T(-3) ? T(0) : (x >= T(3) ? x : x * (x + T(3)) / T(6));
      });
    case ActOp::Hardsigmoid:
      return map1<T>(plan, out, in, [](T x) {
        return x <= T(-3) ? T(0) : (x >= T(3) ? T(1) : x / T(6) + T(0.5));
      });
    default: break;
  }
  throw ValueError("unknown activation");
}

template <typename T>
void backward(ActOp op, const LoopPlan<3>& plan, char* dx, char* gr, char* in, double p0, double p1, double p2) {
  const T a = T(p0), b = T(p1), c = T(p2);
  switch (op) {
    case ActOp::LeakyRelu: return map2<T>(plan, dx, gr, in, [a](T g, T x) { return x > T(0) ? g : g * a; });
    case ActOp::Elu:
      return map2<T>(plan, dx, gr, in, [a, b, c](T g, T x) {
        return x > T(0) ? g * b : g * b * a * c * exp_t(x * c);
      });
    case ActOp::Gelu:
      return map2<T>(plan, dx, gr, in, [](T g, T x) {
        T pdf;
        const T cdf = normal_cdf_pdf(x, pdf);
        return g * (cdf + x * pdf);
      });
    case ActOp::GeluTanh:
      return map2<T>(plan, dx, gr, in, [](T g, T x) {
        const T inner = T(kSqrt2OverPi) * (x + T(0.044715) * x * x * x);
        const T t = tanh_t(inner);
        const T dinner = T(kSqrt2OverPi) * (T(1) + T(3 * 0.044715) * x * x);
        return g * (T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * dinner);
      });
    case ActOp::Silu:
      return map2<T>(plan, dx, gr, in, [](T g, T x) {
        const T s = sigmoid(x);
        return g * s * (T(1) + x * (T(1) - s));
      });
    case ActOp::Mish:
      return map2<T>(plan, dx, gr, in, [](T g, T x) {
        const T t = tanh_t(softplus1(x));
        return g * (t + x * (T(1) - t * t) * sigmoid(x));
      });
    case ActOp::Softplus:
      return map2<T>(plan, dx, gr, in, [a, b](T g, T x) { return x * a > b ? g : g * sigmoid(x * a); });
    case ActOp::Hardtanh:
      return map2<T>(plan, dx, gr, in, [a, b](T g, T x) { return x <= a || x >= b ? T(0) : g; });
    case ActOp::Hardswish:
      return map2<T>(plan, dx, gr, in, [](T g, T x) {
        return x < T(-3) ? T(0) : (x <= T(3) ? g * (x / T(3) + T(0.5)) : g);
      });
    case ActOp::Hardsigmoid:
      return map2<T>(plan, dx, gr, in, [](T g, T x) { return x > T(-3) && x < T(3) ? g / T(6) : T(0); });
    default: break;
  }
  throw ValueError("unknown activation");
}

void activation_kernel(ActOp op, DType dtype, const LoopPlan<2>& plan, char* out, char* x, double p0, double p1,
                       double p2) {
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "activation", [&] { forward<scalar_t>(op, plan, out, x, p0, p1, p2); });
}
void activation_backward_kernel(ActOp op, DType dtype, const LoopPlan<3>& plan, char* dx, char* g, char* x,
                                double p0, double p1, double p2) {
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "activation_backward",
                                [&] { backward<scalar_t>(op, plan, dx, g, x, p0, p1, p2); });
}

}  // namespace

REGISTER_CPU_KERNEL(activation_stub, &activation_kernel);
REGISTER_CPU_KERNEL(activation_backward_stub, &activation_backward_kernel);

}  // namespace CPU_CAPABILITY
}  // namespace ember
