// CUDA cumsum: the inclusive prefix sum of csrc/cpu/kernels/reduce.cpp over contiguous
// x and out viewed as (outer, len, inner), scanning along len. Accumulation in double for floating
// inputs and int64 for integers, as on the CPU.
//
// Long contiguous rows (inner == 1): one block per row walks it in tiles of kThreads * kPer
// elements; each thread scans its kPer consecutive elements, a block scan (nn_util.cuh) gives each
// thread its offset, and the running carry moves from tile to tile.
// Otherwise (inner > 1, short rows, or the reference path): one thread per (outer, inner) column
// scans sequentially; adjacent threads take adjacent columns, so loads coalesce when inner > 1.
#include <type_traits>

#include "cuda/nn_util.cuh"
#include "ops/reduce.h"

namespace ember {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kPer = 4;

template <typename T>
using acc_t = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

// ---- kernels ----------------------------------------------------------------------------------
template <typename T>
__global__ void __launch_bounds__(kThreads) cumsum_columns_kernel(const T* x, T* out, int64_t outer, int64_t len,
                                                                  int64_t inner) {
  using A = acc_t<T>;
  const int64_t columns = outer * inner, step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t col = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; col < columns; col += step) {
    const int64_t o = col / inner;
    const int64_t base = o * len * inner + (col - o * inner);
    A s = 0;
    for (int64_t l = 0; l < len; ++l) {
      s += A(x[base + l * inner]);
      out[base + l * inner] = T(s);
    }
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) cumsum_rows_kernel(const T* x, T* out, int64_t rows, int64_t len) {
  using A = acc_t<T>;
  constexpr int64_t kTileElems = int64_t(kThreads) * kPer;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * len;
    T* yr = out + r * len;
    A carry = 0;
    for (int64_t base = 0; base < len; base += kTileElems) {
      const int64_t first = base + int64_t(threadIdx.x) * kPer;
      A local[kPer];
      A s = 0;
#pragma unroll
      for (int j = 0; j < kPer; ++j) {
        if (first + j < len) s += A(xr[first + j]);
        local[j] = s;
      }
      A total;
      const A before = carry + block_exclusive_scan(s, total);
#pragma unroll
      for (int j = 0; j < kPer; ++j)
        if (first + j < len) yr[first + j] = T(before + local[j]);
      carry += total;
    }
  }
}

// ---- launchers --------------------------------------------------------------------------------
void cumsum_launch(const Tensor& x, const Tensor& out, int64_t outer, int64_t len, int64_t inner) {
  DeviceGuard guard(x.device().index);
  if (outer * len * inner == 0) return;
  EMBER_DISPATCH_ALL_TYPES(x.dtype(), "cumsum", [&] {
    const scalar_t* xp = x.data<scalar_t>();
    scalar_t* yp = out.data<scalar_t>();
    if (inner == 1 && len > 64 && !use_reference_kernels())
      cumsum_rows_kernel<scalar_t><<<grid_blocks(outer), kThreads>>>(xp, yp, outer, len);
    else
      cumsum_columns_kernel<scalar_t><<<grid_for(outer * inner, kThreads), kThreads>>>(xp, yp, outer, len, inner);
  });
  CUDA_CHECK_LAUNCH();
}

}  // namespace

REGISTER_CUDA_KERNEL(cumsum_stub, &cumsum_launch);

}  // namespace cuda
}  // namespace ember
