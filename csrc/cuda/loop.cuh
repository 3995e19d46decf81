// Strided iteration on the GPU: the coalesced LoopPlan<N> of the op layer, flattened into a
// small POD (shape and byte strides, innermost dim first) that kernels receive by value, and
// the elementwise launcher shared by copy, unary, binary and ternary kernels.
//
// Paths, chosen on the host per launch:
//   contiguous  every operand dense and 16-byte-friendly aligned: VEC elements per thread
//               through aligned vector loads/stores, scalar tail;
//   strided     anything else; a 1-d plan (contiguous, broadcast scalar, simple stride) needs
//               no division, an N-d plan decomposes the linear index per dim.
// Indices are 64-bit throughout; the per-dim division drops to 32 bits when both operands fit.
#pragma once
#include <array>
#include <cstdint>
#include <utility>

#include "core/loop.h"
#include "cuda/common.cuh"

namespace ember {
namespace cuda {

// Coalesced dims a CUDA kernel accepts (kernel parameters are passed by value, so this is fixed).
constexpr int kMaxCudaDims = 16;
constexpr int kThreads = 256;
constexpr int kVec = 4;

template <int N>
struct DevicePlan {
  char* ptr[N];
  int64_t numel;
  int ndim;                              // >= 1
  int64_t shape[kMaxCudaDims];           // innermost first
  int64_t strides[kMaxCudaDims][N];      // bytes, innermost first
};

template <int N>
DevicePlan<N> make_device_plan(const LoopPlan<N>& plan, const std::array<char*, N>& base, const char* op) {
  const int nd = int(plan.shape.size());
  EMBER_CHECK(nd <= kMaxCudaDims, ValueError, op, ": CUDA kernels support at most ", kMaxCudaDims,
              " non-mergeable dimensions, got ", nd, " (shape after merging contiguous dims ", plan.shape,
              "); make the tensor contiguous first");
  DevicePlan<N> p{};
  for (int k = 0; k < N; ++k) p.ptr[k] = base[k];
  p.numel = plan.numel;
  p.ndim = nd;
  for (int d = 0; d < nd; ++d) {
    p.shape[d] = plan.shape[nd - 1 - d];
    for (int k = 0; k < N; ++k) p.strides[d][k] = plan.strides[k][nd - 1 - d];
  }
  return p;
}

// q = a / b, r = a % b for non-negative a and positive b, in 32 bits when both fit.
__device__ __forceinline__ void divmod(int64_t a, int64_t b, int64_t& q, int64_t& r) {
  if (((uint64_t(a) | uint64_t(b)) >> 32) == 0) {
    const uint32_t q32 = uint32_t(a) / uint32_t(b);
    q = q32;
    r = int64_t(uint32_t(a) - q32 * uint32_t(b));
  } else {
    q = a / b;
    r = a - q * b;
  }
}

// Byte offsets of each operand for the element at `linear` (row-major over the plan's shape).
template <int N>
__device__ __forceinline__ void plan_offsets(const DevicePlan<N>& p, int64_t linear, int64_t (&off)[N]) {
#pragma unroll
  for (int k = 0; k < N; ++k) off[k] = 0;
#pragma unroll
  for (int d = 0; d < kMaxCudaDims; ++d) {
    if (d == p.ndim) break;
    int64_t q, r;
    divmod(linear, p.shape[d], q, r);
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] += r * p.strides[d][k];
    linear = q;
  }
}

template <typename T>
__device__ __forceinline__ T load(const char* p) { return *reinterpret_cast<const T*>(p); }

template <typename T, int V>
struct alignas(sizeof(T) * V) Vec {
  T v[V];
};

// ---- kernels --------------------------------------------------------------------------------
// f maps (TI...) to TO; operand 0 is the output.
template <typename F, typename TO, typename... TI, size_t... I>
__device__ __forceinline__ void apply_at(const DevicePlan<1 + sizeof...(TI)>& p, const int64_t* off, const F& f,
                                         std::index_sequence<I...>) {
  *reinterpret_cast<TO*>(p.ptr[0] + off[0]) = static_cast<TO>(f(load<TI>(p.ptr[I + 1] + off[I + 1])...));
}

template <typename F, typename TO, typename... TI>
__global__ void __launch_bounds__(kThreads) strided_kernel(const DevicePlan<1 + sizeof...(TI)> p, const F f) {
  constexpr int N = 1 + sizeof...(TI);
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (p.ndim == 1) {
    for (; i < p.numel; i += step) {
      int64_t off[N];
#pragma unroll
      for (int k = 0; k < N; ++k) off[k] = i * p.strides[0][k];
      apply_at<F, TO, TI...>(p, off, f, std::index_sequence_for<TI...>{});
    }
  } else {
    for (; i < p.numel; i += step) {
      int64_t off[N];
      plan_offsets<N>(p, i, off);
      apply_at<F, TO, TI...>(p, off, f, std::index_sequence_for<TI...>{});
    }
  }
}

template <typename F, typename TO, typename... TI>
__device__ __forceinline__ void apply_vec(const F& f, Vec<TO, kVec>& o, const Vec<TI, kVec>&... v) {
#pragma unroll
  for (int j = 0; j < kVec; ++j) o.v[j] = static_cast<TO>(f(v.v[j]...));
}

template <typename T>
__device__ __forceinline__ Vec<T, kVec> load_vec(const T* p) { return *reinterpret_cast<const Vec<T, kVec>*>(p); }

// Dense operands, every pointer aligned to its Vec<T, kVec>: one vector load per input and one
// vector store per kVec elements. No __restrict__: in-place ops pass out == in (the op layer
// only allows exact aliasing, which element-wise order keeps correct).
template <typename F, typename TO, typename... TI>
__global__ void __launch_bounds__(kThreads) contiguous_kernel(int64_t n, const F f, TO* out, const TI*... in) {
  const int64_t step = (int64_t(gridDim.x) * blockDim.x) * kVec;
  for (int64_t base = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) * kVec; base < n; base += step) {
    if (base + kVec <= n) {
      Vec<TO, kVec> o;
      apply_vec<F, TO, TI...>(f, o, load_vec(in + base)...);
      *reinterpret_cast<Vec<TO, kVec>*>(out + base) = o;
    } else {
      for (int64_t j = base; j < n; ++j) out[j] = static_cast<TO>(f(in[j]...));
    }
  }
}

// ---- launcher -------------------------------------------------------------------------------
template <typename TO, typename... TI, typename F, size_t... I>
void launch_contiguous(unsigned blocks, int64_t n, const F& f, const std::array<char*, 1 + sizeof...(TI)>& base,
                       std::index_sequence<I...>) {
  contiguous_kernel<F, TO, TI...><<<blocks, kThreads>>>(n, f, reinterpret_cast<TO*>(base[0]),
                                                        reinterpret_cast<const TI*>(base[I + 1])...);
}

// Runs f over the plan: operand 0 (type TO) is written, operands 1.. (types TI...) are read.
template <typename TO, typename... TI, typename F>
void launch_elementwise(const LoopPlan<1 + sizeof...(TI)>& plan, const std::array<char*, 1 + sizeof...(TI)>& base,
                        const F& f, const char* op) {
  constexpr int N = 1 + sizeof...(TI);
  if (plan.numel == 0) return;
  constexpr int64_t sizes[N] = {int64_t(sizeof(TO)), int64_t(sizeof(TI))...};
  bool dense = plan.shape.size() == 1;
  for (int k = 0; k < N && dense; ++k)
    dense = plan.strides[k][0] == sizes[k] && reinterpret_cast<uintptr_t>(base[k]) % uintptr_t(sizes[k] * kVec) == 0;
  if (dense) {
    const unsigned blocks = grid_for(ceil_div(plan.numel, kVec), kThreads);
    launch_contiguous<TO, TI...>(blocks, plan.numel, f, base, std::index_sequence_for<TI...>{});
  } else {
    const DevicePlan<N> p = make_device_plan<N>(plan, base, op);
    strided_kernel<F, TO, TI...><<<grid_for(plan.numel, kThreads), kThreads>>>(p, f);
  }
  CUDA_CHECK_LAUNCH();
}

}  // namespace cuda
}  // namespace ember
