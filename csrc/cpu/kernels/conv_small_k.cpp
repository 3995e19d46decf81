// conv2d by direct loops for convolutions with few inputs per output (C * kH * kW small, stride 1,
// groups 1: a network's first layer, 1 -> 32 or 3 -> 16 channels). There the GEMMs of the im2col
// path have only C * kH * kW columns or rows, so they spend their time on edge tiles and on the
// copies around them (the image's columns, their packed copy, a widened dy).
//  - forward: a register block of output channels x one or two vectors of an output row; each
//    vector of a zero-padded copy of the image feeds every channel of the block, each weight
//    (broadcast) every vector;
//  - weight gradient: the gradient of output channel o is a set of dot products of dy's rows with
//    shifted rows of a padded copy of x, in vector lanes along the row, a few output channels at
//    a time sharing each vector of x; the bias gradient is summed while the same dy planes are in
//    cache.
// Compiled once per instruction set; float32 and float64.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/parallel.h"
#include "core/workspace.h"
#include "cpu/kernels/vec_lanes.h"
#include "ops/conv.h"

namespace ember {
namespace CPU_CAPABILITY {
namespace {

constexpr int64_t kMaxKW = 8;

template <typename F, int... i>
inline void unrolled(std::integer_sequence<int, i...>, F f) {
  (f(std::integral_constant<int, i>{}), ...);
}

// Keeps a loaded vector in a register. Without it GCC folds the load into each multiply-add that
// uses it (one load per use): the weight gradient's inner loop then issued 14 loads for 12
// multiply-adds and ran at half speed (3 -> 16 channels at 32x32, 1 thread: 1.27 -> 0.67 ms).
// By value: a reference would make the caller's array addressable and push it to the stack.
template <typename V>
inline V in_register(V v) {
  static_assert(sizeof(V) == kRegisterBytes, "one register");
  asm("" : "+v"(v));
  return v;
}

// dst[0, Wp) = zeros, the W elements of src at [padL, padL + W), zeros.
template <typename T>
inline void pad_row(T* dst, const T* src, int64_t W, int64_t padL, int64_t Wp) {
  std::fill(dst, dst + padL, T(0));
  std::copy(src, src + W, dst + padL);
  std::fill(dst + padL + W, dst + Wp, T(0));
}

// ---- forward -------------------------------------------------------------------------------------
// Output channels per register block, and vectors of an output row per block: 8 x 2 accumulators
// on AVX-512 (32 registers), 4 x 2 on AVX2 and 2 x 2 on SSE2 (16).
#if defined(CPU_CAPABILITY_AVX512)
constexpr int kFwdOB = 8, kFwdNV = 2;
#elif defined(CPU_CAPABILITY_AVX2)
constexpr int kFwdOB = 4, kFwdNV = 2;
#else
constexpr int kFwdOB = 2, kFwdNV = 2;
#endif

// Row oh, outputs [ow0, ow0 + NV * L) (those below oW kept) of output channels o0 .. o0 + OB - 1
// of one image: xp is the image zero-padded to Hp x Wp per channel (row oh + kh * dilH, column
// ow + kw * dilW holds the input that output (oh, ow) reads at tap (kh, kw)); y is the image's
// output. A vector past the row's end is stored whole when what it spills over lies in later
// rows of the same plane (written after it), else lane by lane.
template <typename T, int OB, int NV>
__attribute__((noinline)) void forward_tile(const Conv2dGeometry& g, const T* xp, int64_t Hp, int64_t Wp,
                                            const T* w, const T* bias, int64_t o0, int64_t oh, int64_t ow0, T* y) {
  using V = typename RegLanes<T>::V;
  constexpr int L = RegLanes<T>::L;
  const int64_t K = g.C * g.kH * g.kW, oHW = g.oH * g.oW;
  V acc[OB * NV];
  unrolled(std::make_integer_sequence<int, OB * NV>{}, [&](auto j) { acc[j] = V{} + (bias ? bias[o0 + j / NV] : T(0)); });
  const T* wo = w + o0 * K;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t kh = 0; kh < g.kH; ++kh) {
      const T* xr = xp + (c * Hp + oh + kh * g.dilH) * Wp + ow0;
      const T* wt = wo + (c * g.kH + kh) * g.kW;
      for (int64_t kw = 0; kw < g.kW; ++kw) {
        V xv[NV];
        unrolled(std::make_integer_sequence<int, NV>{}, [&](auto v) {
          xv[v] = in_register(RegLanes<T>::load(xr + kw * g.dilW + v * L));
        });
        unrolled(std::make_integer_sequence<int, OB * NV>{}, [&](auto j) { acc[j] += xv[j % NV] * wt[(j / NV) * K + kw]; });
      }
    }
  unrolled(std::make_integer_sequence<int, OB * NV>{}, [&](auto j) {
    const int64_t at = oh * g.oW + ow0 + (j % NV) * L;  // in plane o0 + j / NV
    T* dst = y + (o0 + j / NV) * oHW + at;
    const V v = acc[j];  // a copy: taking acc's address would keep the accumulators in memory
    if (at + L <= oHW && (ow0 + (j % NV + 1) * L <= g.oW || oh + 1 < g.oH))
      std::memcpy(dst, &v, sizeof(V));
    else
      for (int64_t l = 0, n = std::min<int64_t>(L, g.oW - (ow0 + (j % NV) * L)); l < n; ++l) dst[l] = v[l];
  });
}

template <typename T, int OB>
void forward_rows(const Conv2dGeometry& g, const T* xp, int64_t Hp, int64_t Wp, const T* w, const T* bias, int64_t o0,
                  T* y) {
  constexpr int L = RegLanes<T>::L;
  const int64_t vectors = (g.oW + L - 1) / L;
  for (int64_t oh = 0; oh < g.oH; ++oh) {
    int64_t v = 0;
    for (; v + kFwdNV <= vectors; v += kFwdNV) forward_tile<T, OB, kFwdNV>(g, xp, Hp, Wp, w, bias, o0, oh, v * L, y);
    for (; v < vectors; ++v) forward_tile<T, OB, 1>(g, xp, Hp, Wp, w, bias, o0, oh, v * L, y);
  }
}

thread_local Workspace tl_padded;  // a worker's padded image (forward)

template <typename T>
void forward(const Conv2dGeometry& g, const T* x, const T* w, const T* bias, T* y) {
  constexpr int L = RegLanes<T>::L;
  const int64_t oWp = (g.oW + L - 1) / L * L;
  const int64_t Hp = std::max(g.padT + g.H, g.oH + (g.kH - 1) * g.dilH);
  const int64_t Wp = std::max(g.padL + g.W, oWp + (g.kW - 1) * g.dilW);
  const int64_t blocks = g.O / kFwdOB, nblk = blocks + g.O % kFwdOB;  // blocks of kFwdOB, then single channels
  const int64_t xs = g.C * g.H * g.W, ys = g.O * g.oH * g.oW;
  // Units (image, block of channels), image-major: a thread pads an image once for its run of units.
  parallel_for(0, g.N * nblk, 1, [&](int64_t u0, int64_t u1) {
    T* xp = tl_padded.get<T>(g.C * Hp * Wp);
    int64_t padded = -1;
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t n = u / nblk, blk = u % nblk;
      if (n != padded) {
        for (int64_t c = 0; c < g.C; ++c)
          for (int64_t i = 0; i < Hp; ++i) {
            T* row = xp + (c * Hp + i) * Wp;
            const int64_t h = i - g.padT;
            if (h < 0 || h >= g.H)
              std::fill(row, row + Wp, T(0));
            else
              pad_row(row, x + n * xs + (c * g.H + h) * g.W, g.W, g.padL, Wp);
          }
        padded = n;
      }
      if (blk < blocks)
        forward_rows<T, kFwdOB>(g, xp, Hp, Wp, w, bias, blk * kFwdOB, y + n * ys);
      else
        forward_rows<T, 1>(g, xp, Hp, Wp, w, bias, blocks * kFwdOB + (blk - blocks), y + n * ys);
    }
  });
}

// ---- weight gradient -----------------------------------------------------------------------------

// For output channels o0 .. o0 + OB - 1, input channel c and kernel row kh: Σ over images
// n0 .. n1 - 1 and output rows oh of dy's row (n, o, oh) times row oh + kh * dilH - padT of x's
// plane (n, c) shifted by kw * dilW, for kw < KW, added to the lanes of sums[(o - o0) * KW + kw].
// A register block: each vector of x (KW of them per vector of a row) feeds OB output channels,
// each vector of dy KW taps; the OB * KW accumulators are named by compile-time indices and the
// function is kept out of line, so they stay in registers.
template <typename T, int OB, int KW>
__attribute__((noinline)) void tap_sums(const Conv2dGeometry& g, const T* dy, const T* xp, int64_t Wp, int64_t o0,
                                        int64_t c, int64_t kh, int64_t n0, int64_t n1, T* tail,
                                        typename RegLanes<T>::V* sums) {
  using V = typename RegLanes<T>::V;
  constexpr int L = RegLanes<T>::L;
  const int64_t oHW = g.oH * g.oW, whole = g.oW / L * L, oWp = (g.oW + L - 1) / L * L, dil = g.dilW;
  V acc[OB * KW];
  unrolled(std::make_integer_sequence<int, OB * KW>{}, [&](auto j) { acc[j] = sums[j]; });
  // A row's last, partial vector: a whole load with the lanes past the row zeroed (a copy into a
  // zeroed buffer stalled every row on a store-forwarding miss), or that copy at dy's very end.
  const T* dy_end = dy + g.N * g.O * oHW;
  typename RegLanes<T>::I keep;
  for (int l = 0; l < L; ++l) keep[l] = l < g.oW - whole ? -1 : 0;
  const auto row_vector = [&](const T* d, int64_t ow) {
    if (ow < whole) return RegLanes<T>::load(d + ow);
    if (d + ow + L <= dy_end) return keep ? RegLanes<T>::load(d + ow) : V{};
    for (int64_t i = 0; i < g.oW - ow; ++i) tail[i] = d[ow + i];
    return RegLanes<T>::load(tail);
  };
  for (int64_t n = n0; n < n1; ++n) {
    const T* dyp = dy + (n * g.O + o0) * oHW;
    const T* xpl = xp + (n * g.C + c) * g.H * Wp;
    for (int64_t oh = 0; oh < g.oH; ++oh) {
      const int64_t ih = oh + kh * g.dilH - g.padT;
      if (ih < 0 || ih >= g.H) continue;
      const T* d = dyp + oh * g.oW;  // channel o0 + b at d + b * oHW
      const T* xr = xpl + ih * Wp;   // output ow, tap kw reads xr[ow + kw * dilW]
      for (int64_t ow = 0; ow < oWp; ow += L) {
        V xv[KW], dv[OB];
        unrolled(std::make_integer_sequence<int, KW>{}, [&](auto k) { xv[k] = RegLanes<T>::load(xr + ow + k * dil); });
        unrolled(std::make_integer_sequence<int, OB>{}, [&](auto b) { dv[b] = row_vector(d + b * oHW, ow); });
        unrolled(std::make_integer_sequence<int, OB>{}, [&](auto b) { dv[b] = in_register(dv[b]); });
        unrolled(std::make_integer_sequence<int, KW>{}, [&](auto k) { xv[k] = in_register(xv[k]); });
        unrolled(std::make_integer_sequence<int, OB * KW>{}, [&](auto j) { acc[j] += dv[j / KW] * xv[j % KW]; });
      }
    }
  }
  unrolled(std::make_integer_sequence<int, OB * KW>{}, [&](auto j) { sums[j] = acc[j]; });
}

// Output channels per register block: 4 x KW accumulators (up to 24 of AVX-512's 32 registers),
// 2 x KW where there are 16.
#if defined(CPU_CAPABILITY_AVX512)
constexpr int kOB = 4;
#else
constexpr int kOB = 2;
#endif

// tap_sums with KW = kW (at most kMaxKW) and OB = kOB, or 1 for the channels past the last block.
template <typename T, int KW>
void tap_sums_any(int64_t kW, int ob, const Conv2dGeometry& g, const T* dy, const T* xp, int64_t Wp, int64_t o0,
                  int64_t c, int64_t kh, int64_t n0, int64_t n1, T* tail, typename RegLanes<T>::V* sums) {
  if constexpr (KW > 1)
    if (kW < KW) return tap_sums_any<T, KW - 1>(kW, ob, g, dy, xp, Wp, o0, c, kh, n0, n1, tail, sums);
  if (ob == kOB) return tap_sums<T, kOB, KW>(g, dy, xp, Wp, o0, c, kh, n0, n1, tail, sums);
  tap_sums<T, 1, KW>(g, dy, xp, Wp, o0, c, kh, n0, n1, tail, sums);
}

template <typename T>
void weight_grad(const Conv2dGeometry& g, const T* dy, const T* x, T* dw, T* db) {
  constexpr int L = RegLanes<T>::L;
  const int64_t oWp = (g.oW + L - 1) / L * L;
  // x padded: row ih of plane (n, c) at xp[((n * C + c) * H + ih) * Wp + pL + w], zeros around,
  // wide enough for the last vector of outputs at the last tap.
  const int64_t Wp = std::max(g.padL + g.W, oWp + (g.kW - 1) * g.dilW);
  // Up to 4 MB, the calling thread's buffer, kept between calls (a fresh one faulted its pages in
  // each time, a third of the time of a 28x28 first layer); larger ones are the call's own, their
  // page faults small next to the work. The workers reach it through `xp`, not by name (their
  // thread_local would be their own). Every entry is written below, so neither is zeroed.
  const size_t need = size_t(g.N * g.C * g.H * Wp);
  static thread_local Workspace kept;
  std::unique_ptr<T[]> own;
  T* xp;
  if (need * sizeof(T) <= (size_t(4) << 20)) {
    xp = kept.get<T>(int64_t(need));
  } else {
    own.reset(new T[need]);
    xp = own.get();
  }
  parallel_for(0, g.N * g.C * g.H, 256, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) pad_row(xp + r * Wp, x + r * g.W, g.W, g.padL, Wp);
  });
  const int64_t oHW = g.oH * g.oW, K = g.C * g.kH * g.kW;
  const int64_t blocks = g.O / kOB, nblk = blocks + g.O % kOB;  // blocks of kOB channels, then single ones
  // Images a few at a time, every (input channel, kernel row) pass over them before the next
  // ones: the block's dy planes (kOB x kImages x oH x oW) stay in L1/L2 across the passes instead
  // of streaming from memory once per pass. The lane sums carry over in `part`.
  constexpr int64_t kImages = 4;
  const int64_t passes = g.C * g.kH;
  parallel_for(0, nblk, 1, [&](int64_t b0, int64_t b1) {
    using V = typename RegLanes<T>::V;
    T tail[L] = {};  // the last partial vector of a dy row, zero-padded
    std::vector<V> part(size_t(passes * kOB * kMaxKW));
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int ob = blk < blocks ? kOB : 1;
      const int64_t o0 = blk < blocks ? blk * kOB : blocks * kOB + (blk - blocks);
      std::fill(part.begin(), part.end(), V{});
      double bias_sums[kOB] = {};
      for (int64_t n0 = 0; n0 < g.N; n0 += kImages) {
        const int64_t n1 = std::min(n0 + kImages, g.N);
        for (int64_t c = 0; c < g.C; ++c)
          for (int64_t kh = 0; kh < g.kH; ++kh)
            tap_sums_any<T, kMaxKW>(g.kW, ob, g, dy, xp, Wp, o0, c, kh, n0, n1, tail,
                                    part.data() + (c * g.kH + kh) * kOB * kMaxKW);
        if (db)  // while these images' dy planes are in cache
          for (int b = 0; b < ob; ++b)
            for (int64_t n = n0; n < n1; ++n) bias_sums[b] += lane_sum(dy + (n * g.O + o0 + b) * oHW, oHW);
      }
      if (db)
        for (int b = 0; b < ob; ++b) db[o0 + b] = T(bias_sums[b]);
      for (int64_t pass = 0; pass < passes; ++pass)
        for (int b = 0; b < ob; ++b)
          for (int64_t kw = 0; kw < g.kW; ++kw) {
            const V& v = part[size_t(pass * kOB * kMaxKW + b * g.kW + kw)];
            double sum = 0;
            for (int l = 0; l < L; ++l) sum += double(v[l]);
            dw[(o0 + b) * K + pass * g.kW + kw] = T(sum);
          }
    }
  });
}

void small_k_forward_kernel(DType dtype, const Conv2dGeometry& g, const void* x, const void* w, const void* bias,
                            void* y) {
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "conv2d", [&] {
    forward<scalar_t>(g, static_cast<const scalar_t*>(x), static_cast<const scalar_t*>(w),
                      static_cast<const scalar_t*>(bias), static_cast<scalar_t*>(y));
  });
}

void small_k_weight_grad_kernel(DType dtype, const Conv2dGeometry& g, const void* dy, const void* x, void* dw,
                                void* db) {
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "conv2d_backward_weight", [&] {
    weight_grad<scalar_t>(g, static_cast<const scalar_t*>(dy), static_cast<const scalar_t*>(x),
                          static_cast<scalar_t*>(dw), static_cast<scalar_t*>(db));
  });
}

}  // namespace

REGISTER_CPU_KERNEL(conv2d_small_k_forward_stub, &small_k_forward_kernel);
REGISTER_CPU_KERNEL(conv2d_small_k_backward_weight_stub, &small_k_weight_grad_kernel);

}  // namespace CPU_CAPABILITY
}  // namespace ember
