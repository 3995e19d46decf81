// Winograd F(4x4, 3x3) convolution (Lavin & Gray 2015) for 3x3, stride-1, dilation-1 conv2d in
// float32: the forward, the input gradient (the same correlation of dy with the kernel flipped and
// its channels swapped, padding 2 - P) and the weight gradient, which follows from y being linear
// in U:  dU[xi] (Og x Cg) = sum_t dM_t[xi] V_t[xi]^T,  dM_t = A dy_t A^T (6x6 from 4x4),
// dw = G^T dU G (3x3 from 6x6).
// Shapes: x (N, C, H, W); w (O, C/G, 3, 3); y (N, O, oH, oW); G = groups, Cg = C/G, Og = O/G.
//
// The output is cut into 4x4 tiles; tile t reads the 6x6 input patch d_t at (4*th - padT, 4*tw - padL):
//   V_t = B^T d_t B,  U = G g G^T  (6x6 each),  y_t = A^T [ sum_c U[o,c] (.) V_t[c] ] A   (4x4)
// with the points 0, +-1, +-2 (the matrices below); for each of the 36 positions xi one GEMM over
// the channels, M[xi] (Og x T) = U[xi] (Og x Cg) . V[xi] (Cg x T), as in winograd.cpp. 36
// multiplies per 16 outputs and channel pair: 4x fewer than the direct method, 1.78x fewer than
// F(2x2, 3x3). The price is float32 rounding: about 1e-5 of the largest output with a few hundred
// input channels, against under 1e-6 for F(2x2, 3x3).
//
// Tiles are processed in blocks of TB (across images) whose V and M stay in L2; threads take
// whole blocks. The transforms take any 8 tiles of a block at once, one per vector lane: the
// block's input rows are first copied into a zero-padded buffer, from which each tile's patch
// rows are read whole and transposed in registers. So an 8x8 image (2x2 tiles) fills the lanes as
// well as a large one, and no load needs a bounds check.
// This file uses no templates shared with portable code (see core/loop.h).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/parallel.h"
#include "cpu/kernels/conv_index.h"
#include "cpu/kernels/simd_transpose.h"
#include "cpu/kernels/winograd_products.h"
#include "ops/conv.h"

namespace ember {
namespace CPU_CAPABILITY {
namespace {

using winograd::product_nn;
using winograd::zero_tail;

thread_local Workspace tl_v4, tl_m4, tl_pad4;

// ---- eight lanes ------------------------------------------------------------------------------
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
using v8 = __m256;  // GCC/Clang vector type: the arithmetic operators below apply to it
#else
// Two SSE registers; GCC notes that passing it by value differs from an AVX build's ABI, which
// does not matter between this file's inline functions.
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float v8 __attribute__((vector_size(32)));
#endif

inline v8 load8(const float* p) {
  v8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store8(float* p, v8 v) { std::memcpy(p, &v, sizeof v); }

#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
// The four columns c[0..3] of eight tiles' output row, transposed (4x4 in both 128-bit halves):
// u[k] holds tile k's row in its low half and tile k + 4's in its high half.
inline void rows4(const v8* c, __m256* u) {
  const __m256 t0 = _mm256_unpacklo_ps(c[0], c[1]), t1 = _mm256_unpackhi_ps(c[0], c[1]);
  const __m256 t2 = _mm256_unpacklo_ps(c[2], c[3]), t3 = _mm256_unpackhi_ps(c[2], c[3]);
  u[0] = _mm256_shuffle_ps(t0, t2, 0x44);
  u[1] = _mm256_shuffle_ps(t0, t2, 0xEE);
  u[2] = _mm256_shuffle_ps(t1, t3, 0x44);
  u[3] = _mm256_shuffle_ps(t1, t3, 0xEE);
}

// Each tile's four consecutive floats of the row: tile k's go to dst[k].
inline void store_rows4(const v8* c, float* const* dst) {
  __m256 u[4];
  rows4(c, u);
  for (int k = 0; k < 4; ++k) {
    _mm_storeu_ps(dst[k], _mm256_castps256_ps128(u[k]));
    _mm_storeu_ps(dst[k + 4], _mm256_extractf128_ps(u[k], 1));
  }
}
#endif
#if defined(CPU_CAPABILITY_AVX512)
// The same, storing only the first n[k] (0..4) floats of tile k's row: AVX-512 masked stores
// never touch the masked-off floats, so tiles cut by the image's edge need no scratch copy.
inline void store_rows4_first(const v8* c, float* const* dst, const int* n) {
  __m256 u[4];
  rows4(c, u);
  for (int k = 0; k < 4; ++k) {
    _mm_mask_storeu_ps(dst[k], __mmask8((1u << n[k]) - 1u), _mm256_castps256_ps128(u[k]));
    _mm_mask_storeu_ps(dst[k + 4], __mmask8((1u << n[k + 4]) - 1u), _mm256_extractf128_ps(u[k], 1));
  }
}
#endif
#if !(defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2))
inline void transpose8(v8* r) {
  float m[8][8];
  for (int i = 0; i < 8; ++i) std::memcpy(m[i], &r[i], sizeof r[i]);
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 8; ++j) r[j][i] = m[i][j];
}
inline void store_rows4(const v8* c, float* const* dst) {
  for (int k = 0; k < 8; ++k)
    for (int q = 0; q < 4; ++q) dst[k][q] = c[q][k];
}
#endif

// ---- the 1-D transforms ---------------------------------------------------------------------
// Input, B^T d:  (4d0 - 5d2 + d4,  -4(d1 + d2) + d3 + d4,  4(d1 - d2) - d3 + d4,
//                 -2(d1 - d3) - d2 + d4,  2(d1 - d3) - d2 + d4,  4d1 - 5d3 + d5)
inline void input_1d(const v8* d, v8* t) {
  const v8 a = d[4] - d[2], b = d[1] - d[3];
  t[0] = 4.f * d[0] - 5.f * d[2] + d[4];
  t[1] = (d[3] + d[4]) - 4.f * (d[1] + d[2]);
  t[2] = (d[4] - d[3]) + 4.f * (d[1] - d[2]);
  t[3] = a - 2.f * b;
  t[4] = a + 2.f * b;
  t[5] = 4.f * d[1] - 5.f * d[3] + d[5];
}

// Output, A^T m:  (m0 + (m1 + m2) + (m3 + m4),  (m1 - m2) + 2(m3 - m4),
//                  (m1 + m2) + 4(m3 + m4),      (m1 - m2) + 8(m3 - m4) + m5)
inline void output_1d(const v8* m, v8* s) {
  const v8 p = m[1] + m[2], q = m[1] - m[2], r = m[3] + m[4], u = m[3] - m[4];
  s[0] = m[0] + p + r;
  s[1] = q + 2.f * u;
  s[2] = p + 4.f * r;
  s[3] = q + 8.f * u + m[5];
}

// Output gradient, A g (the transpose of the above):  (g0,  (g0 + g2) + (g1 + g3),
//   (g0 + g2) - (g1 + g3),  (g0 + 4g2) + (2g1 + 8g3),  (g0 + 4g2) - (2g1 + 8g3),  g3)
inline void output_grad_1d(const v8* g, v8* t) {
  const v8 e = g[0] + g[2], f = g[1] + g[3], e4 = g[0] + 4.f * g[2], f4 = 2.f * g[1] + 8.f * g[3];
  t[0] = g[0];
  t[1] = e + f;
  t[2] = e - f;
  t[3] = e4 + f4;
  t[4] = e4 - f4;
  t[5] = g[3];
}

// G = (1/4, 0, 0; -1/6, -1/6, -1/6; -1/6, 1/6, -1/6; 1/24, 1/12, 1/6; 1/24, -1/12, 1/6; 0, 0, 1).
const double kG[6][3] = {{0.25, 0, 0},
                         {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                         {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                         {1.0 / 24, 1.0 / 12, 1.0 / 6},
                         {1.0 / 24, -1.0 / 12, 1.0 / 6},
                         {0, 0, 1}};

// U[g][xi][o][c] = (G k G^T)[xi] for the taps k = taps(g, o, c, k) of group g's (Og x Cg) pairs,
// computed in double, kCB input channels at a time so that the arithmetic runs in vector lanes
// across channels and each of the 36 planes of U is written in runs (one pair at a time, scalar,
// took a quarter of a 64 -> 64 channel 8x8 forward).
template <typename Taps>
void weight_transform43(int64_t G, int64_t Og, int64_t Cg, const Taps& taps, float* U) {
  constexpr int64_t kCB = 32;
  for (int64_t grp = 0; grp < G; ++grp)
    for (int64_t o = 0; o < Og; ++o)
      for (int64_t c0 = 0; c0 < Cg; c0 += kCB) {
        const int64_t cb = imin(kCB, Cg - c0);
        double k[9][kCB];
        for (int64_t c = 0; c < cb; ++c) {
          float t[3][3];
          taps(grp, o, c0 + c, t);
          for (int i = 0; i < 9; ++i) k[i][c] = t[i / 3][i % 3];
        }
        double gk[6][3][kCB];  // G k
        for (int a = 0; a < 6; ++a)
          for (int s = 0; s < 3; ++s)
            for (int64_t c = 0; c < cb; ++c)
              gk[a][s][c] = kG[a][0] * k[s][c] + kG[a][1] * k[3 + s][c] + kG[a][2] * k[6 + s][c];
        float* dst = U + grp * 36 * Og * Cg + o * Cg + c0;
        for (int a = 0; a < 6; ++a)
          for (int b = 0; b < 6; ++b) {
            float* plane = dst + (a * 6 + b) * Og * Cg;
            for (int64_t c = 0; c < cb; ++c)
              plane[c] = float(gk[a][0][c] * kG[b][0] + gk[a][1][c] * kG[b][1] + gk[a][2][c] * kG[b][2]);
          }
      }
}

// ---- blocks -----------------------------------------------------------------------------------
// One correlation: `in` (N, Cin, iH, iW) -> `out` (N, Cout, oH, oW), 3x3 taps, the input row/column
// of output 0 at -padT / -padL (zeros outside the input).
struct Plan {
  int64_t N, Cin, iH, iW, Cout, oH, oW, padT, padL, G;
  int64_t tH, tW, tiles;  // tiles per image row/column, in all
  int64_t TB;             // tiles per block
  int64_t ld;             // row stride of V and M: TB + 16 (the products round the columns up to 16)
  int64_t Wp;             // row length of the padded input copy: 4 * tW + 4 (each patch row is read as 8 floats)
};

Plan make_plan(int64_t N, int64_t Cin, int64_t iH, int64_t iW, int64_t Cout, int64_t oH, int64_t oW, int64_t padT,
               int64_t padL, int64_t G) {
  Plan p{N, Cin, iH, iW, Cout, oH, oW, padT, padL, G, (oH + 3) / 4, (oW + 3) / 4, 0, 0, 0, 0};
  p.tiles = N * p.tH * p.tW;
  // V (36 x Cin x TB) and M (36 x Cout x TB) floats together about 1 MB; a multiple of 16.
  const int64_t tb = 262144 / (36 * imax(1, Cin + Cout));
  p.TB = imax(16, imin(256, tb / 16 * 16));
  p.ld = p.TB + 16;
  p.Wp = 4 * p.tW + 4;
  return p;
}

// The tiles [t0, t0 + nb) of a block, by image: image n0 + i's first tile row in the block is
// th0[i], and its rows start at row row0[i] of the padded copy. Each image's run of tile rows
// [th0, th1] needs the rows 4*th0 - padT .. 4*th1 + patch - 1 - padT: 4*(th1 - th0) + patch rows
// (patch 6 for the input, 4 for the output gradient).
struct Segments {
  int64_t rows;        // padded rows in all (the copy is C x rows x Wp)
  int64_t count;       // images the block touches
  int64_t n0;          // the first of them
  int64_t* th0;        // per image: its first tile row in the block
  int64_t* row0;       // per image: its first row in the padded copy
};

// What pad_block copies: C planes of H x W, patches of patch x patch at (4*th - padT, 4*tw - padL).
struct Source {
  const float* data;
  int64_t C, H, W, padT, padL, patch;
};

// Copies the rows the block's tiles read into pad (C x seg.rows x p.Wp), zeros where a patch
// reaches past the source, and fills seg.
void pad_block(const Plan& p, const Source& s, int64_t t0, int64_t nb, float* pad, Segments& seg) {
  const int64_t per_image = p.tH * p.tW, plane = s.H * s.W;
  seg.n0 = t0 / per_image;
  seg.count = (t0 + nb - 1) / per_image - seg.n0 + 1;
  seg.rows = 0;
  for (int64_t i = 0; i < seg.count; ++i) {
    const int64_t n = seg.n0 + i;
    const int64_t a = imax(t0, n * per_image) - n * per_image;           // first and last tile of
    const int64_t b = imin(t0 + nb, (n + 1) * per_image) - 1 - n * per_image;  // image n in the block
    seg.th0[i] = a / p.tW;
    seg.row0[i] = seg.rows;
    seg.rows += 4 * (b / p.tW - seg.th0[i]) + s.patch;
  }
  const int64_t cplane = seg.rows * p.Wp;
  const int64_t lo = imin(s.padL, p.Wp), hi = imin(s.padL + s.W, p.Wp);  // padded columns holding data
  for (int64_t c = 0; c < s.C; ++c)
    for (int64_t i = 0; i < seg.count; ++i) {
      const int64_t n = seg.n0 + i;
      const int64_t rows = (i + 1 < seg.count ? seg.row0[i + 1] : seg.rows) - seg.row0[i];
      const float* src = s.data + (n * s.C + c) * plane;
      for (int64_t r = 0; r < rows; ++r) {
        float* dst = pad + c * cplane + (seg.row0[i] + r) * p.Wp;
        const int64_t ih = 4 * seg.th0[i] + r - s.padT;
        // Loops, not memcpy/memset calls: the rows are a few dozen floats.
        if (ih < 0 || ih >= s.H || hi <= lo) {
          for (int64_t q = 0; q < p.Wp; ++q) dst[q] = 0.f;
          continue;
        }
        const float* row = src + ih * s.W - s.padL;
        for (int64_t q = 0; q < lo; ++q) dst[q] = 0.f;
        for (int64_t q = lo; q < hi; ++q) dst[q] = row[q];
        for (int64_t q = hi; q < p.Wp; ++q) dst[q] = 0.f;
      }
    }
}

// Where the patches of the block's tiles t0 + j .. t0 + j + 7 start in the padded copy (channel 0);
// lanes past nb repeat the last tile.
void patch_offsets(const Plan& p, const Segments& seg, int64_t t0, int64_t j, int64_t nb, int64_t* off) {
  const int64_t per_image = p.tH * p.tW;
  for (int k = 0; k < 8; ++k) {
    const int64_t t = t0 + imin(j + k, nb - 1), n = t / per_image, r = t % per_image;
    const int64_t i = n - seg.n0, th = r / p.tW, tw = r % p.tW;
    off[k] = (seg.row0[i] + 4 * (th - seg.th0[i])) * p.Wp + 4 * tw;
  }
}

// out[c][xi][j] = (T d_t T^T)[xi] for the tiles [t0, t0 + nb) of the block and the C channels of
// the padded copy, where d_t is tile t's R x R patch and T (6 x R) is the 1-D transform `t1d`:
// V = B^T d B (R = 6, input_1d) or dM = A dy A^T (R = 4, output_grad_1d). Channel-major rows: a
// channel's 36 rows are written together, so each group's stores stay within a few KB. Eight tiles
// at a time: per patch row, the eight tiles' rows (8 floats, the first R of them the patch's)
// transposed into columns across the tiles. A last group of fewer than eight tiles repeats its
// last tile in the spare lanes; their columns lie past nb (zeroed before the products) or in the
// padding of ld.
template <int R, typename T1d>
void patch_transform(const Plan& p, const float* pad, const Segments& seg, int64_t t0, int64_t nb, int64_t C,
                     float* out, const T1d& t1d) {
  const int64_t cplane = seg.rows * p.Wp;
  for (int64_t j = 0; j < nb; j += 8) {
    int64_t off[8];
    patch_offsets(p, seg, t0, j, nb, off);
    for (int64_t c = 0; c < C; ++c) {
      const float* src = pad + c * cplane;
      v8 t[R][6];  // t[r][i]: row r of the patches, transformed along the columns
      for (int r = 0; r < R; ++r) {
        v8 d[8];
        for (int k = 0; k < 8; ++k) d[k] = load8(src + off[k] + r * p.Wp);
        transpose8(d);  // d[col][tile]
        t1d(d, t[r]);
      }
      float* dst = out + c * 36 * p.ld + j;
      for (int i = 0; i < 6; ++i) {
        v8 col[R];
        for (int r = 0; r < R; ++r) col[r] = t[r][i];
        v8 u[6];
        t1d(col, u);
        for (int a = 0; a < 6; ++a) store8(dst + (a * 6 + i) * p.ld, u[a]);
      }
    }
  }
}

void input_transform(const Plan& p, const float* pad, const Segments& seg, int64_t t0, int64_t nb, float* V) {
  patch_transform<6>(p, pad, seg, t0, nb, p.Cin, V, [](const v8* d, v8* t) { input_1d(d, t); });
}

// The tiles' outputs past oH x oW read as zeros from the padded copy of dy.
void output_grad_transform(const Plan& p, const float* pad, const Segments& seg, int64_t t0, int64_t nb, float* dM) {
  patch_transform<4>(p, pad, seg, t0, nb, p.Cout, dM, [](const v8* g, v8* t) { output_grad_1d(g, t); });
}

// out tiles [t0, t0 + nb) = A^T M A (+ bias), clipped to oH x oW. Eight tiles at a time; each
// output row of the eight tiles (four columns each) is transposed out of the lanes and stored
// four floats per tile. A group with a tile cut by the right or bottom edge (or fewer than eight
// tiles) stores under masks with AVX-512, else through a scratch row of which only the existing
// part is copied out.
void output_transform(const Plan& p, const float* M, int64_t t0, int64_t nb, const float* bias, float* out) {
  const int64_t plane = p.oH * p.oW, per_image = p.tH * p.tW;
  for (int64_t j = 0; j < nb; j += 8) {
    const int lanes = int(imin(8, nb - j));
    int64_t base[8];  // each tile's top-left output in its image, channel 0
    int rows[8], cols[8];
    bool whole = lanes == 8;
    for (int k = 0; k < lanes; ++k) {
      const int64_t t = t0 + j + k, n = t / per_image, r = t % per_image, oh = 4 * (r / p.tW), ow = 4 * (r % p.tW);
      base[k] = n * p.Cout * plane + oh * p.oW + ow;
      rows[k] = int(imin(4, p.oH - oh));
      cols[k] = int(imin(4, p.oW - ow));
      whole = whole && rows[k] == 4 && cols[k] == 4;
    }
    for (int64_t o = 0; o < p.Cout; ++o) {
      const float* m = M + o * 36 * p.ld + j;
      v8 s[6][4];  // s[a][q]: row a of M, transformed along the columns
      for (int a = 0; a < 6; ++a) {
        v8 row[6];
        for (int b = 0; b < 6; ++b) row[b] = load8(m + (a * 6 + b) * p.ld);
        output_1d(row, s[a]);
      }
      const float bv = bias ? bias[o] : 0.f;
      v8 y[4][4];  // y[r][q]: output row r, column q of the eight tiles
      for (int q = 0; q < 4; ++q) {
        const v8 col[6] = {s[0][q], s[1][q], s[2][q], s[3][q], s[4][q], s[5][q]};
        v8 yq[4];
        output_1d(col, yq);
        for (int r = 0; r < 4; ++r) y[r][q] = yq[r] + bv;
      }
      if (whole) {
        for (int r = 0; r < 4; ++r) {
          float* dst[8];
          for (int k = 0; k < 8; ++k) dst[k] = out + base[k] + o * plane + r * p.oW;
          store_rows4(y[r], dst);
        }
        continue;
      }
#if defined(CPU_CAPABILITY_AVX512)
      for (int r = 0; r < 4; ++r) {
        float* dst[8];
        int n[8];
        for (int k = 0; k < 8; ++k) {
          const bool here = k < lanes && r < rows[k];
          dst[k] = here ? out + base[k] + o * plane + r * p.oW : out;  // out: never written (n = 0)
          n[k] = here ? cols[k] : 0;
        }
        store_rows4_first(y[r], dst, n);
      }
      continue;
#endif
      float part[4][8][4];  // [row][tile][column]
      for (int r = 0; r < 4; ++r) {
        float* dst[8];
        for (int k = 0; k < 8; ++k) dst[k] = part[r][k];
        store_rows4(y[r], dst);
      }
      for (int k = 0; k < lanes; ++k) {
        float* dst = out + base[k] + o * plane;
        for (int r = 0; r < rows[k]; ++r)
          for (int q = 0; q < cols[k]; ++q) dst[r * p.oW + q] = part[r][k][q];
      }
    }
  }
}

// This thread's padded copy of a block (C channels, patches of at most 6 rows) and its Segments'
// arrays. A block touches at most TB / per_image + 2 images, and at most TB / tW + 2 tile rows of
// them, each image's run needing 6 rows more than 4 per tile row.
struct PadScratch {
  float* pad;
  int64_t* meta;
  int64_t max_images;
  PadScratch(const Plan& p, int64_t C) {
    max_images = p.TB / (p.tH * p.tW) + 2;
    const int64_t max_rows = 4 * (p.TB / p.tW + 2) + 6 * max_images;
    pad = tl_pad4.get<float>(C * max_rows * p.Wp + 4 * max_images + 8);
    meta = reinterpret_cast<int64_t*>(pad + C * max_rows * p.Wp + 8);
  }
  Segments segments() const { return Segments{0, 0, 0, meta, meta + max_images}; }
};

// out = correlate(in, U) + bias, U as weight_transform43 lays it out (Cout / G x Cin / G per group).
void correlate(const Plan& p, const float* in, const float* U, const float* bias, float* out) {
  const int64_t Cg = p.Cin / p.G, Og = p.Cout / p.G;
  const int64_t nblocks = (p.tiles + p.TB - 1) / p.TB;
  parallel_for(0, nblocks, 1, [&](int64_t b0, int64_t b1) {
    float* V = tl_v4.get<float>(36 * p.Cin * p.ld);
    float* M = tl_m4.get<float>(36 * p.Cout * p.ld);
    PadScratch ps(p, p.Cin);
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t t0 = b * p.TB, nb = imin(p.TB, p.tiles - t0);
      Segments seg = ps.segments();
      float* pad = ps.pad;
      pad_block(p, Source{in, p.Cin, p.iH, p.iW, p.padT, p.padL, 6}, t0, nb, pad, seg);
      input_transform(p, pad, seg, t0, nb, V);
      zero_tail(V, 36 * p.Cin, p.ld, nb);
      const int64_t cols = (nb + 15) / 16 * 16;
      for (int64_t grp = 0; grp < p.G; ++grp)
        for (int64_t xi = 0; xi < 36; ++xi)
          product_nn(Og, cols, Cg, U + (grp * 36 + xi) * Og * Cg, Cg, V + grp * Cg * 36 * p.ld + xi * p.ld, 36 * p.ld,
                     M + grp * Og * 36 * p.ld + xi * p.ld, 36 * p.ld);
      output_transform(p, M, t0, nb, bias, out);
    }
  });
}

// Runs correlate with U from weight_transform43(taps).
template <typename Taps>
void correlate_with(const Plan& p, int64_t G, int64_t Og, int64_t Cg, const Taps& taps, const float* in,
                    const float* bias, float* out) {
  std::vector<float> U(size_t(36 * G * Og * Cg));
  weight_transform43(G, Og, Cg, taps, U.data());
  correlate(p, in, U.data(), bias, out);
}

void forward(DType dtype, const Conv2dGeometry& g, const void* x, const void* w, const void* bias, void* y) {
  EMBER_CHECK(dtype == DType::Float32, TypeError, "conv2d (Winograd F(4x4, 3x3)): float32 only");
  const int64_t Cg = g.C / g.G, Og = g.O / g.G;
  const float* wf = static_cast<const float*>(w);
  const Plan p = make_plan(g.N, g.C, g.H, g.W, g.O, g.oH, g.oW, g.padT, g.padL, g.G);
  correlate_with(p, g.G, Og, Cg, [&](int64_t grp, int64_t o, int64_t c, float (&k)[3][3]) {
    const float* src = wf + ((grp * Og + o) * Cg + c) * 9;
    for (int i = 0; i < 9; ++i) k[i / 3][i % 3] = src[i];
  }, static_cast<const float*>(x), static_cast<const float*>(bias), static_cast<float*>(y));
}

// dx = correlate(dy, w flipped and transposed per group), padding 2 - P; `bias` (C values, or
// null) is added to every dx plane (conv_transpose2d's bias).
void backward_input(DType dtype, const Conv2dGeometry& g, const void* dy, const void* w, const void* bias, void* dx) {
  EMBER_CHECK(dtype == DType::Float32, TypeError, "conv2d_backward_input (Winograd F(4x4, 3x3)): float32 only");
  const int64_t Cg = g.C / g.G, Og = g.O / g.G;
  const float* wf = static_cast<const float*>(w);
  const Plan p = make_plan(g.N, g.O, g.oH, g.oW, g.C, g.H, g.W, 2 - g.padT, 2 - g.padL, g.G);
  // The swapped pair (c, o) of group grp reads w[grp*Og + o, c] rotated by 180 degrees.
  correlate_with(p, g.G, Cg, Og, [&](int64_t grp, int64_t c, int64_t o, float (&k)[3][3]) {
    const float* src = wf + ((grp * Og + o) * Cg + c) * 9;
    for (int i = 0; i < 9; ++i) k[i / 3][i % 3] = src[8 - i];
  }, static_cast<const float*>(dy), static_cast<const float*>(bias), static_cast<float*>(dx));
}

// dw (O, Cg, 3, 3) and db (O) from dy and x; either output may be null. Threads take slots of
// blocks; per block and xi the product's sums go straight into the slot's float dU
// (product_nt_sum: lanes summed in registers), which is smaller than keeping eight lanes of every
// entry of all 36 xi (4.7 MB for 64 -> 64 channels). Per block and xi, zeroing eight-lane partials,
// writing them and folding them into dU cost more than the product itself (depth 64:
// four vector multiply-adds per entry against eight scalar adds, loads and stores).
void backward_weight(DType dtype, const Conv2dGeometry& g, const void* dy_, const void* x_, void* dw_, void* db_) {
  EMBER_CHECK(dtype == DType::Float32, TypeError, "conv2d_backward_weight (Winograd F(4x4, 3x3)): float32 only");
  const float* dy = static_cast<const float*>(dy_);
  const float* x = static_cast<const float*>(x_);
  if (db_) winograd::bias_grad(g, dy, static_cast<float*>(db_));
  if (!dw_) return;
  float* dw = static_cast<float*>(dw_);
  const int64_t Cg = g.C / g.G, Og = g.O / g.G;
  Plan p = make_plan(g.N, g.C, g.H, g.W, g.O, g.oH, g.oW, g.padT, g.padL, g.G);
  // The products run along the tiles (K = the block's tiles): at least 64 of them.
  if (p.TB < 64) {
    p.TB = 64;
    p.ld = p.TB + 16;
  }
  const int64_t nblocks = (p.tiles + p.TB - 1) / p.TB;
  const int64_t usize = 36 * g.G * Og * Cg;
  const int64_t slots = imax(1, imin(int64_t(get_num_threads()), nblocks));
  std::vector<float> dU(size_t(slots * usize), 0.f);
  parallel_for(0, slots, 1, [&](int64_t s0, int64_t s1) {
    float* V = tl_v4.get<float>(36 * p.Cin * p.ld);
    float* dM = tl_m4.get<float>(36 * p.Cout * p.ld);
    PadScratch ps(p, imax(p.Cin, p.Cout));
    for (int64_t s = s0; s < s1; ++s) {
      float* acc = dU.data() + s * usize;
      for (int64_t b = nblocks * s / slots; b < nblocks * (s + 1) / slots; ++b) {
        const int64_t t0 = b * p.TB, nb = imin(p.TB, p.tiles - t0);
        Segments seg = ps.segments();
        pad_block(p, Source{x, p.Cin, p.iH, p.iW, p.padT, p.padL, 6}, t0, nb, ps.pad, seg);
        input_transform(p, ps.pad, seg, t0, nb, V);
        seg = ps.segments();
        pad_block(p, Source{dy, p.Cout, p.oH, p.oW, 0, 0, 4}, t0, nb, ps.pad, seg);
        output_grad_transform(p, ps.pad, seg, t0, nb, dM);
        zero_tail(V, 36 * p.Cin, p.ld, nb);
        zero_tail(dM, 36 * p.Cout, p.ld, nb);
        const int64_t depth = (nb + 15) / 16 * 16;
        // dU[grp][xi] (Og x Cg) += dM[xi] (Og x nb) . V[xi]^T (nb x Cg)
        for (int64_t grp = 0; grp < g.G; ++grp)
          for (int64_t xi = 0; xi < 36; ++xi)
            winograd::product_nt_sum(Og, Cg, depth, dM + grp * Og * 36 * p.ld + xi * p.ld, 36 * p.ld,
                                     V + grp * Cg * 36 * p.ld + xi * p.ld, 36 * p.ld,
                                     acc + (grp * 36 + xi) * Og * Cg, Cg);
      }
    }
  });
  // dw[o, c] = G^T (sum over slots of dU[o, c]) G  (3x3 from 6x6), in double, kCB input channels at
  // a time in vector lanes (as weight_transform43).
  constexpr int64_t kCB = 32;
  parallel_for(0, g.G * Og, imax(1, 1024 / imax(Cg, 1)), [&](int64_t go0, int64_t go1) {
    for (int64_t go = go0; go < go1; ++go) {
      const int64_t grp = go / Og, o = go % Og;
      for (int64_t c0 = 0; c0 < Cg; c0 += kCB) {
        const int64_t cb = imin(kCB, Cg - c0);
        double u[36][kCB];
        for (int xi = 0; xi < 36; ++xi) {
          const float* e = dU.data() + (grp * 36 + xi) * Og * Cg + o * Cg + c0;
          for (int64_t c = 0; c < cb; ++c) u[xi][c] = double(e[c]);
          for (int64_t s = 1; s < slots; ++s)
            for (int64_t c = 0; c < cb; ++c) u[xi][c] += double(e[s * usize + c]);
        }
        double t[3][6][kCB];  // G^T u
        for (int i = 0; i < 3; ++i)
          for (int b = 0; b < 6; ++b)
            for (int64_t c = 0; c < cb; ++c) {
              double v = 0.0;
              for (int a = 0; a < 6; ++a) v += kG[a][i] * u[a * 6 + b][c];
              t[i][b][c] = v;
            }
        float* dst = dw + ((grp * Og + o) * Cg + c0) * 9;
        for (int i = 0; i < 3; ++i)
          for (int j = 0; j < 3; ++j)
            for (int64_t c = 0; c < cb; ++c) {
              double v = 0.0;
              for (int b = 0; b < 6; ++b) v += t[i][b][c] * kG[b][j];
              dst[c * 9 + i * 3 + j] = float(v);
            }
      }
    }
  });
}

}  // namespace

REGISTER_CPU_KERNEL(conv2d_winograd43_forward_stub, &forward);
REGISTER_CPU_KERNEL(conv2d_winograd43_backward_input_stub, &backward_input);
REGISTER_CPU_KERNEL(conv2d_winograd43_backward_weight_stub, &backward_weight);

}  // namespace CPU_CAPABILITY
}  // namespace ember
