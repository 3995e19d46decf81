// im2col and col2im of one image, for the im2col + GEMM convolution of cpu/conv.cpp; compiled
// once per instruction set. Their rows are short (8-32 outputs) and, in strided convolutions,
// read or update every S-th input column: one element at a time these loops took a third of
// the time of a stride-2 convolution, as long as its GEMM.
// Shapes: x (C, H, W); col (C*kH*kW x oH*oW); row (c, kh, kw) of col holds
//   x[c, oh*S - P + kh*D, ow*S - P + kw*D]    (zero where that lies in the padding)
// and col2im writes dx (C, H, W) = the sum of col's entries over the positions im2col read.
// This file uses no templates shared with portable code (see core/loop.h).
#include <cstdint>
#include <cstring>

#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
#include <immintrin.h>
#endif

#include "cpu/kernels/conv_index.h"
#include "ops/conv.h"

namespace ember {
namespace CPU_CAPABILITY {
namespace {

// A plane's worth of rows at once: row r of the output of im2col is dst + r * ds, read from
// src + r * ss (the input column of output 0, which may lie outside the input row: only outputs
// [lo, hi) read it, the rest of [0, n) is zero); col2im adds row r of src into dst + r * ds at
// every S-th column. Vector code takes each group of outputs across all rows, so that the group's
// masks are worked out once per plane, not once per row (the rows are often one group long).
template <typename T>
inline void gather_rows_scalar(T* dst, int64_t ds, const T* src, int64_t ss, int64_t rows, int64_t S, int64_t lo,
                               int64_t hi, int64_t from, int64_t to) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = from; i < to; ++i) dst[r * ds + i] = (i >= lo && i < hi) ? src[r * ss + i * S] : T(0);
}
template <typename T>
inline void scatter_add_rows_scalar(T* dst, int64_t ds, const T* src, int64_t ss, int64_t rows, int64_t S,
                                    int64_t from, int64_t to) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = from; i < to; ++i) dst[r * ds + i * S] += src[r * ss + i];
}

#if defined(CPU_CAPABILITY_AVX512)
// Lanes l of a group starting at output i with lo <= i + l < hi, as a bit mask of `width` bits.
inline uint32_t valid_lanes(int64_t i, int64_t lo, int64_t hi, int width) {
  const int64_t a = imax(0, lo - i), b = imin(width, hi - i);
  return b > a ? uint32_t(((uint64_t(1) << b) - 1) & ~((uint64_t(1) << a) - 1)) : 0u;
}

// AVX-512 masks: masked-off lanes are never read or written, so the groups at the padding and
// at the row's end need no scalar path. Stride 2 reads two vectors' worth of input with the odd
// lanes masked off and keeps the even ones (gather), or spreads a vector over the even lanes of
// two and updates only those (scatter-add: the odd columns belong to other taps).
struct Lanes512F32 {
  using T = float;
  using reg = __m512;
  using mask = __mmask16;
  static constexpr int W = 16;
  static mask first(int64_t n) { return mask(n >= 16 ? 0xFFFFu : (1u << n) - 1u); }
  static mask evens(uint32_t v) { return mask(_pdep_u32(v, 0x5555u)); }
  static reg load(mask m, const T* p) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(T* p, mask m, reg x) { _mm512_mask_storeu_ps(p, m, x); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static reg pick_evens(reg a, reg b) {
    return _mm512_permutex2var_ps(a, _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30), b);
  }
  // Lanes 2l of the result hold x[l + 8 * half]; odd lanes are zero. Masked permute: GCC 12's
  // unmasked one trips -Wmaybe-uninitialized in its own header.
  static reg spread(reg x, int half) {
    return half == 0 ? _mm512_maskz_permutexvar_ps(0x5555, _mm512_setr_epi32(0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0), x)
                     : _mm512_maskz_permutexvar_ps(0x5555, _mm512_setr_epi32(8, 0, 9, 0, 10, 0, 11, 0, 12, 0, 13, 0, 14, 0, 15, 0), x);
  }
};
struct Lanes512F64 {
  using T = double;
  using reg = __m512d;
  using mask = __mmask8;
  static constexpr int W = 8;
  static mask first(int64_t n) { return mask(n >= 8 ? 0xFFu : (1u << n) - 1u); }
  static mask evens(uint32_t v) { return mask(_pdep_u32(v, 0x55u)); }
  static reg load(mask m, const T* p) { return _mm512_maskz_loadu_pd(m, p); }
  static void store(T* p, mask m, reg x) { _mm512_mask_storeu_pd(p, m, x); }
  static reg add(reg a, reg b) { return _mm512_add_pd(a, b); }
  static reg pick_evens(reg a, reg b) { return _mm512_permutex2var_pd(a, _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14), b); }
  static reg spread(reg x, int half) {
    return half == 0 ? _mm512_maskz_permutexvar_pd(0x55, _mm512_setr_epi64(0, 0, 1, 0, 2, 0, 3, 0), x)
                     : _mm512_maskz_permutexvar_pd(0x55, _mm512_setr_epi64(4, 0, 5, 0, 6, 0, 7, 0), x);
  }
};
template <typename T> struct Lanes;
template <> struct Lanes<float> : Lanes512F32 {};
template <> struct Lanes<double> : Lanes512F64 {};

template <typename T>
inline void gather_rows(T* dst, int64_t ds, const T* src, int64_t ss, int64_t rows, int64_t S, int64_t lo, int64_t hi,
                        int64_t n) {
  using L = Lanes<T>;
  constexpr int W = L::W;
  if (S > 2) return gather_rows_scalar(dst, ds, src, ss, rows, S, lo, hi, 0, n);
  for (int64_t i = 0; i < n; i += W) {
    const uint32_t v = valid_lanes(i, lo, hi, W);
    const typename L::mask out = L::first(n - i);
    if (S == 1) {
      for (int64_t r = 0; r < rows; ++r) L::store(dst + r * ds + i, out, L::load(typename L::mask(v), src + r * ss + i));
      continue;
    }
    const typename L::mask ma = L::evens(v & ((1u << W / 2) - 1)), mb = L::evens(v >> W / 2);
    for (int64_t r = 0; r < rows; ++r) {
      const T* s = src + r * ss + 2 * i;
      L::store(dst + r * ds + i, out, L::pick_evens(L::load(ma, s), L::load(mb, s + W)));
    }
  }
}

template <typename T>
inline void scatter_add_rows(T* dst, int64_t ds, const T* src, int64_t ss, int64_t rows, int64_t S, int64_t lo,
                             int64_t hi) {
  using L = Lanes<T>;
  constexpr int W = L::W;
  if (S > 2) return scatter_add_rows_scalar(dst, ds, src, ss, rows, S, lo, hi);
  for (int64_t i = lo / W * W; i < hi; i += W) {
    const uint32_t v = valid_lanes(i, lo, hi, W);
    const typename L::mask m = typename L::mask(v);
    if (S == 1) {
      for (int64_t r = 0; r < rows; ++r) {
        T* d = dst + r * ds + i;
        L::store(d, m, L::add(L::load(m, d), L::load(m, src + r * ss + i)));
      }
      continue;
    }
    const typename L::mask ma = L::evens(v & ((1u << W / 2) - 1)), mb = L::evens(v >> W / 2);
    for (int64_t r = 0; r < rows; ++r) {
      const typename L::reg x = L::load(m, src + r * ss + i);
      T* d = dst + r * ds + 2 * i;
      L::store(d, ma, L::add(L::load(ma, d), L::spread(x, 0)));
      L::store(d + W, mb, L::add(L::load(mb, d + W), L::spread(x, 1)));
    }
  }
}
#elif defined(CPU_CAPABILITY_AVX2)
// Eight floats (four doubles) at a time where the whole group lies inside [lo, hi); the groups
// at a row's edges (the padding) go through the scalar loop, for AVX2 has no cheap masks.
inline __m256 even_lanes(const float* p) {  // p[0], p[2], .., p[14]
  const __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
}
inline __m256d even_lanes(const double* p) {  // p[0], p[2], p[4], p[6]
  const __m256d a = _mm256_loadu_pd(p), b = _mm256_loadu_pd(p + 4);
  return _mm256_permute4x64_pd(_mm256_unpacklo_pd(a, b), 0xD8);
}
inline __m256 loadv(const float* p) { return _mm256_loadu_ps(p); }
inline __m256d loadv(const double* p) { return _mm256_loadu_pd(p); }
inline void storev(float* p, __m256 v) { _mm256_storeu_ps(p, v); }
inline void storev(double* p, __m256d v) { _mm256_storeu_pd(p, v); }

template <typename T>
inline void gather_rows(T* dst, int64_t ds, const T* src, int64_t ss, int64_t rows, int64_t S, int64_t lo, int64_t hi,
                        int64_t n) {
  constexpr int64_t W = 32 / sizeof(T);
  if (S > 2) return gather_rows_scalar(dst, ds, src, ss, rows, S, lo, hi, 0, n);
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    if (i < lo || i + W > hi) {
      gather_rows_scalar(dst, ds, src, ss, rows, S, lo, hi, i, i + W);
      continue;
    }
    for (int64_t r = 0; r < rows; ++r)
      storev(dst + r * ds + i, S == 1 ? loadv(src + r * ss + i) : even_lanes(src + r * ss + 2 * i));
  }
  gather_rows_scalar(dst, ds, src, ss, rows, S, lo, hi, i, n);
}

template <typename T>
inline void scatter_add_rows(T* dst, int64_t ds, const T* src, int64_t ss, int64_t rows, int64_t S, int64_t lo,
                             int64_t hi) {
  if (S != 1) return scatter_add_rows_scalar(dst, ds, src, ss, rows, S, lo, hi);
  constexpr int64_t W = 32 / sizeof(T);
  const int64_t vec_end = lo + (hi - lo) / W * W;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = lo; i < vec_end; i += W) storev(dst + r * ds + i, loadv(dst + r * ds + i) + loadv(src + r * ss + i));
  scatter_add_rows_scalar(dst, ds, src, ss, rows, S, vec_end, hi);
}
#else
template <typename T>
inline void gather_rows(T* dst, int64_t ds, const T* src, int64_t ss, int64_t rows, int64_t S, int64_t lo, int64_t hi,
                        int64_t n) {
  gather_rows_scalar(dst, ds, src, ss, rows, S, lo, hi, 0, n);
}
template <typename T>
inline void scatter_add_rows(T* dst, int64_t ds, const T* src, int64_t ss, int64_t rows, int64_t S, int64_t lo,
                             int64_t hi) {
  scatter_add_rows_scalar(dst, ds, src, ss, rows, S, lo, hi);
}
#endif

// Per (c, kh, kw): the output rows whose input row exists, [oh0, oh1), in one call; zeros above
// and below them (the padding rows).
template <typename T>
void im2col_typed(const Conv2dGeometry& g, const T* x, T* col) {
  const int64_t oHW = g.oH * g.oW;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t kh = 0; kh < g.kH; ++kh) {
      const int64_t top = kh * g.dilH - g.padT;  // input row of output row 0
      int64_t oh0, oh1;
      valid_range(top, g.sH, g.H, g.oH, &oh0, &oh1);
      for (int64_t kw = 0; kw < g.kW; ++kw) {
        T* plane = col + ((c * g.kH + kh) * g.kW + kw) * oHW;
        const int64_t off = kw * g.dilW - g.padL;  // input column of output column 0
        int64_t lo, hi;
        valid_range(off, g.sW, g.W, g.oW, &lo, &hi);
        std::memset(plane, 0, size_t(oh0 * g.oW) * sizeof(T));
        if (oh1 > oh0)
          gather_rows(plane + oh0 * g.oW, g.oW, x + (c * g.H + oh0 * g.sH + top) * g.W + off, g.sH * g.W, oh1 - oh0,
                      g.sW, lo, hi, g.oW);
        std::memset(plane + oh1 * g.oW, 0, size_t((g.oH - oh1) * g.oW) * sizeof(T));
      }
    }
}

template <typename T>
void col2im_typed(const Conv2dGeometry& g, const T* col, T* dx) {
  const int64_t oHW = g.oH * g.oW;
  std::memset(dx, 0, size_t(g.C * g.H * g.W) * sizeof(T));
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t kh = 0; kh < g.kH; ++kh) {
      const int64_t top = kh * g.dilH - g.padT;
      int64_t oh0, oh1;
      valid_range(top, g.sH, g.H, g.oH, &oh0, &oh1);
      if (oh1 <= oh0) continue;
      for (int64_t kw = 0; kw < g.kW; ++kw) {
        const T* plane = col + ((c * g.kH + kh) * g.kW + kw) * oHW;
        const int64_t off = kw * g.dilW - g.padL;
        int64_t lo, hi;
        valid_range(off, g.sW, g.W, g.oW, &lo, &hi);
        scatter_add_rows(dx + (c * g.H + oh0 * g.sH + top) * g.W + off, g.sH * g.W, plane + oh0 * g.oW, g.oW,
                         oh1 - oh0, g.sW, lo, hi);
      }
    }
}

void im2col_kernel(DType dtype, const Conv2dGeometry& g, const void* x, void* col) {
  if (dtype == DType::Float32) im2col_typed(g, static_cast<const float*>(x), static_cast<float*>(col));
  else im2col_typed(g, static_cast<const double*>(x), static_cast<double*>(col));
}

void col2im_kernel(DType dtype, const Conv2dGeometry& g, const void* col, void* dx) {
  if (dtype == DType::Float32) col2im_typed(g, static_cast<const float*>(col), static_cast<float*>(dx));
  else col2im_typed(g, static_cast<const double*>(col), static_cast<double*>(dx));
}

}  // namespace

REGISTER_CPU_KERNEL(conv_im2col_stub, &im2col_kernel);
REGISTER_CPU_KERNEL(conv_col2im_stub, &col2im_kernel);

}  // namespace CPU_CAPABILITY
}  // namespace ember
