// Reductions over one or more dims: sum, mean, prod, max/min (+ indices), argmax/argmin, all/any,
// var/std (with correction), norm, logsumexp, and cumsum.
#pragma once
#include <utility>
#include <vector>

#include "core/dispatch.h"
#include "core/tensor.h"

namespace ember {

enum class ReduceOp : int { Sum, Mean, Prod, Max, Min, All, Any, ArgMax, ArgMin, Count };

// Floating-point statistics; `param` is the correction for Var/Std and p for Norm.
enum class StatOp : int { Var, Std, Norm, LogSumExp, Count };

// dims empty = all dims. Output dtype: Sum/Prod promote bool/int to int64; Mean needs floats;
// All/Any give bool; ArgMax/ArgMin give int64.
Tensor reduce(ReduceOp op, const Tensor& x, std::vector<int64_t> dims, bool keepdim, DType out_dtype_or_x);

// max/min over one dim: (values, int64 indices of the first extreme; NaN counts as the extreme).
std::pair<Tensor, Tensor> reduce_with_indices(bool is_max, const Tensor& x, int64_t dim, bool keepdim);

// var/std/norm/logsumexp of a floating tensor, computed in double; output has x's dtype.
Tensor reduce_stat(StatOp op, const Tensor& x, std::vector<int64_t> dims, bool keepdim, double param);

// Inclusive prefix sum along `dim`; the output (dtype `out_dtype`) is contiguous.
Tensor cumsum(const Tensor& x, int64_t dim, DType out_dtype);

// Smallest and largest value of an integer tensor (any device); (0, -1) when it is empty. Used to
// validate indices before a kernel dereferences them.
std::pair<int64_t, int64_t> min_max_int64(const Tensor& t);

// Normalises and deduplicates `dims` (empty -> all); raises IndexError for out-of-range dims.
std::vector<int64_t> normalize_dims(const Tensor& x, const std::vector<int64_t>& dims, const char* name);

// The geometry every reduction kernel sees: the input permuted to [kept..., reduced...],
// the output with kept dims only (contiguous).
struct ReducePlan {
  Shape kept_shape;       // output shape without the reduced dims
  Shape kept_strides;     // input strides of kept dims (elements)
  Shape red_shape;        // reduced dims
  Shape red_strides;      // input strides of reduced dims (elements)
  int64_t out_numel = 1;
  int64_t red_numel = 1;
};

using reduce_fn = void (*)(ReduceOp op, const ReducePlan& plan, const Tensor& x, const Tensor& out);
using reduce_index_fn = void (*)(bool is_max, const ReducePlan& plan, const Tensor& x, const Tensor& values,
                                 const Tensor& indices);
using reduce_stat_fn = void (*)(StatOp op, const ReducePlan& plan, const Tensor& x, const Tensor& out,
                                double param);
// x and out contiguous, same dtype, viewed as [outer, len, inner]; scans along `len`.
using cumsum_fn = void (*)(const Tensor& x, const Tensor& out, int64_t outer, int64_t len, int64_t inner);
DECLARE_DISPATCH(reduce_fn, reduce_stub);
DECLARE_DISPATCH(reduce_index_fn, reduce_index_stub);
DECLARE_DISPATCH(reduce_stat_fn, reduce_stat_stub);
DECLARE_DISPATCH(cumsum_fn, cumsum_stub);

}  // namespace ember
