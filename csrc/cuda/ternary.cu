// CUDA ternary elementwise kernels: where(cond, x, y), clamp(x, lo, hi) with NaN propagation
// (a NaN input or bound gives NaN, as in torch), and lerp in torch's two-sided formulation.
#include "cuda/loop.cuh"
#include "cuda/math.cuh"
#include "ops/elementwise.h"

namespace ember {
namespace cuda {
namespace {

// ---- kernels (functors) ---------------------------------------------------------------------
struct Where {
  template <typename T>
  __device__ __forceinline__ T operator()(bool m, T x, T y) const { return m ? x : y; }
};

struct ClampBoth {
  template <typename T>
  __device__ __forceinline__ T operator()(T x, T lo, T hi) const {
    if (is_nan(x) || is_nan(lo) || is_nan(hi)) return is_nan(x) ? x : (is_nan(lo) ? lo : hi);
    return x < lo ? lo : (x > hi ? hi : x);
  }
};

struct ClampMin {
  template <typename T>
  __device__ __forceinline__ T operator()(T x, T lo, T) const {
    return (is_nan(x) || is_nan(lo)) ? (is_nan(x) ? x : lo) : (x < lo ? lo : x);
  }
};

struct ClampMax {
  template <typename T>
  __device__ __forceinline__ T operator()(T x, T, T hi) const {
    return (is_nan(x) || is_nan(hi)) ? (is_nan(x) ? x : hi) : (x > hi ? hi : x);
  }
};

struct Lerp {
  // Exact at both ends: w < 0.5 starts from x, otherwise from y.
  template <typename T>
  __device__ __forceinline__ T operator()(T x, T y, T w) const {
    return m_fabs(w) < T(0.5) ? x + w * (y - x) : y - (y - x) * (T(1) - w);
  }
};

// ---- launchers ----------------------------------------------------------------------------
void ternary_kernel(TernaryOp op, const LoopPlan<4>& plan, char* out, char* a, char* b, char* c, DType dtype,
                    int mode) {
  const std::array<char*, 4> base{out, a, b, c};
  EMBER_DISPATCH_ALL_TYPES_AND_BOOL(dtype, "ternary", [&] {
    using T = scalar_t;
    switch (op) {
      case TernaryOp::Where: return launch_elementwise<T, bool, T, T>(plan, base, Where{}, "where");
      case TernaryOp::Clamp:
        if constexpr (!std::is_same_v<T, bool>) {  // bool is rejected by the op layer
          if (mode == 3) return launch_elementwise<T, T, T, T>(plan, base, ClampBoth{}, "clamp");
          if (mode == 1) return launch_elementwise<T, T, T, T>(plan, base, ClampMin{}, "clamp");
          return launch_elementwise<T, T, T, T>(plan, base, ClampMax{}, "clamp");
        }
        break;
      case TernaryOp::Lerp:
        if constexpr (std::is_floating_point_v<T>) return launch_elementwise<T, T, T, T>(plan, base, Lerp{}, "lerp");
        break;
    }
    throw_unsupported_dtype("ternary", dtype);
  });
}

}  // namespace

REGISTER_CUDA_KERNEL(ternary_stub, &ternary_kernel);

}  // namespace cuda
}  // namespace ember
