// CUDA layer_norm, forward and backward, with the semantics of csrc/cpu/kernels/batchnorm.cpp.
// Shapes: x is (M rows, D); mean/rstd are float64 (M). group_norm reaches this kernel as
// layer_norm over (N*G, C/G * spatial) rows (python/ember/functional.py).
//
// Forward: one thread, warp or block per row (nn_util.cuh), one-pass Welford statistics merged
// across the group, then y = (x - mean) * rstd * w + b.
// Backward: dx per row with dxhat = dy * w,
//   dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat));
// dweight = sum over rows of dy * xhat and dbias = sum of dy, as a column reduction
// (channel_reduce.cuh with rows as N, columns as channels and L = 1).
#include <cmath>

#include "cuda/channel_reduce.cuh"
#include "ops/norm.h"

namespace ember {
namespace cuda {
namespace {

// ---- kernels ----------------------------------------------------------------------------------
template <typename T, typename G>
__global__ void __launch_bounds__(G::kThreads) layer_norm_forward_kernel(const T* x, T* y, const T* w, const T* b,
                                                                         double* mean, double* rstd, int64_t M,
                                                                         int64_t D, double eps) {
  for (int64_t r = G::first(); r < M; r += G::step()) {
    const T* xr = x + r * D;
    T* yr = y + r * D;
    Welford s = welford_identity();
    for (int64_t d = G::lane(); d < D; d += G::size()) welford_push(s, double(xr[d]));
    s = G::reduce(s, WelfordOp{}, welford_identity());
    const double rs = 1.0 / sqrt(fmax(0.0, s.m2 / double(D)) + eps);
    if (G::lane() == 0) {
      mean[r] = s.mean;
      rstd[r] = rs;
    }
    const T tm = T(s.mean), trs = T(rs);
    if (w || b) {
      for (int64_t d = G::lane(); d < D; d += G::size())
        yr[d] = (xr[d] - tm) * trs * (w ? w[d] : T(1)) + (b ? b[d] : T(0));
    } else {
      for (int64_t d = G::lane(); d < D; d += G::size()) yr[d] = (xr[d] - tm) * trs;
    }
  }
}

template <typename T, typename G>
__global__ void __launch_bounds__(G::kThreads) layer_norm_backward_dx_kernel(const T* dy, const T* x, const T* w,
                                                                             const double* mean, const double* rstd,
                                                                             T* dx, int64_t M, int64_t D) {
  for (int64_t r = G::first(); r < M; r += G::step()) {
    const T* g = dy + r * D;
    const T* xr = x + r * D;
    T* o = dx + r * D;
    const double m = mean[r], rs = rstd[r];
    Sum2 acc{0.0, 0.0};  // sum(dxhat), sum(dxhat * xhat)
    for (int64_t d = G::lane(); d < D; d += G::size()) {
      const double gh = double(g[d]) * (w ? double(w[d]) : 1.0);
      acc.a += gh;
      acc.b += gh * (double(xr[d]) - m) * rs;
    }
    acc = G::reduce(acc, Sum2Op{}, Sum2{0.0, 0.0});
    const double s = acc.a / double(D), sx = acc.b / double(D);
    for (int64_t d = G::lane(); d < D; d += G::size()) {
      const double gh = double(g[d]) * (w ? double(w[d]) : 1.0);
      const double xh = (double(xr[d]) - m) * rs;
      o[d] = T(rs * (gh - s - xh * sx));
    }
  }
}

// Column d of (M, D): (sum dy * xhat, sum dy); the element's row n picks mean and rstd.
template <typename T>
struct WeightGradOp {
  using Acc = Sum2;
  using Ctx = int;
  const T* dy;
  const T* x;
  const double* mean;
  const double* rstd;
  __device__ __forceinline__ Ctx context(int64_t) const { return 0; }
  __device__ __forceinline__ Acc identity() const { return Sum2{0.0, 0.0}; }
  __device__ __forceinline__ void push(Acc& acc, Ctx, int64_t off, int64_t n) const {
    const double g = double(dy[off]);
    acc.a += g * (double(x[off]) - mean[n]) * rstd[n];
    acc.b += g;
  }
  __device__ __forceinline__ Acc combine(const Acc& a, const Acc& b) const { return Sum2Op{}(a, b); }
};

template <typename T>
__global__ void layer_norm_weight_finalize_kernel(const Sum2* partials, int64_t splits, int64_t D, T* dw, T* db) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t d = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; d < D; d += step) {
    const Sum2 s = merge_partials(partials, splits, D, d, Sum2Op{});
    if (dw) dw[d] = T(s.a);
    if (db) db[d] = T(s.b);
  }
}

// ---- launchers --------------------------------------------------------------------------------
void layer_norm_launch(DType dtype, const char* x, char* y, const char* w, const char* b, double* mean, double* rstd,
                       int64_t M, int64_t D, double eps) {
  if (M == 0 || D == 0) return;
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "layer_norm", [&] {
    with_row_group(pick_row_path(D, 1), [&](auto group) {
      using G = decltype(group);
      layer_norm_forward_kernel<scalar_t, G><<<G::blocks(M), G::kThreads>>>(
          cp<scalar_t>(x), mp<scalar_t>(y), cp<scalar_t>(w), cp<scalar_t>(b), mean, rstd, M, D, eps);
    });
  });
  CUDA_CHECK_LAUNCH();
}

void layer_norm_backward_launch(DType dtype, const char* dy, const char* x, const char* w, const double* mean,
                                const double* rstd, char* dx, char* dw, char* db, int64_t M, int64_t D) {
  if (M == 0 || D == 0) return;
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "layer_norm_backward", [&] {
    using T = scalar_t;
    if (dx) {
      with_row_group(pick_row_path(D, 1), [&](auto group) {
        using G = decltype(group);
        layer_norm_backward_dx_kernel<T, G><<<G::blocks(M), G::kThreads>>>(cp<T>(dy), cp<T>(x), cp<T>(w), mean,
                                                                           rstd, mp<T>(dx), M, D);
      });
      CUDA_CHECK_LAUNCH();
    }
    if (dw || db) {
      const ChannelPartials sums = reduce_channels(WeightGradOp<T>{cp<T>(dy), cp<T>(x), mean, rstd}, M, D, 1);
      layer_norm_weight_finalize_kernel<T><<<grid_for(D, 256), 256>>>(device_ptr<Sum2>(sums.buffer), sums.splits,
                                                                      D, mp<T>(dw), mp<T>(db));
      CUDA_CHECK_LAUNCH();
    }
  });
}

}  // namespace

REGISTER_CUDA_KERNEL(layer_norm_stub, &layer_norm_launch);
REGISTER_CUDA_KERNEL(layer_norm_backward_stub, &layer_norm_backward_launch);

}  // namespace cuda
}  // namespace ember
