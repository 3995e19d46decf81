// Reductions: dim handling, output allocation and dispatch.
#include "ops/reduce.h"

#include <algorithm>

#include "ops/copy.h"

namespace ember {

DEFINE_DISPATCH(reduce_stub);

std::vector<int64_t> normalize_dims(const Tensor& x, const std::vector<int64_t>& dims, const char* name) {
  std::vector<int64_t> out;
  if (dims.empty()) {
    for (int64_t d = 0; d < x.dim(); ++d) out.push_back(d);
    return out;
  }
  std::vector<bool> seen(std::max<int64_t>(x.dim(), 1), false);
  for (int64_t d : dims) {
    const int64_t w = x.wrap_dim(d);
    EMBER_CHECK(!seen[w], ValueError, name, ": dim ", w, " appears multiple times in the list of dims");
    seen[w] = true;
    if (x.dim() > 0) out.push_back(w);
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace {
const char* reduce_name(ReduceOp op) {
  static const char* names[] = {"sum", "mean", "prod", "max", "min", "all", "any", "argmax", "argmin"};
  return names[int(op)];
}
}  // namespace

Tensor reduce(ReduceOp op, const Tensor& x, std::vector<int64_t> dims_in, bool keepdim, DType out_dtype) {
  const char* name = reduce_name(op);
  const std::vector<int64_t> dims = normalize_dims(x, dims_in, name);
  std::vector<bool> is_red(x.dim(), false);
  for (int64_t d : dims) is_red[d] = true;

  ReducePlan plan;
  Shape out_shape;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (is_red[d]) {
      plan.red_shape.push_back(x.shape()[d]);
      plan.red_strides.push_back(x.strides()[d]);
      plan.red_numel *= x.shape()[d];
      if (keepdim) out_shape.push_back(1);
    } else {
      plan.kept_shape.push_back(x.shape()[d]);
      plan.kept_strides.push_back(x.strides()[d]);
      plan.out_numel *= x.shape()[d];
      out_shape.push_back(x.shape()[d]);
    }
  }
  const bool needs_values = op == ReduceOp::Max || op == ReduceOp::Min || op == ReduceOp::ArgMax ||
                            op == ReduceOp::ArgMin;
  if (plan.red_numel == 0 && x.numel() == 0 && needs_values) {
    EMBER_CHECK(false, IndexError, name, "(): Expected reduction dim to be specified for input.numel() == 0, or "
                "the reduced dims to be non-empty (input shape ", x.shape(), ")");
  }
  EMBER_CHECK(!(needs_values && plan.red_numel == 0), IndexError, name,
              "(): cannot perform reduction over a zero-size dimension (input shape ", x.shape(), ")");
  Tensor out = Tensor::empty(out_shape, out_dtype, x.device());
  if (out.numel() == 0) return out;
  reduce_stub.get(x.device())(op, plan, x, out);
  return out;
}

}  // namespace ember
