// Direct (loop) CUDA convolutions for any groups, float32 and float64: the depthwise path
// (G == C > 1, where an implicit GEMM would have K = kH*kW), conv2d_reference's kernel
// (accumulating in double: the oracle the implicit GEMM of cuda/conv.cu is tested against), and the
// bias gradient of every CUDA convolution.
// Shapes: x (N, C, H, W); w (O, C/G, kH, kW); y (N, O, oH, oW); S = stride, P = padding (top/left),
// D = dilation, G = groups; Cg = C/G, Og = O/G.
//   forward      y[n, o, oh, ow] = b[o] + sum_{c < Cg, kh, kw} x[n, g*Cg + c, oh*S - P + kh*D, ...] w[o, c, kh, kw]
//   input grad   dx[n, c, ih, iw] = b[c] + sum_{o in c's group, kh, kw} w[o, c', kh, kw] dy[n, o, oh, ow]
//                                   over the taps with ih + P - kh*D = oh*S (and likewise for w)
//   weight grad  dw[o, c, kh, kw] = sum_{n, oh, ow} dy[n, o, oh, ow] x[n, g*Cg + c, oh*S - P + kh*D, ...]
#include <type_traits>

#include "cuda/conv.cuh"
#include "cuda/loop.cuh"

namespace ember {
namespace cuda {
namespace {

constexpr int kThreadsPerBlock = 256;

// ---- kernels ------------------------------------------------------------------------------------
// One thread per output element; Acc is T for the depthwise path and double for the reference.
template <typename T, typename Acc>
__global__ void __launch_bounds__(kThreadsPerBlock) direct_forward_kernel(const ConvDims d, const T* x, const T* w,
                                                                         const T* bias, T* y) {
  const int64_t total = d.N * d.O * d.oHW;
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    int64_t plane, q, n, o, oh, ow;
    divmod(idx, d.oHW, plane, q);
    divmod(plane, d.O, n, o);
    divmod(q, d.oW, oh, ow);
    const T* xg = x + (n * d.C + (o / d.Og) * d.Cg) * d.HW;
    const T* wo = w + o * d.Kg;
    Acc acc = bias ? Acc(bias[o]) : Acc(0);
    for (int64_t c = 0; c < d.Cg; ++c)
      for (int kh = 0; kh < d.kH; ++kh) {
        const int ih = int(oh) * d.sH - d.padT + kh * d.dilH;
        if (unsigned(ih) >= unsigned(d.H)) continue;
        for (int kw = 0; kw < d.kW; ++kw) {
          const int iw = int(ow) * d.sW - d.padL + kw * d.dilW;
          if (unsigned(iw) >= unsigned(d.W)) continue;
          acc += Acc(xg[c * d.HW + int64_t(ih) * d.W + iw]) * Acc(wo[(c * d.kH + kh) * d.kW + kw]);
        }
      }
    y[idx] = T(acc);
  }
}

// One thread per input element: gathers every (o, kh, kw) whose output pixel reads it.
template <typename T>
__global__ void __launch_bounds__(kThreadsPerBlock) direct_backward_input_kernel(const ConvDims d, const T* dy,
                                                                                const T* w, const T* bias, T* dx) {
  const int64_t total = d.N * d.C * d.HW;
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    int64_t plane, q, n, c, ih, iw;
    divmod(idx, d.HW, plane, q);
    divmod(plane, d.C, n, c);
    divmod(q, d.W, ih, iw);
    const int64_t g = c / d.Cg, cl = c - g * d.Cg;
    T acc = bias ? bias[c] : T(0);
    for (int64_t o = g * d.Og; o < (g + 1) * d.Og; ++o) {
      const T* wo = w + (o * d.Cg + cl) * d.kHW;
      const T* dyo = dy + (n * d.O + o) * d.oHW;
      for (int kh = 0; kh < d.kH; ++kh) {
        const int th = int(ih) + d.padT - kh * d.dilH;
        const int oh = th / d.sH;
        if (th < 0 || oh * d.sH != th || oh >= d.oH) continue;
        for (int kw = 0; kw < d.kW; ++kw) {
          const int tw = int(iw) + d.padL - kw * d.dilW;
          const int ow = tw / d.sW;
          if (tw < 0 || ow * d.sW != tw || ow >= d.oW) continue;
          acc += wo[kh * d.kW + kw] * dyo[int64_t(oh) * d.oW + ow];
        }
      }
    }
    dx[idx] = acc;
  }
}

// One block per weight element (blocks stride over them), its threads split the N*oH*oW terms.
template <typename T>
__global__ void __launch_bounds__(kThreadsPerBlock) direct_backward_weight_kernel(const ConvDims d, const T* dy,
                                                                                 const T* x, T* dw) {
  const int64_t total = d.O * d.Kg, terms = d.N * d.oHW;
  for (int64_t e = blockIdx.x; e < total; e += gridDim.x) {
    int64_t o, tap, c, khw, kh, kw;
    divmod(e, d.Kg, o, tap);
    divmod(tap, d.kHW, c, khw);
    divmod(khw, d.kW, kh, kw);
    const int64_t xc = (o / d.Og) * d.Cg + c;
    double acc = 0.0;
    for (int64_t p = threadIdx.x; p < terms; p += blockDim.x) {
      int64_t n, q, oh, ow;
      divmod(p, d.oHW, n, q);
      divmod(q, d.oW, oh, ow);
      const int ih = int(oh) * d.sH - d.padT + int(kh) * d.dilH, iw = int(ow) * d.sW - d.padL + int(kw) * d.dilW;
      if (unsigned(ih) < unsigned(d.H) && unsigned(iw) < unsigned(d.W))
        acc += double(dy[(n * d.O + o) * d.oHW + q]) * double(x[(n * d.C + xc) * d.HW + int64_t(ih) * d.W + iw]);
    }
    acc = block_sum(acc);  // its barriers also order the reuse of its shared slots
    if (threadIdx.x == 0) dw[e] = T(acc);
  }
}

// One block per output channel.
template <typename T>
__global__ void __launch_bounds__(kThreadsPerBlock) bias_grad_kernel(const ConvDims d, const T* dy, T* db) {
  const int64_t terms = d.N * d.oHW;
  for (int64_t o = blockIdx.x; o < d.O; o += gridDim.x) {
    double acc = 0.0;
    for (int64_t p = threadIdx.x; p < terms; p += blockDim.x) {
      int64_t n, q;
      divmod(p, d.oHW, n, q);
      acc += double(dy[(n * d.O + o) * d.oHW + q]);
    }
    acc = block_sum(acc);
    if (threadIdx.x == 0) db[o] = T(acc);
  }
}

// ---- launchers ----------------------------------------------------------------------------------
unsigned blocks_for(int64_t n) { return unsigned(n < 65535 * 16 ? (n > 0 ? n : 1) : 65535 * 16); }

template <bool kDoubleAccumulator>
void direct_forward(DType dtype, const Conv2dGeometry& g, const void* x, const void* w, const void* bias, void* y,
                    const char* name) {
  const ConvDims d = dims_of(g);
  EMBER_DISPATCH_FLOATING_TYPES(dtype, name, [&] {
    using A = std::conditional_t<kDoubleAccumulator, double, scalar_t>;
    direct_forward_kernel<scalar_t, A><<<grid_for(d.N * d.O * d.oHW, kThreadsPerBlock), kThreadsPerBlock>>>(
        d, static_cast<const scalar_t*>(x), static_cast<const scalar_t*>(w), static_cast<const scalar_t*>(bias),
        static_cast<scalar_t*>(y));
    CUDA_CHECK_LAUNCH();
  });
}

void depthwise_forward(DType dtype, const Conv2dGeometry& g, const void* x, const void* w, const void* bias,
                       void* y) {
  direct_forward<false>(dtype, g, x, w, bias, y, "conv2d");
}

void reference_forward(DType dtype, const Conv2dGeometry& g, const void* x, const void* w, const void* bias,
                       void* y) {
  direct_forward<true>(dtype, g, x, w, bias, y, "conv2d_reference");
}

void depthwise_backward_input(DType dtype, const Conv2dGeometry& g, const void* dy, const void* w,
                              const void* bias, void* dx) {
  const ConvDims d = dims_of(g);
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "conv2d_backward_input", [&] {
    direct_backward_input_kernel<scalar_t><<<grid_for(d.N * d.C * d.HW, kThreadsPerBlock), kThreadsPerBlock>>>(
        d, static_cast<const scalar_t*>(dy), static_cast<const scalar_t*>(w), static_cast<const scalar_t*>(bias),
        static_cast<scalar_t*>(dx));
    CUDA_CHECK_LAUNCH();
  });
}

void depthwise_backward_weight(DType dtype, const Conv2dGeometry& g, const void* dy, const void* x, void* dw,
                               void* db) {
  const ConvDims d = dims_of(g);
  if (dw) {
    EMBER_DISPATCH_FLOATING_TYPES(dtype, "conv2d_backward_weight", [&] {
      direct_backward_weight_kernel<scalar_t><<<blocks_for(d.O * d.Kg), kThreadsPerBlock>>>(
          d, static_cast<const scalar_t*>(dy), static_cast<const scalar_t*>(x), static_cast<scalar_t*>(dw));
      CUDA_CHECK_LAUNCH();
    });
  }
  if (db) conv2d_bias_grad_cuda(dtype, d, dy, db);
}

}  // namespace

void conv2d_bias_grad_cuda(DType dtype, const ConvDims& d, const void* dy, void* db) {
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "conv2d_backward_weight", [&] {
    bias_grad_kernel<scalar_t><<<blocks_for(d.O), kThreadsPerBlock>>>(d, static_cast<const scalar_t*>(dy),
                                                                      static_cast<scalar_t*>(db));
    CUDA_CHECK_LAUNCH();
  });
}

REGISTER_CUDA_KERNEL(conv2d_depthwise_forward_stub, &depthwise_forward);
REGISTER_CUDA_KERNEL(conv2d_depthwise_backward_input_stub, &depthwise_backward_input);
REGISTER_CUDA_KERNEL(conv2d_depthwise_backward_weight_stub, &depthwise_backward_weight);
REGISTER_CUDA_KERNEL(conv2d_reference_stub, &reference_forward);

}  // namespace cuda
}  // namespace ember
