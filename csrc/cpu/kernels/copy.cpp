// CPU copy with dtype conversion and fill. Compiled once per instruction set: the contiguous
// same-dtype path is memcpy, the converting contiguous path is a loop the compiler vectorises.
#include <algorithm>
#include <cstring>

#include "core/parallel.h"
#include "ops/copy.h"
#include "ops/indexing.h"

namespace ember {
namespace CPU_CAPABILITY {
namespace {

template <typename To, typename From>
inline To convert(From v) {
  if constexpr (std::is_same_v<To, bool>) return v != From(0);
  else return static_cast<To>(v);
}

template <typename To, typename From>
void copy_loop(const LoopPlan<2>& plan, char* dst, char* src) {
  run_loop<2>(plan, {dst, src}, 32768, [](char** p, const int64_t* s, int64_t n) {
    if (s[0] == sizeof(To) && s[1] == sizeof(From)) {
      To* d = reinterpret_cast<To*>(p[0]);
      const From* a = reinterpret_cast<const From*>(p[1]);
      if constexpr (std::is_same_v<To, From>) {
        std::memcpy(d, a, size_t(n) * sizeof(To));
      } else {
        for (int64_t i = 0; i < n; ++i) d[i] = convert<To>(a[i]);
      }
    } else if (s[1] == 0) {  // broadcast source: a fill
      const To v = convert<To>(*reinterpret_cast<const From*>(p[1]));
      for (int64_t i = 0; i < n; ++i) *reinterpret_cast<To*>(p[0] + i * s[0]) = v;
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<To*>(p[0] + i * s[0]) =
            convert<To>(*reinterpret_cast<const From*>(p[1] + i * s[1]));
    }
  });
}

void copy_kernel(const LoopPlan<2>& plan, char* dst, DType dst_dtype, char* src, DType src_dtype) {
  EMBER_DISPATCH_ALL_TYPES_AND_BOOL(dst_dtype, "copy_", [&] {
    using dst_t = scalar_t;
    EMBER_DISPATCH_ALL_TYPES_AND_BOOL(src_dtype, "copy_", [&] {
      copy_loop<dst_t, scalar_t>(plan, dst, src);
    });
  });
}

void fill_kernel(const LoopPlan<1>& plan, char* dst, DType dtype, Scalar value) {
  EMBER_DISPATCH_ALL_TYPES_AND_BOOL(dtype, "fill_", [&] {
    const scalar_t v = value.to<scalar_t>();
    run_loop<1>(plan, {dst}, 32768,
                [v](char** p, const int64_t* s, int64_t n) {
                  if (s[0] == sizeof(scalar_t)) {
                    scalar_t* d = reinterpret_cast<scalar_t*>(p[0]);
                    for (int64_t i = 0; i < n; ++i) d[i] = v;
                  } else {
                    for (int64_t i = 0; i < n; ++i) *reinterpret_cast<scalar_t*>(p[0] + i * s[0]) = v;
                  }
                });
  });
}

// n bytes from s to d (not overlapping), inline: whole 64-byte pieces, then the last piece
// overlapping the one before (or two overlapping halves of a short copy) instead of a tail loop.
inline void copy_bytes(char* d, const char* s, int64_t n) {
  if (n >= 4096) {
    std::memcpy(d, s, size_t(n));
  } else if (n >= 64) {
    for (int64_t i = 0; i + 64 < n; i += 64) __builtin_memcpy(d + i, s + i, 64);
    __builtin_memcpy(d + n - 64, s + n - 64, 64);
  } else if (n >= 16) {
    if (n > 32) {
      __builtin_memcpy(d, s, 32);
      __builtin_memcpy(d + n - 32, s + n - 32, 32);
    } else {
      __builtin_memcpy(d, s, 16);
      __builtin_memcpy(d + n - 16, s + n - 16, 16);
    }
  } else if (n >= 4) {
    if (n >= 8) {
      __builtin_memcpy(d, s, 8);
      __builtin_memcpy(d + n - 8, s + n - 8, 8);
    } else {
      __builtin_memcpy(d, s, 4);
      __builtin_memcpy(d + n - 4, s + n - 4, 4);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) d[i] = s[i];
  }
}

void cat_rows_kernel(int64_t rows, const CatPiece* pieces, int64_t npieces, char* out, int64_t out_row_bytes) {
  parallel_for(0, rows, std::max<int64_t>(1, 65536 / std::max<int64_t>(out_row_bytes, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      char* d = out + r * out_row_bytes;
      for (int64_t i = 0; i < npieces; ++i) {
        const int64_t n = pieces[i].row_bytes;
        copy_bytes(d, pieces[i].data + r * n, n);
        d += n;
      }
    }
  });
}

}  // namespace

REGISTER_CPU_KERNEL(copy_stub, &copy_kernel);
REGISTER_CPU_KERNEL(cat_rows_stub, &cat_rows_kernel);
REGISTER_CPU_KERNEL(fill_stub, &fill_kernel);

}  // namespace CPU_CAPABILITY
}  // namespace ember
