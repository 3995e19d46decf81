// CUDA indexing primitives of ops/indexing.h: index offsets (with the bounds check), gather,
// scatter / scatter-add, nonzero, and tril/triu. Same semantics as csrc/cpu/indexing.cpp.
// Strided operands come as the op layer's coalesced LoopPlans (loop.cuh's DevicePlan).
//
// index_offsets: a bad index is never dereferenced; the kernel lowers a device flag to the first
// bad position, and the launcher reads back that position's index value for the error message.
// index_scatter with accumulate: atomic adds (bool: logical or); repeated offsets all land, in an
// unspecified order (float sums may differ from the CPU's serial order by rounding).
// nonzero: tiles of kTile elements. Count per tile, one-block exclusive scan of the counts, then
// each tile writes its coordinates in C order at its offset (a block scan orders the threads).
#include "cuda/loop.cuh"
#include "cuda/nn_util.cuh"
#include "ops/indexing.h"

namespace ember {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kPerThread = 16;
constexpr int64_t kTile = int64_t(kThreads) * kPerThread;

// Byte offsets of each operand at `linear` (a 1-d plan needs no division).
template <int N>
__device__ __forceinline__ void offsets_at(const DevicePlan<N>& p, int64_t linear, int64_t (&off)[N]) {
  if (p.ndim == 1) {
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] = linear * p.strides[0][k];
  } else {
    plan_offsets<N>(p, linear, off);
  }
}

// ---- kernels ----------------------------------------------------------------------------------
// out = (accumulate ? out : 0) + wrap(idx) * stride; idx outside [lo, size) flags its position.
__global__ void __launch_bounds__(kThreads) index_offsets_kernel(const DevicePlan<2> p, int64_t size, int64_t stride,
                                                                 bool accumulate, int64_t lo, int64_t* flag) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < p.numel; i += step) {
    int64_t off[2];
    offsets_at<2>(p, i, off);
    int64_t v = load<int64_t>(p.ptr[1] + off[1]);
    if (v < lo || v >= size) {
      flag_position(flag, i);
      continue;
    }
    if (v < 0) v += size;
    int64_t* o = reinterpret_cast<int64_t*>(p.ptr[0] + off[0]);
    *o = accumulate ? *o + v * stride : v * stride;
  }
}

// out[p] = src_view[p + offsets[p]]; T is an unsigned type of the item size (bytes move as-is).
template <typename T>
__global__ void __launch_bounds__(kThreads) index_gather_kernel(const DevicePlan<3> p) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < p.numel; i += step) {
    int64_t off[3];
    offsets_at<3>(p, i, off);
    const int64_t o = load<int64_t>(p.ptr[2] + off[2]);
    *reinterpret_cast<T*>(p.ptr[0] + off[0]) = reinterpret_cast<const T*>(p.ptr[1] + off[1])[o];
  }
}

// dst_view[p + offsets[p]] (+)= values[p]
template <typename T>
__global__ void __launch_bounds__(kThreads) index_scatter_kernel(const DevicePlan<3> p, bool accumulate) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < p.numel; i += step) {
    int64_t off[3];
    offsets_at<3>(p, i, off);
    const int64_t o = load<int64_t>(p.ptr[2] + off[2]);
    T* d = reinterpret_cast<T*>(p.ptr[0] + off[0]) + o;
    const T v = load<T>(p.ptr[1] + off[1]);
    if (accumulate) atomic_add(d, v);
    else *d = v;
  }
}

// Thread t of tile b owns elements [b*kTile + t*kPerThread, + kPerThread).
__device__ __forceinline__ int count_own(const bool* x, int64_t n, int64_t first) {
  int c = 0;
#pragma unroll
  for (int j = 0; j < kPerThread; ++j) c += (first + j < n && x[first + j]) ? 1 : 0;
  return c;
}

__global__ void __launch_bounds__(kThreads) nonzero_count_kernel(const bool* x, int64_t n, int64_t ntiles,
                                                                 int64_t* counts) {
  for (int64_t b = blockIdx.x; b < ntiles; b += gridDim.x) {
    const int64_t c = block_allreduce(int64_t(count_own(x, n, b * kTile + threadIdx.x * kPerThread)), SumOp{},
                                      int64_t(0));
    if (threadIdx.x == 0) counts[b] = c;
  }
}

// In place: counts[b] becomes the sum of counts[0 .. b) (one block, kThreads at a time).
__global__ void __launch_bounds__(kThreads) exclusive_scan_kernel(int64_t* counts, int64_t n) {
  int64_t carry = 0;
  for (int64_t base = 0; base < n; base += blockDim.x) {
    const int64_t i = base + threadIdx.x;
    const int64_t v = i < n ? counts[i] : 0;
    int64_t total;
    const int64_t excl = block_exclusive_scan(v, total);
    if (i < n) counts[i] = carry + excl;
    carry += total;
  }
}

struct NonzeroShape {
  int ndim;
  int64_t shape[kMaxLoopDims];
};

__global__ void __launch_bounds__(kThreads) nonzero_write_kernel(const bool* x, int64_t n, int64_t ntiles,
                                                                 const int64_t* tile_offsets, const NonzeroShape s,
                                                                 int64_t* out) {
  for (int64_t b = blockIdx.x; b < ntiles; b += gridDim.x) {
    const int64_t first = b * kTile + int64_t(threadIdx.x) * kPerThread;
    int64_t total;
    int64_t row = tile_offsets[b] + block_exclusive_scan(int64_t(count_own(x, n, first)), total);
    for (int j = 0; j < kPerThread; ++j) {
      const int64_t i = first + j;
      if (i >= n || !x[i]) continue;
      int64_t rem = i;
      for (int d = s.ndim - 1; d >= 0; --d) {  // C-order coordinates, last dim fastest
        int64_t q, r;
        divmod(rem, s.shape[d], q, r);
        out[row * s.ndim + d] = r;
        rem = q;
      }
      ++row;
    }
  }
}

// Zeroes j > i + k (tril) or j < i + k (triu) of each R x C matrix.
template <typename T>
__global__ void __launch_bounds__(kThreads) tril_triu_kernel(T* t, int64_t total, int64_t R, int64_t C, int64_t k,
                                                             bool upper) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += step) {
    int64_t row, j, batch, i;
    divmod(e, C, row, j);
    divmod(row, R, batch, i);
    if (upper ? j < i + k : j > i + k) t[e] = T(0);
  }
}

// ---- launchers --------------------------------------------------------------------------------
// Byte offset of operand k at row-major position `linear` of a LoopPlan (outermost dim first).
template <int N>
int64_t host_plan_offset(const LoopPlan<N>& plan, int64_t linear, int k) {
  int64_t off = 0;
  for (int64_t d = int64_t(plan.shape.size()) - 1; d >= 0; --d) {
    off += (linear % plan.shape[size_t(d)]) * plan.strides[size_t(k)][size_t(d)];
    linear /= plan.shape[size_t(d)];
  }
  return off;
}

bool index_offsets_launch(const LoopPlan<2>& plan, char* out, char* idx, int64_t size, int64_t stride,
                          bool accumulate, bool allow_negative, int64_t* bad_index) {
  if (plan.numel == 0) return true;
  const DevicePlan<2> p = make_device_plan<2>(plan, {out, idx}, "index");
  const Tensor flag = make_position_flag();
  index_offsets_kernel<<<grid_for(plan.numel, kThreads), kThreads>>>(p, size, stride, accumulate,
                                                                    allow_negative ? -size : 0,
                                                                    device_ptr<int64_t>(flag));
  CUDA_CHECK_LAUNCH();
  const int64_t pos = read_position_flag(flag);
  if (pos == kNoPosition) return true;
  CUDA_CHECK(cudaMemcpy(bad_index, idx + host_plan_offset(plan, pos, 1), sizeof(int64_t), cudaMemcpyDeviceToHost));
  return false;
}

void index_gather_launch(const LoopPlan<3>& plan, char* out, char* src, char* offsets, int64_t itemsize) {
  if (plan.numel == 0) return;
  const DevicePlan<3> p = make_device_plan<3>(plan, {out, src, offsets}, "index_gather");
  const unsigned blocks = grid_for(plan.numel, kThreads);
  switch (itemsize) {
    case 1: index_gather_kernel<uint8_t><<<blocks, kThreads>>>(p); break;
    case 2: index_gather_kernel<uint16_t><<<blocks, kThreads>>>(p); break;
    case 4: index_gather_kernel<uint32_t><<<blocks, kThreads>>>(p); break;
    case 8: index_gather_kernel<uint64_t><<<blocks, kThreads>>>(p); break;
    default: EMBER_ASSERT(false);
  }
  CUDA_CHECK_LAUNCH();
}

void index_scatter_launch(const LoopPlan<3>& plan, char* dst, char* values, char* offsets, DType dtype,
                          bool accumulate) {
  if (plan.numel == 0) return;
  const DevicePlan<3> p = make_device_plan<3>(plan, {dst, values, offsets}, "index_put_");
  EMBER_DISPATCH_ALL_TYPES_AND_BOOL(dtype, "index_put_", [&] {
    index_scatter_kernel<scalar_t><<<grid_for(plan.numel, kThreads), kThreads>>>(p, accumulate);
  });
  CUDA_CHECK_LAUNCH();
}

void nonzero_launch(const Tensor& x, const Tensor& out) {
  DeviceGuard guard(x.device().index);
  const int64_t n = x.numel();
  if (n == 0 || out.numel() == 0) return;
  EMBER_CHECK(x.dim() <= kMaxLoopDims, ValueError, "nonzero: at most ", kMaxLoopDims, " dims, got ", x.dim());
  NonzeroShape s{};
  s.ndim = int(x.dim());
  for (int d = 0; d < s.ndim; ++d) s.shape[d] = x.shape()[size_t(d)];
  const int64_t ntiles = ceil_div(n, kTile);
  const Tensor counts = device_scratch(ntiles * int64_t(sizeof(int64_t)));
  const bool* xp = x.data<bool>();
  int64_t* cnt = device_ptr<int64_t>(counts);
  nonzero_count_kernel<<<grid_blocks(ntiles), kThreads>>>(xp, n, ntiles, cnt);
  CUDA_CHECK_LAUNCH();
  exclusive_scan_kernel<<<1, kThreads>>>(cnt, ntiles);
  CUDA_CHECK_LAUNCH();
  nonzero_write_kernel<<<grid_blocks(ntiles), kThreads>>>(xp, n, ntiles, cnt, s, out.data<int64_t>());
  CUDA_CHECK_LAUNCH();
}

void tril_triu_launch(const Tensor& t, int64_t k, bool upper) {
  DeviceGuard guard(t.device().index);
  const int64_t R = t.shape()[size_t(t.dim() - 2)], C = t.shape()[size_t(t.dim() - 1)], total = t.numel();
  if (total == 0) return;
  const unsigned blocks = grid_for(total, kThreads);
  void* base = t.raw_data();
  switch (t.itemsize()) {  // zero bits are zero in every dtype
    case 1: tril_triu_kernel<<<blocks, kThreads>>>(static_cast<uint8_t*>(base), total, R, C, k, upper); break;
    case 2: tril_triu_kernel<<<blocks, kThreads>>>(static_cast<uint16_t*>(base), total, R, C, k, upper); break;
    case 4: tril_triu_kernel<<<blocks, kThreads>>>(static_cast<uint32_t*>(base), total, R, C, k, upper); break;
    case 8: tril_triu_kernel<<<blocks, kThreads>>>(static_cast<uint64_t*>(base), total, R, C, k, upper); break;
    default: EMBER_ASSERT(false);
  }
  CUDA_CHECK_LAUNCH();
}

}  // namespace

REGISTER_CUDA_KERNEL(index_offsets_stub, &index_offsets_launch);
REGISTER_CUDA_KERNEL(index_gather_stub, &index_gather_launch);
REGISTER_CUDA_KERNEL(index_scatter_stub, &index_scatter_launch);
REGISTER_CUDA_KERNEL(nonzero_stub, &nonzero_launch);
REGISTER_CUDA_KERNEL(tril_triu_stub, &tril_triu_launch);

}  // namespace cuda
}  // namespace ember
