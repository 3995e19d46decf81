// Reductions: dim handling, output allocation and dispatch.
#include "ops/reduce.h"

#include <algorithm>

#include "ops/copy.h"

namespace ember {

DEFINE_DISPATCH(reduce_stub);
DEFINE_DISPATCH(reduce_index_stub);
DEFINE_DISPATCH(reduce_stat_stub);
DEFINE_DISPATCH(cumsum_stub);

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
const char* stat_name(StatOp op) {
  static const char* names[] = {"var", "std", "norm", "logsumexp"};
  return names[int(op)];
}

// Drops size-1 dims and merges each dim into its outer neighbour when that one's stride is exactly
// the span of it (outermost first, as in a ReducePlan).
void merge_dims(Shape& shape, Shape& strides) {
  size_t n = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (n > 0 && strides[n - 1] == strides[d] * shape[d]) {
      shape[n - 1] *= shape[d];
      strides[n - 1] = strides[d];
    } else {
      shape[n] = shape[d];
      strides[n] = strides[d];
      ++n;
    }
  }
  shape.resize(n);
  strides.resize(n);
}

// Splits x's dims into kept and reduced ones; returns the output shape.
Shape make_plan(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, ReducePlan& plan) {
  std::vector<bool> is_red(x.dim(), false);
  for (int64_t d : dims) is_red[d] = true;
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
  // Size-1 dims go, and a dim whose stride spans its inner neighbour merges with it: the row-major
  // order of both index spaces (output positions, reduced indices) stays the same, and the kernels
  // see long contiguous runs (a full reduction of a contiguous tensor is one run).
  merge_dims(plan.red_shape, plan.red_strides);
  merge_dims(plan.kept_shape, plan.kept_strides);
  return out_shape;
}

void check_nonempty_reduction(const char* name, const Tensor& x, size_t ndims, const ReducePlan& plan) {
  if (plan.red_numel != 0) return;
  if (ndims == size_t(x.dim()))
    EMBER_CHECK(false, IndexError, name, "(): Expected reduction dim to be specified for input.numel() == 0. "
                "Specify the reduction dim with the 'dim' argument (input shape ", x.shape(), ")");
  EMBER_CHECK(false, IndexError, name, "(): cannot perform reduction over a zero-size dimension (input shape ",
              x.shape(), ")");
}
}  // namespace

Tensor reduce(ReduceOp op, const Tensor& x, std::vector<int64_t> dims_in, bool keepdim, DType out_dtype) {
  const char* name = reduce_name(op);
  const std::vector<int64_t> dims = normalize_dims(x, dims_in, name);
  ReducePlan plan;
  const Shape out_shape = make_plan(x, dims, keepdim, plan);
  const bool needs_values = op == ReduceOp::Max || op == ReduceOp::Min || op == ReduceOp::ArgMax ||
                            op == ReduceOp::ArgMin;
  if (needs_values) check_nonempty_reduction(name, x, dims.size(), plan);
  Tensor out = Tensor::empty(out_shape, out_dtype, x.device());
  if (out.numel() == 0) return out;
  reduce_stub.get(x.device())(op, plan, x, out);
  return out;
}

std::pair<Tensor, Tensor> reduce_with_indices(bool is_max, const Tensor& x, int64_t dim, bool keepdim) {
  const char* name = is_max ? "max" : "min";
  const std::vector<int64_t> dims = normalize_dims(x, {dim}, name);
  ReducePlan plan;
  const Shape out_shape = make_plan(x, dims, keepdim, plan);
  if (plan.red_numel == 0)
    EMBER_CHECK(false, IndexError, name, "(): Expected reduction dim ", x.dim() ? dims[0] : 0,
                " to have non-zero size (input shape ", x.shape(), ")");
  Tensor values = Tensor::empty(out_shape, x.dtype(), x.device());
  Tensor indices = Tensor::empty(out_shape, DType::Int64, x.device());
  if (values.numel() == 0) return {values, indices};
  reduce_index_stub.get(x.device())(is_max, plan, x, values, indices);
  return {values, indices};
}

Tensor reduce_stat(StatOp op, const Tensor& x, std::vector<int64_t> dims_in, bool keepdim, double param) {
  const char* name = stat_name(op);
  EMBER_CHECK(is_floating(x.dtype()), TypeError, name, "(): expected a floating point input, got ",
              dtype_name(x.dtype()));
  const std::vector<int64_t> dims = normalize_dims(x, dims_in, name);
  ReducePlan plan;
  const Shape out_shape = make_plan(x, dims, keepdim, plan);
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  if (out.numel() == 0) return out;
  reduce_stat_stub.get(x.device())(op, plan, x, out, param);
  return out;
}

Tensor cumsum(const Tensor& x_in, int64_t dim, DType out_dtype) {
  const int64_t d = x_in.wrap_dim(dim);  // a 0-d tensor accepts 0 and -1
  Tensor x = x_in.dtype() == out_dtype ? x_in.contiguous() : x_in.to(out_dtype, x_in.device());
  Tensor out = Tensor::empty(x_in.shape(), out_dtype, x_in.device());
  if (out.numel() == 0) return out;
  int64_t outer = 1, inner = 1;
  const int64_t len = x.dim() ? x.shape()[d] : 1;
  for (int64_t i = 0; i < d; ++i) outer *= x.shape()[i];
  for (int64_t i = d + 1; i < x.dim(); ++i) inner *= x.shape()[i];
  cumsum_stub.get(x.device())(x, out, outer, len, inner);
  return out;
}

std::pair<int64_t, int64_t> min_max_int64(const Tensor& t) {
  if (t.numel() == 0) return {0, -1};
  const Tensor lo = reduce(ReduceOp::Min, t, {}, false, t.dtype()).to(DType::Int64, kCPU);
  const Tensor hi = reduce(ReduceOp::Max, t, {}, false, t.dtype()).to(DType::Int64, kCPU);
  return {*lo.data<int64_t>(), *hi.data<int64_t>()};
}

}  // namespace ember
