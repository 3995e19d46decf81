// float32 exp, log, sin, cos and tanh written as branch-free arithmetic, so that a loop calling them
// vectorises in each instruction-set build (libm's expf/sinf are opaque calls: one element at a
// time). Accuracy against the correctly rounded result, checked by tests/test_vec_math.py over
// every float32 exponent range: exp and log within 2 ulp, sin and cos within 2 ulp for
// |x| <= kTrigMax (callers send larger |x| to libm). NaN, infinities, zeros and subnormals give
// libm's answers.
//
// tanh within 2 ulp everywhere (tests/test_vec_math.py).
//
// Methods (Cephes / fdlibm): exp by n = round(x / ln2) and a degree-6 polynomial on the remainder,
// scaled by 2^n in two steps so subnormal results come out right; log by splitting off the
// exponent and a polynomial in the mantissa around 1; sin/cos by reducing x modulo pi/2 in double
// precision and fdlibm's float kernels on the remainder; tanh by Cephes' odd polynomial for
// |x| < 0.625 and 1 - 2 / (exp(2|x|) + 1) above.
//
// Included only by files under csrc/cpu/kernels/: everything here lives in the per-ISA namespace,
// so each build gets its own copy (one shared inline definition would let the linker pick an
// AVX-512 body for the portable path).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

namespace ember {
namespace CPU_CAPABILITY {

// Bytes of one vector register of the instruction set this copy is compiled for.
#if defined(CPU_CAPABILITY_AVX512)
constexpr size_t kRegisterBytes = 64;
#elif defined(CPU_CAPABILITY_AVX2)
constexpr size_t kRegisterBytes = 32;
#else
constexpr size_t kRegisterBytes = 16;
#endif

namespace vec_math {

inline int32_t bits_of(float x) {
  int32_t i;
  std::memcpy(&i, &x, 4);
  return i;
}
inline float float_of(int32_t i) {
  float x;
  std::memcpy(&x, &i, 4);
  return x;
}
inline int64_t bits_of(double x) {
  int64_t i;
  std::memcpy(&i, &x, 8);
  return i;
}

// 2^n for integer-valued n in [-126, 127].
inline float pow2i(float n) { return float_of((int32_t(n) + 127) << 23); }

// exp(x) = 2^n exp(r) with n = round(x / ln2): returns exp(r) (a degree-6 polynomial) and sets n.
// T: float, or a vector of floats (the same operations lane by lane).
template <typename T>
inline T exp_remainder(T x, T& n) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;  // ln2 = hi + lo, hi exact in 9 bits
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding and subtracting it rounds to an integer
  n = (x * kLog2e + kRound) - kRound;
  T r = x - n * kLn2Hi;
  r = r - n * kLn2Lo;
  T p = r * 1.9875691500e-4f + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  return p * (r * r) + r + 1.0f;
}

inline float exp_f32(float x) {
  constexpr float kMax = 88.72283935546875f;    // above: exp overflows to inf
  constexpr float kMin = -103.97208404541015625f;  // below: exp underflows to 0
  float xc = x < kMin ? kMin : x;
  xc = xc > kMax ? kMax : xc;
  xc = x != x ? 0.0f : xc;  // NaN: keep the integer conversions below defined; the result is x
  float n;
  float y = exp_remainder(xc, n);
  // 2^n with n in [-150, 128]: two factors, each a normal float.
  const float n1 = float(int32_t(n) / 2);
  y = y * pow2i(n1) * pow2i(n - n1);
  y = x > kMax ? std::numeric_limits<float>::infinity() : y;
  y = x < kMin ? 0.0f : y;
  return x != x ? x : y;
}

// exp where the result is a normal float (kExpNormalLo <= x <= kExpNormalHi): exp_f32 without its
// clamps, special cases and two-step scaling; 2^n goes straight into the exponent bits, which is
// exact here, so the result is bitwise exp_f32's.
constexpr float kExpNormalLo = -86.0f, kExpNormalHi = 88.0f;
inline float exp_f32_normal(float x) {
  float n;
  const float y = exp_remainder(x, n);
  return float_of(int32_t(uint32_t(bits_of(y)) + (uint32_t(int32_t(n)) << 23)));
}

// One register of float lanes, and of int32 / uint32 ones: a zmm (16 lanes) on AVX-512, a ymm (8)
// on AVX2, an xmm (4) on SSE2. (Vectors of a fixed 16 floats were two or four registers off
// AVX-512; GCC then spilled the exponential's temporaries at every step, and AVX2's softmax,
// log_softmax and cross-entropy forward ran at 6-7% of the copy bandwidth, AVX-512's at 54-73%.)
constexpr int kLanes = int(kRegisterBytes / sizeof(float));
typedef float f32xR __attribute__((vector_size(kRegisterBytes)));
typedef int32_t i32xR __attribute__((vector_size(kRegisterBytes)));
typedef uint32_t u32xR __attribute__((vector_size(kRegisterBytes)));
typedef double f64xR __attribute__((vector_size(kRegisterBytes)));
typedef float f32xH __attribute__((vector_size(kRegisterBytes / 2)));  // half a register of floats

// exp_f32_normal lane by lane (the same operations, so the same bits).
inline f32xR exp_f32_normal(f32xR x) {
  f32xR n;
  f32xR y = exp_remainder(x, n);
  u32xR bits;
  std::memcpy(&bits, &y, sizeof bits);
  bits += __builtin_convertvector(__builtin_convertvector(n, i32xR), u32xR) << 23;
  std::memcpy(&y, &bits, sizeof y);
  return y;
}

// y[i] = exp_f32(x[i]) over a contiguous array (y == x allowed): each block of 256 whose elements
// all lie in the normal range (checked first, a cheap vectorised pass) takes exp_f32_normal.
inline void exp_f32_array(const float* x, float* y, int64_t n) {
  constexpr int64_t kBlk = 256;
  for (int64_t b = 0; b < n; b += kBlk) {
    const int64_t m = n - b < kBlk ? n - b : kBlk;
    int normal = 1;
    for (int64_t i = 0; i < m; ++i) normal &= (x[b + i] >= kExpNormalLo) & (x[b + i] <= kExpNormalHi);
    if (normal) {
#pragma GCC unroll 4
      for (int64_t i = 0; i < m; ++i) y[b + i] = exp_f32_normal(x[b + i]);
    } else {
      for (int64_t i = 0; i < m; ++i) y[b + i] = exp_f32(x[b + i]);
    }
  }
}

// Σ exp(x[i] - m) over a contiguous array, for a finite m at least every x[i] (a row max: the
// shift of logsumexp, softmax and cross-entropy). Every term is then at most 1 and the largest is
// 1, so a term below exp(kExpNormalLo) (< 1e-37) changes nothing and counts as 0; the rest take
// exp_f32_normal, a register of lanes at a time, summed in float lanes over blocks of 16 vectors
// (16 terms per lane) that are flushed into double lanes; a last partial vector
// is the array's last kLanes elements with the lanes already counted masked off. (A NaN in x would
// count as 0: NaN rows have a NaN max, which callers handle before they get here.) With `next`,
// the pass also prefetches next[0, n) into L1, a vector's worth at a time: a caller going through
// rows of a matrix gives the next row, which then streams in while this one computes.
// kStore: also store each exp(x[i] - m) in y (y == x allowed) as exp_f32 gives it: the lanes below
// the normal range (rare: a row spanning more than e^86) are redone with exp_f32 after the pass
// and counted in the sum as stored (softmax: one pass instead of a subtract, a range check, the
// exponentials and a sum over a block buffer).
template <bool kStore>
inline double exp_sum_lanes(const float* x, int64_t n, float m, float* y, const float* next = nullptr) {
  constexpr int64_t L = kLanes, kBlk = 16 * L;
  const int64_t whole = n / L * L;
  f64xR acc[2] = {};
  i32xR any_low = {};
  const auto flush = [&acc](const f32xR& lane) {
    f32xH half[2];
    std::memcpy(half, &lane, sizeof half);
    acc[0] += __builtin_convertvector(half[0], f64xR);
    acc[1] += __builtin_convertvector(half[1], f64xR);
  };
  int64_t i = 0;
  while (i < whole) {
    const int64_t end = whole - i < kBlk ? whole : i + kBlk;
    f32xR lane = {};
    for (; i < end; i += L) {
      if (next && (L >= 16 || i % 16 == 0)) __builtin_prefetch(next + i, 0, 3);  // a 64-byte line
      f32xR d;
      std::memcpy(&d, x + i, sizeof d);
      d -= m;
      const i32xR low = d < kExpNormalLo;
      const f32xR e = low ? f32xR{} : exp_f32_normal(low ? kExpNormalLo : d);
      if (kStore) {
        any_low |= low;
        std::memcpy(y + i, &e, sizeof e);
      }
      lane += e;
    }
    flush(lane);
  }
  double total = 0;
  if (whole < n && n >= L) {  // x[n - L, n), its first L - (n - whole) lanes counted already
    const int64_t base = n - L, done = L - (n - whole);
    if (next) __builtin_prefetch(next + base, 0, 3);
    i32xR lane_index;
    for (int j = 0; j < L; ++j) lane_index[j] = j;
    const i32xR counted = lane_index < int32_t(done);
    f32xR d;
    std::memcpy(&d, x + base, sizeof d);
    d -= m;
    const i32xR low = d < kExpNormalLo;
    const f32xR e = (low | counted) ? f32xR{} : exp_f32_normal(low ? kExpNormalLo : d);
    if (kStore) {
      any_low |= low;
      for (int64_t j = done; j < L; ++j) y[base + j] = e[j];
    }
    flush(e);
    i = n;
  }
  for (; i < n; ++i) {  // fewer than kLanes elements in all
    const float d = x[i] - m;
    const float e = kStore ? exp_f32(d) : d >= kExpNormalLo ? exp_f32_normal(d) : 0.0f;
    if (kStore) y[i] = e;
    total += e;
  }
  const f64xR a = acc[0] + acc[1];
  for (int j = 0; j < L / 2; ++j) total += a[j];
  int redo = 0;
  for (int j = 0; j < L; ++j) redo |= any_low[j];
  if (kStore && redo)  // only set when every element went through the vector lanes
    for (int64_t j = 0; j < n; ++j)
      if (x[j] - m < kExpNormalLo) {
        y[j] = exp_f32(x[j] - m);
        total += y[j];
      }
  return total;
}
inline double exp_sum_f32(const float* x, int64_t n, float m) { return exp_sum_lanes<false>(x, n, m, nullptr); }
inline double exp_store_sum_f32(const float* x, int64_t n, float m, float* y) {
  return exp_sum_lanes<true>(x, n, m, y);
}

// The max of `start` and x[0, n) into max, two vector accumulators wide; false when x holds a NaN.
inline bool max_no_nan_f32(const float* x, int64_t n, float start, float& max) {
  constexpr int64_t L = kLanes;
  float m = start;
  int64_t i = 0;
  if (n >= 2 * L) {
    f32xR a, b, v, w;
    i32xR nan = {};
    std::memcpy(&a, x, sizeof a);
    std::memcpy(&b, x + L, sizeof b);
    nan |= (a != a) | (b != b);
    for (i = 2 * L; i + 2 * L <= n; i += 2 * L) {
      std::memcpy(&v, x + i, sizeof v);
      std::memcpy(&w, x + i + L, sizeof w);
      a = v > a ? v : a;
      b = w > b ? w : b;
      nan |= (v != v) | (w != w);
    }
    a = b > a ? b : a;
    for (int j = 0; j < L; ++j) {
      if (nan[j]) return false;
      m = a[j] > m ? a[j] : m;
    }
  }
  for (; i < n; ++i) {
    if (x[i] != x[i]) return false;
    m = x[i] > m ? x[i] : m;
  }
  max = m;
  return true;
}

// The max m of a contiguous array and Σ exp(x[i] - m). Up to 4096 elements (16 KB, which L1
// keeps between the passes): the max, then the exponentials, prefetching the 4096 elements after
// the array (the next row of a matrix, for callers going through rows; a stray prefetch past an
// array's end is harmless). Longer arrays, in one pass over memory: block by block (256 elements),
// the block's max, then its exponentials from L1 against the running max, the sum so far rescaled
// by exp(old max - new max) when the max grows. Returns false, and leaves the outputs unset, when
// the max is not finite (a NaN, +inf, or every element -inf): callers then take their general
// two-pass path.
inline bool max_exp_sum_f32(const float* x, int64_t n, float& max, double& sum) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  if (n <= 4096) {
    float m;
    if (n == 0 || !max_no_nan_f32(x, n, -kInf, m) || m == kInf || m == -kInf) return false;
    max = m;
    sum = exp_sum_lanes<false>(x, n, m, nullptr, x + n);
    return true;
  }
  constexpr int64_t kBlk = 256;
  float m = -kInf;
  double s = 0;
  for (int64_t b = 0; b < n; b += kBlk) {
    const int64_t w = n - b < kBlk ? n - b : kBlk;
    const float* xb = x + b;
    float bm;
    if (!max_no_nan_f32(xb, w, m, bm) || bm == kInf) return false;
    if (bm == -kInf) continue;  // the block adds nothing (yet)
    if (bm > m) {
      s *= std::exp(double(m) - double(bm));  // 0 while m is -inf
      m = bm;
    }
    s += exp_sum_f32(xb, w, m);
  }
  if (m == -kInf) return false;
  max = m;
  sum = s;
  return true;
}

// y[i] = post(x[i], exp_f32(pre(x[i]))) over a contiguous array (y == x allowed): the
// exponentials of each block of 256 through exp_f32_array. For the exp-based activations.
template <typename Pre, typename Post>
inline void exp_map_f32_array(const float* x, float* y, int64_t n, const Pre& pre, const Post& post) {
  constexpr int64_t kBlk = 256;
  float e[kBlk];
  for (int64_t b = 0; b < n; b += kBlk) {
    const int64_t m = n - b < kBlk ? n - b : kBlk;
    for (int64_t i = 0; i < m; ++i) e[i] = pre(x[b + i]);
    exp_f32_array(e, e, m);
    for (int64_t i = 0; i < m; ++i) y[b + i] = post(x[b + i], e[i]);
  }
}

// The same over one chunk of an elementwise loop (out = p[0], in = p[1], byte strides s): the
// blocks above when both are contiguous, else post(x, exp_f32(pre(x))) element by element.
template <typename Pre, typename Post>
inline void exp_map_f32_chunk(char** p, const int64_t* s, int64_t n, const Pre& pre, const Post& post) {
  if (s[0] == sizeof(float) && s[1] == sizeof(float)) {
    exp_map_f32_array(reinterpret_cast<const float*>(p[1]), reinterpret_cast<float*>(p[0]), n, pre, post);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const float x = *reinterpret_cast<const float*>(p[1] + i * s[1]);
    *reinterpret_cast<float*>(p[0] + i * s[0]) = post(x, exp_f32(pre(x)));
  }
}

// sigmoid(x) from e = exp(-|x|): stable for large |x| (never exponentiates a large positive
// number). One division (a vector divide is slow on every x86 core), then e times it for x < 0.
inline float neg_abs_f32(float x) { return x < 0.0f ? x : -x; }  // NaN stays NaN
inline float sigmoid_of_exp_f32(float x, float e) {
  const float r = 1.0f / (1.0f + e);
  return x >= 0.0f ? r : e * r;
}

inline float log_f32(float x) {
  constexpr float kSqrtHalf = 0.707106781186547524f;
  constexpr float kMinNormal = 1.17549435e-38f;
  // Subnormals: scale into the normal range first.
  const bool sub = x < kMinNormal;
  const float xs = sub ? x * 8388608.0f : x;  // 2^23
  const int32_t b = bits_of(xs);
  float e = float(((b >> 23) & 0xff) - 126) - (sub ? 23.0f : 0.0f);
  float m = float_of((b & 0x007fffff) | 0x3f000000);  // mantissa in [0.5, 1)
  const bool low = m < kSqrtHalf;
  e = low ? e - 1.0f : e;
  m = low ? m + m - 1.0f : m - 1.0f;  // now m = mantissa - 1 in [sqrt(1/2) - 1, sqrt(2) - 1)
  const float z = m * m;
  float p = 7.0376836292e-2f;
  p = p * m - 1.1514610310e-1f;
  p = p * m + 1.1676998740e-1f;
  p = p * m - 1.2420140846e-1f;
  p = p * m + 1.4249322787e-1f;
  p = p * m - 1.6668057665e-1f;
  p = p * m + 2.0000714765e-1f;
  p = p * m - 2.4999993993e-1f;
  p = p * m + 3.3333331174e-1f;
  float y = p * m * z;
  y = y + e * -2.12194440e-4f;
  y = y - 0.5f * z;
  y = m + y + e * 0.693359375f;
  const float inf = std::numeric_limits<float>::infinity();
  y = x == inf ? inf : y;
  y = x == 0.0f ? -inf : y;
  y = x < 0.0f ? std::numeric_limits<float>::quiet_NaN() : y;
  return x != x ? x : y;
}

// |x| up to which sin_f32/cos_f32 hold their accuracy; callers use libm beyond.
constexpr float kTrigMax = 65536.0f;

// sin (want_cos = false) or cos of x: x = j pi/2 + r with |r| <= pi/4, in double.
inline float sincos_f32(float x, bool want_cos) {
  constexpr double kTwoOverPi = 6.36619772367581382433e-01;
  constexpr double kPio2Hi = 1.57079632673412561417e+00, kPio2Lo = 6.07710050650619224932e-11;
  constexpr double kRound = 6755399441055744.0;  // 1.5 * 2^52
  const double xd = x;
  const double jr = xd * kTwoOverPi + kRound;
  const double j = jr - kRound;
  const int64_t q = bits_of(jr) + (want_cos ? 1 : 0);  // cos(x) = sin(x + pi/2)
  const double r = (xd - j * kPio2Hi) - j * kPio2Lo;
  const double z = r * r, w = z * z;
  // fdlibm __kernel_sindf / __kernel_cosdf
  const double s = (r + r * z * (-0.166666666416265235595 + z * 0.0083333293858894631756)) +
                   r * z * w * (-0.000198393348360966317347 + z * 0.0000027183114939898219064);
  const double c = ((1.0 + z * -0.499999997251031003120) + w * 0.0416666233237390631894) +
                   (w * z) * (-0.00138867637746099294692 + z * 0.0000243904487962774090654);
  const double v = (q & 1) ? c : s;
  return float((q & 2) ? -v : v);
}

inline float tanh_f32(float x) {
  const float ax = x < 0.0f ? -x : x;
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = p * z * x + x;
  // From |x| = 9.02 on, tanh rounds to 1 in float32 and so does 1 - 2 / (e^(2|x|) + 1): capping
  // |x| at 10 keeps exp finite.
  const float e = exp_f32_normal(2.0f * (ax < 10.0f ? ax : 10.0f));  // in [1, e^20]: a normal float
  const float big = 1.0f - 2.0f / (e + 1.0f);
  const float r = ax < 0.625f ? small : (x < 0.0f ? -big : big);
  return x != x || x == 0.0f ? x : r;  // NaN stays NaN; -0 stays -0
}

// erfc(x), for exact GELU: within 8 ulp where the result is a normal float (7.7 ulp in a float32
// emulation of these operations), so looser than the functions above; ember.erf itself stays on
// libm. erfc(|x|) = exp(-x^2) R(1 / (1 + 0.5 |x|)), R of degree 9 fitted (Lawson's minimax, relative
// error) to erfc(t) e^(t^2) on [0, 10.1]: one formula for every |x|, no separate polynomial near 0
// to evaluate and blend in. x^2 is split exactly into hi + lo so that exp(-x^2) keeps its accuracy
// in the tail, and erfc(x) = 2 - erfc(-x) for x < 0. *gauss gets the exp(-x^2) it computes on the
// way (|x| capped at 10.1), which GELU's gradient needs too.
// kNear: the caller guarantees |x| <= 8.9 and no NaN (x^2 <= 80), and the far tail's selects are
// left out: the same bits for such x, from about a sixth fewer operations.
template <bool kNear = false>
inline float erfc_gauss_f32(float x, float* gauss) {
  const float ax = x < 0.0f ? -x : x;
  const float t = kNear || ax < 10.1f ? ax : 10.1f;  // erfc(10.1) underflows to 0 in float32
  const float hi = t * t;
#if defined(__FMA__)
  const float lo = std::fma(t, t, -hi);  // t^2 - hi, exactly: one rounding, of an exact result
#else
  const float c = 4097.0f * t;  // Veltkamp split: t = th + tl, each half the mantissa
  const float th = c - (c - t), tl = t - th;
  const float lo = ((th * th - hi) + 2.0f * th * tl) + tl * tl;  // t^2 - hi, exactly
#endif
  const float z = 1.0f / (1.0f + 0.5f * t);
  float r = -5.521848052740097e-2f;
  r = r * z + 2.6477470993995667e-1f;
  r = r * z - 4.4343483448028564e-1f;
  r = r * z + 2.2366833686828613e-1f;
  r = r * z + 1.5135496854782104e-2f;
  r = r * z + 1.8222485482692719e-1f;
  r = r * z + 2.4948102235794067e-1f;
  r = r * z + 2.811599373817444e-1f;
  r = r * z + 2.822146415710449e-1f;
  r = r * z - 5.6998592299351e-6f;
  // exp(-hi) from exp_f32_normal: past hi = 80 as exp(40 - hi) e^-40 (hi - 40 is exact there), so
  // that the tail, down to subnormal results, keeps exp_f32's accuracy without its clamps.
  if constexpr (kNear) {
    const float g = exp_f32_normal(-hi) * (1.0f - lo);
    *gauss = g;
    const float y = g * r;
    return x < 0.0f ? 2.0f - y : y;
  } else {
    const bool far = hi > 80.0f;
    const float g = exp_f32_normal(far ? 40.0f - hi : -hi) * (far ? 4.24835425529e-18f : 1.0f) * (1.0f - lo);
    *gauss = g;
    float y = g * r;
    y = ax > 10.1f ? 0.0f : y;
    y = x < 0.0f ? 2.0f - y : y;
    return x != x ? x : y;
  }
}

inline float erfc_f32(float x) {
  float unused;
  return erfc_gauss_f32(x, &unused);
}

}  // namespace vec_math
}  // namespace CPU_CAPABILITY
}  // namespace ember
