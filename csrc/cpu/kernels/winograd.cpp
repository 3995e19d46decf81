// Winograd F(2x2, 3x3) convolution (Lavin & Gray 2015) for 3x3, stride-1, dilation-1 conv2d in
// float32: forward, input gradient and weight gradient. Compiled once per instruction set (the
// transforms are loops over tiles that vectorise); the products go to the packed GEMM.
// Shapes: x (N, C, H, W); w (O, C/G, 3, 3); y (N, O, oH, oW); G = groups, Cg = C/G, Og = O/G.
//
// The output is cut into 2x2 tiles; tile t reads the 4x4 input patch d_t at (2*th - padT, 2*tw - padL):
//   V_t = B^T d_t B,  U = G g G^T  (4x4 each),  y_t = A^T [ sum_c U[o,c] (.) V_t[c] ] A   (2x2)
// so for each of the 16 positions (xi, nu) of the 4x4 transforms one GEMM does the channel sum:
//   M[xi,nu] (Og x T) = U[xi,nu] (Og x Cg) . V[xi,nu] (Cg x T)         per group
// 16 multiplies per tile and channel pair instead of 36: 2.25x fewer than the direct method.
// The input gradient is the same correlation of dy with the kernel flipped and its channels
// swapped (padding 2 - P); the weight gradient follows from y being linear in U:
//   dU[xi,nu] (Og x Cg) = sum_t dM_t[xi,nu] V_t[xi,nu]^T,  dM_t = A dy_t A^T,  dw = G^T dU G.
// Tiles are processed in blocks of TB (across images) whose transforms stay in L2; threads take
// whole blocks. This file uses no templates shared with portable code (see core/loop.h).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
#include <immintrin.h>
#endif

#include "core/parallel.h"
#include "cpu/kernels/conv_index.h"
#include "cpu/kernels/winograd_products.h"
#include "ops/conv.h"

namespace ember {
namespace CPU_CAPABILITY {
namespace {

using winograd::product_nn;
using winograd::zero_tail;
using winograd::product_nt_lanes;
using winograd::bias_grad;
thread_local Workspace tl_v, tl_m, tl_rows;

// One Winograd correlation: `in` (N, Cin, iH, iW) -> `out` (N, Cout, oH, oW), 3x3 taps, the input
// row/column of output 0 at -padT / -padL (zeros outside the input).
struct Plan {
  int64_t N, Cin, iH, iW, Cout, oH, oW, padT, padL, G;
  int64_t tH, tW, tiles;  // tiles per image row/column, in all
  int64_t TB;             // tiles per block
  int64_t ld;             // row stride of the block buffers: TB + 16, room for the last group of 8
                          // tiles' whole-vector stores and the products' rounding up to 16
};

// min_tb: the weight gradient's products run along the tiles (K = TB), so it wants long blocks
// whatever they cost in cache; the other two keep their blocks in L2.
Plan make_plan(int64_t N, int64_t Cin, int64_t iH, int64_t iW, int64_t Cout, int64_t oH, int64_t oW, int64_t padT,
               int64_t padL, int64_t G, int64_t min_tb) {
  Plan p{N, Cin, iH, iW, Cout, oH, oW, padT, padL, G, (oH + 1) / 2, (oW + 1) / 2, 0, 0, 0};
  p.tiles = N * p.tH * p.tW;
  // V (16 x Cin x TB) and M (16 x Cout x TB) floats together about 256 KB: they stay in L2
  // between the transforms and the products. A multiple of 16 columns (the products' tile).
  const int64_t tb = 4096 / imax(1, Cin + Cout);
  p.TB = imax(min_tb, imax(16, imin(512, tb / 16 * 16)));
  p.ld = p.TB + 16;
  return p;
}

// 1-D transforms. Input: B^T d = (d0 - d2, d1 + d2, d2 - d1, d1 - d3). Output: A^T m = (m0 + m1 + m2,
// m1 - m2 - m3). Weight: G g = (g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2). Output gradient:
// A dy = (dy0, dy0 + dy1, dy0 - dy1, -dy1). Weight gradient: G^T u = (u0 + (u1 + u2)/2, (u1 - u2)/2,
// u3 + (u1 + u2)/2).

#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
// Elements 0, 2, .., 14 and 1, 3, .., 15 of the 16 floats at p.
inline void deinterleave(const float* p, __m256& even, __m256& odd) {
  const __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
  even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
  odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
}

// Eight consecutive interior tiles of one tile row: their patches' rows r start at q[r] + 2k.
inline void input_transform8(const float* const (&q)[4], float* dst, int64_t vstride) {
  __m256 h[4][4];
  for (int r = 0; r < 4; ++r) {
    __m256 d0, d1, d2, d3;
    deinterleave(q[r], d0, d1);
    deinterleave(q[r] + 2, d2, d3);
    h[r][0] = _mm256_sub_ps(d0, d2);
    h[r][1] = _mm256_add_ps(d1, d2);
    h[r][2] = _mm256_sub_ps(d2, d1);
    h[r][3] = _mm256_sub_ps(d1, d3);
  }
  for (int s = 0; s < 4; ++s) {
    _mm256_storeu_ps(dst + (0 * 4 + s) * vstride, _mm256_sub_ps(h[0][s], h[2][s]));
    _mm256_storeu_ps(dst + (1 * 4 + s) * vstride, _mm256_add_ps(h[1][s], h[2][s]));
    _mm256_storeu_ps(dst + (2 * 4 + s) * vstride, _mm256_sub_ps(h[2][s], h[1][s]));
    _mm256_storeu_ps(dst + (3 * 4 + s) * vstride, _mm256_sub_ps(h[1][s], h[3][s]));
  }
}

// Eight tiles whose 2x2 outputs all exist: A^T m A + b from m[xi * mstride + 0..7], stored as
// rows y0, y1 of 16 floats each.
inline void output_transform8(const float* m, int64_t mstride, float bias, float* y0, float* y1) {
  const __m256 b = _mm256_set1_ps(bias);
  __m256 s0[4], s1[4];
  for (int q = 0; q < 4; ++q) {
    const __m256 m0 = _mm256_loadu_ps(m + (0 * 4 + q) * mstride), m1 = _mm256_loadu_ps(m + (1 * 4 + q) * mstride);
    const __m256 m2 = _mm256_loadu_ps(m + (2 * 4 + q) * mstride), m3 = _mm256_loadu_ps(m + (3 * 4 + q) * mstride);
    s0[q] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
    s1[q] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
  }
  const __m256 a00 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s0[0], s0[1]), s0[2]), b);
  const __m256 a01 = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(s0[1], s0[2]), s0[3]), b);
  const __m256 a10 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s1[0], s1[1]), s1[2]), b);
  const __m256 a11 = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(s1[1], s1[2]), s1[3]), b);
  // Interleave (a00[k], a01[k]) into output columns 2k, 2k + 1.
  const __m256 lo0 = _mm256_unpacklo_ps(a00, a01), hi0 = _mm256_unpackhi_ps(a00, a01);
  const __m256 lo1 = _mm256_unpacklo_ps(a10, a11), hi1 = _mm256_unpackhi_ps(a10, a11);
  _mm256_storeu_ps(y0, _mm256_permute2f128_ps(lo0, hi0, 0x20));
  _mm256_storeu_ps(y0 + 8, _mm256_permute2f128_ps(lo0, hi0, 0x31));
  _mm256_storeu_ps(y1, _mm256_permute2f128_ps(lo1, hi1, 0x20));
  _mm256_storeu_ps(y1 + 8, _mm256_permute2f128_ps(lo1, hi1, 0x31));
}
#endif

#if !(defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2))
// Portable forms of the same eight-tile transforms (plain loops over the eight lanes).
inline void output_transform8(const float* m, int64_t mstride, float b, float* y0, float* y1) {
  for (int k = 0; k < 8; ++k) {
    float s0[4], s1[4];
    for (int q = 0; q < 4; ++q) {
      const float m0 = m[(0 * 4 + q) * mstride + k], m1 = m[(1 * 4 + q) * mstride + k];
      const float m2 = m[(2 * 4 + q) * mstride + k], m3 = m[(3 * 4 + q) * mstride + k];
      s0[q] = m0 + m1 + m2;
      s1[q] = m1 - m2 - m3;
    }
    y0[2 * k] = s0[0] + s0[1] + s0[2] + b;
    y0[2 * k + 1] = s0[1] - s0[2] - s0[3] + b;
    y1[2 * k] = s1[0] + s1[1] + s1[2] + b;
    y1[2 * k + 1] = s1[1] - s1[2] - s1[3] + b;
  }
}

inline void input_transform8(const float* const (&q)[4], float* dst, int64_t vstride) {
  for (int k = 0; k < 8; ++k) {
    float h[4][4];
    for (int r = 0; r < 4; ++r) {
      const float* d = q[r] + 2 * k;
      h[r][0] = d[0] - d[2], h[r][1] = d[1] + d[2], h[r][2] = d[2] - d[1], h[r][3] = d[1] - d[3];
    }
    for (int s = 0; s < 4; ++s) {
      dst[(0 * 4 + s) * vstride + k] = h[0][s] - h[2][s];
      dst[(1 * 4 + s) * vstride + k] = h[1][s] + h[2][s];
      dst[(2 * 4 + s) * vstride + k] = h[2][s] - h[1][s];
      dst[(3 * 4 + s) * vstride + k] = h[1][s] - h[3][s];
    }
  }
}
#endif

// dst[i] = row[w0 + i] where 0 <= w0 + i < width, else 0, for i in [0, n); row may be null (a
// row outside the input: all zeros). n is a multiple of 8 here or small; with AVX2 the masked
// loads never touch memory outside [row, row + width). Short rows are common (8x8 images give
// 18-float rows), where a memcpy/memset call costs more than the copy.
inline void padded_row(float* dst, const float* row, int64_t w0, int64_t n, int64_t width) {
  int64_t i = 0;
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (; i + 8 <= n; i += 8) {
    if (!row) {
      _mm256_storeu_ps(dst + i, _mm256_setzero_ps());
      continue;
    }
    const int64_t first = w0 + i;  // input column of lane 0
    if (first >= 0 && first + 8 <= width) {
      _mm256_storeu_ps(dst + i, _mm256_loadu_ps(row + first));
      continue;
    }
    // Lanes l with 0 <= first + l < width, i.e. -first <= l < width - first (clamped to 0..8).
    const int lo = int(imin(8, imax(0, -first))), hi = int(imin(8, imax(0, width - first)));
    const __m256i m = _mm256_and_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(hi), lane),
                                       _mm256_cmpgt_epi32(lane, _mm256_set1_epi32(lo - 1)));
    // The masked load's address is only formed, never dereferenced, for masked-off lanes.
    _mm256_storeu_ps(dst + i, hi > lo ? _mm256_maskload_ps(row + first, m) : _mm256_setzero_ps());
  }
#endif
  for (; i < n; ++i) {
    const int64_t c = w0 + i;
    dst[i] = (row && c >= 0 && c < width) ? row[c] : 0.f;
  }
}

// V[c][xi][j] for the tiles [t0, t0 + nb) of the block, all Cin channels (a channel's 16 rows
// together, as in winograd43.cpp: its stores stay within a few KB). Per run of tiles in
// one tile row, the four input rows each patch row reads are copied into zero-padded buffers
// (rows[r], 2 * 8 * ceil(run / 8) + 16 floats), so every tile reads without bounds checks; eight
// tiles at a time, the last group through a scratch tile when the run is not a multiple of 8.
void input_transform(const Plan& p, const float* in, int64_t t0, int64_t nb, float* V, float* rows) {
  const int64_t plane = p.iH * p.iW, per_image = p.tH * p.tW;
  const int64_t width = 2 * ((p.TB + 7) / 8 * 8) + 16;  // one padded row buffer
  for (int64_t j = 0; j < nb;) {
    const int64_t t = t0 + j, n = t / per_image, rr = t % per_image, th = rr / p.tW, tw = rr % p.tW;
    const int64_t run = imin(nb - j, p.tW - tw), groups = (run + 7) / 8;
    const int64_t h0 = 2 * th - p.padT, w0 = 2 * tw - p.padL;
    const int64_t cols = 2 * 8 * groups + 8;  // input columns w0 .. w0 + 16 * groups + 1 feed the run
    for (int64_t c = 0; c < p.Cin; ++c) {
      const float* src = in + (n * p.Cin + c) * plane;
      const float* q[4];
      for (int r = 0; r < 4; ++r) {
        float* buf = rows + r * width;
        const int64_t ih = h0 + r;
        padded_row(buf, (ih >= 0 && ih < p.iH) ? src + ih * p.iW : nullptr, w0, cols, p.iW);
        q[r] = buf;
      }
      float* dst = V + c * 16 * p.ld + j;
      // A last group of fewer than 8 tiles stores whole vectors too: the columns past the run
      // belong to later runs of the block (written after this one) or to the padding of ld.
      for (int64_t k = 0; k < run; k += 8) {
        const float* const qk[4] = {q[0] + 2 * k, q[1] + 2 * k, q[2] + 2 * k, q[3] + 2 * k};
        input_transform8(qk, dst + k, p.ld);
      }
    }
    j += run;
  }
}

// out tiles [t0, t0 + nb) = A^T M A (+ bias), clipped to oH x oW. Eight tiles at a time; a group
// that would write past the run's columns (its end, an odd oW) or rows (an odd oH) goes through a
// scratch pair of rows, of which only the existing part is copied out.
void output_transform(const Plan& p, const float* M, int64_t t0, int64_t nb, const float* bias, float* out) {
  const int64_t plane = p.oH * p.oW, per_image = p.tH * p.tW;
  for (int64_t j = 0; j < nb;) {
    const int64_t t = t0 + j, n = t / per_image, r = t % per_image, th = r / p.tW, tw = r % p.tW;
    const int64_t run = imin(nb - j, p.tW - tw);
    const int64_t oh = 2 * th, ow0 = 2 * tw;
    const bool two_rows = oh + 1 < p.oH;
    const int64_t width = imin(2 * run, p.oW - ow0);  // output columns of the run
    for (int64_t o = 0; o < p.Cout; ++o) {
      const float* m = M + o * 16 * p.ld + j;
      float* y0 = out + (n * p.Cout + o) * plane + oh * p.oW + ow0;
      float* y1 = y0 + p.oW;
      const float b = bias ? bias[o] : 0.f;
      for (int64_t k = 0; k < run; k += 8) {
        const int64_t cols = imin(16, width - 2 * k);
        if (cols == 16 && two_rows) {
          output_transform8(m + k, p.ld, b, y0 + 2 * k, y1 + 2 * k);
        } else {
          alignas(32) float part[2][16];
          output_transform8(m + k, p.ld, b, part[0], part[1]);
          std::memcpy(y0 + 2 * k, part[0], size_t(cols) * sizeof(float));
          if (two_rows) std::memcpy(y1 + 2 * k, part[1], size_t(cols) * sizeof(float));
        }
      }
    }
    j += run;
  }
}

// Eight tiles: dM = A dy A^T from the rows g0 (output row 2*th) and g1 (row 2*th + 1), each
// holding the tiles' 16 consecutive output columns.
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
inline void output_grad_transform8(const float* g0, const float* g1, float* dst, int64_t mstride) {
  __m256 a0, b0, a1, b1;  // dy[0][0], dy[0][1], dy[1][0], dy[1][1] of the eight tiles
  deinterleave(g0, a0, b0);
  deinterleave(g1, a1, b1);
  const __m256 z = _mm256_setzero_ps();
  const __m256 q0[4] = {a0, _mm256_add_ps(a0, b0), _mm256_sub_ps(a0, b0), _mm256_sub_ps(z, b0)};
  const __m256 q1[4] = {a1, _mm256_add_ps(a1, b1), _mm256_sub_ps(a1, b1), _mm256_sub_ps(z, b1)};
  for (int s = 0; s < 4; ++s) {
    _mm256_storeu_ps(dst + (0 * 4 + s) * mstride, q0[s]);
    _mm256_storeu_ps(dst + (1 * 4 + s) * mstride, _mm256_add_ps(q0[s], q1[s]));
    _mm256_storeu_ps(dst + (2 * 4 + s) * mstride, _mm256_sub_ps(q0[s], q1[s]));
    _mm256_storeu_ps(dst + (3 * 4 + s) * mstride, _mm256_sub_ps(z, q1[s]));
  }
}
#else
inline void output_grad_transform8(const float* g0, const float* g1, float* dst, int64_t mstride) {
  for (int k = 0; k < 8; ++k) {
    const float a0 = g0[2 * k], b0 = g0[2 * k + 1], a1 = g1[2 * k], b1 = g1[2 * k + 1];
    const float q0[4] = {a0, a0 + b0, a0 - b0, -b0};
    const float q1[4] = {a1, a1 + b1, a1 - b1, -b1};
    for (int s = 0; s < 4; ++s) {
      dst[(0 * 4 + s) * mstride + k] = q0[s];
      dst[(1 * 4 + s) * mstride + k] = q0[s] + q1[s];
      dst[(2 * 4 + s) * mstride + k] = q0[s] - q1[s];
      dst[(3 * 4 + s) * mstride + k] = -q1[s];
    }
  }
}
#endif

// dM[o][xi][j] = (A dy_t A^T)[xi] for the tiles [t0, t0 + nb) of the block, from dy (N, Cout,
// oH, oW); a tile's outputs past oH x oW count as zeros. Same run and row-buffer scheme as
// input_transform.
void output_grad_transform(const Plan& p, const float* dy, int64_t t0, int64_t nb, float* dM, float* rows) {
  const int64_t plane = p.oH * p.oW, per_image = p.tH * p.tW;
  const int64_t width = 2 * ((p.TB + 7) / 8 * 8) + 16;
  for (int64_t j = 0; j < nb;) {
    const int64_t t = t0 + j, n = t / per_image, rr = t % per_image, th = rr / p.tW, tw = rr % p.tW;
    const int64_t run = imin(nb - j, p.tW - tw), groups = (run + 7) / 8;
    const int64_t oh = 2 * th, ow0 = 2 * tw, cols = 2 * 8 * groups;
    for (int64_t o = 0; o < p.Cout; ++o) {
      const float* src = dy + (n * p.Cout + o) * plane;
      const float* q[2];
      for (int r = 0; r < 2; ++r) {
        float* buf = rows + r * width;
        padded_row(buf, oh + r < p.oH ? src + (oh + r) * p.oW : nullptr, ow0, cols, p.oW);
        q[r] = buf;
      }
      float* dst = dM + o * 16 * p.ld + j;
      for (int64_t k = 0; k < run; k += 8)  // whole vectors, as in input_transform
        output_grad_transform8(q[0] + 2 * k, q[1] + 2 * k, dst + k, p.ld);
    }
    j += run;
  }
}

// U[g][xi][o][c] = (G k G^T)[xi] for the 3x3 taps k = taps(o, c) of group g's (Og x Cg) pairs.
template <typename Taps>
void weight_transform(int64_t G, int64_t Og, int64_t Cg, const Taps& taps, float* U) {
  for (int64_t grp = 0; grp < G; ++grp)
    for (int64_t o = 0; o < Og; ++o)
      for (int64_t c = 0; c < Cg; ++c) {
        float k[3][3];
        taps(grp, o, c, k);
        float gk[4][3];  // G k
        for (int s = 0; s < 3; ++s) {
          gk[0][s] = k[0][s];
          gk[1][s] = 0.5f * (k[0][s] + k[1][s] + k[2][s]);
          gk[2][s] = 0.5f * (k[0][s] - k[1][s] + k[2][s]);
          gk[3][s] = k[2][s];
        }
        float* dst = U + grp * 16 * Og * Cg + o * Cg + c;
        for (int r = 0; r < 4; ++r) {
          const float u[4] = {gk[r][0], 0.5f * (gk[r][0] + gk[r][1] + gk[r][2]),
                              0.5f * (gk[r][0] - gk[r][1] + gk[r][2]), gk[r][2]};
          for (int s = 0; s < 4; ++s) dst[(r * 4 + s) * Og * Cg] = u[s];
        }
      }
}

// out = correlate(in, U) + bias, U as weight_transform lays it out (Cout / G x Cin / G per group).
void correlate(const Plan& p, const float* in, const float* U, const float* bias, float* out) {
  const int64_t Cg = p.Cin / p.G, Og = p.Cout / p.G;
  const int64_t nblocks = (p.tiles + p.TB - 1) / p.TB;
  parallel_for(0, nblocks, 1, [&](int64_t b0, int64_t b1) {
    float* V = tl_v.get<float>(16 * p.Cin * p.ld);
    float* M = tl_m.get<float>(16 * p.Cout * p.ld);
    float* rows = tl_rows.get<float>(4 * (2 * ((p.TB + 7) / 8 * 8) + 16));
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t t0 = b * p.TB, nb = imin(p.TB, p.tiles - t0);
      input_transform(p, in, t0, nb, V, rows);
      zero_tail(V, 16 * p.Cin, p.ld, nb);
      const int64_t cols = (nb + 15) / 16 * 16;
      for (int64_t grp = 0; grp < p.G; ++grp)
        for (int64_t xi = 0; xi < 16; ++xi)
          product_nn(Og, cols, Cg, U + (grp * 16 + xi) * Og * Cg, Cg, V + grp * Cg * 16 * p.ld + xi * p.ld, 16 * p.ld,
                     M + grp * Og * 16 * p.ld + xi * p.ld, 16 * p.ld);
      output_transform(p, M, t0, nb, bias, out);
    }
  });
}

void forward(DType dtype, const Conv2dGeometry& g, const void* x, const void* w, const void* bias, void* y) {
  EMBER_CHECK(dtype == DType::Float32, TypeError, "conv2d (Winograd): float32 only");
  const int64_t Cg = g.C / g.G, Og = g.O / g.G;
  const float* wf = static_cast<const float*>(w);
  std::vector<float> U(size_t(16 * g.G * Og * Cg));
  weight_transform(g.G, Og, Cg, [&](int64_t grp, int64_t o, int64_t c, float (&k)[3][3]) {
    const float* src = wf + ((grp * Og + o) * Cg + c) * 9;
    for (int i = 0; i < 9; ++i) k[i / 3][i % 3] = src[i];
  }, U.data());
  const Plan p = make_plan(g.N, g.C, g.H, g.W, g.O, g.oH, g.oW, g.padT, g.padL, g.G, 16);
  correlate(p, static_cast<const float*>(x), U.data(), static_cast<const float*>(bias), static_cast<float*>(y));
}

// dx = correlate(dy, w flipped and transposed per group), padding 2 - P; `bias` (C values, or
// null) is added to every dx plane (conv_transpose2d's bias).
void backward_input(DType dtype, const Conv2dGeometry& g, const void* dy, const void* w, const void* bias, void* dx) {
  EMBER_CHECK(dtype == DType::Float32, TypeError, "conv2d_backward_input (Winograd): float32 only");
  const int64_t Cg = g.C / g.G, Og = g.O / g.G;
  const float* wf = static_cast<const float*>(w);
  std::vector<float> U(size_t(16 * g.G * Og * Cg));
  // The swapped pair (c, o) of group grp reads w[grp*Og + o, c] rotated by 180 degrees.
  weight_transform(g.G, Cg, Og, [&](int64_t grp, int64_t c, int64_t o, float (&k)[3][3]) {
    const float* src = wf + ((grp * Og + o) * Cg + c) * 9;
    for (int i = 0; i < 9; ++i) k[i / 3][i % 3] = src[8 - i];
  }, U.data());
  const Plan p = make_plan(g.N, g.O, g.oH, g.oW, g.C, g.H, g.W, 2 - g.padT, 2 - g.padL, g.G, 16);
  correlate(p, static_cast<const float*>(dy), U.data(), static_cast<const float*>(bias), static_cast<float*>(dx));
}

// dw (O, Cg, 3, 3) and db (O) from dy and x; either output may be null.
void backward_weight(DType dtype, const Conv2dGeometry& g, const void* dy_, const void* x_, void* dw_, void* db_) {
  EMBER_CHECK(dtype == DType::Float32, TypeError, "conv2d_backward_weight (Winograd): float32 only");
  const float* dy = static_cast<const float*>(dy_);
  const float* x = static_cast<const float*>(x_);
  const int64_t Cg = g.C / g.G, Og = g.O / g.G;
  if (db_) bias_grad(g, dy, static_cast<float*>(db_));
  if (!dw_) return;
  float* dw = static_cast<float*>(dw_);
  const Plan p = make_plan(g.N, g.C, g.H, g.W, g.O, g.oH, g.oW, g.padT, g.padL, g.G, 256);
  const int64_t nblocks = (p.tiles + p.TB - 1) / p.TB;
  const int64_t usize = 16 * g.G * Og * Cg;
  // One dU accumulator per slot of blocks; slot s takes blocks [nblocks*s/S, nblocks*(s+1)/S).
  const int64_t slots = imax(1, imin(int64_t(get_num_threads()), nblocks));
  // Eight lane partial sums per entry while accumulating (product_nt_lanes), summed at the end.
  float* dU = static_cast<float*>(std::calloc(size_t(slots * usize * 8), sizeof(float)));
  if (!dU) throw std::bad_alloc();
  try {
    parallel_for(0, slots, 1, [&](int64_t s0, int64_t s1) {
      float* V = tl_v.get<float>(16 * p.Cin * p.ld);
      float* dM = tl_m.get<float>(16 * p.Cout * p.ld);
      float* rows = tl_rows.get<float>(4 * (2 * ((p.TB + 7) / 8 * 8) + 16));
      for (int64_t s = s0; s < s1; ++s) {
        float* acc = dU + s * usize * 8;
        for (int64_t b = nblocks * s / slots; b < nblocks * (s + 1) / slots; ++b) {
          const int64_t t0 = b * p.TB, nb = imin(p.TB, p.tiles - t0);
          input_transform(p, x, t0, nb, V, rows);
          output_grad_transform(p, dy, t0, nb, dM, rows);
          zero_tail(V, 16 * p.Cin, p.ld, nb);
          zero_tail(dM, 16 * p.Cout, p.ld, nb);
          const int64_t depth = (nb + 15) / 16 * 16;
          // dU[grp][xi] (Og x Cg) += dM[xi] (Og x nb) . V[xi]^T (nb x Cg), in eight lanes
          for (int64_t grp = 0; grp < g.G; ++grp)
            for (int64_t xi = 0; xi < 16; ++xi)
              product_nt_lanes(Og, Cg, depth, dM + grp * Og * 16 * p.ld + xi * p.ld, 16 * p.ld,
                               V + grp * Cg * 16 * p.ld + xi * p.ld, 16 * p.ld, acc + (grp * 16 + xi) * Og * Cg * 8);
        }
      }
    });
  } catch (...) {
    std::free(dU);
    throw;
  }
  // Slots and lanes -> one sum per entry, into a separate array: summing in place (dU[i] from
  // dU[8 i ...]) would race between threads.
  float* sums = static_cast<float*>(std::malloc(size_t(usize) * sizeof(float)));
  if (!sums) {
    std::free(dU);
    throw std::bad_alloc();
  }
  parallel_for(0, usize, 4096, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      double sum = 0.0;
      for (int64_t s = 0; s < slots; ++s)
        for (int l = 0; l < 8; ++l) sum += double(dU[(s * usize + i) * 8 + l]);
      sums[i] = float(sum);
    }
  });
  std::free(dU);
  dU = sums;
  // dw[o, c] = G^T dU[o, c] G  (3x3 from 4x4)
  parallel_for(0, g.G * Og, imax(1, 4096 / imax(Cg, 1)), [&](int64_t go0, int64_t go1) {
    for (int64_t go = go0; go < go1; ++go) {
      const int64_t grp = go / Og, o = go % Og;
      for (int64_t c = 0; c < Cg; ++c) {
        float u[4][4];
        for (int xi = 0; xi < 16; ++xi) u[xi / 4][xi % 4] = dU[(grp * 16 + xi) * Og * Cg + o * Cg + c];
        float r[3][4];  // G^T u along the rows
        for (int q = 0; q < 4; ++q) {
          const float half = 0.5f * (u[1][q] + u[2][q]);
          r[0][q] = u[0][q] + half;
          r[1][q] = 0.5f * (u[1][q] - u[2][q]);
          r[2][q] = u[3][q] + half;
        }
        float* dst = dw + ((grp * Og + o) * Cg + c) * 9;
        for (int i = 0; i < 3; ++i) {
          const float half = 0.5f * (r[i][1] + r[i][2]);
          dst[i * 3 + 0] = r[i][0] + half;
          dst[i * 3 + 1] = 0.5f * (r[i][1] - r[i][2]);
          dst[i * 3 + 2] = r[i][3] + half;
        }
      }
    }
  });
  std::free(dU);
}

}  // namespace

REGISTER_CPU_KERNEL(conv2d_winograd_forward_stub, &forward);
REGISTER_CPU_KERNEL(conv2d_winograd_backward_input_stub, &backward_input);
REGISTER_CPU_KERNEL(conv2d_winograd_backward_weight_stub, &backward_weight);

}  // namespace CPU_CAPABILITY
}  // namespace ember
