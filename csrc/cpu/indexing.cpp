// CPU kernels of the indexing primitives (index offsets, gather, scatter, nonzero) and tril/triu.
// Compiled once: these loops are bound by memory and index arithmetic, not by vector width.
#include <atomic>
#include <cstring>
#include <mutex>

#include "ops/indexing.h"

namespace ember {
namespace {

bool index_offsets_kernel(const LoopPlan<2>& plan, char* out, char* idx, int64_t size, int64_t stride,
                          bool accumulate, bool allow_negative, int64_t* bad_index) {
  std::atomic<bool> ok{true};
  const int64_t lo = allow_negative ? -size : 0;
  std::mutex mu;
  run_loop<2>(plan, {out, idx}, 16384, [&](char** p, const int64_t* s, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      int64_t v = *reinterpret_cast<const int64_t*>(p[1] + i * s[1]);
      if (v < lo || v >= size) {
        std::lock_guard<std::mutex> lock(mu);
        if (ok.load()) *bad_index = v;
        ok = false;
        return;
      }
      if (v < 0) v += size;
      int64_t* o = reinterpret_cast<int64_t*>(p[0] + i * s[0]);
      *o = accumulate ? *o + v * stride : v * stride;
    }
  });
  return ok.load();
}

template <typename T>
void gather_loop(const LoopPlan<3>& plan, char* out, char* src, char* offsets) {
  run_loop<3>(plan, {out, src, offsets}, 16384, [](char** p, const int64_t* s, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      const int64_t off = *reinterpret_cast<const int64_t*>(p[2] + i * s[2]);
      *reinterpret_cast<T*>(p[0] + i * s[0]) = reinterpret_cast<const T*>(p[1] + i * s[1])[off];
    }
  });
}

void index_gather_kernel(const LoopPlan<3>& plan, char* out, char* src, char* offsets, int64_t itemsize) {
  // Gathering moves bytes: dispatch on the item size only.
  switch (itemsize) {
    case 1: return gather_loop<uint8_t>(plan, out, src, offsets);
    case 2: return gather_loop<uint16_t>(plan, out, src, offsets);
    case 4: return gather_loop<uint32_t>(plan, out, src, offsets);
    case 8: return gather_loop<uint64_t>(plan, out, src, offsets);
    default: EMBER_ASSERT(false);
  }
}

template <typename T>
void scatter_loop(const LoopPlan<3>& plan, char* dst, char* values, char* offsets, bool accumulate) {
  // Accumulation runs on one thread: two positions may hit the same element.
  const int64_t grain = accumulate ? plan.numel : 16384;
  run_loop<3>(plan, {dst, values, offsets}, grain, [accumulate](char** p, const int64_t* s, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      const int64_t off = *reinterpret_cast<const int64_t*>(p[2] + i * s[2]);
      T& d = reinterpret_cast<T*>(p[0] + i * s[0])[off];
      const T v = *reinterpret_cast<const T*>(p[1] + i * s[1]);
      if constexpr (std::is_same_v<T, bool>) d = accumulate ? (d || v) : v;
      else d = accumulate ? T(d + v) : v;
    }
  });
}

void index_scatter_kernel(const LoopPlan<3>& plan, char* dst, char* values, char* offsets, DType dtype,
                          bool accumulate) {
  EMBER_DISPATCH_ALL_TYPES_AND_BOOL(dtype, "index_put_", [&] {
    scatter_loop<scalar_t>(plan, dst, values, offsets, accumulate);
  });
}

void nonzero_kernel(const Tensor& x, const Tensor& out) {
  const bool* a = x.data<bool>();
  int64_t* o = out.data<int64_t>();
  const int64_t nd = x.dim();
  std::vector<int64_t> index(nd, 0);
  for (int64_t i = 0, n = x.numel(); i < n; ++i) {
    if (a[i]) {
      for (int64_t d = 0; d < nd; ++d) *o++ = index[d];
    }
    for (int64_t d = nd - 1; d >= 0; --d) {  // advance the C-order multi-index
      if (++index[d] < x.shape()[d]) break;
      index[d] = 0;
    }
  }
}

void tril_triu_kernel(const Tensor& t, int64_t k, bool upper) {
  // t: [..., R, C] contiguous; zero bytes are zero in every dtype.
  const int64_t R = t.shape()[t.dim() - 2], C = t.shape()[t.dim() - 1];
  const int64_t batch = (R && C) ? t.numel() / (R * C) : 0;
  const int64_t isz = t.itemsize();
  char* base = static_cast<char*>(t.raw_data());
  parallel_for(0, batch * R, 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t i = r % R;
      char* row = base + r * C * isz;
      // tril keeps j <= i + k: zero [i + k + 1, C). triu keeps j >= i + k: zero [0, i + k).
      int64_t lo = upper ? 0 : i + k + 1, hi = upper ? i + k : C;
      lo = std::max<int64_t>(0, std::min(lo, C));
      hi = std::max<int64_t>(0, std::min(hi, C));
      if (hi > lo) std::memset(row + lo * isz, 0, size_t((hi - lo) * isz));
    }
  });
}

}  // namespace

REGISTER_CPU_KERNEL(index_offsets_stub, &index_offsets_kernel);
REGISTER_CPU_KERNEL(index_gather_stub, &index_gather_kernel);
REGISTER_CPU_KERNEL(index_scatter_stub, &index_scatter_kernel);
REGISTER_CPU_KERNEL(nonzero_stub, &nonzero_kernel);
REGISTER_CPU_KERNEL(tril_triu_stub, &tril_triu_kernel);

}  // namespace ember
