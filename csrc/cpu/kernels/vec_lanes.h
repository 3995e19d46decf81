// Reductions over contiguous runs in explicit vector lanes (GCC/Clang generic vector extensions),
// for the loops whose selects and conversions the auto-vectoriser handles badly. Shared by the
// reduction and softmax kernels; like vec_math.h, included only by files under csrc/cpu/kernels/,
// so each instruction-set build gets its own copy in its own namespace.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "cpu/kernels/vec_math.h"  // kRegisterBytes

namespace ember {
namespace CPU_CAPABILITY {

// 32 bytes of T: each ISA build lowers it to its own instructions (ymm on AVX2, two xmm on the
// portable path). Index lanes have T's width.
template <typename T>
struct Vec32 {
  typedef T type __attribute__((vector_size(32)));
};
template <typename T>
using index_of_t = std::conditional_t<sizeof(T) == 8, int64_t, int32_t>;
template <typename T>
constexpr bool kHasVec32 = std::is_same_v<T, float> || std::is_same_v<T, double> ||
                           std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t>;

template <typename T>
inline bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  else return false;
}

// One register of T and of its index type in explicit lanes (a zmm on AVX-512, a ymm on AVX2, an
// xmm on the portable path): the pooling row passes and the direct convolutions. Vectors of a
// fixed 64 bytes, two or four registers each off AVX-512, made GCC spill the accumulators and
// build broadcasts and shuffles through the stack there: AVX2's max_pool2d 3x3 s2 ran at 8% of the
// copy bandwidth (59% on AVX-512), the direct conv weight gradient 4x slower than im2col.
template <typename T>
struct RegLanes {
  static constexpr int L = int(kRegisterBytes / sizeof(T));
  typedef T V __attribute__((vector_size(kRegisterBytes)));
  typedef index_of_t<T> I __attribute__((vector_size(kRegisterBytes)));
  static V load(const T* p) {
    V v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static I load(const index_of_t<T>* p) {
    I v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  // The first n <= L lanes of v to p (a memcpy of a run-time size became a slow `rep movsq`).
  static void store_n(T* p, const V& v, int64_t n) {
    if (n == L) {
      std::memcpy(p, &v, sizeof v);
      return;
    }
    for (int64_t l = 0; l < n; ++l) p[l] = v[l];
  }
  // p[0], p[s], ..., p[(L-1)*s] for s = 1 or 2 (stride 2 reads 2L elements).
  template <typename E, typename Vec>
  static Vec load_strided(const E* p, int64_t s) {
    Vec a;
    std::memcpy(&a, p, sizeof a);
    if (s == 1) return a;
    Vec b;
    std::memcpy(&b, p + L, sizeof b);
    return even_lanes(a, b, std::make_integer_sequence<int, L>{});
  }
  template <typename Vec, int... l>
  static Vec even_lanes(Vec a, Vec b, std::integer_sequence<int, l...>) {
#if defined(__clang__)
    return __builtin_shufflevector(a, b, (2 * l)...);
#else
    return __builtin_shuffle(a, b, I{(2 * l)...});
#endif
  }
  // {a[0], b[0], a[1], b[1], ...}: the first L lanes (lo) and the last L (hi).
  template <int... l>
  static void interleave(V a, V b, V& lo, V& hi, std::integer_sequence<int, l...>) {
#if defined(__clang__)
    lo = __builtin_shufflevector(a, b, ((l % 2) * L + l / 2)...);
    hi = __builtin_shufflevector(a, b, ((l % 2) * L + (l + L) / 2)...);
#else
    lo = __builtin_shuffle(a, b, I{((l % 2) * L + l / 2)...});
    hi = __builtin_shuffle(a, b, I{((l % 2) * L + (l + L) / 2)...});
#endif
  }
};

// The running extreme with NaN sticking once seen (torch's rule: NaN is the extreme of everything).
template <typename T, bool kMax>
inline T fold(T best, T v) { return (kMax ? v > best : v < best) || is_nan(v) ? v : best; }

// The extreme of a run folded into `best`; four vectors of lanes on contiguous runs.
template <typename T, bool kMax>
inline T extreme_run(const T* x, int64_t n, int64_t st, T best) {
  int64_t i = 0;
  if constexpr (kHasVec32<T>) {
    using V = typename Vec32<T>::type;
    constexpr int W = int(32 / sizeof(T));
    if (st == 1 && n >= 4 * W) {
      V m[4];
      std::memcpy(m, x, sizeof m);
      for (i = 4 * W; i + 4 * W <= n; i += 4 * W)
        for (int k = 0; k < 4; ++k) {
          V v;
          std::memcpy(&v, x + i + k * W, sizeof v);
          m[k] = ((kMax ? v > m[k] : v < m[k]) | (v != v)) ? v : m[k];  // NaN sticks
        }
      for (int k = 0; k < 4; ++k)
        for (int j = 0; j < W; ++j) best = fold<T, kMax>(best, m[k][j]);
    }
  }
  for (; i < n; ++i) best = fold<T, kMax>(best, x[i * st]);
  return best;
}

// Σ x[0..n) over a contiguous run in eight vectors of 32 bytes of lanes (one sum would be a chain of
// dependent adds, four cycles an element), the lanes added in double at the end. For the bias
// gradients of the convolution kernels: one run per (image, channel) plane.
template <typename T>
inline double lane_sum(const T* x, int64_t n) {
  using V = typename Vec32<T>::type;
  constexpr int W = int(32 / sizeof(T));
  V a[8] = {};
  int64_t i = 0;
  for (; i + 8 * W <= n; i += 8 * W)
    for (int k = 0; k < 8; ++k) {
      V v;
      std::memcpy(&v, x + i + k * W, sizeof v);
      a[k] += v;
    }
  for (; i + W <= n; i += W) {
    V v;
    std::memcpy(&v, x + i, sizeof v);
    a[0] += v;
  }
  const V s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
  double total = 0;
  for (; i < n; ++i) total += double(x[i]);
  for (int j = 0; j < W; ++j) total += double(s[j]);
  return total;
}

// Two sums over a contiguous float32 run, added to s1 and s2: float lanes over blocks of at most
// 256 elements (16 terms per lane), flushed into double accumulators; a last block shorter than
// 256 (and whole runs of 16 to 255, such as the 64- and 196-element planes of 8x8 and 14x14
// feature maps) stays in the lanes, only the last n % 16 elements are added one by one.
//   g == nullptr: s1 += Σ (x - m), s2 += Σ (x - m)²      (variance from a shift m)
//   otherwise:    s1 += Σ g,       s2 += Σ g·(x - m)     (batch-norm backward)
// relu = {a, off}: g counts only where x·a + off > 0 (batch norm fused with a ReLU: its output).
inline void lane_pair_sums_f32(const float* g, const float* x, int64_t n, float m, double& s1, double& s2,
                               const float* relu = nullptr) {
  using V = Vec32<float>::type;
  constexpr int64_t kBlk = 256;
  double a[8] = {}, b[8] = {};
  const int64_t whole = n / 16 * 16;
  int64_t i = 0;
  while (i < whole) {
    const int64_t end = i + (whole - i < kBlk ? whole - i : kBlk);
    V l[2] = {}, q[2] = {};
    for (; i < end; i += 16)
      for (int k = 0; k < 2; ++k) {
        V v, d, w;
        std::memcpy(&v, x + i + 8 * k, sizeof v);
        d = v - m;
        if (g) {
          std::memcpy(&w, g + i + 8 * k, sizeof w);
          if (relu) w = v * relu[0] + relu[1] > 0.f ? w : V{};
        } else {
          w = d;
        }
        l[k] += w;
        q[k] += w * d;
      }
    for (int r = 0; r < 8; ++r) {
      a[r] += double(l[0][r]) + double(l[1][r]);
      b[r] += double(q[0][r]) + double(q[1][r]);
    }
  }
  for (; i < n; ++i) {
    const double d = double(x[i] - m);
    const double w = !g ? d : (relu && !(x[i] * relu[0] + relu[1] > 0.f)) ? 0.0 : double(g[i]);
    a[0] += w;
    b[0] += w * d;
  }
  for (int r = 0; r < 8; ++r) { s1 += a[r]; s2 += b[r]; }
}

}  // namespace CPU_CAPABILITY
}  // namespace ember
