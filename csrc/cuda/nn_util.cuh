// Helpers shared by the CUDA nn kernels (pool, activation, softmax, cross-entropy, norms, optim,
// interpolate, indexing, cumsum): scratch and upload buffers on the current device, a device-side
// "first bad position" flag, atomic adds for every dtype, deterministic warp/block reductions over
// any combinable type, Welford statistics, and the row groups that let one kernel body serve a
// thread, a warp or a block per row.
//
// Rows: a row is D elements at base + d * stride (softmax: base = o*D*inner + i, stride = inner).
//   ThreadRows  one thread per row: the reference path, and the path for strided rows, where
//               adjacent threads take adjacent rows so that their loads coalesce;
//   WarpRows    one warp per row (short contiguous rows);
//   BlockRows   one block per row (long contiguous rows).
// Every thread of a group sees the same row index, so loops over rows and the reductions inside
// them stay convergent (full-mask shuffles and __syncthreads are legal there).
#pragma once
#include <cstdint>
#include <cstring>

#include "core/tensor.h"
#include "cuda/common.cuh"
#include "cuda/nn_reference.h"

namespace ember {
namespace cuda {

// ---- host helpers -----------------------------------------------------------------------------
inline Device current_cuda_device() {
  int d = 0;
  CUDA_CHECK(cudaGetDevice(&d));
  return Device{DeviceType::CUDA, int16_t(d)};
}

// Uninitialised device memory for `bytes` bytes, from the caching allocator (freed when the
// returned tensor goes; the default stream orders any reuse after the kernels queued so far).
inline Tensor device_scratch(int64_t bytes) {
  return Tensor::empty({bytes > 0 ? bytes : 1}, DType::UInt8, current_cuda_device());
}

// A device copy of `bytes` host bytes. cudaMemcpyAsync from pageable memory returns once the
// source has been staged, so the host buffer may go right after the call.
inline Tensor upload(const void* host, int64_t bytes) {
  Tensor t = device_scratch(bytes);
  if (bytes > 0) CUDA_CHECK(cudaMemcpyAsync(t.raw_data(), host, size_t(bytes), cudaMemcpyHostToDevice, 0));
  return t;
}

template <typename T>
T* device_ptr(const Tensor& t) {
  return static_cast<T*>(t.raw_data());
}

// The stubs pass untyped buffers; these view them as T (null stays null).
template <typename T> const T* cp(const char* p) { return reinterpret_cast<const T*>(p); }
template <typename T> T* mp(char* p) { return reinterpret_cast<T*>(p); }

// A device int64 that kernels lower with atomicMin to the smallest bad position they meet;
// kNoPosition when none. Reading it waits for the kernels queued before.
constexpr int64_t kNoPosition = INT64_MAX;
inline Tensor make_position_flag() {
  const int64_t none = kNoPosition;
  return upload(&none, sizeof(none));
}
inline int64_t read_position_flag(const Tensor& flag) {
  int64_t v = 0;
  CUDA_CHECK(cudaMemcpy(&v, flag.raw_data(), sizeof(v), cudaMemcpyDeviceToHost));
  return v;
}

__device__ __forceinline__ void flag_position(int64_t* flag, int64_t pos) {
  atomicMin(reinterpret_cast<unsigned long long*>(flag), static_cast<unsigned long long>(pos));
}

inline int sm_count() {
  int device = 0, n = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
  return n > 0 ? n : 1;
}

// Grid size for `n` independent work items of one block each, capped (kernels loop over the rest).
inline unsigned grid_blocks(int64_t n, int64_t cap = int64_t(1) << 20) {
  return unsigned(n < 1 ? 1 : (n < cap ? n : cap));
}

// ---- atomics ----------------------------------------------------------------------------------
__device__ __forceinline__ void atomic_add(float* p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add(double* p, double v) { atomicAdd(p, v); }  // sm_60+
__device__ __forceinline__ void atomic_add(int32_t* p, int32_t v) { atomicAdd(reinterpret_cast<int*>(p), int(v)); }
__device__ __forceinline__ void atomic_add(int64_t* p, int64_t v) {
  // Two's complement: unsigned wrap-around is signed addition.
  atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));
}
// No byte atomics: compare-and-swap on the aligned 32-bit word holding the byte. The allocator
// rounds every block to 512 bytes, so that word lies inside the allocation.
__device__ __forceinline__ void atomic_add(uint8_t* p, uint8_t v) {
  const uintptr_t addr = reinterpret_cast<uintptr_t>(p);
  unsigned int* word = reinterpret_cast<unsigned int*>(addr & ~uintptr_t(3));
  const unsigned shift = unsigned(addr & 3) * 8u;
  unsigned old = *word, assumed;
  do {
    assumed = old;
    const unsigned byte = ((assumed >> shift) + unsigned(v)) & 0xFFu;
    old = atomicCAS(word, assumed, (assumed & ~(0xFFu << shift)) | (byte << shift));
  } while (old != assumed);
}
// bool accumulation is logical or: racing stores all write `true`.
__device__ __forceinline__ void atomic_add(bool* p, bool v) {
  if (v) *p = true;
}

// ---- reductions -------------------------------------------------------------------------------
template <typename T>
__device__ __forceinline__ T shfl_down(T v, int offset) {
  return __shfl_down_sync(0xffffffffu, v, offset);
}
template <typename T>
__device__ __forceinline__ T shfl_idx(T v, int lane) {
  return __shfl_sync(0xffffffffu, v, lane);
}

struct SumOp {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};
// torch's max for softmax rows: NaN wins.
struct NanMaxOp {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const { return (a > b || a != a) ? a : b; }
};

// Reduces over the 32 lanes of a warp into lane 0 (a fixed tree, so the result is deterministic
// even for non-commutative rounding) and broadcasts lane 0's result: every lane returns it.
template <typename T, typename Op>
__device__ __forceinline__ T warp_allreduce(T v, Op op) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v = op(v, shfl_down(v, offset));
  return shfl_idx(v, 0);
}

// Reduces over the block (blockDim.x a multiple of 32, at most 1024); every thread returns the
// result. T must be trivially constructible (it lives in shared memory).
template <typename T, typename Op>
__device__ __forceinline__ T block_allreduce(T v, Op op, T identity) {
  __shared__ T partial[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int nwarps = int(blockDim.x + 31) >> 5;
  v = warp_allreduce(v, op);
  __syncthreads();  // a previous call may still be reading partial[0]
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    T w = lane < nwarps ? partial[lane] : identity;
    w = warp_allreduce(w, op);
    if (lane == 0) partial[0] = w;
  }
  __syncthreads();
  return partial[0];
}

// Exclusive prefix sum over the block in thread order (blockDim.x a multiple of 32, at most
// 1024); `total` receives the block's sum in every thread.
template <typename T>
__device__ __forceinline__ T block_exclusive_scan(T v, T& total) {
  __shared__ T warp_sums[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int nwarps = int(blockDim.x + 31) >> 5;
  T x = v;  // inclusive scan within the warp
#pragma unroll
  for (int offset = 1; offset < 32; offset <<= 1) {
    const T y = __shfl_up_sync(0xffffffffu, x, offset);
    if (lane >= offset) x += y;
  }
  __syncthreads();  // a previous call may still be reading warp_sums
  if (lane == 31) warp_sums[warp] = x;
  __syncthreads();
  if (warp == 0) {
    T s = lane < nwarps ? warp_sums[lane] : T(0);
#pragma unroll
    for (int offset = 1; offset < 32; offset <<= 1) {
      const T y = __shfl_up_sync(0xffffffffu, s, offset);
      if (lane >= offset) s += y;
    }
    warp_sums[lane] = s;  // inclusive scan of the warp totals
  }
  __syncthreads();
  total = warp_sums[nwarps - 1];
  // exclusive = the previous lane's inclusive sum (not x - v, which rounds for floats)
  const T prev = __shfl_up_sync(0xffffffffu, x, 1);
  return (warp > 0 ? warp_sums[warp - 1] : T(0)) + (lane > 0 ? prev : T(0));
}

// ---- Welford statistics -----------------------------------------------------------------------
// Count, mean and sum of squared deviations (m2). Chan et al.'s merge of two sets A, B:
//   n = nA + nB, d = meanB - meanA, mean = meanA + d nB / n, m2 = m2A + m2B + d^2 nA nB / n.
struct Welford {
  double n, mean, m2;
};

__device__ __forceinline__ Welford welford_identity() { return Welford{0.0, 0.0, 0.0}; }

__device__ __forceinline__ void welford_push(Welford& w, double x) {
  w.n += 1.0;
  const double d = x - w.mean;
  w.mean += d / w.n;
  w.m2 += d * (x - w.mean);
}

struct WelfordOp {
  __device__ __forceinline__ Welford operator()(const Welford& a, const Welford& b) const {
    if (b.n == 0.0) return a;
    if (a.n == 0.0) return b;
    const double n = a.n + b.n, d = b.mean - a.mean, fb = b.n / n;
    return Welford{n, a.mean + d * fb, a.m2 + b.m2 + d * d * a.n * fb};
  }
};

template <>
__device__ __forceinline__ Welford shfl_down<Welford>(Welford v, int offset) {
  return Welford{shfl_down(v.n, offset), shfl_down(v.mean, offset), shfl_down(v.m2, offset)};
}
template <>
__device__ __forceinline__ Welford shfl_idx<Welford>(Welford v, int lane) {
  return Welford{shfl_idx(v.n, lane), shfl_idx(v.mean, lane), shfl_idx(v.m2, lane)};
}

// Two sums reduced together (e.g. sum dy and sum dy * xhat).
struct Sum2 {
  double a, b;
};
struct Sum2Op {
  __device__ __forceinline__ Sum2 operator()(const Sum2& x, const Sum2& y) const { return Sum2{x.a + y.a, x.b + y.b}; }
};
template <>
__device__ __forceinline__ Sum2 shfl_down<Sum2>(Sum2 v, int offset) {
  return Sum2{shfl_down(v.a, offset), shfl_down(v.b, offset)};
}
template <>
__device__ __forceinline__ Sum2 shfl_idx<Sum2>(Sum2 v, int lane) {
  return Sum2{shfl_idx(v.a, lane), shfl_idx(v.b, lane)};
}

// ---- row groups -------------------------------------------------------------------------------
struct ThreadRows {
  static constexpr int kThreads = 256;
  __device__ __forceinline__ static int64_t first() { return int64_t(blockIdx.x) * blockDim.x + threadIdx.x; }
  __device__ __forceinline__ static int64_t step() { return int64_t(gridDim.x) * blockDim.x; }
  __device__ __forceinline__ static int lane() { return 0; }
  __device__ __forceinline__ static int size() { return 1; }
  template <typename T, typename Op>
  __device__ __forceinline__ static T reduce(T v, Op, T) { return v; }
  static unsigned blocks(int64_t rows) { return grid_blocks(ceil_div(rows, kThreads)); }
};

struct WarpRows {
  static constexpr int kThreads = 256;  // 8 rows per block
  __device__ __forceinline__ static int64_t first() { return (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 5; }
  __device__ __forceinline__ static int64_t step() { return (int64_t(gridDim.x) * blockDim.x) >> 5; }
  __device__ __forceinline__ static int lane() { return int(threadIdx.x & 31); }
  __device__ __forceinline__ static int size() { return 32; }
  template <typename T, typename Op>
  __device__ __forceinline__ static T reduce(T v, Op op, T) { return warp_allreduce(v, op); }
  static unsigned blocks(int64_t rows) { return grid_blocks(ceil_div(rows, kThreads / 32)); }
};

struct BlockRows {
  static constexpr int kThreads = 512;
  __device__ __forceinline__ static int64_t first() { return blockIdx.x; }
  __device__ __forceinline__ static int64_t step() { return gridDim.x; }
  __device__ __forceinline__ static int lane() { return int(threadIdx.x); }
  __device__ __forceinline__ static int size() { return int(blockDim.x); }
  template <typename T, typename Op>
  __device__ __forceinline__ static T reduce(T v, Op op, T identity) { return block_allreduce(v, op, identity); }
  static unsigned blocks(int64_t rows) { return grid_blocks(rows); }
};

// Which group serves rows of D elements at `stride`: strided rows (and the reference path) take
// a thread each; contiguous rows a warp up to 1024 elements, a block beyond.
enum class RowPath { Thread, Warp, Block };
inline RowPath pick_row_path(int64_t D, int64_t stride) {
  if (stride != 1 || use_reference_kernels()) return RowPath::Thread;
  return D <= 1024 ? RowPath::Warp : RowPath::Block;
}

// Calls f(Group{}) with the group type of `path` (the launchers take it as decltype).
template <typename F>
void with_row_group(RowPath path, const F& f) {
  switch (path) {
    case RowPath::Thread: return f(ThreadRows{});
    case RowPath::Warp: return f(WarpRows{});
    case RowPath::Block: return f(BlockRows{});
  }
}

}  // namespace cuda
}  // namespace ember
