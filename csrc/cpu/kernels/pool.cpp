// 2-D pooling kernels, forward and backward; compiled once per instruction set. One task per
// (n, c) plane, so backward scatters never race. Window rules follow torch exactly:
//  max: rows h = oh*S - P + k*D inside [0, H); NaN wins; the first maximum's index is kept.
//  avg: window [oh*S - P, min(that + K, H + P)) sets the count_include_pad divisor, then is
//       clipped to the input.
//  adaptive: rows [floor(oh*H/oH), ceil((oh+1)*H/oH)).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
#include <immintrin.h>
#endif

#include "core/check.h"
#include "core/parallel.h"
#include "cpu/kernels/vec_lanes.h"
#include "ops/pool.h"

namespace ember {
namespace CPU_CAPABILITY {
namespace {

inline int64_t start_index(int64_t o, int64_t out, int64_t in) { return (o * in) / out; }
inline int64_t end_index(int64_t o, int64_t out, int64_t in) { return ((o + 1) * in + out - 1) / out; }

template <typename T>
void max_window(const T* x, int64_t W, int64_t h0, int64_t h1, int64_t dh, int64_t w0, int64_t w1, int64_t dw,
                T* y, int64_t* idx) {
  T best = -INFINITY;
  int64_t bi = h0 * W + w0;
  for (int64_t h = h0; h < h1; h += dh)
    for (int64_t w = w0; w < w1; w += dw) {
      const T v = x[h * W + w];
      if (v > best || v != v) {
        best = v;
        bi = h * W + w;
        if (v != v) goto done;
      }
    }
done:
  *y = best;
  if (idx) *idx = bi;
}

#if defined(CPU_CAPABILITY_AVX2) || defined(CPU_CAPABILITY_AVX512)
// In-lane shuffles leave 64-bit pairs in the order 0 2 1 3; this puts them back.
inline __m256 fix_pairs(__m256 v) {
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(v), _MM_SHUFFLE(3, 1, 2, 0)));
}
// x[0..16) -> the even and the odd elements, in order.
inline void deinterleave(const float* x, __m256& even, __m256& odd) {
  const __m256 a = _mm256_loadu_ps(x), b = _mm256_loadu_ps(x + 8);
  even = fix_pairs(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)));
  odd = fix_pairs(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}
// x[0..16) = even[0], odd[0], even[1], odd[1], ...
inline void interleave(float* x, __m256 even, __m256 odd) {
  const __m256 lo = _mm256_unpacklo_ps(even, odd), hi = _mm256_unpackhi_ps(even, odd);
  _mm256_storeu_ps(x, _mm256_permute2f128_ps(lo, hi, 0x20));
  _mm256_storeu_ps(x + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
}
// Two vectors of four all-ones / all-zeros 64-bit masks -> one vector of eight 32-bit masks.
inline __m256 narrow_masks(__m256i lo, __m256i hi) {
  return fix_pairs(_mm256_shuffle_ps(_mm256_castsi256_ps(lo), _mm256_castsi256_ps(hi), _MM_SHUFFLE(2, 0, 2, 0)));
}
#endif

// The running maximum with NaN sticking, for values without indices; lane by lane for vectors.
template <typename X>
inline X max_nan(X best, X v) {
  return (v > best) | (v != v) ? v : best;
}
// Whether (v, i) replaces (best, bi) in max_window's order: greater, or equal with an earlier flat
// index; a NaN over a number, or over a later NaN. A mask of lanes for vectors.
template <typename X, typename J>
inline auto max_takes(X v, X best, J i, J bi) {
  const auto before = i < bi;
  return (v > best) | ((v == best) & before) | ((v != v) & ((best == best) | before));
}

// The row buffers of one plane's row pass. Input column w sits at lead + w with lead = the
// padding, so output ow's window starts at ow * S; the entries outside the input hold `fill`
// (-inf for max, 0 for avg) and are never written, so every output, at the edges too, runs the
// same vector code. `len` covers the last vector of outputs (oW rounded up to L lanes), stride-2
// loads included.
template <typename T>
struct PoolRow {
  static constexpr int L = RegLanes<T>::L;
  int64_t lead, len, oWp;
  PoolRow(int64_t pad, int64_t W, int64_t oW, int64_t k, int64_t s, int64_t d) {
    lead = pad;
    oWp = (oW + L - 1) / L * L;
    len = std::max(lead + W, oWp * s + (k - 1) * d);
  }
};

// max_pool2d over one plane, one output row at a time in two passes: first the maximum down each
// input column over the window's rows (contiguous, so it vectorises), with its flat index
// h * W + w; then, for each output, the maximum of those column maxima across the window's
// columns, L outputs at a time for strides 1 and 2. Ties and NaNs are settled by the flat index,
// which makes the result max_window's: the first maximum in row-major order, or the first NaN
// (NaN wins). Without `ip` (inference) only the values: the maximum with NaN sticking. Needs
// (H + 1) * W within index_of_t<T> (int32 for float).
// The column pass runs one output row ahead, into the other of two buffers: the row pass reads
// at other offsets than the column pass wrote (lead + w against ow * S + k * D), and loads that
// straddle stores still in flight cannot be forwarded from them (it doubled the time).
template <typename T>
void max_pool_plane(const Pool2dParams& p, const PoolRow<T>& row, const T* __restrict xp, T* __restrict yp,
                    int64_t* __restrict ip, T* const bufs[2], index_of_t<T>* const idx_bufs[2]) {
  using Lanes = RegLanes<T>;
  using V = typename Lanes::V;
  using I = typename Lanes::I;
  using Idx = index_of_t<T>;
  constexpr int L = Lanes::L;
  // Locals, so that the stores below cannot be taken to change them (p is a reference).
  const int64_t W = p.W, oW = p.oW, kW = p.kW, sW = p.sW, dW = p.dW;
  const auto column_pass = [&](int64_t oh) {
    int64_t h0 = oh * p.sH - p.pH;
    const int64_t h1 = std::min(h0 + (p.kH - 1) * p.dH + 1, p.H);
    while (h0 < 0) h0 += p.dH;
    T* __restrict cm = bufs[oh & 1] + row.lead;
    Idx* __restrict ci = ip ? idx_bufs[oh & 1] + row.lead : nullptr;
    if (h0 >= h1) {
      for (int64_t w = 0; w < W; ++w) cm[w] = -INFINITY;
    } else {
      const T* __restrict x0 = xp + h0 * W;
      for (int64_t w = 0; w < W; ++w) cm[w] = x0[w];
    }
    if (!ip) {
      for (int64_t h = h0 + p.dH; h < h1; h += p.dH) {
        const T* __restrict xr = xp + h * W;
        for (int64_t w = 0; w < W; ++w) cm[w] = max_nan(cm[w], xr[w]);
      }
      return;
    }
    // Index-typed loop counters: from an int64 one, each vector of indices cost a 64-bit add and
    // a narrowing permute (a tenth of the pass).
    const Idx Wi = Idx(W);
    for (Idx w = 0; w < Wi; ++w) ci[w] = Idx(h0) * Wi + w;
    for (int64_t h = h0 + p.dH; h < h1; h += p.dH) {
      const T* __restrict xr = xp + h * W;
      const Idx base = Idx(h) * Wi;
      for (Idx w = 0; w < Wi; ++w) {
        const T v = xr[w], b = cm[w];
        const bool take = !(v <= b) & (b == b);  // greater, or NaN over a number: the first NaN stays
        cm[w] = take ? v : b;
        ci[w] = take ? base + w : ci[w];
      }
    }
  };
  const bool vec = sW == 1 || sW == 2;
  column_pass(0);
  for (int64_t oh = 0; oh < p.oH; ++oh) {
    if (oh + 1 < p.oH) column_pass(oh + 1);
    const T* __restrict cm = bufs[oh & 1];
    const Idx* __restrict ci = idx_bufs[oh & 1];
    T* __restrict yr = yp + oh * oW;
    int64_t* __restrict ir = ip ? ip + oh * oW : nullptr;
    int64_t ow = 0;
    for (; vec && ow < oW; ow += L) {
      const int64_t n = std::min<int64_t>(L, oW - ow);
      // The first tap's column maxima start the fold: a column outside the input there holds -inf
      // and the sentinel index, which any value of the window's, -inf included, replaces.
      V best = Lanes::template load_strided<T, V>(cm + ow * sW, sW);
      if (!ip) {
        for (int64_t k = 1; k < kW; ++k) {
          best = max_nan(best, Lanes::template load_strided<T, V>(cm + ow * sW + k * dW, sW));
        }
        Lanes::store_n(yr + ow, best, n);
        continue;
      }
      I bi = Lanes::template load_strided<Idx, I>(ci + ow * sW, sW);
      for (int64_t k = 1; k < kW; ++k) {
        const V v = Lanes::template load_strided<T, V>(cm + ow * sW + k * dW, sW);
        const I i = Lanes::template load_strided<Idx, I>(ci + ow * sW + k * dW, sW);
        const I take = max_takes(v, best, i, bi);
        best = take ? v : best;
        bi = take ? i : bi;
      }
      Lanes::store_n(yr + ow, best, n);
      for (int64_t l = 0; l < n; ++l) ir[ow + l] = int64_t(bi[l]);
    }
    for (; ow < oW; ++ow) {  // strides of 3 and more
      T best = cm[ow * sW];
      Idx bi = ip ? ci[ow * sW] : Idx(0);
      for (int64_t k = 1; k < kW; ++k) {
        const T v = cm[ow * sW + k * dW];
        if (!ip) {
          best = max_nan(best, v);
          continue;
        }
        const Idx i = ci[ow * sW + k * dW];
        const bool take = max_takes(v, best, i, bi);
        best = take ? v : best;
        bi = take ? i : bi;
      }
      yr[ow] = best;
      if (ip) ir[ow] = int64_t(bi);
    }
  }
}

// max_pool2d 2x2, stride 2, no padding or dilation, every window inside the plane (the common
// down-sampling layer): each output compares its four inputs in row-major order, so the first
// maximum (or the first NaN) wins as in max_window; no column pass, and the loop vectorises.
template <typename T>
void max_pool_2x2_plane(const Pool2dParams& p, const T* __restrict xp, T* __restrict yp, int64_t* __restrict ip) {
  const int64_t W = p.W, oW = p.oW;
  for (int64_t oh = 0; oh < p.oH; ++oh) {
    const T* __restrict r0 = xp + 2 * oh * W;
    const T* __restrict r1 = r0 + W;
    T* __restrict yr = yp + oh * oW;
    const int64_t row0 = 2 * oh * W;
    const auto later = [](T v, T best) { return (v > best) | ((v != v) & (best == best)); };
    int64_t* __restrict ir = ip ? ip + oh * oW : nullptr;  // null: values only
    int64_t ow = 0;
#if defined(CPU_CAPABILITY_AVX512)
    if constexpr (std::is_same_v<T, float>) {
      // Sixteen outputs at a time: their 32 input columns of each row (masked loads past the
      // row's end, which never touch that memory), split into even and odd columns.
      alignas(64) int32_t even_idx[16], odd_idx[16], ramp[16];
      for (int l = 0; l < 16; ++l) even_idx[l] = 2 * l, odd_idx[l] = 2 * l + 1, ramp[l] = 2 * l;
      const __m512i ie = _mm512_load_si512(even_idx), io = _mm512_load_si512(odd_idx);
      const __m512i lane2 = _mm512_load_si512(ramp);
      const __m512i off1 = _mm512_set1_epi32(1), offW = _mm512_set1_epi32(int32_t(W));
      const __m512i offW1 = _mm512_set1_epi32(int32_t(W + 1));
      for (; ow < oW; ow += 16) {
        const int64_t cnt = std::min<int64_t>(16, oW - ow), n2 = 2 * cnt;
        const __mmask16 mlo = __mmask16(n2 >= 16 ? 0xFFFF : (1u << n2) - 1);
        const __mmask16 mhi = __mmask16(n2 >= 32 ? 0xFFFF : n2 > 16 ? (1u << (n2 - 16)) - 1 : 0);
        const __mmask16 mout = __mmask16(cnt >= 16 ? 0xFFFF : (1u << cnt) - 1);
        const float* a = r0 + 2 * ow;
        const float* b = r1 + 2 * ow;
        const bool whole = cnt == 16;  // plain loads where they can be (faster than masked ones)
        const __m512 a0 = whole ? _mm512_loadu_ps(a) : _mm512_maskz_loadu_ps(mlo, a);
        const __m512 a1 = whole ? _mm512_loadu_ps(a + 16) : _mm512_maskz_loadu_ps(mhi, a + 16);
        const __m512 b0 = whole ? _mm512_loadu_ps(b) : _mm512_maskz_loadu_ps(mlo, b);
        const __m512 b1 = whole ? _mm512_loadu_ps(b + 16) : _mm512_maskz_loadu_ps(mhi, b + 16);
        const __m512 v[4] = {_mm512_permutex2var_ps(a0, ie, a1), _mm512_permutex2var_ps(a0, io, a1),
                             _mm512_permutex2var_ps(b0, ie, b1), _mm512_permutex2var_ps(b0, io, b1)};
        const __m512i offs[4] = {_mm512_setzero_si512(), off1, offW, offW1};
        __m512 best = v[0];
        __m512i off = offs[0];
        for (int k = 1; k < 4; ++k) {  // later(v[k], best), as the scalar loop below
          const __mmask16 t = _mm512_cmp_ps_mask(v[k], best, _CMP_GT_OQ) |
                              (_mm512_cmp_ps_mask(v[k], v[k], _CMP_UNORD_Q) & _mm512_cmp_ps_mask(best, best, _CMP_ORD_Q));
          best = _mm512_mask_blend_ps(t, best, v[k]);
          off = _mm512_mask_blend_epi32(t, off, offs[k]);
        }
        _mm512_mask_storeu_ps(yr + ow, mout, best);
        if (!ir) continue;
        const __m512i rel = _mm512_add_epi32(off, lane2);  // index - (row0 + 2 * ow)
        const __m512i base = _mm512_set1_epi64(row0 + 2 * ow);
        // Masked forms: GCC 12's unmasked extract/convert trip -Wmaybe-uninitialized in its header.
        const __m256i z4 = _mm256_setzero_si256();
        const __m512i z8 = _mm512_setzero_si512();
        const __m512i lo = _mm512_add_epi64(
            base, _mm512_mask_cvtepi32_epi64(z8, 0xFF, _mm512_mask_extracti64x4_epi64(z4, 0xF, rel, 0)));
        const __m512i hi = _mm512_add_epi64(
            base, _mm512_mask_cvtepi32_epi64(z8, 0xFF, _mm512_mask_extracti64x4_epi64(z4, 0xF, rel, 1)));
        _mm512_mask_storeu_epi64(ir + ow, __mmask8(mout), lo);
        _mm512_mask_storeu_epi64(ir + ow + 8, __mmask8(mout >> 8), hi);
      }
    }
#elif defined(CPU_CAPABILITY_AVX2)
    if constexpr (std::is_same_v<T, float>) {
      // Eight outputs at a time from their 16 input columns of each row a, b; deinterleave()
      // splits them into even and odd columns. The last, partial group goes through copies
      // padded to 16 columns (narrow planes, 7 or 14 outputs a row, are common).
      const __m256i off1 = _mm256_set1_epi32(1), offW = _mm256_set1_epi32(int32_t(W));
      const __m256i offW1 = _mm256_set1_epi32(int32_t(W + 1));
      const __m256i lane2 = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
      const auto group = [&](const float* a, const float* b, float* y, int64_t* idx, int64_t first) {
        __m256 v[4];
        deinterleave(a, v[0], v[1]);
        deinterleave(b, v[2], v[3]);
        const __m256i offs[4] = {_mm256_setzero_si256(), off1, offW, offW1};
        __m256 best = v[0];
        __m256i off = offs[0];
        for (int k = 1; k < 4; ++k) {  // later(v[k], best), as the scalar loop below
          const __m256 t = _mm256_or_ps(_mm256_cmp_ps(v[k], best, _CMP_GT_OQ),
                                        _mm256_and_ps(_mm256_cmp_ps(v[k], v[k], _CMP_UNORD_Q),
                                                      _mm256_cmp_ps(best, best, _CMP_ORD_Q)));
          best = _mm256_blendv_ps(best, v[k], t);
          off = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(off), _mm256_castsi256_ps(offs[k]), t));
        }
        _mm256_storeu_ps(y, best);
        if (!idx) return;
        const __m256i rel = _mm256_add_epi32(off, lane2);  // index - first
        const __m256i base = _mm256_set1_epi64x(first);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(idx),
                            _mm256_add_epi64(base, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(rel))));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(idx + 4),
                            _mm256_add_epi64(base, _mm256_cvtepi32_epi64(_mm256_extracti128_si256(rel, 1))));
      };
      for (; ow + 8 <= oW; ow += 8) group(r0 + 2 * ow, r1 + 2 * ow, yr + ow, ir ? ir + ow : nullptr, row0 + 2 * ow);
      if (ow < oW) {
        const int64_t cnt = oW - ow;
        float a[16] = {}, b[16] = {}, y[8];
        int64_t idx[8];
        std::copy(r0 + 2 * ow, r0 + 2 * (ow + cnt), a);
        std::copy(r1 + 2 * ow, r1 + 2 * (ow + cnt), b);
        group(a, b, y, ir ? idx : nullptr, row0 + 2 * ow);
        std::copy(y, y + cnt, yr + ow);
        if (ir) std::copy(idx, idx + cnt, ir + ow);
        ow = oW;
      }
    }
#endif
    for (; ow < oW; ++ow) {
      const int64_t i0 = row0 + 2 * ow;
      T best = r0[2 * ow];
      int64_t bi = i0;
      bool t = later(r0[2 * ow + 1], best);
      best = t ? r0[2 * ow + 1] : best;
      bi = t ? i0 + 1 : bi;
      t = later(r1[2 * ow], best);
      best = t ? r1[2 * ow] : best;
      bi = t ? i0 + W : bi;
      t = later(r1[2 * ow + 1], best);
      best = t ? r1[2 * ow + 1] : best;
      bi = t ? i0 + W + 1 : bi;
      yr[ow] = best;
      if (ir) ir[ow] = bi;
    }
  }
}

// The backward of max_pool_2x2_plane: every input of a window gets its output's gradient if it is
// the window's maximum, else zero, so dx is written once without zeroing it first and without a
// scatter; the columns and rows no window covers are zeroed. Returns false, having written
// garbage, if some index is not inside its own window (the caller then zeroes and scatters).
template <typename T>
bool max_unpool_2x2_plane(const Pool2dParams& p, const T* __restrict gp, const int64_t* __restrict ip,
                          T* __restrict xp) {
  const int64_t W = p.W, oW = p.oW;
  bool ok = true;
  for (int64_t oh = 0; oh < p.oH; ++oh) {
    T* __restrict r0 = xp + 2 * oh * W;
    T* __restrict r1 = r0 + W;
    const T* __restrict g = gp + oh * oW;
    const int64_t* __restrict ir = ip + oh * oW;
    const int64_t row0 = 2 * oh * W;
    int64_t ow = 0;
#if defined(CPU_CAPABILITY_AVX512)
    if constexpr (std::is_same_v<T, float>) {
      // Sixteen outputs at a time: each index relative to its window's corner (int32), one mask
      // per window position, and the masked gradients interleaved into the two rows' 32 columns.
      alignas(64) int32_t lo_idx[16], hi_idx[16], ramp[16];
      for (int l = 0; l < 16; ++l) lo_idx[l] = (l % 2) * 16 + l / 2, hi_idx[l] = lo_idx[l] + 8, ramp[l] = 2 * l;
      const __m512i ilo = _mm512_load_si512(lo_idx), ihi = _mm512_load_si512(hi_idx);
      const __m512i lane2 = _mm512_load_si512(ramp);
      const __m512i vW = _mm512_set1_epi32(int32_t(W)), vW1 = _mm512_set1_epi32(int32_t(W + 1));
      const __m512i one = _mm512_set1_epi32(1);
      for (; ow < oW; ow += 16) {
        const int64_t cnt = std::min<int64_t>(16, oW - ow), n2 = 2 * cnt;
        const __mmask16 mout = __mmask16(cnt >= 16 ? 0xFFFF : (1u << cnt) - 1);
        const __mmask16 mlo = __mmask16(n2 >= 16 ? 0xFFFF : (1u << n2) - 1);
        const __mmask16 mhi = __mmask16(n2 >= 32 ? 0xFFFF : n2 > 16 ? (1u << (n2 - 16)) - 1 : 0);
        const __m512i base = _mm512_set1_epi64(row0 + 2 * ow);
        const __m512i d0 = _mm512_sub_epi64(_mm512_maskz_loadu_epi64(__mmask8(mout), ir + ow), base);
        const __m512i d1 = _mm512_sub_epi64(_mm512_maskz_loadu_epi64(__mmask8(mout >> 8), ir + ow + 8), base);
        // Narrowed with saturation, so an index far outside the window cannot alias one inside.
        // Masked forms, as in the forward: GCC 12's unmasked ones trip -Wmaybe-uninitialized.
        const __m256i z4 = _mm256_setzero_si256();
        const __m512i d = _mm512_mask_inserti64x4(
            _mm512_setzero_si512(), 0xFF,
            _mm512_mask_inserti64x4(_mm512_setzero_si512(), 0xFF, _mm512_setzero_si512(),
                                    _mm512_mask_cvtsepi64_epi32(z4, 0xFF, d0), 0),
            _mm512_mask_cvtsepi64_epi32(z4, 0xFF, d1), 1);
        const __m512i rel = _mm512_sub_epi32(d, lane2);
        const __m512 v = _mm512_maskz_loadu_ps(mout, g + ow);
        const __mmask16 m0 = _mm512_cmpeq_epi32_mask(rel, _mm512_setzero_si512());
        const __mmask16 m1 = _mm512_cmpeq_epi32_mask(rel, one);
        const __mmask16 m2 = _mm512_cmpeq_epi32_mask(rel, vW), m3 = _mm512_cmpeq_epi32_mask(rel, vW1);
        ok &= ((m0 | m1 | m2 | m3) & mout) == mout;
        const __m512 e0 = _mm512_maskz_mov_ps(m0, v), o0 = _mm512_maskz_mov_ps(m1, v);
        const __m512 e1 = _mm512_maskz_mov_ps(m2, v), o1 = _mm512_maskz_mov_ps(m3, v);
        _mm512_mask_storeu_ps(r0 + 2 * ow, mlo, _mm512_permutex2var_ps(e0, ilo, o0));
        _mm512_mask_storeu_ps(r0 + 2 * ow + 16, mhi, _mm512_permutex2var_ps(e0, ihi, o0));
        _mm512_mask_storeu_ps(r1 + 2 * ow, mlo, _mm512_permutex2var_ps(e1, ilo, o1));
        _mm512_mask_storeu_ps(r1 + 2 * ow + 16, mhi, _mm512_permutex2var_ps(e1, ihi, o1));
      }
    }
#elif defined(CPU_CAPABILITY_AVX2)
    if constexpr (std::is_same_v<T, float>) {
      // Eight outputs at a time: each index relative to its window's corner, compared in int64
      // (no narrowing, so no aliasing), one mask per window position; the masked gradients
      // interleaved into the two rows' 16 columns a, b. The last, partial group goes through
      // copies padded to eight outputs (gradient 0 at the window's corner).
      const __m256i lane2_lo = _mm256_setr_epi64x(0, 2, 4, 6), lane2_hi = _mm256_setr_epi64x(8, 10, 12, 14);
      const __m256i rels[4] = {_mm256_setzero_si256(), _mm256_set1_epi64x(1), _mm256_set1_epi64x(W),
                               _mm256_set1_epi64x(W + 1)};
      const auto group = [&](const float* gv, const int64_t* idx, float* a, float* b, int64_t first) {
        const __m256i base = _mm256_set1_epi64x(first);
        const __m256i d0 = _mm256_sub_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx)),
                                            _mm256_add_epi64(base, lane2_lo));
        const __m256i d1 = _mm256_sub_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx + 4)),
                                            _mm256_add_epi64(base, lane2_hi));
        __m256 m[4];
        for (int k = 0; k < 4; ++k)  // the low halves of the eight 64-bit masks, in lane order
          m[k] = narrow_masks(_mm256_cmpeq_epi64(d0, rels[k]), _mm256_cmpeq_epi64(d1, rels[k]));
        ok &= _mm256_movemask_ps(_mm256_or_ps(_mm256_or_ps(m[0], m[1]), _mm256_or_ps(m[2], m[3]))) == 0xFF;
        const __m256 v = _mm256_loadu_ps(gv);
        interleave(a, _mm256_and_ps(m[0], v), _mm256_and_ps(m[1], v));
        interleave(b, _mm256_and_ps(m[2], v), _mm256_and_ps(m[3], v));
      };
      for (; ow + 8 <= oW; ow += 8) group(g + ow, ir + ow, r0 + 2 * ow, r1 + 2 * ow, row0 + 2 * ow);
      if (ow < oW) {
        const int64_t cnt = oW - ow;
        float gv[8] = {}, a[16], b[16];
        int64_t idx[8];
        for (int64_t l = 0; l < 8; ++l) idx[l] = l < cnt ? ir[ow + l] : row0 + 2 * (ow + l);
        std::copy(g + ow, g + ow + cnt, gv);
        group(gv, idx, a, b, row0 + 2 * ow);
        std::copy(a, a + 2 * cnt, r0 + 2 * ow);
        std::copy(b, b + 2 * cnt, r1 + 2 * ow);
        ow = oW;
      }
    }
#endif
    for (; ow < oW; ++ow) {
      const int64_t rel = ir[ow] - (row0 + 2 * ow);
      const T v = g[ow];
      ok &= (rel == 0) | (rel == 1) | (rel == W) | (rel == W + 1);
      r0[2 * ow] = rel == 0 ? v : T(0);
      r0[2 * ow + 1] = rel == 1 ? v : T(0);
      r1[2 * ow] = rel == W ? v : T(0);
      r1[2 * ow + 1] = rel == W + 1 ? v : T(0);
    }
    for (int64_t w = 2 * oW; w < W; ++w) r0[w] = r1[w] = T(0);
  }
  for (int64_t i = 2 * p.oH * W; i < p.H * W; ++i) xp[i] = T(0);
  return ok;
}

// Whether a plain 2x2 max pool takes max_pool_2x2_plane rather than max_pool_plane's row passes
// (same values and indices). The former has vector code for float on AVX2 and AVX-512 only; its
// scalar loop is slower than the row passes, except for float64 indices on SSE2 (no 64-bit
// compares there). 1 thread, 64x64x56x56, 2x2 loop -> row passes: float64 on AVX-512 43 -> 6.4 ms
// (9.5 with indices), float on SSE2 44 -> 4.8 ms (7.1); float64 with indices on SSE2 44 -> 67 ms.
template <typename T>
bool use_2x2_loop(bool indices) {
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
  (void)indices;
  return std::is_same_v<T, float>;
#else
  return indices && sizeof(T) == 8;
#endif
}

inline bool is_plain_2x2_max(PoolKind kind, const Pool2dParams& p) {
  return kind == PoolKind::Max && p.kH == 2 && p.kW == 2 && p.sH == 2 && p.sW == 2 && p.pH == 0 && p.pW == 0 &&
         p.dH == 1 && p.dW == 1 && 2 * p.oH <= p.H && 2 * p.oW <= p.W;
}

// One dimension of an avg_pool2d window: output o covers [o*s - pad, min(that + k, n + pad)),
// which sets the padded extent returned; [a, b) is that range clipped to the input.
inline int64_t avg_span(int64_t o, int64_t s, int64_t pad, int64_t k, int64_t n, int64_t& a, int64_t& b) {
  a = o * s - pad;
  b = std::min(a + k, n + pad);
  const int64_t padded = b - a;
  a = std::max<int64_t>(a, 0), b = std::min(b, n);
  return padded;
}

// torch's avg_pool2d divisor for a window of padded extent rows_padded x cols_padded whose
// clipped extent is rows x cols.
inline int64_t avg_divisor(const Pool2dParams& p, int64_t rows_padded, int64_t cols_padded, int64_t rows,
                           int64_t cols) {
  return p.divisor_override ? p.divisor_override : p.count_include_pad ? rows_padded * cols_padded : rows * cols;
}

// The column windows of avg_pool2d, the same for every output row of every plane: output ow's
// padded width sets the divisor, [w0, w1) is its window clipped to the input. Per output row,
// 1 / the divisor for each output (0 past oW, up to a whole vector of lanes), recomputed only
// when the row window changes (at the top and bottom edges): a division per output cost more
// than the rest of the pass.
template <typename T>
struct AvgCols {
  std::vector<int64_t> w0, w1, padded;
  std::vector<T> inv;  // per output of the current row
  int64_t inv_rows_padded = -1, inv_rows = -1;

  AvgCols(const Pool2dParams& p, int64_t oWp)
      : w0(size_t(p.oW)), w1(size_t(p.oW)), padded(size_t(p.oW)), inv(size_t(oWp), T(0)) {
    for (int64_t ow = 0; ow < p.oW; ++ow)
      padded[size_t(ow)] = avg_span(ow, p.sW, p.pW, p.kW, p.W, w0[size_t(ow)], w1[size_t(ow)]);
  }

  // inv for an output row whose row window has padded extent rows_padded and rows h1 - h0;
  // 0 for empty windows (their output is 0).
  void set_row(const Pool2dParams& p, int64_t rows_padded, int64_t rows) {
    if (rows_padded == inv_rows_padded && rows == inv_rows) return;
    inv_rows_padded = rows_padded, inv_rows = rows;
    for (size_t ow = 0; ow < w0.size(); ++ow) {
      const int64_t cols = w1[ow] - w0[ow];
      inv[ow] = rows <= 0 || cols <= 0 ? T(0) : T(1.0 / double(avg_divisor(p, rows_padded, padded[ow], rows, cols)));
    }
  }
};

// avg_pool2d over one plane in the same two passes as max_pool_plane (the column pass one output
// row ahead, for the same reason): column sums over the window's rows clipped to the input, then
// each output's sum across its window's columns (the zeros around the input stand for the
// padding) times 1 / torch's divisor. Sums in T, as torch's CPU kernel (float for float32).
template <typename T>
void avg_pool_plane(const Pool2dParams& p, const PoolRow<T>& row, const T* __restrict xp, T* __restrict yp,
                    T* const bufs[2], AvgCols<T>& cols) {
  using Lanes = RegLanes<T>;
  using V = typename Lanes::V;
  constexpr int L = Lanes::L;
  const int64_t W = p.W, oW = p.oW, kW = p.kW, sW = p.sW;
  const auto column_pass = [&](int64_t oh) {
    int64_t h0, h1;
    avg_span(oh, p.sH, p.pH, p.kH, p.H, h0, h1);
    T* __restrict cs = bufs[oh & 1] + row.lead;
    if (h0 >= h1)
      for (int64_t w = 0; w < W; ++w) cs[w] = T(0);
    else
      for (int64_t w = 0; w < W; ++w) cs[w] = xp[h0 * W + w];
    for (int64_t h = h0 + 1; h < h1; ++h) {
      const T* __restrict xr = xp + h * W;
      for (int64_t w = 0; w < W; ++w) cs[w] += xr[w];
    }
  };
  const bool vec = sW == 1 || sW == 2;
  column_pass(0);
  for (int64_t oh = 0; oh < p.oH; ++oh) {
    if (oh + 1 < p.oH) column_pass(oh + 1);
    int64_t h0, h1;
    const int64_t rows_padded = avg_span(oh, p.sH, p.pH, p.kH, p.H, h0, h1);
    cols.set_row(p, rows_padded, h1 - h0);
    const T* __restrict cs = bufs[oh & 1];
    T* __restrict yr = yp + oh * oW;
    const T* __restrict inv = cols.inv.data();
    int64_t ow = 0;
    for (; vec && ow < oW; ow += L) {
      V acc = Lanes::template load_strided<T, V>(cs + ow * sW, sW);
      for (int64_t k = 1; k < kW; ++k) acc += Lanes::template load_strided<T, V>(cs + ow * sW + k, sW);
      acc *= Lanes::load(inv + ow);
      Lanes::store_n(yr + ow, acc, std::min<int64_t>(L, oW - ow));
    }
    for (; ow < oW; ++ow) {  // strides of 3 and more
      T acc = T(0);
      for (int64_t k = 0; k < kW; ++k) acc += cs[ow * sW + k];
      yr[ow] = acc * inv[ow];
    }
  }
}

// The backward of avg_pool_plane, its two passes transposed: for each output row, the gradient
// every input column gets from the row's windows (each output's gradient over its divisor, summed
// where windows overlap), kept in a ring of the rows still needed; then each input row of dx is
// written once, as the sum of those rows over the windows that cover it (no zeroing first).
// A ring row gathers rather than scatters: with stride 2, entry 2m + r (r = 0, 1) is the sum of
// gs[m - t] over the taps k = 2t + r; with stride 1, entry j sums gs[j - k]. gs holds each
// output's gradient over its divisor after `kW` zeros, and zeros past oW.
template <typename T>
struct AvgRing {
  int64_t row_len, gs_lead;
  std::vector<T> rows, gs;
  AvgRing(const Pool2dParams& p, const PoolRow<T>& row, int64_t ring_rows) {
    constexpr int L = RegLanes<T>::L;
    row_len = (std::max(row.len, row.lead + p.W) + 2 * L - 1) / (2 * L) * (2 * L);
    gs_lead = p.kW;
    rows.resize(size_t(ring_rows * row_len));
    gs.assign(size_t(gs_lead + row_len + L), T(0));
  }
};

template <typename T>
void avg_unpool_plane(const Pool2dParams& p, const PoolRow<T>& row, const std::vector<int64_t>& cover,
                      const T* __restrict gp, T* __restrict xp, AvgRing<T>& ring, AvgCols<T>& cols) {
  using Lanes = RegLanes<T>;
  using V = typename Lanes::V;
  constexpr int L = Lanes::L;
  const int64_t W = p.W, oW = p.oW, kW = p.kW, sW = p.sW, len = ring.row_len;
  const int64_t R = int64_t(cover.back());  // ring rows
  T* __restrict gs = ring.gs.data() + ring.gs_lead;
  int64_t done = 0;  // output rows in the ring so far
  for (int64_t h = 0; h < p.H; ++h) {
    const int64_t a = cover[size_t(2 * h)], b = cover[size_t(2 * h + 1)];
    for (; done < b; ++done) {  // output row `done` into the ring
      int64_t h0, h1;
      const int64_t rows_padded = avg_span(done, p.sH, p.pH, p.kH, p.H, h0, h1);
      cols.set_row(p, rows_padded, h1 - h0);
      const T* __restrict g = gp + done * oW;
      for (int64_t ow = 0; ow < oW; ++ow) gs[ow] = g[ow] * cols.inv[size_t(ow)];
      T* __restrict rg = ring.rows.data() + (done % R) * len;
      if (sW == 2) {
        for (int64_t m = 0; m < len / 2; m += L) {
          V e = Lanes::load(gs + m), o = kW > 1 ? Lanes::load(gs + m) : V{};
          for (int64_t k = 2; k < kW; ++k) (k % 2 ? o : e) += Lanes::load(gs + m - k / 2);
          V lo, hi;
          Lanes::interleave(e, o, lo, hi, std::make_integer_sequence<int, L>{});
          std::memcpy(rg + 2 * m, &lo, sizeof lo);
          std::memcpy(rg + 2 * m + L, &hi, sizeof hi);
        }
      } else if (sW == 1) {
        for (int64_t j = 0; j < len; j += L) {
          V s = Lanes::load(gs + j);
          for (int64_t k = 1; k < kW; ++k) s += Lanes::load(gs + j - k);
          std::memcpy(rg + j, &s, sizeof s);
        }
      } else {
        for (int64_t j = 0; j < len; ++j) rg[j] = T(0);
        for (int64_t k = 0; k < kW; ++k)
          for (int64_t ow = 0; ow < oW; ++ow) rg[ow * sW + k] += gs[ow];
      }
    }
    T* __restrict xr = xp + h * W;
    if (a == b) {
      for (int64_t w = 0; w < W; ++w) xr[w] = T(0);
      continue;
    }
    const T* __restrict r0 = ring.rows.data() + (a % R) * len + row.lead;
    if (b - a == 1) {
      std::memcpy(xr, r0, size_t(W) * sizeof(T));
      continue;
    }
    const T* __restrict r1 = ring.rows.data() + ((a + 1) % R) * len + row.lead;
    for (int64_t w = 0; w < W; ++w) xr[w] = r0[w] + r1[w];
    for (int64_t o = a + 2; o < b; ++o) {
      const T* __restrict r = ring.rows.data() + (o % R) * len + row.lead;
      for (int64_t w = 0; w < W; ++w) xr[w] += r[w];
    }
  }
}

// For avg_pool2d's backward: the output rows [a, b) whose windows cover input row h, as
// cover[2h], cover[2h + 1] (window starts and ends are monotone in oh), and last the number of
// rows a ring must hold (the most that cover one input row, at least 1).
inline std::vector<int64_t> avg_row_cover(const Pool2dParams& p) {
  std::vector<int64_t> cover(size_t(2 * p.H + 1));
  int64_t a = 0, b = 0, most = 1;
  for (int64_t h = 0; h < p.H; ++h) {
    int64_t h0, h1;
    while (a < p.oH && (avg_span(a, p.sH, p.pH, p.kH, p.H, h0, h1), h1 <= h)) ++a;
    while (b < p.oH && (avg_span(b, p.sH, p.pH, p.kH, p.H, h0, h1), h0 <= h)) ++b;
    b = std::max(a, b);
    cover[size_t(2 * h)] = a, cover[size_t(2 * h + 1)] = b;
    most = std::max(most, b - a);
  }
  cover.back() = most;
  return cover;
}

template <typename T>
void pool_forward(PoolKind kind, const Pool2dParams& p, const T* x, T* y, int64_t* indices) {
  const int64_t HW = p.H * p.W, oHW = p.oH * p.oW;
  // max_pool_plane's flat indices, the sentinel included, must fit its index lanes.
  const bool max_rows = kind == PoolKind::Max && (p.H + 1) * p.W < std::numeric_limits<index_of_t<T>>::max();
  const PoolRow<T> row(p.pW, p.W, p.oW, p.kW, p.sW, kind == PoolKind::Max ? p.dW : 1);
  parallel_for(0, p.planes, std::max<int64_t>(1, 4096 / std::max<int64_t>(HW, 1)), [&](int64_t a, int64_t b) {
    // The row buffers, with the entries around the input's columns set once: -inf and an index
    // that never wins a tie for max, 0 for avg.
    const bool rows = max_rows || kind == PoolKind::Avg;
    std::vector<T> buf(rows ? size_t(2 * row.len) : 0, kind == PoolKind::Max ? T(-INFINITY) : T(0));
    std::vector<index_of_t<T>> buf_idx(max_rows && indices ? size_t(2 * row.len) : 0,
                                       std::numeric_limits<index_of_t<T>>::max());
    T* const bufs[2] = {buf.data(), buf.data() + (rows ? row.len : 0)};
    index_of_t<T>* const idx_bufs[2] = {buf_idx.data(), buf_idx.data() + (buf_idx.empty() ? 0 : row.len)};
    std::optional<AvgCols<T>> cols;
    if (kind == PoolKind::Avg) cols.emplace(p, row.oWp);
    for (int64_t pl = a; pl < b; ++pl) {
      const T* xp = x + pl * HW;
      T* yp = y + pl * oHW;
      int64_t* ip = indices ? indices + pl * oHW : nullptr;
      if (is_plain_2x2_max(kind, p) && (use_2x2_loop<T>(ip != nullptr) || !max_rows)) {
        max_pool_2x2_plane(p, xp, yp, ip);
        continue;
      }
      if (max_rows) {
        max_pool_plane(p, row, xp, yp, ip, bufs, idx_bufs);
        continue;
      }
      if (kind == PoolKind::Avg) {
        avg_pool_plane(p, row, xp, yp, bufs, *cols);
        continue;
      }
      for (int64_t oh = 0; oh < p.oH; ++oh)
        for (int64_t ow = 0; ow < p.oW; ++ow) {
          const int64_t o = oh * p.oW + ow;
          if (kind == PoolKind::Max) {
            int64_t h0 = oh * p.sH - p.pH, w0 = ow * p.sW - p.pW;
            const int64_t h1 = std::min(h0 + (p.kH - 1) * p.dH + 1, p.H);
            const int64_t w1 = std::min(w0 + (p.kW - 1) * p.dW + 1, p.W);
            while (h0 < 0) h0 += p.dH;
            while (w0 < 0) w0 += p.dW;
            max_window(xp, p.W, h0, h1, p.dH, w0, w1, p.dW, yp + o, ip ? ip + o : nullptr);
          } else if (kind == PoolKind::AdaptiveMax) {
            max_window(xp, p.W, start_index(oh, p.oH, p.H), end_index(oh, p.oH, p.H), 1,
                       start_index(ow, p.oW, p.W), end_index(ow, p.oW, p.W), 1, yp + o, ip ? ip + o : nullptr);
          } else {  // AdaptiveAvg (Avg took avg_pool_plane above)
            const int64_t h0 = start_index(oh, p.oH, p.H), h1 = end_index(oh, p.oH, p.H);
            const int64_t w0 = start_index(ow, p.oW, p.W), w1 = end_index(ow, p.oW, p.W);
            const int64_t count = (h1 - h0) * (w1 - w0);
            if (h0 >= h1 || w0 >= w1) {
              yp[o] = 0;
              continue;
            }
            double s = 0;
            for (int64_t h = h0; h < h1; ++h)
              for (int64_t w = w0; w < w1; ++w) s += double(xp[h * p.W + w]);
            yp[o] = T(s / double(count));
          }
        }
    }
  });
}

template <typename T>
void pool_backward(PoolKind kind, const Pool2dParams& p, const T* dy, const int64_t* indices, T* dx) {
  const int64_t HW = p.H * p.W, oHW = p.oH * p.oW;
  const PoolRow<T> row(p.pW, p.W, p.oW, p.kW, p.sW, 1);
  const std::vector<int64_t> cover = kind == PoolKind::Avg ? avg_row_cover(p) : std::vector<int64_t>();
  parallel_for(0, p.planes, std::max<int64_t>(1, 4096 / std::max<int64_t>(HW, 1)), [&](int64_t a, int64_t b) {
    const bool avg = kind == PoolKind::Avg;
    std::optional<AvgRing<T>> ring;
    std::optional<AvgCols<T>> cols;
    if (avg) ring.emplace(p, row, cover.back()), cols.emplace(p, row.oWp);
    for (int64_t pl = a; pl < b; ++pl) {
      const T* gp = dy + pl * oHW;
      T* xp = dx + pl * HW;
      if (is_plain_2x2_max(kind, p) && max_unpool_2x2_plane(p, gp, indices + pl * oHW, xp)) continue;
      if (avg) {
        avg_unpool_plane(p, row, cover, gp, xp, *ring, *cols);
        continue;
      }
      for (int64_t i = 0; i < HW; ++i) xp[i] = 0;
      if (kind == PoolKind::Max || kind == PoolKind::AdaptiveMax) {
        // The indices are checked here, plane by plane while they are in cache, rather than in a
        // pass of their own over all of them before the kernel.
        const int64_t* ip = indices + pl * oHW;
        uint64_t worst = 0;
        for (int64_t o = 0; o < oHW; ++o) worst = std::max(worst, uint64_t(ip[o]));
        if (worst >= uint64_t(HW))
          for (int64_t o = 0; o < oHW; ++o)
            EMBER_CHECK(ip[o] >= 0 && ip[o] < HW, IndexError, "pool backward: index ", ip[o],
                        " is out of bounds for a ", p.H, "x", p.W, " plane");
        for (int64_t o = 0; o < oHW; ++o) xp[ip[o]] += gp[o];
        continue;
      }
      for (int64_t oh = 0; oh < p.oH; ++oh)  // AdaptiveAvg
        for (int64_t ow = 0; ow < p.oW; ++ow) {
          const int64_t h0 = start_index(oh, p.oH, p.H), h1 = end_index(oh, p.oH, p.H);
          const int64_t w0 = start_index(ow, p.oW, p.W), w1 = end_index(ow, p.oW, p.W);
          const int64_t count = (h1 - h0) * (w1 - w0);
          if (h0 >= h1 || w0 >= w1) continue;
          const T g = T(double(gp[oh * p.oW + ow]) / double(count));
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) xp[h * p.W + w] += g;
        }
    }
  });
}

void pool2d_kernel(PoolKind kind, DType dtype, const Pool2dParams& p, const char* x, char* y, int64_t* indices) {
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "pool2d", [&] {
    pool_forward(kind, p, reinterpret_cast<const scalar_t*>(x), reinterpret_cast<scalar_t*>(y), indices);
  });
}
void pool2d_backward_kernel(PoolKind kind, DType dtype, const Pool2dParams& p, const char* dy,
                            const int64_t* indices, char* dx) {
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "pool2d_backward", [&] {
    pool_backward(kind, p, reinterpret_cast<const scalar_t*>(dy), indices, reinterpret_cast<scalar_t*>(dx));
  });
}

}  // namespace

REGISTER_CPU_KERNEL(pool2d_stub, &pool2d_kernel);
REGISTER_CPU_KERNEL(pool2d_backward_stub, &pool2d_backward_kernel);

}  // namespace CPU_CAPABILITY
}  // namespace ember
