// What the CUDA convolution files (cuda/conv.cu: implicit GEMM, cuda/conv_direct.cu: direct loops)
// share: the geometry as kernels take it, and the bias gradient.
// Shapes: x (N, C, H, W); w (O, C/G, kH, kW); y (N, O, oH, oW); S = stride, P = padding (top/left),
// D = dilation, G = groups; Cg = C/G, Og = O/G; every tensor contiguous.
#pragma once
#include <climits>
#include <cstdint>

#include "cuda/common.cuh"
#include "ops/conv.h"

namespace ember {
namespace cuda {

// Offsets are 64-bit; coordinates inside a plane (and kernel offsets) are int: dims_of checks that
// every spatial size fits (a plane may still hold more than 2^31 elements).
struct ConvDims {
  int64_t N, C, O, G, Cg, Og;
  int64_t HW, oHW, kHW, Kg;  // plane sizes, taps per filter plane, taps per filter (Cg * kHW)
  int H, W, oH, oW, kH, kW, sH, sW, padT, padL, dilH, dilW;
};

inline ConvDims dims_of(const Conv2dGeometry& g) {
  const int64_t limit = INT_MAX / 4;  // ih = oh * S - P + kh * D and its transposed form stay in int
  for (int64_t v : {g.H, g.W, g.oH, g.oW, g.kH, g.kW, g.sH, g.sW, g.padT, g.padL, g.dilH, g.dilW,
                    g.dilH * (g.kH - 1), g.dilW * (g.kW - 1), g.oH * g.sH, g.oW * g.sW})
    EMBER_CHECK(v <= limit, ValueError, "conv2d on CUDA: spatial sizes, kernel extents, strides and paddings must "
                "be at most ", limit, " (input ", g.H, "x", g.W, ", output ", g.oH, "x", g.oW, ", kernel ", g.kH,
                "x", g.kW, ")");
  ConvDims d;
  d.N = g.N, d.C = g.C, d.O = g.O, d.G = g.G, d.Cg = g.C / g.G, d.Og = g.O / g.G;
  d.HW = g.H * g.W, d.oHW = g.oH * g.oW, d.kHW = g.kH * g.kW, d.Kg = d.Cg * d.kHW;
  d.H = int(g.H), d.W = int(g.W), d.oH = int(g.oH), d.oW = int(g.oW), d.kH = int(g.kH), d.kW = int(g.kW);
  d.sH = int(g.sH), d.sW = int(g.sW), d.padT = int(g.padT), d.padL = int(g.padL);
  d.dilH = int(g.dilH), d.dilW = int(g.dilW);
  return d;
}

// Depthwise convolutions (and channel multipliers of them) take the direct kernels: as GEMMs their
// K would be kH * kW. The same rule as the CPU's.
inline bool is_depthwise(const Conv2dGeometry& g) { return g.G == g.C && g.G > 1; }

// db[o] = sum of dy[n, o, :, :] over n (accumulated in double).
void conv2d_bias_grad_cuda(DType dtype, const ConvDims& d, const void* dy, void* db);

}  // namespace cuda
}  // namespace ember
