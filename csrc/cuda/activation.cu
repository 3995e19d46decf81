// CUDA fused activations, forward y = f(x) and backward dx = grad * f'(x), with the formulas and
// parameters (p0..p2) of csrc/cpu/kernels/activation.cpp; each is a functor run by the shared
// vectorised / strided elementwise kernels of loop.cuh. relu, sigmoid and tanh are unary ops.
#include "cuda/loop.cuh"
#include "cuda/math.cuh"
#include "ops/activation.h"

namespace ember {
namespace cuda {
namespace {

constexpr double kSqrt1_2 = 0.70710678118654752440;
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
constexpr double kGeluTanhCoef = 0.044715;

// softplus(x) = log(1 + e^x), linear above 20 (as the CPU's softplus1).
template <typename T>
__device__ __forceinline__ T softplus1(T x) { return x > T(20) ? x : m_log1p(m_exp(x)); }

// ---- kernels (functors; a, b, c are p0, p1, p2 in T) ----------------------------------------
template <typename T>
struct LeakyRelu {
  T a;
  __device__ __forceinline__ T operator()(T x) const { return x > T(0) ? x : x * a; }
  __device__ __forceinline__ T operator()(T g, T x) const { return x > T(0) ? g : g * a; }
};

// elu / selu / celu: scale b, alpha a, input scale c.
template <typename T>
struct Elu {
  T a, b, c;
  __device__ __forceinline__ T operator()(T x) const { return x > T(0) ? b * x : b * a * m_expm1(x * c); }
  __device__ __forceinline__ T operator()(T g, T x) const {
    return x > T(0) ? g * b : g * b * a * c * m_exp(x * c);
  }
};

template <typename T>
struct Gelu {
  __device__ __forceinline__ T operator()(T x) const { return T(0.5) * x * (T(1) + m_erf(x * T(kSqrt1_2))); }
  __device__ __forceinline__ T operator()(T g, T x) const {
    const T cdf = T(0.5) * (T(1) + m_erf(x * T(kSqrt1_2)));
    const T pdf = T(kInvSqrt2Pi) * m_exp(T(-0.5) * x * x);
    return g * (cdf + x * pdf);
  }
};

template <typename T>
struct GeluTanh {
  __device__ __forceinline__ T operator()(T x) const {
    return T(0.5) * x * (T(1) + m_tanh(T(kSqrt2OverPi) * (x + T(kGeluTanhCoef) * x * x * x)));
  }
  __device__ __forceinline__ T operator()(T g, T x) const {
    const T inner = T(kSqrt2OverPi) * (x + T(kGeluTanhCoef) * x * x * x);
    const T t = m_tanh(inner);
    const T dinner = T(kSqrt2OverPi) * (T(1) + T(3 * kGeluTanhCoef) * x * x);
    return g * (T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * dinner);
  }
};

template <typename T>
struct Silu {
  __device__ __forceinline__ T operator()(T x) const { return x * sigmoid(x); }
  __device__ __forceinline__ T operator()(T g, T x) const {
    const T s = sigmoid(x);
    return g * s * (T(1) + x * (T(1) - s));
  }
};

template <typename T>
struct Mish {
  __device__ __forceinline__ T operator()(T x) const { return x * m_tanh(softplus1(x)); }
  __device__ __forceinline__ T operator()(T g, T x) const {
    const T t = m_tanh(softplus1(x));
    return g * (t + x * (T(1) - t * t) * sigmoid(x));
  }
};

// beta a, threshold b: linear where x * beta > threshold.
template <typename T>
struct Softplus {
  T a, b;
  __device__ __forceinline__ T operator()(T x) const { return x * a > b ? x : m_log1p(m_exp(x * a)) / a; }
  __device__ __forceinline__ T operator()(T g, T x) const { return x * a > b ? g : g * sigmoid(x * a); }
};

// min a, max b; NaN passes through.
template <typename T>
struct Hardtanh {
  T a, b;
  __device__ __forceinline__ T operator()(T x) const { return x != x ? x : (x < a ? a : (x > b ? b : x)); }
  __device__ __forceinline__ T operator()(T g, T x) const { return x <= a || x >= b ? T(0) : g; }
};

template <typename T>
struct Hardswish {
  __device__ __forceinline__ T operator()(T x) const {
    return x <= T(-3) ? T(0) : (x >= T(3) ? x : x * (x + T(3)) / T(6));
  }
  __device__ __forceinline__ T operator()(T g, T x) const {
    return x < T(-3) ? T(0) : (x <= T(3) ? g * (x / T(3) + T(0.5)) : g);
  }
};

template <typename T>
struct Hardsigmoid {
  __device__ __forceinline__ T operator()(T x) const {
    return x <= T(-3) ? T(0) : (x >= T(3) ? T(1) : x / T(6) + T(0.5));
  }
  __device__ __forceinline__ T operator()(T g, T x) const { return x > T(-3) && x < T(3) ? g / T(6) : T(0); }
};

// ---- launchers --------------------------------------------------------------------------------
// Calls run(functor) with the functor of `op`, its parameters converted to T.
template <typename T, typename Run>
void with_activation(ActOp op, double p0, double p1, double p2, const Run& run) {
  const T a = T(p0), b = T(p1), c = T(p2);
  switch (op) {
    case ActOp::LeakyRelu: return run(LeakyRelu<T>{a});
    case ActOp::Elu: return run(Elu<T>{a, b, c});
    case ActOp::Gelu: return run(Gelu<T>{});
    case ActOp::GeluTanh: return run(GeluTanh<T>{});
    case ActOp::Silu: return run(Silu<T>{});
    case ActOp::Mish: return run(Mish<T>{});
    case ActOp::Softplus: return run(Softplus<T>{a, b});
    case ActOp::Hardtanh: return run(Hardtanh<T>{a, b});
    case ActOp::Hardswish: return run(Hardswish<T>{});
    case ActOp::Hardsigmoid: return run(Hardsigmoid<T>{});
    default: break;
  }
  throw ValueError(str("unknown activation ", int(op)));
}

void activation_kernel(ActOp op, DType dtype, const LoopPlan<2>& plan, char* out, char* x, double p0, double p1,
                       double p2) {
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "activation", [&] {
    with_activation<scalar_t>(op, p0, p1, p2, [&](auto f) {
      launch_elementwise<scalar_t, scalar_t>(plan, {out, x}, f, "activation");  // f(x)
    });
  });
}

void activation_backward_kernel(ActOp op, DType dtype, const LoopPlan<3>& plan, char* dx, char* g, char* x,
                                double p0, double p1, double p2) {
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "activation_backward", [&] {
    with_activation<scalar_t>(op, p0, p1, p2, [&](auto f) {
      launch_elementwise<scalar_t, scalar_t, scalar_t>(plan, {dx, g, x}, f, "activation_backward");  // f(g, x)
    });
  });
}

}  // namespace

REGISTER_CUDA_KERNEL(activation_stub, &activation_kernel);
REGISTER_CUDA_KERNEL(activation_backward_stub, &activation_backward_kernel);

}  // namespace cuda
}  // namespace ember
