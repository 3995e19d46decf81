// CUDA 2-D pooling (max with indices, avg, adaptive avg and max), forward and backward, with the
// window rules of csrc/cpu/kernels/pool.cpp.
// Shapes: planes = N*C; (H, W) -> (oH, oW) per plane; K = kernel, S = stride, P = padding,
// D = dilation; indices are flat h*W + w within a plane.
//
// Forward: one thread per output element, the CPU's window loop (max: NaN wins and stops the
// scan, the first maximum's index is kept; avg: double accumulation).
// Backward, fast path: one thread per input element gathers from the outputs whose windows cover
// it (max kinds: those whose saved index is this element), in increasing output order. No races,
// no atomics, and the same additions in the same order as the CPU's serial per-plane scatter.
// Backward, reference: one thread per output scattering with atomicAdd into a zeroed dx.
#include <algorithm>
#include <limits>

#include "cuda/nn_util.cuh"
#include "ops/pool.h"

namespace ember {
namespace cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ bool is_max_kind(PoolKind k) { return k == PoolKind::Max || k == PoolKind::AdaptiveMax; }

// Adaptive windows: rows [floor(o*in/out), ceil((o+1)*in/out)).
__device__ __forceinline__ int64_t start_index(int64_t o, int64_t out, int64_t in) { return (o * in) / out; }
__device__ __forceinline__ int64_t end_index(int64_t o, int64_t out, int64_t in) { return ((o + 1) * in + out - 1) / out; }

// Rows h0, h0 + dh, ... < h1 and columns likewise of a max window, already clipped to the input.
struct MaxWindow {
  int64_t h0, h1, dh, w0, w1, dw;
};

__device__ __forceinline__ MaxWindow max_window(PoolKind kind, const Pool2dParams& p, int64_t oh, int64_t ow) {
  if (kind == PoolKind::AdaptiveMax)
    return MaxWindow{start_index(oh, p.oH, p.H), end_index(oh, p.oH, p.H), 1,
                     start_index(ow, p.oW, p.W), end_index(ow, p.oW, p.W), 1};
  int64_t h0 = oh * p.sH - p.pH, w0 = ow * p.sW - p.pW;
  const int64_t h1 = min(h0 + (p.kH - 1) * p.dH + 1, p.H), w1 = min(w0 + (p.kW - 1) * p.dW + 1, p.W);
  // The first tap inside the input: the CPU's `while (h0 < 0) h0 += dH`.
  if (h0 < 0) h0 += ceil_div(-h0, p.dH) * p.dH;
  if (w0 < 0) w0 += ceil_div(-w0, p.dW) * p.dW;
  return MaxWindow{h0, h1, p.dH, w0, w1, p.dW};
}

// [h0, h1) x [w0, w1) clipped to the input, and the divisor of an avg window.
struct AvgWindow {
  int64_t h0, h1, w0, w1, count;
};

__device__ __forceinline__ AvgWindow avg_window(PoolKind kind, const Pool2dParams& p, int64_t oh, int64_t ow) {
  if (kind == PoolKind::AdaptiveAvg) {
    const int64_t h0 = start_index(oh, p.oH, p.H), h1 = end_index(oh, p.oH, p.H);
    const int64_t w0 = start_index(ow, p.oW, p.W), w1 = end_index(ow, p.oW, p.W);
    return AvgWindow{h0, h1, w0, w1, (h1 - h0) * (w1 - w0)};
  }
  int64_t h0 = oh * p.sH - p.pH, w0 = ow * p.sW - p.pW;
  int64_t h1 = min(h0 + p.kH, p.H + p.pH), w1 = min(w0 + p.kW, p.W + p.pW);
  const int64_t pool_size = (h1 - h0) * (w1 - w0);  // padding included
  h0 = max(h0, int64_t(0)), w0 = max(w0, int64_t(0));
  h1 = min(h1, p.H), w1 = min(w1, p.W);
  const int64_t count = p.divisor_override ? p.divisor_override
                        : p.count_include_pad ? pool_size : (h1 - h0) * (w1 - w0);
  return AvgWindow{h0, h1, w0, w1, count};
}

// Inclusive range [lo, hi] of output indices along one axis whose windows may cover input index i
// (a superset for avg; the caller checks each candidate exactly).
__device__ __forceinline__ void covering_outputs(PoolKind kind, int64_t i, int64_t in, int64_t out, int64_t k,
                                                 int64_t s, int64_t pad, int64_t d, int64_t& lo, int64_t& hi) {
  if (kind == PoolKind::AdaptiveAvg || kind == PoolKind::AdaptiveMax) {
    // start(o) <= i  <=>  o <= ((i + 1) out - 1) / in;  end(o) > i  <=>  o >= i out / in
    lo = (i * out) / in;
    hi = ((i + 1) * out - 1) / in;
  } else {
    // window o spans [o*s - pad, o*s - pad + span], span = (k-1)*d for max, k-1 for avg
    const int64_t span = kind == PoolKind::Max ? (k - 1) * d : k - 1;
    const int64_t first = i + pad - span;
    lo = first <= 0 ? 0 : ceil_div(first, s);
    hi = (i + pad) / s;
  }
  hi = min(hi, out - 1);
}

// ---- kernels ----------------------------------------------------------------------------------
template <typename T>
__global__ void __launch_bounds__(kThreads) pool_forward_kernel(PoolKind kind, const Pool2dParams p, const T* x,
                                                                T* y, int64_t* indices) {
  const int64_t HW = p.H * p.W, oHW = p.oH * p.oW, total = p.planes * oHW;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    const int64_t pl = i / oHW, o = i - pl * oHW, oh = o / p.oW, ow = o - oh * p.oW;
    const T* xp = x + pl * HW;
    if (is_max_kind(kind)) {
      const MaxWindow win = max_window(kind, p, oh, ow);
      T best = -std::numeric_limits<T>::infinity();
      int64_t bi = win.h0 * p.W + win.w0;
      bool nan = false;
      for (int64_t h = win.h0; h < win.h1 && !nan; h += win.dh)
        for (int64_t w = win.w0; w < win.w1; w += win.dw) {
          const T v = xp[h * p.W + w];
          if (v > best || v != v) {
            best = v;
            bi = h * p.W + w;
            if (v != v) {
              nan = true;
              break;
            }
          }
        }
      y[i] = best;
      if (indices) indices[i] = bi;
    } else {
      const AvgWindow win = avg_window(kind, p, oh, ow);
      if (win.h0 >= win.h1 || win.w0 >= win.w1) {
        y[i] = T(0);
        continue;
      }
      double s = 0;
      for (int64_t h = win.h0; h < win.h1; ++h)
        for (int64_t w = win.w0; w < win.w1; ++w) s += double(xp[h * p.W + w]);
      y[i] = T(s / double(win.count));
    }
  }
}

// dx[plane, h, w] = sum over covering outputs o (ascending) of dy[o] (max: where indices[o] is
// this element; avg: dy[o] / count(o)).
template <typename T>
__global__ void __launch_bounds__(kThreads) pool_backward_gather_kernel(PoolKind kind, const Pool2dParams p,
                                                                        const T* dy, const int64_t* indices, T* dx) {
  const int64_t HW = p.H * p.W, oHW = p.oH * p.oW, total = p.planes * HW;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  const bool is_max = is_max_kind(kind);
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    const int64_t pl = i / HW, e = i - pl * HW, h = e / p.W, w = e - h * p.W;
    const T* gp = dy + pl * oHW;
    const int64_t* ip = is_max ? indices + pl * oHW : nullptr;
    int64_t oh0, oh1, ow0, ow1;
    covering_outputs(kind, h, p.H, p.oH, p.kH, p.sH, p.pH, p.dH, oh0, oh1);
    covering_outputs(kind, w, p.W, p.oW, p.kW, p.sW, p.pW, p.dW, ow0, ow1);
    T acc = T(0);
    for (int64_t oh = oh0; oh <= oh1; ++oh)
      for (int64_t ow = ow0; ow <= ow1; ++ow) {
        const int64_t o = oh * p.oW + ow;
        if (is_max) {
          if (ip[o] == e) acc += gp[o];
        } else {
          const AvgWindow win = avg_window(kind, p, oh, ow);
          if (h >= win.h0 && h < win.h1 && w >= win.w0 && w < win.w1) acc += T(double(gp[o]) / double(win.count));
        }
      }
    dx[i] = acc;
  }
}

// Reference: each output scatters into its window (dx zeroed first).
template <typename T>
__global__ void __launch_bounds__(kThreads) pool_backward_scatter_kernel(PoolKind kind, const Pool2dParams p,
                                                                         const T* dy, const int64_t* indices,
                                                                         T* dx) {
  const int64_t HW = p.H * p.W, oHW = p.oH * p.oW, total = p.planes * oHW;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    const int64_t pl = i / oHW, o = i - pl * oHW, oh = o / p.oW, ow = o - oh * p.oW;
    T* xp = dx + pl * HW;
    if (is_max_kind(kind)) {
      atomic_add(xp + indices[i], dy[i]);
      continue;
    }
    const AvgWindow win = avg_window(kind, p, oh, ow);
    if (win.h0 >= win.h1 || win.w0 >= win.w1) continue;
    const T g = T(double(dy[i]) / double(win.count));
    for (int64_t h = win.h0; h < win.h1; ++h)
      for (int64_t w = win.w0; w < win.w1; ++w) atomic_add(xp + h * p.W + w, g);
  }
}

// ---- launchers --------------------------------------------------------------------------------
// True when some max window along an axis has no tap inside the input (possible only when the
// input is narrower than the dilation): its output is -inf and its index points at an element
// outside the window, which only the scatter formulation sends the gradient to, as the CPU does.
bool has_empty_max_window(int64_t in, int64_t out, int64_t k, int64_t s, int64_t pad, int64_t d) {
  for (int64_t o = 0; o < out; ++o) {
    int64_t first = o * s - pad;
    const int64_t end = std::min(first + (k - 1) * d + 1, in);
    if (first < 0) first += ceil_div(-first, d) * d;
    if (first >= end) return true;
  }
  return false;
}

void pool2d_kernel(PoolKind kind, DType dtype, const Pool2dParams& p, const char* x, char* y, int64_t* indices) {
  const int64_t total = p.planes * p.oH * p.oW;
  if (total == 0) return;
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "pool2d", [&] {
    pool_forward_kernel<scalar_t><<<grid_for(total, kThreads), kThreads>>>(
        kind, p, reinterpret_cast<const scalar_t*>(x), reinterpret_cast<scalar_t*>(y), indices);
  });
  CUDA_CHECK_LAUNCH();
}

void pool2d_backward_kernel(PoolKind kind, DType dtype, const Pool2dParams& p, const char* dy,
                            const int64_t* indices, char* dx) {
  const int64_t in_total = p.planes * p.H * p.W, out_total = p.planes * p.oH * p.oW;
  if (in_total == 0) return;
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "pool2d_backward", [&] {
    const scalar_t* g = reinterpret_cast<const scalar_t*>(dy);
    scalar_t* d = reinterpret_cast<scalar_t*>(dx);
    const bool scatter = use_reference_kernels() ||
                         (kind == PoolKind::Max && (has_empty_max_window(p.H, p.oH, p.kH, p.sH, p.pH, p.dH) ||
                                                    has_empty_max_window(p.W, p.oW, p.kW, p.sW, p.pW, p.dW)));
    if (scatter) {
      CUDA_CHECK(cudaMemsetAsync(d, 0, size_t(in_total) * sizeof(scalar_t), 0));
      if (out_total > 0)
        pool_backward_scatter_kernel<scalar_t><<<grid_for(out_total, kThreads), kThreads>>>(kind, p, g, indices, d);
    } else {
      pool_backward_gather_kernel<scalar_t><<<grid_for(in_total, kThreads), kThreads>>>(kind, p, g, indices, d);
    }
  });
  CUDA_CHECK_LAUNCH();
}

}  // namespace

REGISTER_CUDA_KERNEL(pool2d_stub, &pool2d_kernel);
REGISTER_CUDA_KERNEL(pool2d_backward_stub, &pool2d_backward_kernel);

}  // namespace cuda
}  // namespace ember
