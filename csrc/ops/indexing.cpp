// Copying shape ops and indexing primitives: argument checks, output allocation, views + copy_.
#include "ops/indexing.h"

#include <algorithm>

#include "ops/copy.h"
#include "ops/reduce.h"

namespace ember {

DEFINE_DISPATCH(index_offsets_stub);
DEFINE_DISPATCH(index_gather_stub);
DEFINE_DISPATCH(index_scatter_stub);
DEFINE_DISPATCH(nonzero_stub);
DEFINE_DISPATCH(tril_triu_stub);
DEFINE_DISPATCH(cat_rows_stub);

namespace {
// torch raises RuntimeError for these shape errors; pybind11 maps std::runtime_error to it.
#define EMBER_CHECK_RUNTIME(cond, ...) \
  do {                                 \
    if (!(cond)) throw std::runtime_error(::ember::str(__VA_ARGS__)); \
  } while (0)

// A view of `t` restricted to [start, start + length) along `dim`.
Tensor narrow_view(const Tensor& t, int64_t dim, int64_t start, int64_t length) {
  Shape shape = t.shape();
  shape[dim] = length;
  return t.as_strided(shape, t.strides(), t.offset() + start * t.strides()[dim]);
}
}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  EMBER_CHECK_RUNTIME(!tensors.empty(), "torch.cat(): expected a non-empty list of Tensors");
  // torch keeps accepting 1-D empty tensors next to anything (legacy behaviour): they are skipped.
  auto skipped = [](const Tensor& t) { return t.dim() == 1 && t.shape()[0] == 0; };
  const Tensor* ref = nullptr;
  DType dtype = tensors[0].dtype();
  for (const Tensor& t : tensors) {
    dtype = promote_types(dtype, t.dtype());
    check_same_device(t, tensors[0], "cat");
    if (!ref && !skipped(t)) ref = &t;
  }
  if (!ref) return Tensor::empty({0}, dtype, tensors[0].device());
  EMBER_CHECK_RUNTIME(ref->dim() > 0, "zero-dimensional tensor (at position ",
              ref - tensors.data(), ") cannot be concatenated");
  const int64_t d = ref->wrap_dim(dim);
  Shape out_shape = ref->shape();
  out_shape[d] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (skipped(t)) continue;
    EMBER_CHECK_RUNTIME(t.dim() == ref->dim(), "Tensors must have same number of dimensions: got ",
                ref->dim(), " and ", t.dim());
    for (int64_t k = 0; k < t.dim(); ++k)
      EMBER_CHECK_RUNTIME(k == d || t.shape()[k] == ref->shape()[k],
                  "Sizes of tensors must match except in dimension ", d, ". Expected size ", ref->shape()[k],
                  " but got size ", t.shape()[k], " for tensor number ", i, " in the list.");
    out_shape[d] += t.shape()[d];
  }
  Tensor out = Tensor::empty(out_shape, dtype, ref->device());
  if (out.numel() == 0) return out;
  // Contiguous pieces of the output's dtype on the CPU: one pass over the output's rows (the
  // per-piece strided copies below paid a loop step and a memcpy call per row of each piece,
  // 0.27 ms for a coordinate MLP's [16384x2, 16384x20, 16384x20] along dim 1).
  const bool rows_path = out.device().is_cpu() && std::all_of(tensors.begin(), tensors.end(), [&](const Tensor& t) {
    return skipped(t) || (t.dtype() == dtype && t.is_contiguous());
  });
  if (rows_path) {
    const int64_t rows = shape_numel(Shape(out_shape.begin(), out_shape.begin() + d));
    const int64_t inner = out.numel() / std::max<int64_t>(rows, 1) / std::max<int64_t>(out_shape[d], 1);
    std::vector<CatPiece> pieces;
    for (const Tensor& t : tensors)
      if (!skipped(t) && t.numel() > 0)
        pieces.push_back({static_cast<const char*>(t.raw_data()), t.shape()[d] * inner * out.itemsize()});
    cat_rows_stub.get(out.device())(rows, pieces.data(), int64_t(pieces.size()), static_cast<char*>(out.raw_data()),
                                    out_shape[d] * inner * out.itemsize());
    return out;
  }
  int64_t start = 0;
  for (const Tensor& t : tensors) {
    if (skipped(t)) continue;
    copy_(narrow_view(out, d, start, t.shape()[d]), t);
    start += t.shape()[d];
  }
  return out;
}

Tensor flip(const Tensor& x, const std::vector<int64_t>& dims) {
  // Copy from a view that walks the flipped dims backwards (negative strides stay internal).
  Shape strides = x.strides();
  int64_t offset = x.offset();
  std::vector<bool> seen(x.dim(), false);
  for (int64_t dim : dims) {
    const int64_t d = x.wrap_dim(dim);
    EMBER_CHECK_RUNTIME(!seen[d], "dim ", d, " appears multiple times in the list of dims");
    seen[d] = true;
    if (x.shape()[d] > 0) offset += (x.shape()[d] - 1) * strides[d];
    strides[d] = -strides[d];
  }
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.numel() == 0) return out;
  copy_(out, x.as_strided(x.shape(), strides, offset));
  return out;
}

Tensor roll(const Tensor& x, const std::vector<int64_t>& shifts, const std::vector<int64_t>& dims) {
  if (dims.empty()) {
    EMBER_CHECK_RUNTIME(shifts.size() == 1, "roll: shifts must have one element when dims is empty, got ",
                shifts.size());
    Tensor flat = x.contiguous();
    flat = flat.as_strided({x.numel()}, {1}, flat.offset());
    Tensor r = roll(flat, shifts, {0});
    return r.as_strided(x.shape(), contiguous_strides(x.shape()), 0);
  }
  EMBER_CHECK_RUNTIME(shifts.size() == dims.size(), "shifts and dimensions must align. shifts: ",
              shifts.size(), ", dims:", dims.size());
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.numel() == 0) return out;
  // out[(i + s) % n] = x[i] along each rolled dim: every rolled dim splits into two blocks,
  // so the copy is 2^k block copies (k = number of rolled dims).
  std::vector<int64_t> wdims, wshift;
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = x.wrap_dim(dims[i]);
    const int64_t n = x.shape()[d];
    wdims.push_back(d);
    wshift.push_back(((shifts[i] % n) + n) % n);
  }
  const size_t k = wdims.size();
  for (uint64_t mask = 0; mask < (uint64_t(1) << k); ++mask) {
    Tensor src = x, dst = out;
    bool empty = false;
    for (size_t j = 0; j < k; ++j) {
      const int64_t d = wdims[j], n = x.shape()[d], s = wshift[j];
      // block 0: x[0, n - s) -> out[s, n); block 1: x[n - s, n) -> out[0, s)
      if (mask >> j & 1) {
        src = narrow_view(src, d, n - s, s);
        dst = narrow_view(dst, d, 0, s);
        empty |= s == 0;
      } else {
        src = narrow_view(src, d, 0, n - s);
        dst = narrow_view(dst, d, s, n - s);
        empty |= s == n;
      }
    }
    if (!empty) copy_(dst, src);
  }
  return out;
}

Tensor repeat(const Tensor& x, const std::vector<int64_t>& reps) {
  EMBER_CHECK_RUNTIME(int64_t(reps.size()) >= x.dim(),
              "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor");
  const int64_t lead = int64_t(reps.size()) - x.dim();
  Shape out_shape, block_shape, block_out_strides, block_src_strides;
  for (size_t i = 0; i < reps.size(); ++i) {
    EMBER_CHECK_RUNTIME(reps[i] >= 0, "Trying to create tensor with negative dimension ", reps[i], ": ",
                Shape(reps.begin(), reps.end()));
    const int64_t xi = int64_t(i) - lead;
    const int64_t s = xi >= 0 ? x.shape()[xi] : 1;
    out_shape.push_back(reps[i] * s);
    block_shape.push_back(reps[i]);
    block_shape.push_back(s);
    block_src_strides.push_back(0);
    block_src_strides.push_back(xi >= 0 ? x.strides()[xi] : 0);
  }
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  if (out.numel() == 0) return out;
  // View out as [r0, s0, r1, s1, ...] and copy x broadcast over the r dims.
  block_out_strides.assign(block_shape.size(), 0);
  int64_t st = 1;
  for (int64_t i = int64_t(block_shape.size()) - 1; i >= 0; --i) {
    block_out_strides[i] = st;
    st *= block_shape[i];
  }
  copy_(out.as_strided(block_shape, block_out_strides, 0), x.as_strided(block_shape, block_src_strides, x.offset()));
  return out;
}

Tensor tril_triu(const Tensor& x, int64_t k, bool upper) {
  EMBER_CHECK_RUNTIME(x.dim() >= 2, upper ? "triu" : "tril", ": input tensor must have at least 2 dimensions");
  Tensor out = x.clone();
  if (out.numel()) tril_triu_stub.get(out.device())(out, k, upper);
  return out;
}

Tensor index_offsets(const std::vector<Tensor>& indices, const std::vector<int64_t>& sizes,
                     const std::vector<int64_t>& strides, const std::vector<int64_t>& dims, const Shape& shape,
                     bool allow_negative) {
  EMBER_ASSERT(indices.size() == sizes.size() && sizes.size() == strides.size() && dims.size() == sizes.size());
  Tensor out = Tensor::empty(shape, DType::Int64, indices.empty() ? kCPU : indices[0].device());
  if (indices.empty()) {
    fill_(out, Scalar::from_int(0));
    return out;
  }
  for (size_t k = 0; k < indices.size(); ++k) {
    Tensor idx = indices[k];
    EMBER_CHECK(is_integral(idx.dtype(), false), TypeError,
                "tensors used as indices must be long, int, byte or bool tensors, got ", dtype_name(idx.dtype()));
    check_same_device(idx, indices[0], "index");
    if (idx.dtype() != DType::Int64) idx = idx.to(DType::Int64, idx.device());
    EMBER_CHECK(idx.dim() <= int64_t(shape.size()), IndexError, "index of shape ", idx.shape(),
                " cannot be broadcast to ", shape);
    for (int64_t i = 0; i < idx.dim(); ++i) {
      const int64_t a = idx.shape()[idx.dim() - 1 - i], b = shape[shape.size() - 1 - i];
      EMBER_CHECK(a == b || a == 1, IndexError, "shape mismatch: indexing tensors could not be broadcast together "
                  "with shapes ", idx.shape(), " and ", shape);
    }
    if (out.numel() == 0) continue;
    const auto plan = make_loop_plan<2>(shape, {out.strides(), broadcast_strides(idx, shape)}, {8, 8});
    int64_t bad = 0;
    const bool ok = index_offsets_stub.get(out.device())(plan, static_cast<char*>(out.raw_data()),
                                                         static_cast<char*>(idx.raw_data()), sizes[k], strides[k],
                                                         k > 0, allow_negative, &bad);
    EMBER_CHECK(ok, IndexError, "index ", bad, " is out of bounds for dimension ", dims[k], " with size ", sizes[k]);
  }
  return out;
}

namespace {
// The kernels add offsets to the view's element addresses; prove every result lies inside the
// storage before they run (the public ops already pass validated offsets; this guards _C).
void check_offsets_in_storage(const Tensor& view, const Tensor& offsets, const char* name) {
  if (view.numel() == 0) return;
  int64_t lo = view.offset(), hi = view.offset();
  for (int64_t d = 0; d < view.dim(); ++d) {
    const int64_t extent = (view.shape()[d] - 1) * view.strides()[d];
    (extent >= 0 ? hi : lo) += extent;
  }
  const auto [omin, omax] = min_max_int64(offsets);
  const int64_t capacity = int64_t(view.storage()->nbytes()) / view.itemsize();
  EMBER_CHECK(lo + omin >= 0 && hi + omax < capacity, IndexError, name, ": offsets [", omin, ", ", omax,
              "] reach outside a storage of ", capacity, " elements");
}
}  // namespace

Tensor index_gather(const Tensor& src_view, const Tensor& offsets) {
  EMBER_CHECK(offsets.dtype() == DType::Int64 && offsets.shape() == src_view.shape(), ValueError,
              "index_gather: offsets must be int64 of the source view's shape");
  check_same_device(offsets, src_view, "index");
  check_offsets_in_storage(src_view, offsets, "index_gather");
  Tensor out = Tensor::empty(src_view.shape(), src_view.dtype(), src_view.device());
  if (out.numel() == 0) return out;
  const auto plan = make_loop_plan<3>(out.shape(), {out.strides(), src_view.strides(), offsets.strides()},
                                      {out.itemsize(), src_view.itemsize(), 8});
  index_gather_stub.get(out.device())(plan, static_cast<char*>(out.raw_data()),
                                      static_cast<char*>(src_view.raw_data()),
                                      static_cast<char*>(offsets.raw_data()), out.itemsize());
  return out;
}

void index_scatter_(const Tensor& dst_view, const Tensor& offsets, const Tensor& values_in, bool accumulate) {
  EMBER_CHECK(offsets.dtype() == DType::Int64 && offsets.shape() == dst_view.shape(), ValueError,
              "index_scatter_: offsets must be int64 of the destination view's shape");
  check_same_device(offsets, dst_view, "index_put_");
  if (dst_view.numel() == 0) return;
  check_offsets_in_storage(dst_view, offsets, "index_scatter_");
  const Shape& shape = dst_view.shape();
  bool ok = values_in.dim() <= int64_t(shape.size());
  for (int64_t i = 0; ok && i < values_in.dim(); ++i) {
    const int64_t a = values_in.shape()[values_in.dim() - 1 - i], b = shape[shape.size() - 1 - i];
    ok = a == b || a == 1;
  }
  EMBER_CHECK_RUNTIME(ok, "shape mismatch: value tensor of shape ", values_in.shape(),
              " cannot be broadcast to indexing result of shape ", shape);
  check_same_device(dst_view, values_in, "index_put_");
  // Values that alias the destination are read before anything is written.
  Tensor values = values_in;
  if (values.dtype() != dst_view.dtype() || may_overlap(values, dst_view))
    values = values.to(dst_view.dtype(), values.device());
  const auto plan = make_loop_plan<3>(shape, {dst_view.strides(), broadcast_strides(values, shape), offsets.strides()},
                                      {dst_view.itemsize(), values.itemsize(), 8});
  index_scatter_stub.get(dst_view.device())(plan, static_cast<char*>(dst_view.raw_data()),
                                            static_cast<char*>(values.raw_data()),
                                            static_cast<char*>(offsets.raw_data()), dst_view.dtype(), accumulate);
}

Tensor nonzero(const Tensor& x) {
  Tensor b = x.dtype() == DType::Bool && x.is_contiguous() ? x : x.to(DType::Bool, x.device());
  // The count sizes the output, so it comes to the host (a sum on the tensor's own device).
  const int64_t count = b.numel() == 0 ? 0
      : *reduce(ReduceOp::Sum, b, {}, false, DType::Int64).to(DType::Int64, kCPU).data<int64_t>();
  Tensor out = Tensor::empty({count, x.dim()}, DType::Int64, x.device());
  if (count && x.dim()) nonzero_stub.get(x.device())(b, out);
  return out;
}

}  // namespace ember
