// Reductions over one or more dims: sum, mean, prod, max/min (+ indices), argmax/argmin, all/any,
// var/std (with correction), norm, logsumexp, and cumsum.
#pragma once
#include <vector>

#include "core/dispatch.h"
#include "core/tensor.h"

namespace ember {

enum class ReduceOp : int { Sum, Mean, Prod, Max, Min, All, Any, ArgMax, ArgMin, Count };

// dims empty = all dims. Output dtype: Sum/Prod promote bool/int to int64; Mean needs floats;
// All/Any give bool; ArgMax/ArgMin give int64.
Tensor reduce(ReduceOp op, const Tensor& x, std::vector<int64_t> dims, bool keepdim, DType out_dtype_or_x);

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
DECLARE_DISPATCH(reduce_fn, reduce_stub);

}  // namespace ember
