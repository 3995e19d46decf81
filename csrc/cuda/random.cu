// CUDA random fills from Philox, with exactly the layout of csrc/cpu/random.cpp: element i of a
// draw uses block first_block + i / per_block and the same lanes, conversions and Box-Muller
// formulation, so a seed gives bit-identical uniform, integer and Bernoulli draws on both devices
// and normals that differ at most by the last-bit rounding of log/cos/sin. The double arithmetic
// uses the _rn intrinsics so that nvcc cannot contract it into FMAs the CPU does not use.
#include <cmath>

#include "cuda/common.cuh"
#include "ops/random.h"

namespace ember {
namespace cuda {
namespace {

// ---- kernels --------------------------------------------------------------------------------
// One thread per Philox block; `per` (2 or 4) elements per block.
template <typename T>
__global__ void random_fill_kernel_impl(T* out, int64_t numel, int64_t nblocks, int per, const RandomParams p) {
  const bool wide = per == 2;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t blk = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; blk < nblocks; blk += step) {
    const PhiloxBlock r = philox4x32(p.seed, p.first_block + uint64_t(blk));
    const int64_t first = blk * per;
    if (p.kind == RandomKind::Integer) {
      const uint64_t range = uint64_t(p.ib - p.ia);
      for (int k = 0; k < per; ++k) {
        const uint64_t x = wide ? ((uint64_t(r.x[2 * k]) << 32) | r.x[2 * k + 1]) : r.x[k];
        const int64_t v = p.ia + int64_t(x % range);
        if (first + k < numel) out[first + k] = static_cast<T>(v);
      }
      continue;
    }
    double u[4];
    if (wide) {
      u[0] = uint_to_unit_double(r.x[0], r.x[1]);
      u[1] = uint_to_unit_double(r.x[2], r.x[3]);
    } else {
      for (int k = 0; k < 4; ++k) u[k] = uint_to_unit_float(r.x[k]);
    }
    double vals[4];
    if (p.kind == RandomKind::Normal) {
      // Box-Muller: two uniforms (u1 in (0, 1], u2 in [0, 1)) give two normals.
      for (int k = 0; k < per; k += 2) {
        const double radius = sqrt(__dmul_rn(-2.0, log(__dsub_rn(1.0, u[k]))));
        const double theta = __dmul_rn(2.0 * M_PI, u[k + 1]);
        const double scaled = __dmul_rn(p.b, radius);
        vals[k] = __dadd_rn(p.a, __dmul_rn(scaled, cos(theta)));
        vals[k + 1] = __dadd_rn(p.a, __dmul_rn(scaled, sin(theta)));
      }
    } else if (p.kind == RandomKind::Uniform) {
      const double width = __dsub_rn(p.b, p.a);
      for (int k = 0; k < per; ++k) vals[k] = __dadd_rn(p.a, __dmul_rn(width, u[k]));
    } else {  // Bernoulli
      for (int k = 0; k < per; ++k) vals[k] = u[k] < p.a ? 1.0 : 0.0;
    }
    for (int k = 0; k < per; ++k)
      if (first + k < numel) out[first + k] = static_cast<T>(vals[k]);
  }
}

// ---- launchers ----------------------------------------------------------------------------
void random_fill_kernel(const Tensor& out, const RandomParams& p) {
  if (out.numel() == 0) return;
  DeviceGuard guard(out.device().index);
  const int64_t per = random_elements_per_block(p, out.dtype());
  const int64_t nblocks = ceil_div(out.numel(), per);
  EMBER_DISPATCH_ALL_TYPES_AND_BOOL(out.dtype(), "random", [&] {
    random_fill_kernel_impl<scalar_t><<<grid_for(nblocks, 256), 256>>>(out.data<scalar_t>(), out.numel(), nblocks,
                                                                       int(per), p);
  });
  CUDA_CHECK_LAUNCH();
}

}  // namespace

REGISTER_CUDA_KERNEL(random_fill_stub, &random_fill_kernel);

}  // namespace cuda
}  // namespace ember
