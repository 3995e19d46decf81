// Packed GEMM kernels (GotoBLAS/BLIS algorithm), compiled once per instruction set.
// Shapes: C (M x N) = A (M x K) @ B (K x N); MR x NR = register tile of the micro-kernel,
// KC = depth of a packed block, MC x KC = packed A block (L2), KC x NC = packed B block (L3),
// KC x NR = one B micro-panel (L1).
//
//   for jc in N step NC:             B block  kc x nc  packed once per (jc, pc)
//     for pc in K step KC:
//       for ic in M step MC:         A block  mc x kc  packed once per (jc, pc, ic)
//         for jr in nc step NR:        B micro-panel stays in L1 across the ir loop
//           for ir in mc step MR:      micro-kernel: MR x NR accumulators in registers
//
// Threads each take a rectangle of C and run the loops above on it independently (no
// barriers), the split chosen to pack the least. This file must stay self-contained: it is
// compiled with AVX-512/AVX2 flags, so it uses no templates shared with portable code (only
// its own, in an anonymous namespace) and no std containers.
#include <cstdint>
#include <cstring>

#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
#include <immintrin.h>
#endif

#include "core/parallel.h"
#include "core/workspace.h"
#include "cpu/gemm.h"
#include "cpu/kernels/simd_transpose.h"

namespace ember {
namespace CPU_CAPABILITY {
namespace {

inline int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t max_i64(int64_t a, int64_t b) { return a > b ? a : b; }
inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// ---- per-thread packing buffers: grow once, then reused by every call on that thread ------
thread_local Workspace tl_pack_a;
thread_local Workspace tl_pack_b;
thread_local Workspace tl_ksplit;  // the calling thread's partial products of a split K

// ---- SIMD register traits (one vector of T) ------------------------------------------------
#if defined(CPU_CAPABILITY_AVX512)
struct VecF32 {
  using T = float;
  using reg = __m512;
  static constexpr int W = 16;
  static reg zero() { return _mm512_setzero_ps(); }
  static reg load(const T* p) { return _mm512_loadu_ps(p); }
  static void store(T* p, reg v) { _mm512_storeu_ps(p, v); }
  static reg bcast(const T* p) { return _mm512_set1_ps(*p); }
  static reg set1(T v) { return _mm512_set1_ps(v); }
  static reg fma(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  // Masked form: GCC 12's unmasked one trips -Wmaybe-uninitialized in its own header.
  static reg max(reg a, reg b) { return _mm512_mask_max_ps(b, __mmask16(0xFFFF), a, b); }
  // Lanes [0, n) of p (0 < n < W); the others read as zero, and are never touched in memory.
  static reg load_first(const T* p, int64_t n) { return _mm512_maskz_loadu_ps(__mmask16((1u << n) - 1), p); }
  static void store_first(T* p, int64_t n, reg v) { _mm512_mask_storeu_ps(p, __mmask16((1u << n) - 1), v); }
};
struct VecF64 {
  using T = double;
  using reg = __m512d;
  static constexpr int W = 8;
  static reg zero() { return _mm512_setzero_pd(); }
  static reg load(const T* p) { return _mm512_loadu_pd(p); }
  static void store(T* p, reg v) { _mm512_storeu_pd(p, v); }
  static reg bcast(const T* p) { return _mm512_set1_pd(*p); }
  static reg set1(T v) { return _mm512_set1_pd(v); }
  static reg fma(reg a, reg b, reg c) { return _mm512_fmadd_pd(a, b, c); }
  static reg mul(reg a, reg b) { return _mm512_mul_pd(a, b); }
  static reg add(reg a, reg b) { return _mm512_add_pd(a, b); }
  static reg max(reg a, reg b) { return _mm512_mask_max_pd(b, __mmask8(0xFF), a, b); }
  static reg load_first(const T* p, int64_t n) { return _mm512_maskz_loadu_pd(__mmask8((1u << n) - 1), p); }
  static void store_first(T* p, int64_t n, reg v) { _mm512_mask_storeu_pd(p, __mmask8((1u << n) - 1), v); }
};
#elif defined(CPU_CAPABILITY_AVX2)
struct VecF32 {
  using T = float;
  using reg = __m256;
  static constexpr int W = 8;
  static reg zero() { return _mm256_setzero_ps(); }
  static reg load(const T* p) { return _mm256_loadu_ps(p); }
  static void store(T* p, reg v) { _mm256_storeu_ps(p, v); }
  static reg bcast(const T* p) { return _mm256_broadcast_ss(p); }
  static reg set1(T v) { return _mm256_set1_ps(v); }
  static reg fma(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static reg max(reg a, reg b) { return _mm256_max_ps(a, b); }
  // Lanes [0, n) of p (0 < n < W) through masked moves, which never touch the other lanes' memory.
  static __m256i first(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static reg load_first(const T* p, int64_t n) { return _mm256_maskload_ps(p, first(n)); }
  static void store_first(T* p, int64_t n, reg v) { _mm256_maskstore_ps(p, first(n), v); }
};
struct VecF64 {
  using T = double;
  using reg = __m256d;
  static constexpr int W = 4;
  static reg zero() { return _mm256_setzero_pd(); }
  static reg load(const T* p) { return _mm256_loadu_pd(p); }
  static void store(T* p, reg v) { _mm256_storeu_pd(p, v); }
  static reg bcast(const T* p) { return _mm256_broadcast_sd(p); }
  static reg set1(T v) { return _mm256_set1_pd(v); }
  static reg fma(reg a, reg b, reg c) { return _mm256_fmadd_pd(a, b, c); }
  static reg mul(reg a, reg b) { return _mm256_mul_pd(a, b); }
  static reg add(reg a, reg b) { return _mm256_add_pd(a, b); }
  static reg max(reg a, reg b) { return _mm256_max_pd(a, b); }
  static __m256i first(int64_t n) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static reg load_first(const T* p, int64_t n) { return _mm256_maskload_pd(p, first(n)); }
  static void store_first(T* p, int64_t n, reg v) { _mm256_maskstore_pd(p, first(n), v); }
};
#endif

// ---- epilogue: C = act(alpha * acc + beta * C + bias) ------------------------------------
// Applied per K block: the first block uses the caller's beta, later ones beta = 1, and only
// the last adds the bias and applies the activation.
template <typename T>
struct Epilogue {
  T alpha, beta;
  const T* bias;  // offset to the tile's (0, 0); null when absent or not the last K block
  int64_t bias_row, bias_col;
  bool relu;
};

template <typename T>
inline T relu_scalar(T x) { return x < T(0) ? T(0) : x; }  // NaN passes through, as torch

// Generic tile update from an MR x NR accumulator tile in memory (row stride ld_acc): partial
// tiles, non-unit column stride of C, or unusual bias strides.
template <typename T>
void update_tile_scalar(const T* acc, int64_t ld_acc, int64_t mr, int64_t nr, T* c,
                        int64_t ldc_row, int64_t ldc_col, const Epilogue<T>& ep) {
  for (int64_t r = 0; r < mr; ++r) {
    for (int64_t j = 0; j < nr; ++j) {
      T& dst = c[r * ldc_row + j * ldc_col];
      T x = ep.alpha * acc[r * ld_acc + j];
      if (ep.beta != T(0)) x += ep.beta * dst;
      if (ep.bias) x += ep.bias[r * ep.bias_row + j * ep.bias_col];
      if (ep.relu) x = relu_scalar(x);
      dst = x;
    }
  }
}

// How a micro-kernel reads A: a packed panel (a[p*AS + r]), or the matrix in place, with its rows
// contiguous along k (a[r*lda + p]) or its columns contiguous along m (a[p*lda + r], A^T stored
// row-major: the weight gradient G^T X with G's rows in cache). In place only for whole MR-row tiles.
enum class ARead { kPacked, kRows, kColumns };

#if defined(CPU_CAPABILITY_AVX2)
// The k loop of the AVX2 6 x 16 fp32 / 6 x 8 fp64 kernels in assembly: GCC's own allocation of
// the unrolled intrinsics loop spills an accumulator and loses ~10% at this size. Per k step:
// two B vectors, six broadcasts of A, twelve FMAs into the compiler-allocated accumulators.
// BCAST/FMA: instruction names; ESZ: element size; PF: prefetches of the A panel (L2 -> L1).
#define EMBER_GEMM_AVX2_KLOOP(BCAST, FMA, ESZ, PF)                                         \
  asm volatile(                                                                           \
      "test %[k], %[k]\n\t"                                                               \
      "jz 2f\n\t"                                                                         \
      ".p2align 5\n\t"                                                                    \
      "1:\n\t" PF                                                                         \
      ".irp u,0,1,2,3\n\t"                                                                \
      "vmovups 64*\\u(%[b]), %%ymm13\n\t"                                                   \
      "vmovups 64*\\u+32(%[b]), %%ymm14\n\t"                                                \
      BCAST " (6*\\u+0)*" ESZ "(%[a]), %%ymm15\n\t"                                          \
      FMA " %%ymm13, %%ymm15, %[c00]\n\t" FMA " %%ymm14, %%ymm15, %[c01]\n\t"                       \
      BCAST " (6*\\u+1)*" ESZ "(%[a]), %%ymm15\n\t"                                          \
      FMA " %%ymm13, %%ymm15, %[c10]\n\t" FMA " %%ymm14, %%ymm15, %[c11]\n\t"                       \
      BCAST " (6*\\u+2)*" ESZ "(%[a]), %%ymm15\n\t"                                          \
      FMA " %%ymm13, %%ymm15, %[c20]\n\t" FMA " %%ymm14, %%ymm15, %[c21]\n\t"                       \
      BCAST " (6*\\u+3)*" ESZ "(%[a]), %%ymm15\n\t"                                          \
      FMA " %%ymm13, %%ymm15, %[c30]\n\t" FMA " %%ymm14, %%ymm15, %[c31]\n\t"                       \
      BCAST " (6*\\u+4)*" ESZ "(%[a]), %%ymm15\n\t"                                          \
      FMA " %%ymm13, %%ymm15, %[c40]\n\t" FMA " %%ymm14, %%ymm15, %[c41]\n\t"                       \
      BCAST " (6*\\u+5)*" ESZ "(%[a]), %%ymm15\n\t"                                          \
      FMA " %%ymm13, %%ymm15, %[c50]\n\t" FMA " %%ymm14, %%ymm15, %[c51]\n\t"                       \
      ".endr\n\t"                                                                         \
      "add $24*" ESZ ", %[a]\n\t"                                                         \
      "add $256, %[b]\n\t"                                                                \
      "dec %[k]\n\t"                                                                      \
      "jnz 1b\n\t"                                                                        \
      "2:\n\t"                                                                            \
      : [a] "+r"(a), [b] "+r"(b), [k] "+r"(k4), [c00] "+x"(acc[0][0]),                    \
        [c01] "+x"(acc[0][1]), [c10] "+x"(acc[1][0]), [c11] "+x"(acc[1][1]),             \
        [c20] "+x"(acc[2][0]), [c21] "+x"(acc[2][1]), [c30] "+x"(acc[3][0]),             \
        [c31] "+x"(acc[3][1]), [c40] "+x"(acc[4][0]), [c41] "+x"(acc[4][1]),             \
        [c50] "+x"(acc[5][0]), [c51] "+x"(acc[5][1])                                       \
      :                                                                                   \
      : "xmm13", "xmm14", "xmm15", "cc", "memory")

inline void kloop_6x16(int64_t kc, const float* __restrict& a, const float* __restrict& b, __m256 (&acc)[6][2]) {
  int64_t k4 = kc / 4;
  EMBER_GEMM_AVX2_KLOOP("vbroadcastss", "vfmadd231ps", "4",
                        "prefetcht0 512(%[a])\n\tprefetcht0 576(%[a])\n\t");
}
inline void kloop_6x16(int64_t kc, const double* __restrict& a, const double* __restrict& b, __m256d (&acc)[6][2]) {
  int64_t k4 = kc / 4;
  EMBER_GEMM_AVX2_KLOOP("vbroadcastsd", "vfmadd231pd", "8",
                        "prefetcht0 768(%[a])\n\tprefetcht0 832(%[a])\n\tprefetcht0 896(%[a])\n\t");
}
#undef EMBER_GEMM_AVX2_KLOOP
#endif

#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
// ---- SIMD micro-kernel: MR rows x NV vectors of accumulators ------------------------------
// a: read as kA says (ARead; in place only with mr == MR); b: packed panel (b[p*ldb + j],
// ldb = BS), or B itself (ldb = its row stride, whole NR-column panels only). AS and BS are the
// panel widths of the packing, MR and NV * W by default; the edge kernels (KernelEdges below)
// cover fewer rows or one vector of columns of the same panels.
template <class V, int MR_, int NV, int AS = MR_, int BS = NV * V::W>
struct SimdKernel {
  using T = typename V::T;
  static constexpr int MR = MR_;
  static constexpr int NR = NV * V::W;

  template <ARead kA = ARead::kPacked>
  static void run(int64_t kc, const T* __restrict a, const T* __restrict b, T* c,
                  int64_t ldc_row, int64_t ldc_col, int64_t mr, int64_t nr,
                  const Epilogue<T>& ep, int64_t lda = 0, int64_t ldb = BS) {
    typename V::reg acc[MR][NV];
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = V::zero();

    const bool full = mr == MR && nr == NR && ldc_col == 1;
    if (full) {
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc_row), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc_row + NR - 1), _MM_HINT_T0);
      }
    }
    // One k step: NV vectors of B, MR broadcasts of A's column, MR x NV FMAs.
    const auto step = [&](const T* ak, const T* bk) {
      typename V::reg bv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) bv[v] = V::load(bk + v * V::W);
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        const typename V::reg av = V::bcast(kA == ARead::kRows ? ak + r * lda : ak + r);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[r][v] = V::fma(av, bv[v], acc[r][v]);
      }
    };
    const int64_t a_step = kA == ARead::kRows ? 1 : kA == ARead::kColumns ? lda : AS;

    int64_t p = 0;
#if defined(CPU_CAPABILITY_AVX2)
    if constexpr (MR == 6 && NV == 2 && AS == 6 && kA == ARead::kPacked) {
      if (ldb == 16) {
        kloop_6x16(kc, a, b, acc);
        p = kc / 4 * 4;
      }
    }
#endif
    for (; p + 4 <= kc; p += 4) {
#pragma GCC unroll 4
      for (int u = 0; u < 4; ++u) {
        if (kA == ARead::kPacked && u % 2 == 0) _mm_prefetch(reinterpret_cast<const char*>(a + 8 * AS), _MM_HINT_T0);
        step(a, b);
        a += a_step;
        b += ldb;
      }
    }
    for (; p < kc; ++p) {
      step(a, b);
      a += a_step;
      b += ldb;
    }

    // A whole tile without scaling, bias or activation (every tile of a plain product, and each
    // K block but the last): straight stores, or adds onto C; the general update below costs
    // about as much as the products themselves when K is short (128 x 10 x 512).
    if (full && ep.alpha == T(1) && !ep.bias && !ep.relu && (ep.beta == T(0) || ep.beta == T(1))) {
      if (ep.beta == T(0)) {
#pragma GCC unroll 16
        for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) V::store(c + r * ldc_row + v * V::W, acc[r][v]);
      } else {
#pragma GCC unroll 16
        for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) {
            T* cv = c + r * ldc_row + v * V::W;
            V::store(cv, V::add(acc[r][v], V::load(cv)));
          }
      }
      return;
    }
    // Vector update: C with a unit column stride and the bias per column (contiguous) or per
    // row. A partial tile updates its first mr rows, and its last vector of columns with masked
    // moves that never touch C past column nr.
    const bool bias_ok = !ep.bias || (ep.bias_row == 0 && ep.bias_col == 1) || ep.bias_col == 0;
    if (ldc_col == 1 && bias_ok) {
      const typename V::reg alpha = V::set1(ep.alpha);
      const typename V::reg beta = V::set1(ep.beta);
      const bool scale = ep.alpha != T(1);
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        if (r == mr) break;
        T* crow = c + r * ldc_row;
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) {
          const int64_t lanes = nr - v * V::W;  // columns of C in this vector
          if (lanes <= 0) break;
          const bool whole = lanes >= V::W;
          typename V::reg x = acc[r][v];
          if (scale) x = V::mul(x, alpha);
          if (ep.beta != T(0)) {
            const T* src = crow + v * V::W;
            x = V::fma(whole ? V::load(src) : V::load_first(src, lanes), beta, x);
          }
          if (ep.bias) {
            const T* b = ep.bias + v * V::W;
            x = V::add(x, !ep.bias_col ? V::set1(ep.bias[r * ep.bias_row])
                                       : whole ? V::load(b) : V::load_first(b, lanes));
          }
          if (ep.relu) x = V::max(V::zero(), x);  // operand order keeps NaN, as torch
          if (whole) V::store(crow + v * V::W, x);
          else V::store_first(crow + v * V::W, lanes, x);
        }
      }
      return;
    }
    alignas(64) T tile[MR * NR];
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) V::store(tile + r * NR + v * V::W, acc[r][v]);
    update_tile_scalar(tile, NR, mr, nr, c, ldc_row, ldc_col, ep);
  }
};
#endif

// ---- one tile, by the kernel that fits it -----------------------------------------------------
// A partial tile would pay for the rows and columns it does not have: M = 16 would cost 24 rows
// of multiply-adds with MR = 12, N = 42 would cost 64 columns, N = 9 (the weight gradient of a
// 1-channel 3x3 conv) 32. A SimdKernel's edge tiles therefore run kernels of MR/3 or 2*MR/3 rows
// and/or one vector of columns over the same packed panels; any other kernel (LoopKernel) runs
// its partial tiles whole.
template <class Kern>
struct KernelEdges {
  static constexpr int kRowStep = Kern::MR, kColStep = Kern::NR;  // granularity of edge tiles
  template <ARead kA, typename T>
  static void run(int64_t kc, const T* a, const T* b, T* c, int64_t ldc_row, int64_t ldc_col, int64_t mr,
                  int64_t nr, const Epilogue<T>& ep, int64_t lda, int64_t ldb) {
    Kern::template run<kA>(kc, a, b, c, ldc_row, ldc_col, mr, nr, ep, lda, ldb);
  }
};
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
template <class V, int MR, int NV>
struct KernelEdges<SimdKernel<V, MR, NV>> {
  static constexpr int NR = NV * V::W;
  static constexpr int kRowStep = MR / 3, kColStep = V::W;
  template <int R, ARead kA, typename T>
  static void rows(int64_t kc, const T* a, const T* b, T* c, int64_t ldc_row, int64_t ldc_col, int64_t mr,
                   int64_t nr, const Epilogue<T>& ep, int64_t lda, int64_t ldb) {
    if (NV > 1 && nr <= V::W)
      SimdKernel<V, R, 1, MR, NR>::template run<kA>(kc, a, b, c, ldc_row, ldc_col, mr, nr, ep, lda, ldb);
    else
      SimdKernel<V, R, NV, MR, NR>::template run<kA>(kc, a, b, c, ldc_row, ldc_col, mr, nr, ep, lda, ldb);
  }
  template <ARead kA, typename T>
  static void run(int64_t kc, const T* a, const T* b, T* c, int64_t ldc_row, int64_t ldc_col, int64_t mr,
                  int64_t nr, const Epilogue<T>& ep, int64_t lda, int64_t ldb) {
    if (mr <= MR / 3) rows<MR / 3, kA>(kc, a, b, c, ldc_row, ldc_col, mr, nr, ep, lda, ldb);
    else if (mr <= 2 * MR / 3) rows<2 * MR / 3, kA>(kc, a, b, c, ldc_row, ldc_col, mr, nr, ep, lda, ldb);
    else rows<MR, kA>(kc, a, b, c, ldc_row, ldc_col, mr, nr, ep, lda, ldb);
  }
};
#endif

// ---- portable micro-kernel: plain loops the compiler vectorises for SSE2 -------------------
template <typename T_, int MR_, int NR_>
struct LoopKernel {
  using T = T_;
  static constexpr int MR = MR_;
  static constexpr int NR = NR_;

  template <ARead kA = ARead::kPacked>
  static void run(int64_t kc, const T* __restrict a, const T* __restrict b, T* c,
                  int64_t ldc_row, int64_t ldc_col, int64_t mr, int64_t nr,
                  const Epilogue<T>& ep, int64_t lda = 0, int64_t ldb = NR) {
    T acc[MR * NR];
    for (int i = 0; i < MR * NR; ++i) acc[i] = T(0);
    for (int64_t p = 0; p < kc; ++p) {
      for (int r = 0; r < MR; ++r) {
        const T ar = kA == ARead::kRows ? a[r * lda] : a[r];
        for (int j = 0; j < NR; ++j) acc[r * NR + j] += ar * b[j];
      }
      a += kA == ARead::kRows ? 1 : kA == ARead::kColumns ? lda : MR;
      b += ldb;
    }
    update_tile_scalar(acc, NR, mr, nr, c, ldc_row, ldc_col, ep);
  }
};

// ---- packing --------------------------------------------------------------------------------
// Packs `lines` (<= W) lines of a matrix into a W-wide panel: dst[p*W + l] = src[l*ls + p*ks],
// zero-padded to W lines. For A the lines are rows (ls = lda_row, ks = lda_col); for B they are
// columns (ls = ldb_col, ks = ldb_row). The destination needs 16 elements of slack at its end
// (the transposing path stores whole vectors that the next store overwrites).
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
// Lines contiguous along k (ks == 1): transpose 8 x 8 blocks; lines beyond `lines` read zeros.
template <int W>
void pack_lines_transposed(float* dst, const float* src, int64_t ls, int64_t lines, int64_t kc) {
  constexpr int G = (W + 7) / 8;  // groups of 8 lines
  int64_t p = 0;
  for (; p + 8 <= kc; p += 8) {
    __m256 t[G][8];
    for (int g = 0; g < G; ++g) {
      for (int l = 0; l < 8; ++l) {
        const int64_t line = g * 8 + l;
        t[g][l] = line < lines ? _mm256_loadu_ps(src + line * ls + p) : _mm256_setzero_ps();
      }
      transpose8(t[g]);
    }
    // Ascending order: each store's spill past its W slots is overwritten by the next.
    for (int q = 0; q < 8; ++q)
      for (int g = 0; g < G; ++g) _mm256_storeu_ps(dst + (p + q) * W + g * 8, t[g][q]);
  }
  for (; p < kc; ++p)
    for (int l = 0; l < W; ++l) dst[p * W + l] = l < lines ? src[l * ls + p] : 0.f;
}

template <int W>
void pack_lines_transposed(double* dst, const double* src, int64_t ls, int64_t lines, int64_t kc) {
  constexpr int G = (W + 3) / 4;  // groups of 4 lines
  int64_t p = 0;
  for (; p + 4 <= kc; p += 4) {
    __m256d t[G][4];
    for (int g = 0; g < G; ++g) {
      __m256d r[4];
      for (int l = 0; l < 4; ++l) {
        const int64_t line = g * 4 + l;
        r[l] = line < lines ? _mm256_loadu_pd(src + line * ls + p) : _mm256_setzero_pd();
      }
      const __m256d u0 = _mm256_unpacklo_pd(r[0], r[1]), u1 = _mm256_unpackhi_pd(r[0], r[1]);
      const __m256d u2 = _mm256_unpacklo_pd(r[2], r[3]), u3 = _mm256_unpackhi_pd(r[2], r[3]);
      t[g][0] = _mm256_permute2f128_pd(u0, u2, 0x20);
      t[g][1] = _mm256_permute2f128_pd(u1, u3, 0x20);
      t[g][2] = _mm256_permute2f128_pd(u0, u2, 0x31);
      t[g][3] = _mm256_permute2f128_pd(u1, u3, 0x31);
    }
    for (int q = 0; q < 4; ++q)
      for (int g = 0; g < G; ++g) _mm256_storeu_pd(dst + (p + q) * W + g * 4, t[g][q]);
  }
  for (; p < kc; ++p)
    for (int l = 0; l < W; ++l) dst[p * W + l] = l < lines ? src[l * ls + p] : 0.0;
}
// Each k step is `lines` contiguous elements (ls == 1): masked loads (which never fault on
// the masked-off lanes past the matrix) zero-fill up to W; whole-vector stores spill past W
// into the next step, which overwrites them.
inline __m256i first_lanes_mask32(int64_t n) {  // 32-bit lanes [0, n) set
  static const int32_t table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  n = n < 0 ? 0 : (n > 8 ? 8 : n);
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(table + 8 - n));
}
inline __m256i first_lanes_mask64(int64_t n) {  // 64-bit lanes [0, n) set
  static const int64_t table[8] = {-1, -1, -1, -1, 0, 0, 0, 0};
  n = n < 0 ? 0 : (n > 4 ? 4 : n);
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(table + 4 - n));
}
// k outermost, so that each source step (often one or two cache lines) is read once for all
// the panels of the block. Lanes past the block use masked loads, which never fault; whole-vector
// stores spill past W into the next step, which overwrites them, but the last step of a panel
// stores exactly W lanes, since the next panel was already written.
template <int W>
void pack_block_contiguous(float* dst, const float* src, int64_t ks, int64_t n_lines, int64_t kc) {
  constexpr int NV = (W + 7) / 8;
  const int64_t panels = ceil_div(n_lines, W);
  const __m256i tail_mask = first_lanes_mask32(W - 8 * (NV - 1));
  for (int64_t p = 0; p < kc; ++p) {
    const float* s = src + p * ks;
    float* d = dst + p * W;
    for (int64_t q = 0; q < panels; ++q, s += W, d += kc * W) {
      const int64_t left = n_lines - q * W;
      for (int v = 0; v < NV; ++v) {
        const __m256 x = left >= 8 * (v + 1)
                             ? _mm256_loadu_ps(s + 8 * v)
                             : _mm256_maskload_ps(s + 8 * v, first_lanes_mask32(left - 8 * v));
        if (v == NV - 1 && p == kc - 1 && W % 8) _mm256_maskstore_ps(d + 8 * v, tail_mask, x);
        else _mm256_storeu_ps(d + 8 * v, x);
      }
    }
  }
}
template <int W>
void pack_block_contiguous(double* dst, const double* src, int64_t ks, int64_t n_lines, int64_t kc) {
  constexpr int NV = (W + 3) / 4;
  const int64_t panels = ceil_div(n_lines, W);
  const __m256i tail_mask = first_lanes_mask64(W - 4 * (NV - 1));
  for (int64_t p = 0; p < kc; ++p) {
    const double* s = src + p * ks;
    double* d = dst + p * W;
    for (int64_t q = 0; q < panels; ++q, s += W, d += kc * W) {
      const int64_t left = n_lines - q * W;
      for (int v = 0; v < NV; ++v) {
        const __m256d x = left >= 4 * (v + 1)
                              ? _mm256_loadu_pd(s + 4 * v)
                              : _mm256_maskload_pd(s + 4 * v, first_lanes_mask64(left - 4 * v));
        if (v == NV - 1 && p == kc - 1 && W % 4) _mm256_maskstore_pd(d + 4 * v, tail_mask, x);
        else _mm256_storeu_pd(d + 4 * v, x);
      }
    }
  }
}
#else
template <int W, typename T>
void pack_block_contiguous(T* dst, const T* src, int64_t ks, int64_t n_lines, int64_t kc) {
  for (int64_t p = 0; p < kc; ++p)
    for (int64_t l0 = 0; l0 < n_lines; l0 += W)
      for (int l = 0; l < W; ++l)
        dst[l0 * kc + p * W + l] = l0 + l < n_lines ? src[p * ks + l0 + l] : T(0);
}

template <int W, typename T>
void pack_lines_transposed(T* dst, const T* src, int64_t ls, int64_t lines, int64_t kc) {
  for (int64_t l = 0; l < lines; ++l)
    for (int64_t p = 0; p < kc; ++p) dst[p * W + l] = src[l * ls + p];
  for (int64_t l = lines; l < W; ++l)
    for (int64_t p = 0; p < kc; ++p) dst[p * W + l] = T(0);
}
#endif

template <int W, typename T>
void pack_panel(T* __restrict dst, const T* __restrict src, int64_t ls, int64_t ks,
                int64_t lines, int64_t kc) {
  if (ks == 1 && lines > 1) {
    pack_lines_transposed<W>(dst, src, ls, lines, kc);
  } else {
    for (int64_t p = 0; p < kc; ++p)
      for (int l = 0; l < W; ++l) dst[p * W + l] = l < lines ? src[l * ls + p * ks] : T(0);
  }
}

// Packs an n_lines x kc block as consecutive W-wide panels of kc * W elements each.
template <int W, typename T>
void pack_block(T* dst, const T* src, int64_t ls, int64_t ks, int64_t n_lines, int64_t kc) {
  if (ls == 1 && (ks != 1 || n_lines == 1)) {
    // Four panels at a time: each source step is read once for them, and the writes go to only
    // four streams (all panels at once measured 1.8x slower on 288 x 12544 x 64 with A^T).
    for (int64_t l0 = 0; l0 < n_lines; l0 += 4 * W)
      pack_block_contiguous<W>(dst + l0 * kc, src + l0, ks, min_i64(4 * W, n_lines - l0), kc);
    return;
  }
  for (int64_t l0 = 0; l0 < n_lines; l0 += W)
    pack_panel<W>(dst + l0 * kc, src + l0 * ls, ls, ks, min_i64(W, n_lines - l0), kc);
}

// ---- blocking -------------------------------------------------------------------------------
struct Blocking {
  int64_t kc, mc, nc;
};

// Splits `total` into near-equal blocks of at most about `nominal` (up to 25% over, to avoid a
// thin last block), rounded up to `unit`.
inline int64_t balanced_block(int64_t total, int64_t nominal, int64_t unit) {
  if (total <= nominal + nominal / 4) return round_up(total, unit);
  const int64_t nblocks = ceil_div(total, nominal);
  return round_up(ceil_div(total, nblocks), unit);
}

// The loops of the header comment over the rectangle [m0, m1) x [n0, n1) of C.
template <class Kern>
void gemm_rect(const GemmKernelArgs& g, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
               const Blocking& blk) {
  using T = typename Kern::T;
  constexpr int MR = Kern::MR, NR = Kern::NR;
  const T* A = static_cast<const T*>(g.A);
  const T* B = static_cast<const T*>(g.B);
  T* C = static_cast<T*>(g.C);
  const T* bias = static_cast<const T*>(g.bias);
  const int64_t M = m1 - m0, N = n1 - n0, K = g.K;

  const int64_t kc_max = balanced_block(K, blk.kc, 1);
  const int64_t mc_max = balanced_block(M, blk.mc, MR);
  const int64_t nc_max = balanced_block(N, blk.nc, NR);
  T* pa = tl_pack_a.get<T>(mc_max * kc_max + 64);
  // A with rows contiguous along k, or columns contiguous along m, is read in place when C is at
  // most a few micro-tiles wide: packing would then cost about as much as the products it feeds
  // (each packed element serves at most four tiles). Only whole MR-row tiles; the rows left over
  // are packed.
  const bool few_tiles = ceil_div(N, NR) <= 4;
  const bool a_rows = g.lda_col == 1 && few_tiles, a_cols = !a_rows && g.lda_row == 1 && few_tiles;
  const bool direct_a = a_rows || a_cols;
  // Likewise B with rows contiguous along n when C has a single row tile (the 512 -> 10 layer's
  // dW, 10 x 128 x 512): each packed element would feed one tile. Whole NR-column panels only;
  // a last partial panel is packed.
  const bool direct_b = g.ldb_col == 1 && M <= MR;
  T* pb = tl_pack_b.get<T>(nc_max * kc_max + 64);

  for (int64_t jc = n0; jc < n1; jc += nc_max) {
    const int64_t nc = min_i64(nc_max, n1 - jc);
    for (int64_t pc = 0; pc < K; pc += kc_max) {
      const int64_t kc = min_i64(kc_max, K - pc);
      const bool first = pc == 0, last = pc + kc >= K;
      const int64_t nc_direct = direct_b ? nc / NR * NR : 0;  // columns of the block read in place
      if (nc_direct < nc)
        pack_block<NR>(pb + nc_direct * kc, B + pc * g.ldb_row + (jc + nc_direct) * g.ldb_col, g.ldb_col, g.ldb_row,
                       nc - nc_direct, kc);
      Epilogue<T> ep{T(g.alpha), first ? T(g.beta) : T(1), nullptr, g.bias_row, g.bias_col,
                     last && g.activation == GemmActivation::ReLU};
      for (int64_t ic = m0; ic < m1; ic += mc_max) {
        const int64_t mc = min_i64(mc_max, m1 - ic);
        const int64_t m_direct = direct_a ? mc / MR * MR : 0;  // rows of the block read in place
        if (m_direct < mc)
          pack_block<MR>(pa, A + (ic + m_direct) * g.lda_row + pc * g.lda_col, g.lda_row, g.lda_col,
                         mc - m_direct, kc);
        // One epilogue for the block, only its bias pointer set per tile (copying the struct
        // per tile can stall the tile on a store-forwarding miss).
        Epilogue<T> e = ep;
        const auto tile = [&](int64_t ir, int64_t jr) {
          const int64_t i = ic + ir, j = jc + jr, nr = min_i64(NR, nc - jr);
          if (last && bias) e.bias = bias + i * g.bias_row + j * g.bias_col;
          T* c = C + i * g.ldc_row + j * g.ldc_col;
          const bool b_direct = jr < nc_direct;
          const T* bp = b_direct ? B + pc * g.ldb_row + j : pb + jr * kc;
          const int64_t ldb = b_direct ? g.ldb_row : NR;
          if (ir < m_direct && a_rows)
            KernelEdges<Kern>::template run<ARead::kRows>(kc, A + i * g.lda_row + pc, bp, c, g.ldc_row, g.ldc_col,
                                                          MR, nr, e, g.lda_row, ldb);
          else if (ir < m_direct)
            KernelEdges<Kern>::template run<ARead::kColumns>(kc, A + i + pc * g.lda_col, bp, c, g.ldc_row,
                                                             g.ldc_col, MR, nr, e, g.lda_col, ldb);
          else
            KernelEdges<Kern>::template run<ARead::kPacked>(kc, pa + (ir - m_direct) * kc, bp, c, g.ldc_row,
                                                            g.ldc_col, min_i64(MR, mc - ir), nr, e, 0, ldb);
        };
        // Column panels outside keep each kc x NR panel of B in L1 across the row tiles. When
        // the whole packed block of B fits in half of L2, row tiles outside instead: C is then
        // written a band of MR rows at a time along its rows, which matters when K is short
        // (1 thread, min of 15 x 500 calls: 128x10x512 22.9 -> 18.3 us, 256x20x1024 145 -> 139,
        // 128x784x512 1040 -> 1001; squares from 256 up unchanged).
        if (nc * kc * int64_t(sizeof(T)) <= 512 * 1024) {
          for (int64_t ir = 0; ir < mc; ir += MR)
            for (int64_t jr = 0; jr < nc; jr += NR) tile(ir, jr);
        } else {
          for (int64_t jr = 0; jr < nc; jr += NR)
            for (int64_t ir = 0; ir < mc; ir += MR) tile(ir, jr);
        }
      }
    }
  }
}

// Threads, orientation and the split of C between threads.
template <class Kern>
void gemm_packed_typed(const GemmKernelArgs& args, const Blocking& blk) {
  constexpr int MR = Kern::MR, NR = Kern::NR;
  GemmKernelArgs g = args;
  // C^T = B^T A^T when that is cheaper by a rough cycle model of each orientation (m x n, with
  // A's and B's strides as the kernels would see them):
  //  - the multiply-adds, 16 lanes per cycle (Zen 4: one 512-bit or two 256-bit FMAs), edge
  //    tiles at the sizes of the edge kernels that run them (KernelEdges: N = 10 costs 16
  //    columns, M = 10 costs 12 rows, M = 16 costs 12 + 4);
  //  - ~4 cycles per element of C updated through the scalar path (C without a unit column
  //    stride: the tile goes through memory and a generic loop), once per K block. Measured on
  //    the im2col forward of a 16 -> 32 stride-2 conv (32x144 . 144x256 per image): the scalar
  //    update took 20% of the profile against 44% for the micro-kernel's 144 k steps. At 1
  //    cycle the model sent that product through C^T once A^T could be read in place (1 thread:
  //    2.12 -> 2.47 ms for the layer's forward). A transposed store of whole tiles would be cheaper;
  //  - packing, per element: ~0.35 cycle for lines adjacent in memory, 0.6 for lines contiguous
  //    along k (transposed in registers), 2 for a gather; what is read in place costs nothing.
  //    Without packing in the model, 128x512x10 (X . W^T into 10 classes) went through C^T and
  //    spent 45% of its time transposing X: 35-41 us, 23 us now (1 thread).
  //    A packed block of B larger than half of L2 costs 0.5 cycle per element more: its copy
  //    streams out to L3 and back. Without that, 16384x64 . 64x3 (a coordinate MLP's last layer)
  //    went through C^T, packing all of X^T into 1 MB blocks: 0.38-0.51 ms in a training step
  //    against 0.20 ms reading X in place (2 threads).
  using Edges = KernelEdges<Kern>;
  const int64_t kblocks = ceil_div(g.K, blk.kc);
  const auto edge_round = [](int64_t x, int64_t tile, int64_t step) {
    return x / tile * tile + round_up(x % tile, step);
  };
  const auto pack_cost = [](int64_t ls, int64_t ks) { return ls == 1 ? 0.35 : ks == 1 ? 0.6 : 2.0; };
  auto cost = [&](int64_t m, int64_t n, int64_t a_ls, int64_t a_ks, int64_t b_ls, int64_t b_ks, bool unit_col) {
    const double K = double(g.K);
    const double compute =
        double(edge_round(m, MR, Edges::kRowStep)) * double(edge_round(n, NR, Edges::kColStep)) * K / 16.0;
    const double scalar = unit_col ? 0.0 : 4.0 * double(kblocks) * double(m) * double(n);
    const bool direct_a = (a_ks == 1 || a_ls == 1) && ceil_div(n, NR) <= 4;  // as gemm_rect decides
    const bool direct_b = b_ls == 1 && m <= MR;
    const double pack_a = double(direct_a ? m % MR : m) * K * pack_cost(a_ls, a_ks) * double(ceil_div(n, blk.nc));
    const double b_block_bytes = double(min_i64(g.K, blk.kc) * min_i64(n, blk.nc)) * double(sizeof(typename Kern::T));
    const double pack_b = pack_cost(b_ls, b_ks) + (b_block_bytes > 512.0 * 1024.0 ? 0.5 : 0.0);
    return compute + scalar + pack_a + double(direct_b ? n % NR : n) * K * pack_b;
  };
  const bool transpose = cost(g.N, g.M, g.ldb_col, g.ldb_row, g.lda_row, g.lda_col, g.ldc_row == 1) <
                         0.97 * cost(g.M, g.N, g.lda_row, g.lda_col, g.ldb_col, g.ldb_row, g.ldc_col == 1);
  if (transpose) {
    GemmKernelArgs t = g;
    t.M = g.N; t.N = g.M;
    t.A = g.B; t.lda_row = g.ldb_col; t.lda_col = g.ldb_row;
    t.B = g.A; t.ldb_row = g.lda_col; t.ldb_col = g.lda_row;
    t.ldc_row = g.ldc_col; t.ldc_col = g.ldc_row;
    t.bias_row = g.bias_col; t.bias_col = g.bias_row;
    g = t;
  }

  const int64_t M = g.M, N = g.N, K = g.K;
  // About 0.4 MFLOP (~5 us) per thread before another thread pays for waking it (measured).
  const double flops = 2.0 * double(M) * double(N) * double(K);
  int64_t nt = min_i64(max_i64(g.num_threads, 1), max_i64(1, int64_t(flops / 4e5)));
  const int64_t mtiles = ceil_div(M, MR), ntiles = ceil_div(N, NR);
  nt = min_i64(nt, mtiles * ntiles);
  if (nt <= 1) {
    gemm_rect<Kern>(g, 0, M, 0, N, blk);
    return;
  }
  // Grid tm x tn = nt: the one with the least critical-path work (compute + packing, and a cycle
  // per element of C when the columns are split: the threads then write alternate stretches of
  // every row, and each core's prefetchers pull in lines the other is writing; 128x10x512 took
  // 19-25 us split by columns, 16-17 by rows, on 2 threads).
  int64_t best_tm = 1;
  double best_cost = 1e300;
  for (int64_t tm = 1; tm <= nt; ++tm) {
    if (nt % tm) continue;
    const int64_t tn = nt / tm;
    if (tm > mtiles || tn > ntiles) continue;
    const double mb = double(ceil_div(mtiles, tm) * MR), nb = double(ceil_div(ntiles, tn) * NR);
    const double compute = mb * nb * double(K) / 16.0;
    const double pack = double(K) * (nb + mb * double(ceil_div(int64_t(nb), blk.nc))) * 0.5;
    const double shared_rows = tn > 1 ? mb * nb : 0.0;
    if (compute + pack + shared_rows < best_cost) {
      best_cost = compute + pack + shared_rows;
      best_tm = tm;
    }
  }
  // A small C over a long K (weight gradients: 64 x 64 over 16384 rows, 288 x 64 over 12544): any
  // split of C makes every thread pack the whole of A or of B, up to K * max(M, N) elements each.
  // Split K instead: thread t computes C_t = A[:, K_t] . B[K_t, :] (thread 0 into C, with beta),
  // and the partials are added at the end, in thread order (the same bits for the same thread
  // count). Only without a bias or activation, which belong after the sum.
  if (g.bias == nullptr && g.activation == GemmActivation::None && K >= 8 * max_i64(M, N) &&
      K >= nt * blk.kc && double(M) * double(N) <= 262144.0) {
    using T = typename Kern::T;
    T* partial = tl_ksplit.get<T>((nt - 1) * M * N + 16);
    parallel_for(0, nt, 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t k0 = K * t / nt, k1 = K * (t + 1) / nt;
        GemmKernelArgs part = g;
        part.K = k1 - k0;
        part.A = static_cast<const T*>(g.A) + k0 * g.lda_col;
        part.B = static_cast<const T*>(g.B) + k0 * g.ldb_row;
        if (t > 0) {
          part.C = partial + (t - 1) * M * N;
          part.ldc_row = N;
          part.ldc_col = 1;
          part.beta = 0.0;
        }
        gemm_rect<Kern>(part, 0, M, 0, N, blk);
      }
    });
    T* C = static_cast<T*>(g.C);
    parallel_for(0, M, max_i64(1, 16384 / max_i64(N, 1)), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i)
        for (int64_t t = 1; t < nt; ++t) {
          const T* p = partial + (t - 1) * M * N + i * N;
          T* c = C + i * g.ldc_row;
          if (g.ldc_col == 1)
            for (int64_t j = 0; j < N; ++j) c[j] += p[j];
          else
            for (int64_t j = 0; j < N; ++j) c[j * g.ldc_col] += p[j];
        }
    });
    return;
  }
  const int64_t tm = best_tm, tn = nt / tm;
  parallel_for(0, nt, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t ti = t / tn, tj = t % tn;
      const int64_t mt0 = mtiles * ti / tm, mt1 = mtiles * (ti + 1) / tm;
      const int64_t nt0 = ntiles * tj / tn, nt1 = ntiles * (tj + 1) / tn;
      const int64_t m0 = mt0 * MR, m1 = min_i64(M, mt1 * MR);
      const int64_t n0 = nt0 * NR, n1 = min_i64(N, nt1 * NR);
      if (m0 < m1 && n0 < n1) gemm_rect<Kern>(g, m0, m1, n0, n1, blk);
    }
  });
}

// ---- per instruction set: micro-kernel shapes and blocking ---------------------------------
#if defined(CPU_CAPABILITY_AVX512)
// 12 x 32 fp32 / 12 x 16 fp64: 24 zmm accumulators of 32.
using KernelF32 = SimdKernel<VecF32, 12, 2>;
using KernelF64 = SimdKernel<VecF64, 12, 2>;
constexpr Blocking kBlockF32{256, 144, 4096};
constexpr Blocking kBlockF64{192, 96, 2048};
#elif defined(CPU_CAPABILITY_AVX2)
// 6 x 16 fp32 / 6 x 8 fp64: 12 ymm accumulators + 2 for B + 1 broadcast of 16 registers.
using KernelF32 = SimdKernel<VecF32, 6, 2>;
using KernelF64 = SimdKernel<VecF64, 6, 2>;
constexpr Blocking kBlockF32{256, 144, 4096};
constexpr Blocking kBlockF64{256, 72, 2048};
#else
// SSE2: 4 x 8 fp32 (8 xmm accumulators), 4 x 4 fp64.
using KernelF32 = LoopKernel<float, 4, 8>;
using KernelF64 = LoopKernel<double, 4, 4>;
constexpr Blocking kBlockF32{256, 128, 2048};
constexpr Blocking kBlockF64{256, 64, 2048};
#endif

void gemm_packed_kernel(DType dtype, const GemmKernelArgs& args) {
  if (dtype == DType::Float32) gemm_packed_typed<KernelF32>(args, kBlockF32);
  else if (dtype == DType::Float64) gemm_packed_typed<KernelF64>(args, kBlockF64);
  else throw_unsupported_dtype("gemm", dtype);
}

}  // namespace

REGISTER_CPU_KERNEL(gemm_packed_stub, &gemm_packed_kernel);

}  // namespace CPU_CAPABILITY
}  // namespace ember
