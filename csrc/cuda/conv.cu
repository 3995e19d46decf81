// CUDA conv2d as implicit GEMM on the tiles of cuda/gemm_tile.cuh, float32 and float64: the
// im2col matrix is gathered from the NCHW tensors while each K slice is loaded and never stored.
// Depthwise convolutions go to cuda/conv_direct.cu.
// Shapes: x (N, C, H, W); w (O, C/G, kH, kW); y (N, O, oH, oW); S = stride, P = padding (top/left),
// D = dilation, G = groups; Cg = C/G, Og = O/G, Kg = Cg*kH*kW. A tap is (c, kh, kw), an output
// pixel p = (n, oh, ow) over N*oH*oW, an input pixel q = (n, ih, iw) over N*H*W. Group g is the
// GEMM's batch item:
//   forward       y_g (Og x N*oHW)       = w_g (Og x Kg) . X_g (Kg x N*oHW)
//                 X_g(tap, p) = x[n, g*Cg + c, oh*S - P + kh*D, ow*S - P + kw*D]   (0 in the padding)
//   input grad    dx_g (Cg x N*HW)       = Wt_g (Cg x Og*kH*kW) . Y_g (Og*kH*kW x N*HW)
//                 Wt_g(c, (o, kh, kw)) = w[g*Og + o, c, kh, kw]
//                 Y_g((o, kh, kw), q) = dy[n, g*Og + o, oh, ow] where ih = oh*S - P + kh*D, else 0
//   weight grad   dw_g (Og x Kg)         = dy_g (Og x N*oHW) . X_g^T (N*oHW x Kg)   (split-K over p)
// The input gradient is a gather, not a scatter: every dx element is written once, no atomics.
// Bias gradients are a reduction (conv2d_bias_grad_cuda).
#include <type_traits>

#include "cuda/conv.cuh"
#include "cuda/gemm_tile.cuh"
#include "cuda/loop.cuh"

namespace ember {
namespace cuda {
namespace {

// ---- operands -----------------------------------------------------------------------------------
// k = (outer, kh, kw) over outer * kH * kW, as (outer, kh * D, kw * D).
__device__ __forceinline__ void decode_tap(const ConvDims& d, int64_t k, int64_t& outer, int& dh, int& dw) {
  int64_t r, kh, kw;
  divmod(k, d.kHW, outer, r);
  divmod(r, d.kW, kh, kw);
  dh = int(kh) * d.dilH;
  dw = int(kw) * d.dilW;
}

// X_g (taps x output pixels) of x; TAPS_AS_ROWS picks which index is the GEMM row: false for the
// forward (rows = pixels, the B operand), true for the weight gradient (rows = taps, k = pixels).
template <typename T, bool TAPS_AS_ROWS>
struct Im2col {
  const T* x;
  ConvDims d;
  int64_t rows;

  struct Pixel {
    int64_t base;  // n * C * H * W
    int ih0, iw0;  // oh * S - P, ow * S - P
  };
  struct Tap {
    int64_t off;  // (g * Cg + c) * H * W
    int dh, dw;   // kh * D, kw * D
  };
  using Row = std::conditional_t<TAPS_AS_ROWS, Tap, Pixel>;
  using Col = std::conditional_t<TAPS_AS_ROWS, Pixel, Tap>;

  __device__ Pixel pixel(int64_t p) const {
    int64_t n, q, oh, ow;
    divmod(p, d.oHW, n, q);
    divmod(q, d.oW, oh, ow);
    return {n * d.C * d.HW, int(oh) * d.sH - d.padT, int(ow) * d.sW - d.padL};
  }
  __device__ Tap tap(int64_t g, int64_t k) const {
    Tap t;
    int64_t c;
    decode_tap(d, k, c, t.dh, t.dw);
    t.off = (g * d.Cg + c) * d.HW;
    return t;
  }
  __device__ Row row(int64_t g, int64_t r) const {
    if constexpr (TAPS_AS_ROWS) return tap(g, r);
    else return pixel(r);
  }
  __device__ Col col(int64_t g, int64_t k) const {
    if constexpr (TAPS_AS_ROWS) return pixel(k);
    else return tap(g, k);
  }
  __device__ T value(const Pixel& p, const Tap& t) const {
    const int ih = p.ih0 + t.dh, iw = p.iw0 + t.dw;
    return (unsigned(ih) < unsigned(d.H) && unsigned(iw) < unsigned(d.W))
               ? x[p.base + t.off + int64_t(ih) * d.W + iw]
               : T(0);
  }
  __device__ T at(const Row& r, const Col& c) const {
    if constexpr (TAPS_AS_ROWS) return value(c, r);
    else return value(r, c);
  }
};

// Y_g ((o, kh, kw) x input pixels) of dy: rows are input pixels q, k runs over (o, kh, kw).
// Input row ih receives output row oh through tap kh when ih + P - kh*D = oh*S.
template <typename T>
struct GradTaps {
  const T* dy;
  ConvDims d;
  int64_t rows;

  struct Row {
    int64_t base;  // n * O * oH * oW
    int th, tw;    // ih + P, iw + P
  };
  struct Col {
    int64_t off;  // (g * Og + o) * oH * oW
    int dh, dw;   // kh * D, kw * D
  };
  __device__ Row row(int64_t, int64_t q) const {
    int64_t n, rem, ih, iw;
    divmod(q, d.HW, n, rem);
    divmod(rem, d.W, ih, iw);
    return {n * d.O * d.oHW, int(ih) + d.padT, int(iw) + d.padL};
  }
  __device__ Col col(int64_t g, int64_t k) const {
    Col c;
    int64_t o;
    decode_tap(d, k, o, c.dh, c.dw);
    c.off = (g * d.Og + o) * d.oHW;
    return c;
  }
  __device__ T at(const Row& r, const Col& c) const {
    const int th = r.th - c.dh, tw = r.tw - c.dw;
    if (th < 0 || tw < 0) return T(0);
    const int oh = d.sH == 1 ? th : th / d.sH, ow = d.sW == 1 ? tw : tw / d.sW;
    if (oh * d.sH != th || ow * d.sW != tw || oh >= d.oH || ow >= d.oW) return T(0);
    return dy[r.base + c.off + int64_t(oh) * d.oW + ow];
  }
};

// Wt_g (Cg x Og*kH*kW) of w: row c, k = (o, kh, kw); contiguous along k within one o.
template <typename T>
struct WeightsByInput {
  const T* w;
  int64_t Og, Cg, kHW;
  int64_t rows;

  struct Row {
    int64_t off;  // c * kH * kW
  };
  struct Col {
    int64_t off;  // (g * Og + o) * Cg * kH * kW + kh * kW + kw
  };
  __device__ Row row(int64_t, int64_t c) const { return {c * kHW}; }
  __device__ Col col(int64_t g, int64_t k) const {
    int64_t o, t;
    divmod(k, kHW, o, t);
    return {(g * Og + o) * Cg * kHW + t};
  }
  __device__ T at(const Row& r, const Col& c) const { return w[r.off + c.off]; }
};

// dy_g (Og x N*oHW) of dy: row o, k = output pixel; contiguous along k within one image.
template <typename T>
struct GradByPixel {
  const T* dy;
  int64_t O, Og, oHW;
  int64_t rows;

  struct Row {
    int64_t off;  // (g * Og + o) * oH * oW
  };
  struct Col {
    int64_t off;  // n * O * oH * oW + oh * oW + ow
  };
  __device__ Row row(int64_t g, int64_t o) const { return {(g * Og + o) * oHW}; }
  __device__ Col col(int64_t, int64_t p) const {
    int64_t n, q;
    divmod(p, oHW, n, q);
    return {n * O * oHW + q};
  }
  __device__ T at(const Row& r, const Col& c) const { return dy[r.off + c.off]; }
};

// ---- epilogues ----------------------------------------------------------------------------------
// out[n, g*Rg + r, plane] = acc + bias[g*Rg + r] for GEMM row r and column (n, plane): the forward
// (Rg = Og channels of y) and the input gradient (Rg = Cg channels of dx).
template <typename T>
struct PlaneEpilogue {
  T* out;
  const T* bias;
  int64_t Rg, channels, plane;

  struct Row {
    int64_t off;
    T bias;
  };
  struct Col {
    int64_t off;
  };
  __device__ Row row(int64_t g, int64_t r) const {
    const int64_t ch = g * Rg + r;
    return {ch * plane, bias ? bias[ch] : T(0)};
  }
  __device__ Col col(int64_t, int64_t j) const {
    int64_t n, q;
    divmod(j, plane, n, q);
    return {n * channels * plane + q};
  }
  __device__ void store(const Row& r, const Col& c, T acc) const { out[r.off + c.off] = bias ? acc + r.bias : acc; }
};

// ---- launchers ----------------------------------------------------------------------------------
template <typename T>
void forward_typed(const ConvDims& d, const T* x, const T* w, const T* bias, T* y) {
  constexpr int V = 16 / int(sizeof(T));
  const int64_t pixels = d.N * d.oHW;
  // w_g: row o, k = tap, contiguous along k.
  const StridedOperand<T, true> a{w, d.Og * d.Kg, d.Kg, 1, d.Og,
                                  strided_vec_ok(w, d.G, d.Og * d.Kg, d.Kg, 1, true, V)};
  const GatherOperand<Im2col<T, false>, false> b{{x, d, pixels}};
  const PlaneEpilogue<T> epi{y, bias, d.Og, d.O, d.oHW};
  launch_simt_gemm<T>(a, b, epi, d.Og, pixels, d.Kg, d.G);
}

template <typename T>
void backward_input_typed(const ConvDims& d, const T* dy, const T* w, const T* bias, T* dx) {
  const int64_t pixels = d.N * d.HW;
  const GatherOperand<WeightsByInput<T>, true> a{{w, d.Og, d.Cg, d.kHW, d.Cg}};
  const GatherOperand<GradTaps<T>, false> b{{dy, d, pixels}};
  const PlaneEpilogue<T> epi{dx, bias, d.Cg, d.C, d.HW};
  launch_simt_gemm<T, false>(a, b, epi, d.Cg, pixels, d.Og * d.kHW, d.G);
}

template <typename T>
void backward_weight_typed(const ConvDims& d, const T* dy, const T* x, T* dw) {
  const GatherOperand<GradByPixel<T>, true> a{{dy, d.O, d.Og, d.oHW, d.Og}};
  const GatherOperand<Im2col<T, true>, true> b{{x, d, d.Kg}};
  const DenseEpilogue<T> epi{dw, d.Og, d.Kg};  // dw[g*Og + o, tap]
  launch_simt_gemm<T>(a, b, epi, d.Og, d.Kg, d.N * d.oHW, d.G);
}

void conv2d_forward_cuda(DType dtype, const Conv2dGeometry& g, const void* x, const void* w, const void* bias,
                         void* y) {
  if (is_depthwise(g)) return conv2d_depthwise_forward_stub.get(current_cuda_device())(dtype, g, x, w, bias, y);
  const ConvDims d = dims_of(g);
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "conv2d", [&] {
    forward_typed<scalar_t>(d, static_cast<const scalar_t*>(x), static_cast<const scalar_t*>(w),
                            static_cast<const scalar_t*>(bias), static_cast<scalar_t*>(y));
  });
}

void conv2d_backward_input_cuda(DType dtype, const Conv2dGeometry& g, const void* dy, const void* w,
                                const void* bias, void* dx) {
  if (is_depthwise(g))
    return conv2d_depthwise_backward_input_stub.get(current_cuda_device())(dtype, g, dy, w, bias, dx);
  const ConvDims d = dims_of(g);
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "conv2d_backward_input", [&] {
    backward_input_typed<scalar_t>(d, static_cast<const scalar_t*>(dy), static_cast<const scalar_t*>(w),
                                   static_cast<const scalar_t*>(bias), static_cast<scalar_t*>(dx));
  });
}

void conv2d_backward_weight_cuda(DType dtype, const Conv2dGeometry& g, const void* dy, const void* x, void* dw,
                                 void* db) {
  if (is_depthwise(g))
    return conv2d_depthwise_backward_weight_stub.get(current_cuda_device())(dtype, g, dy, x, dw, db);
  const ConvDims d = dims_of(g);
  if (dw) {
    EMBER_DISPATCH_FLOATING_TYPES(dtype, "conv2d_backward_weight", [&] {
      backward_weight_typed<scalar_t>(d, static_cast<const scalar_t*>(dy), static_cast<const scalar_t*>(x),
                                      static_cast<scalar_t*>(dw));
    });
  }
  if (db) conv2d_bias_grad_cuda(dtype, d, dy, db);
}

}  // namespace

REGISTER_CUDA_KERNEL(conv2d_forward_stub, &conv2d_forward_cuda);
REGISTER_CUDA_KERNEL(conv2d_backward_input_stub, &conv2d_backward_input_cuda);
REGISTER_CUDA_KERNEL(conv2d_backward_weight_stub, &conv2d_backward_weight_cuda);

}  // namespace cuda
}  // namespace ember
