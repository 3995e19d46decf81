// Reductions over contiguous runs in explicit vector lanes (GCC/Clang generic vector extensions),
// for the loops whose selects and conversions the auto-vectoriser handles badly. Shared by the
// reduction and softmax kernels; like vec_math.h, included only by files under csrc/cpu/kernels/,
// so each instruction-set build gets its own copy in its own namespace.
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

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

}  // namespace CPU_CAPABILITY
}  // namespace ember
