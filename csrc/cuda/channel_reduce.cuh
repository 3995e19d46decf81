// Per-channel reductions over (N, C, L) tensors for the CUDA norm kernels: for each channel c,
// combine Op over its N*L elements, element (n, l) at (n*C + c)*L + l. batch_norm's statistics
// and gradient sums use it directly; layer_norm's dweight/dbias are the same shape of problem
// with rows as N, columns as C and L = 1.
//
// Fast path: a tile of CW channels x CH element lanes per block. Wide planes (L >= 32) take
// CW = 1 so that the 256 lanes walk consecutive l (coalesced); narrow ones (L < 32, e.g. the
// (N, C) input of BatchNorm1d) take CW = 32 adjacent channels per warp. Channels with many
// elements are split over grid.y; each block writes one partial per channel, and the caller's
// finalize kernel merges a channel's `splits` partials in a fixed order (deterministic).
// Reference path: one thread per channel, a sequential loop, one partial.
//
// Op provides: Acc (trivially constructible), Ctx context(c), Acc identity(),
// push(Acc&, const Ctx&, int64_t offset, int64_t n), Acc combine(Acc, Acc).
#pragma once
#include <algorithm>

#include "cuda/loop.cuh"
#include "cuda/nn_util.cuh"

namespace ember {
namespace cuda {

template <typename Op, int CW, int CH>
__global__ void __launch_bounds__(CW * CH) channel_reduce_kernel(const Op op, int64_t N, int64_t C, int64_t L,
                                                                 int64_t chunk, typename Op::Acc* partials) {
  using Acc = typename Op::Acc;
  __shared__ Acc smem[CH][CW];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t c = int64_t(blockIdx.x) * CW + tx;
  const int64_t begin = int64_t(blockIdx.y) * chunk, end = min(begin + chunk, N * L);
  Acc acc = op.identity();
  if (c < C) {
    const auto ctx = op.context(c);
    for (int64_t e = begin + ty; e < end; e += CH) {
      int64_t n, l;
      divmod(e, L, n, l);
      op.push(acc, ctx, (n * C + c) * L + l, n);
    }
  }
  smem[ty][tx] = acc;
  __syncthreads();
  for (int s = CH / 2; s > 0; s >>= 1) {
    if (ty < s) smem[ty][tx] = op.combine(smem[ty][tx], smem[ty + s][tx]);
    __syncthreads();
  }
  if (ty == 0 && c < C) partials[int64_t(blockIdx.y) * C + c] = smem[0][tx];
}

template <typename Op>
__global__ void channel_reduce_reference_kernel(const Op op, int64_t N, int64_t C, int64_t L,
                                                typename Op::Acc* partials) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < C; c += step) {
    typename Op::Acc acc = op.identity();
    const auto ctx = op.context(c);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t l = 0; l < L; ++l) op.push(acc, ctx, (n * C + c) * L + l, n);
    partials[c] = acc;
  }
}

// Device partials of a channel reduction: `splits` rows of C accumulators ([split][channel]).
struct ChannelPartials {
  Tensor buffer;
  int64_t splits = 1;
};

template <typename Op>
ChannelPartials reduce_channels(const Op& op, int64_t N, int64_t C, int64_t L) {
  using Acc = typename Op::Acc;
  ChannelPartials out;
  const int64_t count = N * L;
  if (use_reference_kernels()) {
    out.buffer = device_scratch(C * int64_t(sizeof(Acc)));
    channel_reduce_reference_kernel<Op><<<grid_for(C, 256), 256>>>(op, N, C, L, device_ptr<Acc>(out.buffer));
    CUDA_CHECK_LAUNCH();
    return out;
  }
  const bool wide = L >= 32;
  const int64_t tiles = wide ? C : ceil_div(C, 32);
  // Enough blocks to fill the GPU, each with at least ~4096 elements per channel.
  const int64_t target = int64_t(sm_count()) * 8;
  int64_t splits = std::min<int64_t>({std::max<int64_t>(1, ceil_div(target, tiles)),
                                      std::max<int64_t>(1, ceil_div(count, 4096)), 1024});
  const int64_t chunk = std::max<int64_t>(1, ceil_div(count, splits));
  splits = std::max<int64_t>(1, ceil_div(count, chunk));
  out.splits = splits;
  out.buffer = device_scratch(splits * C * int64_t(sizeof(Acc)));
  Acc* partials = device_ptr<Acc>(out.buffer);
  EMBER_CHECK(tiles < (int64_t(1) << 31), ValueError, "channel reduction: ", C, " channels are too many for one grid");
  const dim3 grid{unsigned(tiles), unsigned(splits), 1u};
  if (wide) channel_reduce_kernel<Op, 1, 256><<<grid, dim3(1, 256)>>>(op, N, C, L, chunk, partials);
  else channel_reduce_kernel<Op, 32, 8><<<grid, dim3(32, 8)>>>(op, N, C, L, chunk, partials);
  CUDA_CHECK_LAUNCH();
  return out;
}

// Merges channel c's partials in split order.
template <typename Acc, typename Combine>
__device__ __forceinline__ Acc merge_partials(const Acc* partials, int64_t splits, int64_t C, int64_t c,
                                              Combine combine) {
  Acc acc = partials[c];
  for (int64_t s = 1; s < splits; ++s) acc = combine(acc, partials[s * C + c]);
  return acc;
}

}  // namespace cuda
}  // namespace ember
