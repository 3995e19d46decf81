// CUDA interpolation ('nearest', 'nearest-exact', 'bilinear' with or without align_corners) over
// the source-index tables that ops/interpolate.cpp computes, forward and backward.
// Shapes: planes = N*C; (H, W) -> (oH, oW). Per output row oh: source rows h0/h1 with weights
// lh0/lh1 (nearest: h0 only, weight 1), and likewise per output column.
//
// Forward: one thread per output element.
// Backward, fast path: a gather. Every table is non-decreasing in the output index, so the output
// rows that read input row h through h0 (or h1) form one range [r0b[h], r0e[h]) (or r1); the host
// inverts the tables into these ranges and one thread per input element sums its contributions
// (in double): no atomics, no races, deterministic. Reference (and the fallback should a table
// ever not be monotone): one thread per output scattering with atomicAdd into a zeroed dx.
#include <vector>

#include "cuda/nn_util.cuh"
#include "ops/interpolate.h"

namespace ember {
namespace cuda {
namespace {

constexpr int kThreads = 256;

// The tables on the device; inverse ranges are set for the gather only.
struct DeviceTables {
  int64_t planes, H, W, oH, oW;
  bool nearest;
  const int64_t *h0, *h1, *w0, *w1;
  const double *lh0, *lh1, *lw0, *lw1;
  const int64_t *r0b, *r0e, *r1b, *r1e;  // (H) output-row ranges reading input row h via h0 / h1
  const int64_t *c0b, *c0e, *c1b, *c1e;  // (W) likewise for columns
};

// ---- kernels ----------------------------------------------------------------------------------
template <typename T>
__global__ void __launch_bounds__(kThreads) interpolate_forward_kernel(const DeviceTables t, const T* x, T* y) {
  const int64_t HW = t.H * t.W, oHW = t.oH * t.oW, total = t.planes * oHW;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    const int64_t p = i / oHW, o = i - p * oHW, oh = o / t.oW, ow = o - oh * t.oW;
    const T* r0 = x + p * HW + t.h0[oh] * t.W;
    if (t.nearest) {
      y[i] = r0[t.w0[ow]];
      continue;
    }
    const T* r1 = x + p * HW + t.h1[oh] * t.W;
    const int64_t c0 = t.w0[ow], c1 = t.w1[ow];
    const T a0 = T(t.lh0[oh]), a1 = T(t.lh1[oh]), b0 = T(t.lw0[ow]), b1 = T(t.lw1[ow]);
    y[i] = a0 * (b0 * r0[c0] + b1 * r0[c1]) + a1 * (b0 * r1[c0] + b1 * r1[c1]);
  }
}

// Sum over output columns [b, e) of one output row's contributions a * lw[ow] * g (formed in T,
// as the CPU forms them); nearest (lw null) adds g alone.
template <typename T>
__device__ __forceinline__ double gather_cols(const T* grow, T a, int64_t b, int64_t e, const double* lw) {
  double acc = 0;
  for (int64_t ow = b; ow < e; ++ow) acc += lw ? double(a * T(lw[ow]) * grow[ow]) : double(grow[ow]);
  return acc;
}

// Sum over output rows [rb, re), weighted by la[oh], of their contributions to input column w.
template <typename T>
__device__ __forceinline__ double gather_rows(const DeviceTables& t, const T* g, int64_t rb, int64_t re,
                                              const double* la, int64_t w) {
  double acc = 0;
  for (int64_t oh = rb; oh < re; ++oh) {
    const T* grow = g + oh * t.oW;
    if (t.nearest) {
      acc += gather_cols(grow, T(1), t.c0b[w], t.c0e[w], static_cast<const double*>(nullptr));
      continue;
    }
    const T a = T(la[oh]);
    acc += gather_cols(grow, a, t.c0b[w], t.c0e[w], t.lw0) + gather_cols(grow, a, t.c1b[w], t.c1e[w], t.lw1);
  }
  return acc;
}

template <typename T>
__global__ void __launch_bounds__(kThreads) interpolate_backward_gather_kernel(const DeviceTables t, const T* dy,
                                                                               T* dx) {
  const int64_t HW = t.H * t.W, oHW = t.oH * t.oW, total = t.planes * HW;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    const int64_t p = i / HW, e = i - p * HW, h = e / t.W, w = e - h * t.W;
    const T* g = dy + p * oHW;
    double acc = gather_rows(t, g, t.r0b[h], t.r0e[h], t.lh0, w);
    if (!t.nearest) acc += gather_rows(t, g, t.r1b[h], t.r1e[h], t.lh1, w);
    dx[i] = T(acc);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) interpolate_backward_scatter_kernel(const DeviceTables t, const T* dy,
                                                                                T* dx) {
  const int64_t HW = t.H * t.W, oHW = t.oH * t.oW, total = t.planes * oHW;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    const int64_t p = i / oHW, o = i - p * oHW, oh = o / t.oW, ow = o - oh * t.oW;
    T* r0 = dx + p * HW + t.h0[oh] * t.W;
    const T g = dy[i];
    if (t.nearest) {
      atomic_add(r0 + t.w0[ow], g);
      continue;
    }
    T* r1 = dx + p * HW + t.h1[oh] * t.W;
    const int64_t c0 = t.w0[ow], c1 = t.w1[ow];
    const T a0 = T(t.lh0[oh]), a1 = T(t.lh1[oh]), b0 = T(t.lw0[ow]), b1 = T(t.lw1[ow]);
    atomic_add(r0 + c0, a0 * b0 * g);
    atomic_add(r0 + c1, a0 * b1 * g);
    atomic_add(r1 + c0, a1 * b0 * g);
    atomic_add(r1 + c1, a1 * b1 * g);
  }
}

// ---- launchers --------------------------------------------------------------------------------
// begin/end[i] = the range of outputs o with idx[o] == i; false when idx is not non-decreasing.
bool invert_table(const int64_t* idx, int64_t out, int64_t in, int64_t* begin, int64_t* end) {
  for (int64_t i = 0; i < in; ++i) begin[i] = end[i] = 0;
  for (int64_t o = 0; o < out; ++o) {
    const int64_t v = idx[o];
    if (v < 0 || v >= in || (o > 0 && v < idx[o - 1])) return false;
    if (o == 0 || v != idx[o - 1]) begin[v] = o;
    end[v] = o + 1;
  }
  return true;
}

// Uploads the tables (and, when `inverse` and possible, their inverse ranges) in one buffer held
// by `keep`; returns false when the inverse was asked for but a table is not monotone.
bool upload_tables(const InterpTables& t, bool inverse, DeviceTables& d, Tensor& keep) {
  const int64_t H = t.H, W = t.W, oH = t.oH, oW = t.oW;
  // int64 and double words alike: h0 h1 w0 w1 lh0 lh1 lw0 lw1 | r0b r0e r1b r1e | c0b c0e c1b c1e
  std::vector<int64_t> buf(size_t(4 * (oH + oW) + (inverse ? 4 * (H + W) : 0)));
  int64_t* q = buf.data();
  auto put = [&](const void* src, int64_t n) {
    std::memcpy(q, src, size_t(n) * 8);
    q += n;
  };
  put(t.h0, oH), put(t.h1, oH), put(t.w0, oW), put(t.w1, oW);
  put(t.lh0, oH), put(t.lh1, oH), put(t.lw0, oW), put(t.lw1, oW);
  if (inverse) {
    int64_t* r = q;
    if (!invert_table(t.h0, oH, H, r, r + H) || !invert_table(t.h1, oH, H, r + 2 * H, r + 3 * H) ||
        !invert_table(t.w0, oW, W, r + 4 * H, r + 4 * H + W) ||
        !invert_table(t.w1, oW, W, r + 4 * H + 2 * W, r + 4 * H + 3 * W))
      return false;
  }
  keep = upload(buf.data(), int64_t(buf.size()) * 8);
  const int64_t* base = device_ptr<const int64_t>(keep);
  const double* lbase = reinterpret_cast<const double*>(base);
  d = DeviceTables{t.planes, H, W, oH, oW, t.nearest,
                   base, base + oH, base + 2 * oH, base + 2 * oH + oW,
                   lbase + 2 * (oH + oW), lbase + 2 * (oH + oW) + oH, lbase + 2 * (oH + oW) + 2 * oH,
                   lbase + 2 * (oH + oW) + 2 * oH + oW,
                   nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};
  if (inverse) {
    const int64_t* r = base + 4 * (oH + oW);
    d.r0b = r, d.r0e = r + H, d.r1b = r + 2 * H, d.r1e = r + 3 * H;
    d.c0b = r + 4 * H, d.c0e = r + 4 * H + W, d.c1b = r + 4 * H + 2 * W, d.c1e = r + 4 * H + 3 * W;
  }
  return true;
}

template <typename T>
void forward(const InterpTables& t, const T* x, T* y) {
  const int64_t total = t.planes * t.oH * t.oW;
  if (total == 0) return;
  DeviceTables d;
  Tensor keep;
  upload_tables(t, false, d, keep);
  interpolate_forward_kernel<T><<<grid_for(total, kThreads), kThreads>>>(d, x, y);
  CUDA_CHECK_LAUNCH();
}

template <typename T>
void backward(const InterpTables& t, const T* dy, T* dx) {
  const int64_t in_total = t.planes * t.H * t.W, out_total = t.planes * t.oH * t.oW;
  if (in_total == 0) return;
  DeviceTables d;
  Tensor keep;
  if (!use_reference_kernels() && upload_tables(t, true, d, keep)) {
    interpolate_backward_gather_kernel<T><<<grid_for(in_total, kThreads), kThreads>>>(d, dy, dx);
  } else {
    upload_tables(t, false, d, keep);
    CUDA_CHECK(cudaMemsetAsync(dx, 0, size_t(in_total) * sizeof(T), 0));
    if (out_total > 0) interpolate_backward_scatter_kernel<T><<<grid_for(out_total, kThreads), kThreads>>>(d, dy, dx);
  }
  CUDA_CHECK_LAUNCH();
}

void interpolate_launch(DType dtype, const InterpTables& t, const void* x, void* y) {
  if (dtype == DType::Float32) forward(t, static_cast<const float*>(x), static_cast<float*>(y));
  else if (dtype == DType::Float64) forward(t, static_cast<const double*>(x), static_cast<double*>(y));
  else throw_unsupported_dtype("interpolate", dtype);
}

void interpolate_backward_launch(DType dtype, const InterpTables& t, const void* dy, void* dx) {
  if (dtype == DType::Float32) backward(t, static_cast<const float*>(dy), static_cast<float*>(dx));
  else if (dtype == DType::Float64) backward(t, static_cast<const double*>(dy), static_cast<double*>(dx));
  else throw_unsupported_dtype("interpolate_backward", dtype);
}

}  // namespace

REGISTER_CUDA_KERNEL(interpolate_stub, &interpolate_launch);
REGISTER_CUDA_KERNEL(interpolate_backward_stub, &interpolate_backward_launch);

}  // namespace cuda
}  // namespace ember
