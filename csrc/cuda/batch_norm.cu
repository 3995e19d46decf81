// CUDA batch_norm, forward and backward, with the semantics of csrc/cpu/kernels/batchnorm.cpp.
// Shapes: x is (N, C, L), L = the product of the spatial dims; statistics are per channel over
// its N*L elements, in double.
//
// Forward (training): one-pass Welford statistics. Each thread folds its elements into a
// (count, mean, m2) triple; triples merge across the block and across blocks with Chan's
// formula (channel_reduce.cuh), so no sum of squares ever cancels against a large mean.
// A finalize kernel per channel merges the partials, writes mean and the biased var, and the
// affine coefficients a = w / sqrt(var + eps), off = b - mean * a; then y = x * a + off.
// Eval mode: the op passes the running statistics in mean/var and only the last two steps run.
// Backward: one reduction pass (sum dy, sum dy * (x - mean)), then
//   dx = (w/std) * (dy - mean(dy) - (x - mean)/std^2 * mean(dy * (x - mean)))   (training)
//   dx = (w/std) * dy                                                              (eval)
//   dweight = sum(dy * (x - mean)) / std,  dbias = sum(dy).
// Fused ReLU (nn.Sequential's BatchNorm + ReLU): the forward clamps y = x * a + off at 0; the
// backward reads dy as 0 wherever that y was not positive, recomputing it from x with the
// forward's own coefficients (bn_coefficients) and expression.
#include <cmath>

#include "cuda/channel_reduce.cuh"
#include "ops/norm.h"

namespace ember {
namespace cuda {
namespace {

constexpr int kThreads = 256;

// y = x * a + off with a = w / std, off = b - mean * a rounded to T: the forward and the fused
// ReLU's backward mask both use these, so the mask is exactly "the forward's output was positive".
template <typename T>
__device__ __forceinline__ void bn_coefficients(const T* w, const T* b, const double* mean, const double* var,
                                                double eps, int64_t c, T& a, T& off) {
  const double scale = (w ? double(w[c]) : 1.0) * (1.0 / sqrt(var[c] + eps));
  a = T(scale);
  off = T((b ? double(b[c]) : 0.0) - mean[c] * scale);
}

// ---- reduction ops ----------------------------------------------------------------------------
template <typename T>
struct StatsOp {
  using Acc = Welford;
  using Ctx = int;
  const T* x;
  __device__ __forceinline__ Ctx context(int64_t) const { return 0; }
  __device__ __forceinline__ Acc identity() const { return welford_identity(); }
  __device__ __forceinline__ void push(Acc& acc, Ctx, int64_t off, int64_t) const { welford_push(acc, double(x[off])); }
  __device__ __forceinline__ Acc combine(const Acc& a, const Acc& b) const { return WelfordOp{}(a, b); }
};

// The channel's mean and, with a fused ReLU, the forward's coefficients (relu false: dy as is).
template <typename T>
struct ChannelCoefs {
  double mean;
  T a, off;
  bool relu;
  __device__ __forceinline__ T grad(T g, T xv) const { return !relu || xv * a + off > T(0) ? g : T(0); }
};

// (sum dy, sum dy * (x - mean)) per channel.
template <typename T>
struct GradSumsOp {
  using Acc = Sum2;
  using Ctx = ChannelCoefs<T>;
  const T* dy;
  const T* x;
  const T* w;
  const T* b;
  const double* mean;
  const double* var;
  double eps;
  bool relu;
  __device__ __forceinline__ Ctx context(int64_t c) const {
    Ctx k{mean[c], T(1), T(0), relu};
    if (relu) bn_coefficients(w, b, mean, var, eps, c, k.a, k.off);
    return k;
  }
  __device__ __forceinline__ Acc identity() const { return Sum2{0.0, 0.0}; }
  __device__ __forceinline__ void push(Acc& acc, const Ctx& k, int64_t off, int64_t) const {
    const double g = double(k.grad(dy[off], x[off]));
    acc.a += g;
    acc.b += g * (double(x[off]) - k.mean);
  }
  __device__ __forceinline__ Acc combine(const Acc& a, const Acc& b) const { return Sum2Op{}(a, b); }
};

// ---- kernels ----------------------------------------------------------------------------------
// Per channel: merge the Welford partials into mean/var (when given), then y's coefficients.
template <typename T>
__global__ void bn_finalize_kernel(const Welford* partials, int64_t splits, int64_t C, double* mean, double* var,
                                   const T* w, const T* b, double eps, T* coef) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < C; c += step) {
    if (partials) {
      const Welford s = merge_partials(partials, splits, C, c, WelfordOp{});
      mean[c] = s.mean;
      var[c] = s.n > 0 ? fmax(0.0, s.m2 / s.n) : 0.0;
    }
    bn_coefficients(w, b, mean, var, eps, c, coef[c], coef[C + c]);
  }
}

// y = x * a[c] + off[c], c = (e / L) % C; clamped at 0 with a fused ReLU (the unary ReLU's rule).
template <typename T>
__global__ void __launch_bounds__(kThreads) bn_apply_kernel(const T* x, T* y, const T* coef, int64_t total,
                                                            int64_t C, int64_t L, bool relu) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += step) {
    int64_t row, l, n, c;
    divmod(e, L, row, l);
    divmod(row, C, n, c);
    const T v = x[e] * coef[c] + coef[C + c];
    y[e] = relu && !(v > T(0)) ? T(0) : v;
  }
}

// Per channel: dweight, dbias and dx's coefficients {a, mean(dy), k, mean} (doubles), then with a
// fused ReLU the forward's {a, off} (T values, exact in double).
template <typename T>
__global__ void bn_backward_finalize_kernel(const Sum2* partials, int64_t splits, int64_t C, double count,
                                            const double* mean, const double* var, double eps, const T* w,
                                            const T* b, bool training, bool relu, T* dw, T* db, double* coef) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < C; c += step) {
    const Sum2 s = partials ? merge_partials(partials, splits, C, c, Sum2Op{}) : Sum2{0.0, 0.0};
    const double invstd = 1.0 / sqrt(var[c] + eps);
    if (dw) dw[c] = T(s.b * invstd);
    if (db) db[c] = T(s.a);
    if (!coef) continue;
    coef[c] = (w ? double(w[c]) : 1.0) * invstd;
    coef[C + c] = training ? s.a / count : 0.0;
    coef[2 * C + c] = training ? s.b / count * invstd * invstd : 0.0;
    coef[3 * C + c] = mean[c];
    if (relu) {
      T a, off;
      bn_coefficients(w, b, mean, var, eps, c, a, off);
      coef[4 * C + c] = double(a);
      coef[5 * C + c] = double(off);
    }
  }
}

// dx = a * (dy - mean(dy) - (x - mean) * k), dy masked by the fused ReLU when there is one
template <typename T>
__global__ void __launch_bounds__(kThreads) bn_backward_apply_kernel(const T* dy, const T* x, const double* coef,
                                                                     T* dx, int64_t total, int64_t C, int64_t L,
                                                                     bool relu) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += step) {
    int64_t row, l, n, c;
    divmod(e, L, row, l);
    divmod(row, C, n, c);
    const ChannelCoefs<T> k{0.0, relu ? T(coef[4 * C + c]) : T(1), relu ? T(coef[5 * C + c]) : T(0), relu};
    const double g = double(k.grad(dy[e], x[e]));
    dx[e] = T(coef[c] * (g - coef[C + c] - (double(x[e]) - coef[3 * C + c]) * coef[2 * C + c]));
  }
}

// ---- launchers --------------------------------------------------------------------------------
template <typename T>
void batch_norm_forward(const T* x, T* y, const T* w, const T* b, double* mean, double* var, int64_t N, int64_t C,
                        int64_t L, double eps, bool compute_stats, bool relu) {
  if (C == 0) return;
  ChannelPartials stats;
  if (compute_stats) stats = reduce_channels(StatsOp<T>{x}, N, C, L);
  Tensor coef = device_scratch(2 * C * int64_t(sizeof(T)));
  bn_finalize_kernel<T><<<grid_for(C, kThreads), kThreads>>>(
      compute_stats ? device_ptr<Welford>(stats.buffer) : nullptr, stats.splits, C, mean, var, w, b, eps,
      device_ptr<T>(coef));
  CUDA_CHECK_LAUNCH();
  const int64_t total = N * C * L;
  if (total == 0) return;
  bn_apply_kernel<T><<<grid_for(total, kThreads), kThreads>>>(x, y, device_ptr<T>(coef), total, C, L, relu);
  CUDA_CHECK_LAUNCH();
}

template <typename T>
void batch_norm_backward(const T* dy, const T* x, const T* w, const T* b, const double* mean, const double* var,
                         double eps, T* dx, T* dw, T* db, int64_t N, int64_t C, int64_t L, bool training, bool relu) {
  if (C == 0 || (!dx && !dw && !db)) return;
  // The sums feed dweight, dbias and the training-mode dx; eval-mode dx alone needs none.
  const bool need_sums = dw || db || (dx && training);
  ChannelPartials sums;
  if (need_sums) sums = reduce_channels(GradSumsOp<T>{dy, x, w, b, mean, var, eps, relu}, N, C, L);
  Tensor coef = dx ? device_scratch((relu ? 6 : 4) * C * int64_t(sizeof(double))) : Tensor();
  bn_backward_finalize_kernel<T><<<grid_for(C, kThreads), kThreads>>>(
      need_sums ? device_ptr<Sum2>(sums.buffer) : nullptr, sums.splits, C, double(N * L), mean, var, eps, w, b,
      training, relu, dw, db, dx ? device_ptr<double>(coef) : nullptr);
  CUDA_CHECK_LAUNCH();
  const int64_t total = N * C * L;
  if (!dx || total == 0) return;
  bn_backward_apply_kernel<T><<<grid_for(total, kThreads), kThreads>>>(dy, x, device_ptr<double>(coef), dx, total,
                                                                       C, L, relu);
  CUDA_CHECK_LAUNCH();
}

void batch_norm_launch(DType dtype, const char* x, char* y, const char* w, const char* b, double* mean, double* var,
                       int64_t N, int64_t C, int64_t L, double eps, bool compute_stats, bool relu) {
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "batch_norm", [&] {
    batch_norm_forward(cp<scalar_t>(x), mp<scalar_t>(y), cp<scalar_t>(w), cp<scalar_t>(b), mean, var, N, C, L, eps,
                       compute_stats, relu);
  });
}

void batch_norm_backward_launch(DType dtype, const char* dy, const char* x, const char* w, const char* b,
                                const double* mean, const double* var, double eps, char* dx, char* dw, char* db,
                                int64_t N, int64_t C, int64_t L, bool training, bool relu) {
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "batch_norm_backward", [&] {
    batch_norm_backward(cp<scalar_t>(dy), cp<scalar_t>(x), cp<scalar_t>(w), cp<scalar_t>(b), mean, var, eps,
                        mp<scalar_t>(dx), mp<scalar_t>(dw), mp<scalar_t>(db), N, C, L, training, relu);
  });
}

}  // namespace

REGISTER_CUDA_KERNEL(batch_norm_stub, &batch_norm_launch);
REGISTER_CUDA_KERNEL(batch_norm_backward_stub, &batch_norm_backward_launch);

}  // namespace cuda
}  // namespace ember
