// A Python number passed to a kernel: kept as int64 when it is an integer (so large ints stay
// exact) and as double otherwise. Kernels convert it to their scalar_t with to<T>().
#pragma once
#include <cstdint>
#include <type_traits>

namespace ember {

struct Scalar {
  double d = 0.0;
  int64_t i = 0;
  bool is_integral = false;
  bool is_bool = false;

  Scalar() = default;
  static Scalar from_double(double v) { Scalar s; s.d = v; s.i = int64_t(v); return s; }
  static Scalar from_int(int64_t v) { Scalar s; s.i = v; s.d = double(v); s.is_integral = true; return s; }
  static Scalar from_bool(bool v) { Scalar s = from_int(v); s.is_bool = true; return s; }

  template <typename T>
  T to() const {
    if constexpr (std::is_same_v<T, bool>) return is_integral ? i != 0 : d != 0.0;
    else if constexpr (std::is_integral_v<T>) return is_integral ? T(i) : T(d);
    else return is_integral ? T(i) : T(d);
  }
};

}  // namespace ember
