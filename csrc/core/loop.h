// Strided iteration shared by every elementwise-style kernel (copy, cast, unary, binary, ...).
// N operands share one index space; each has a base pointer and byte strides (0 where it is
// broadcast). Dims that are contiguous in every operand are merged, then the flat index range is
// split over threads, and each piece of the innermost dim goes to
//     inner(char* ptrs[N], const int64_t inner_strides[N], int64_t n)
// which can take a vectorised path when every inner stride equals its operand's item size.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "core/parallel.h"
#include "core/tensor.h"

namespace ember {

// Kernels in csrc/cpu/kernels/ are compiled once per instruction set. They may instantiate
// run_loop (its lambdas make each instantiation unique) but must receive plans built by the
// portable op layer: make_loop_plan and std containers instantiated there would be shared.
constexpr int kMaxLoopDims = 64;

template <int N>
struct LoopPlan {
  std::vector<int64_t> shape;                  // coalesced, outermost first
  std::array<std::vector<int64_t>, N> strides;  // in bytes, per operand
  int64_t numel = 0;
};

// `elem_strides[k]` must have shape.size() entries (broadcast dims already set to 0).
template <int N>
LoopPlan<N> make_loop_plan(const Shape& shape, const std::array<Shape, N>& elem_strides,
                           const std::array<int64_t, N>& itemsizes) {
  LoopPlan<N> plan;
  plan.numel = shape_numel(shape);
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;  // size-1 dims never move a pointer
    bool merge = !plan.shape.empty();
    for (int k = 0; k < N && merge; ++k)
      merge = plan.strides[k].back() == elem_strides[k][d] * itemsizes[k] * shape[d];
    if (merge) {
      plan.shape.back() *= shape[d];
      for (int k = 0; k < N; ++k) plan.strides[k].back() = elem_strides[k][d] * itemsizes[k];
    } else {
      plan.shape.push_back(shape[d]);
      for (int k = 0; k < N; ++k) plan.strides[k].push_back(elem_strides[k][d] * itemsizes[k]);
    }
  }
  EMBER_CHECK(plan.shape.size() <= size_t(kMaxLoopDims), ValueError, "tensors with more than ",
              kMaxLoopDims, " non-trivial dimensions are not supported (shape ", shape, ")");
  if (plan.shape.empty()) {  // a scalar, or all dims of size 1
    plan.shape.push_back(1);
    for (int k = 0; k < N; ++k) plan.strides[k].push_back(0);
  }
  return plan;
}

// Runs `inner` over the plan; `grain` is the minimum number of elements per thread.
template <int N, typename Inner>
void run_loop(const LoopPlan<N>& plan, const std::array<char*, N>& base, int64_t grain,
              const Inner& inner) {
  if (plan.numel == 0) return;
  const int64_t ndim = int64_t(plan.shape.size());
  const int64_t inner_size = plan.shape[ndim - 1];
  std::array<int64_t, N> inner_strides;
  for (int k = 0; k < N; ++k) inner_strides[k] = plan.strides[k][ndim - 1];

  parallel_for(0, plan.numel, grain, [&](int64_t begin, int64_t end) {
    // Decompose `begin` into a multi-index and the pointers it addresses.
    int64_t index[kMaxLoopDims] = {};
    std::array<char*, N> ptrs = base;
    int64_t rem = begin;
    for (int64_t d = ndim - 1; d >= 0; --d) {
      index[d] = rem % plan.shape[d];
      rem /= plan.shape[d];
      for (int k = 0; k < N; ++k) ptrs[k] += index[d] * plan.strides[k][d];
    }
    int64_t pos = begin;
    while (pos < end) {
      const int64_t n = std::min(inner_size - index[ndim - 1], end - pos);
      inner(ptrs.data(), inner_strides.data(), n);
      pos += n;
      // Advance the multi-index by n along the innermost dim, carrying outward.
      for (int k = 0; k < N; ++k) ptrs[k] += n * inner_strides[k];
      index[ndim - 1] += n;
      for (int64_t d = ndim - 1; d > 0 && index[d] == plan.shape[d]; --d) {
        for (int k = 0; k < N; ++k) ptrs[k] -= plan.shape[d] * plan.strides[k][d];
        index[d] = 0;
        ++index[d - 1];
        for (int k = 0; k < N; ++k) ptrs[k] += plan.strides[k][d - 1];
      }
    }
  });
}

// Strides of `t` viewed with the (broadcast) shape `shape`: 0 on broadcast dims. Assumes the
// shapes were already checked to be broadcast-compatible.
inline Shape broadcast_strides(const Tensor& t, const Shape& shape) {
  Shape out(shape.size(), 0);
  const int64_t lead = int64_t(shape.size()) - t.dim();
  for (int64_t d = 0; d < t.dim(); ++d)
    out[lead + d] = t.shape()[d] == 1 ? 0 : t.strides()[d];
  return out;
}

}  // namespace ember
