// The products of the Winograd convolutions (cpu/kernels/winograd.cpp, F(2x2, 3x3);
// cpu/kernels/winograd43.cpp, F(4x4, 3x3)) on operands their transforms laid out for them, and
// the bias gradient of their weight-gradient kernels. Like vec_math.h,
// included only by files under csrc/cpu/kernels/, so each instruction-set build gets its own copy
// in its own namespace.
//
// product_nt_lanes: C8 (M x N x 8) += A (M x K, lda) . B (N x K, ldb)^T kept as eight lane partial
// sums (C8[i][j][l] = sum over k = l mod 8), K a multiple of 16: one horizontal sum per entry at
// the end, not per call.
// product_nt_sum: C (M x N, row stride ldc) += A (M x K, lda) . B (N x K, ldb)^T, K a multiple of 16,
// each entry's vector lanes summed in registers (four entries of a row at a time, through a tree
// of horizontal adds) and added to C: for products whose K is short (F(4x4)'s weight gradient adds
// a block of 64 tiles at a time), where zeroing, writing and folding eight-lane partials cost more
// than the multiply-adds.
// product_nn: C (M x N) = A (M x K, row stride lda) . B (K x N, row stride ldb), with N a multiple
// of 16 (the transforms zero the block's columns past its last tile). A register tile of MR rows
// x 16 columns: per k two vector loads of B's row and MR broadcasts of A's column.
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "core/parallel.h"
#include "core/workspace.h"
#include "cpu/kernels/conv_index.h"
#include "cpu/kernels/vec_lanes.h"
#include "ops/conv.h"

#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
#include <immintrin.h>
#endif

namespace ember {
namespace CPU_CAPABILITY {
namespace winograd {

// Zeroes columns [nb, round_up(nb, 16)) of `rows` rows of stride ld: the products read whole
// groups of 16 (nn) or 8 (nt) columns.
inline void zero_tail(float* base, int64_t rows, int64_t ld, int64_t nb) {
  const int64_t end = (nb + 15) / 16 * 16;
  if (end > nb)
    for (int64_t r = 0; r < rows; ++r) std::memset(base + r * ld + nb, 0, size_t(end - nb) * sizeof(float));
}

#if defined(CPU_CAPABILITY_AVX512)
// AVX-512: 16 columns per zmm; the register tile is MR rows x NV zmm (8 x 32 columns, a last 16
// columns with NV = 1).
template <int MR, int NV>
inline void nn_tile(int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc) {
  __m512 acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    __m512 b[NV];
    for (int v = 0; v < NV; ++v) b[v] = _mm512_loadu_ps(B + k * ldb + 16 * v);
    for (int r = 0; r < MR; ++r) {
      const __m512 a = _mm512_set1_ps(A[r * lda + k]);
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) _mm512_storeu_ps(C + r * ldc + 16 * v, acc[r][v]);
}

template <int NV>
inline void product_nn_columns(int64_t M, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                               float* C, int64_t ldc) {
  int64_t i = 0;
  for (; i + 8 <= M; i += 8) nn_tile<8, NV>(K, A + i * lda, lda, B, ldb, C + i * ldc, ldc);
  A += i * lda;
  C += i * ldc;
  switch (M - i) {
    case 7: nn_tile<7, NV>(K, A, lda, B, ldb, C, ldc); break;
    case 6: nn_tile<6, NV>(K, A, lda, B, ldb, C, ldc); break;
    case 5: nn_tile<5, NV>(K, A, lda, B, ldb, C, ldc); break;
    case 4: nn_tile<4, NV>(K, A, lda, B, ldb, C, ldc); break;
    case 3: nn_tile<3, NV>(K, A, lda, B, ldb, C, ldc); break;
    case 2: nn_tile<2, NV>(K, A, lda, B, ldb, C, ldc); break;
    case 1: nn_tile<1, NV>(K, A, lda, B, ldb, C, ldc); break;
    default: break;
  }
}

inline void product_nn(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                       float* C, int64_t ldc) {
  int64_t j = 0;
  for (; j + 32 <= N; j += 32) product_nn_columns<2>(M, K, A, lda, B + j, ldb, C + j, ldc);
  if (j < N) product_nn_columns<1>(M, K, A, lda, B + j, ldb, C + j, ldc);  // N is a multiple of 16
}
#elif defined(CPU_CAPABILITY_AVX2)
// AVX2: 16 columns in two ymm, 4 rows (8 accumulators). With 6 rows (12 of the 16 registers) GCC
// stored every accumulator to the stack at each k step: 1 thread, F(4x4) forward of 32 -> 64 at
// 14x14 4.8 -> 3.0 ms and its input gradient 5.0 -> 3.2 with 4 rows.
template <int MR>
inline void nn_tile(int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc) {
  __m256 acc[MR][2];
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    const __m256 b0 = _mm256_loadu_ps(B + k * ldb), b1 = _mm256_loadu_ps(B + k * ldb + 8);
    for (int r = 0; r < MR; ++r) {
      const __m256 a = _mm256_broadcast_ss(A + r * lda + k);
      acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
    }
  }
  for (int r = 0; r < MR; ++r) {
    _mm256_storeu_ps(C + r * ldc, acc[r][0]);
    _mm256_storeu_ps(C + r * ldc + 8, acc[r][1]);
  }
}

inline void product_nn(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                       float* C, int64_t ldc) {
  for (int64_t j = 0; j < N; j += 16) {
    int64_t i = 0;
    for (; i + 4 <= M; i += 4) nn_tile<4>(K, A + i * lda, lda, B + j, ldb, C + i * ldc + j, ldc);
    switch (M - i) {
      case 3: nn_tile<3>(K, A + i * lda, lda, B + j, ldb, C + i * ldc + j, ldc); break;
      case 2: nn_tile<2>(K, A + i * lda, lda, B + j, ldb, C + i * ldc + j, ldc); break;
      case 1: nn_tile<1>(K, A + i * lda, lda, B + j, ldb, C + i * ldc + j, ldc); break;
      default: break;
    }
  }
}
#else
inline void product_nn(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                       float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    float* c = C + i * ldc;
    for (int64_t j = 0; j < N; ++j) c[j] = 0.f;
    for (int64_t k = 0; k < K; ++k) {
      const float a = A[i * lda + k];
      const float* b = B + k * ldb;
      for (int64_t j = 0; j < N; ++j) c[j] += a * b[j];
    }
  }
}
#endif

#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
// The nt products' register tiles are MI x NJ entries of one vector: 16 lanes on AVX-512, folded to
// eight (lanes l and l + 8 both hold k = l mod 8); 8 lanes on AVX2.
#if defined(CPU_CAPABILITY_AVX512)
using NtVec = __m512;
constexpr int kNtLanes = 16;
inline NtVec nt_zero() { return _mm512_setzero_ps(); }
inline NtVec nt_load(const float* p) { return _mm512_loadu_ps(p); }
inline NtVec nt_fma(NtVec a, NtVec b, NtVec c) { return _mm512_fmadd_ps(a, b, c); }
inline __m256 nt_fold(NtVec v) {  // 16 lanes -> 8
  // Masked extracts: GCC 12's unmasked ones (and the cast) trip -Wuninitialized in its header.
  const __m256 z = _mm256_setzero_ps();
  return _mm256_add_ps(_mm512_mask_extractf32x8_ps(z, __mmask8(0xFF), v, 0),
                       _mm512_mask_extractf32x8_ps(z, __mmask8(0xFF), v, 1));
}
#else
using NtVec = __m256;
constexpr int kNtLanes = 8;
inline NtVec nt_zero() { return _mm256_setzero_ps(); }
inline NtVec nt_load(const float* p) { return _mm256_loadu_ps(p); }
inline NtVec nt_fma(NtVec a, NtVec b, NtVec c) { return _mm256_fmadd_ps(a, b, c); }
inline __m256 nt_fold(NtVec v) { return v; }
#endif
constexpr int kNtRows = kNtLanes == 16 ? 4 : 3;  // MI: 16 or 12 accumulators, four B vectors, one of A

// acc[i][j] += A's row i times B's row j, lane by lane, over K (a multiple of kNtLanes). The tiles
// below are forced inline: reached through in_groups' lambdas without it, the F(4x4) weight
// gradient ran 2-3% slower.
template <int MI, int NJ>
__attribute__((always_inline)) inline void nt_products(int64_t K, const float* A, int64_t lda, const float* B,
                                                       int64_t ldb, NtVec (&acc)[MI][NJ]) {
  for (int64_t k = 0; k < K; k += kNtLanes) {
    NtVec b[NJ];
    for (int j = 0; j < NJ; ++j) b[j] = nt_load(B + j * ldb + k);
    for (int i = 0; i < MI; ++i) {
      const NtVec a = nt_load(A + i * lda + k);
      for (int j = 0; j < NJ; ++j) acc[i][j] = nt_fma(a, b[j], acc[i][j]);
    }
  }
}

// f(std::integral_constant<int, W>{}, start) over [0, n): groups of kMax (<= 4), then one group
// of the 1 to kMax - 1 left.
template <int kMax, typename F>
inline void in_groups(int64_t n, const F& f) {
  int64_t i = 0;
  for (; i + kMax <= n; i += kMax) f(std::integral_constant<int, kMax>{}, i);
  const int64_t left = n - i;
  if constexpr (kMax > 3)
    if (left == 3) f(std::integral_constant<int, 3>{}, i);
  if constexpr (kMax > 2)
    if (left == 2) f(std::integral_constant<int, 2>{}, i);
  if (left == 1) f(std::integral_constant<int, 1>{}, i);
}

// product_nt_lanes' tile: C8's eight lanes per entry += the tile's (AVX2: the accumulators start
// from them).
template <int MI, int NJ>
__attribute__((always_inline)) inline void nt_tile(int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                                                   float* C8, int64_t ldc8) {
  NtVec acc[MI][NJ];
  for (int i = 0; i < MI; ++i)
    for (int j = 0; j < NJ; ++j) acc[i][j] = kNtLanes == 8 ? nt_load(C8 + i * ldc8 + 8 * j) : nt_zero();
  nt_products(K, A, lda, B, ldb, acc);
  for (int i = 0; i < MI; ++i)
    for (int j = 0; j < NJ; ++j) {
      float* c = C8 + i * ldc8 + 8 * j;
      _mm256_storeu_ps(c, kNtLanes == 8 ? nt_fold(acc[i][j]) : _mm256_add_ps(_mm256_loadu_ps(c), nt_fold(acc[i][j])));
    }
}

// product_nt_sum's tile: C[i][0, NJ) += the lane sums of its MI x NJ accumulators.
template <int MI, int NJ>
__attribute__((always_inline)) inline void nt_sum_tile(int64_t K, const float* A, int64_t lda, const float* B,
                                                       int64_t ldb, float* C, int64_t ldc) {
  NtVec acc[MI][NJ];
  for (int i = 0; i < MI; ++i)
    for (int j = 0; j < NJ; ++j) acc[i][j] = nt_zero();
  nt_products(K, A, lda, B, ldb, acc);
  for (int i = 0; i < MI; ++i) {
    __m256 f[4];
    for (int j = 0; j < 4; ++j) f[j] = j < NJ ? nt_fold(acc[i][j]) : _mm256_setzero_ps();
    // hadd(hadd(f0, f1), hadd(f2, f3)) holds entry j's sums of lanes 0-3 in lane j and of lanes
    // 4-7 in lane 4 + j.
    const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(f[0], f[1]), _mm256_hadd_ps(f[2], f[3]));
    const __m128 sums = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    float* c = C + i * ldc;
    if (NJ == 4) {
      _mm_storeu_ps(c, _mm_add_ps(_mm_loadu_ps(c), sums));
    } else {
      alignas(16) float v[4];
      _mm_store_ps(v, sums);
      for (int j = 0; j < NJ; ++j) c[j] += v[j];
    }
  }
}

inline void product_nt_lanes(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                             int64_t ldb, float* C8) {  // K is a multiple of 16 here
  const int64_t ldc8 = 8 * N;
  in_groups<kNtRows>(M, [&](auto mi, int64_t i) {
    in_groups<4>(N, [&](auto nj, int64_t j) {
      nt_tile<decltype(mi)::value, decltype(nj)::value>(K, A + i * lda, lda, B + j * ldb, ldb, C8 + i * ldc8 + 8 * j,
                                                         ldc8);
    });
  });
}

inline void product_nt_sum(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                           int64_t ldb, float* C, int64_t ldc) {  // K is a multiple of 16 here
  in_groups<kNtRows>(M, [&](auto mi, int64_t i) {
    in_groups<4>(N, [&](auto nj, int64_t j) {
      nt_sum_tile<decltype(mi)::value, decltype(nj)::value>(K, A + i * lda, lda, B + j * ldb, ldb, C + i * ldc + j,
                                                             ldc);
    });
  });
}
#else
inline void product_nt_lanes(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                             int64_t ldb, float* C8) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      float* c = C8 + (i * N + j) * 8;
      for (int64_t k = 0; k < K; k += 8)
        for (int l = 0; l < 8; ++l) c[l] += A[i * lda + k + l] * B[j * ldb + k + l];
    }
}

inline void product_nt_sum(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                           int64_t ldb, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      float lanes[8] = {};
      for (int64_t k = 0; k < K; k += 8)
        for (int l = 0; l < 8; ++l) lanes[l] += A[i * lda + k + l] * B[j * ldb + k + l];
      C[i * ldc + j] +=
          ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
    }
}
#endif

// db[o] = sum of dy over images and positions (O values), for the weight-gradient kernels.
inline void bias_grad(const Conv2dGeometry& g, const float* dy, float* db) {
  const int64_t oHW = g.oH * g.oW;
  parallel_for(0, g.O, imax(1, 65536 / imax(g.N * oHW, 1)), [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      double s = 0.0;
      for (int64_t n = 0; n < g.N; ++n) s += lane_sum(dy + (n * g.O + o) * oHW, oHW);
      db[o] = float(s);
    }
  });
}

}  // namespace winograd
}  // namespace CPU_CAPABILITY
}  // namespace ember
