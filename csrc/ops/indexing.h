// Copying shape ops (cat, flip, roll, repeat, tril/triu) and the indexing primitives that
// getitem/setitem, gather/scatter, index_select/index_add, take/put and masked ops are built on.
//
// Every gather-like op is "read src_view at (position + offset)": the caller restrides the source
// so that the indexed dims have stride 0 and the output's shape, and the indices become one
// element offset per output position (index_offsets, which wraps negatives and bounds-checks
// before anything is written). Scatter-like ops write (or accumulate) through the same plan.
#pragma once
#include <vector>

#include "core/dispatch.h"
#include "core/loop.h"
#include "core/tensor.h"

namespace ember {

// ---- copying shape ops ----
// Concatenates along `dim` (wrapped against the first non-legacy input); inputs of shape [0]
// are skipped as in torch. The output has the promoted dtype of all inputs.
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim);
Tensor flip(const Tensor& x, const std::vector<int64_t>& dims);
// shifts/dims as torch.roll; dims empty = roll the flattened tensor.
Tensor roll(const Tensor& x, const std::vector<int64_t>& shifts, const std::vector<int64_t>& dims);
// torch.Tensor.repeat: reps.size() >= x.dim(); leading reps add dims.
Tensor repeat(const Tensor& x, const std::vector<int64_t>& reps);
// Keeps the elements with j - i <= k (tril) or j - i >= k (triu) of the last two dims.
Tensor tril_triu(const Tensor& x, int64_t k, bool upper);

// ---- indexing primitives ----
// offsets[p] = sum_k wrap(indices[k][p], sizes[k]) * strides[k], every index broadcast to `shape`.
// An index outside [-size, size) raises IndexError "index i is out of bounds for dimension d
// with size s" (d = dims[k]); negative indices count from the end unless !allow_negative
// (gather/scatter, as in torch).
Tensor index_offsets(const std::vector<Tensor>& indices, const std::vector<int64_t>& sizes,
                     const std::vector<int64_t>& strides, const std::vector<int64_t>& dims,
                     const Shape& shape, bool allow_negative = true);
// out[p] = src_view[p + offsets[p]] (offsets in elements, same shape as src_view); contiguous out.
Tensor index_gather(const Tensor& src_view, const Tensor& offsets);
// dst_view[p + offsets[p]] (+)= values[p]; values broadcast to dst_view's shape and are converted
// to its dtype. Accumulation is serial so that repeated offsets add up deterministically.
void index_scatter_(const Tensor& dst_view, const Tensor& offsets, const Tensor& values, bool accumulate);
// [n, x.dim()] int64 coordinates of the non-zero elements, in C order.
Tensor nonzero(const Tensor& x);

// ---- kernels ----
// Returns false (and the bad index) when some index is out of range; nothing else is written then.
using index_offsets_fn = bool (*)(const LoopPlan<2>& plan, char* out, char* idx, int64_t size,
                                  int64_t stride, bool accumulate, bool allow_negative, int64_t* bad_index);
using index_gather_fn = void (*)(const LoopPlan<3>& plan, char* out, char* src, char* offsets, int64_t itemsize);
using index_scatter_fn = void (*)(const LoopPlan<3>& plan, char* dst, char* values, char* offsets, DType dtype,
                                  bool accumulate);
// x is contiguous bool; out is [count, ndim] int64 with count precomputed.
using nonzero_fn = void (*)(const Tensor& x, const Tensor& out);
// Zeroes the masked triangle of the contiguous tensor `t` in place.
using tril_triu_fn = void (*)(const Tensor& t, int64_t k, bool upper);
DECLARE_DISPATCH(index_offsets_fn, index_offsets_stub);
DECLARE_DISPATCH(index_gather_fn, index_gather_stub);
DECLARE_DISPATCH(index_scatter_fn, index_scatter_stub);
DECLARE_DISPATCH(nonzero_fn, nonzero_stub);
DECLARE_DISPATCH(tril_triu_fn, tril_triu_stub);
// cat of contiguous pieces into a contiguous output (CPU): output row r (of `rows`, each
// out_row_bytes long) is row r of every piece, in order; piece i's rows are row_bytes[i] long.
struct CatPiece {
  const char* data;
  int64_t row_bytes;
};
using cat_rows_fn = void (*)(int64_t rows, const CatPiece* pieces, int64_t npieces, char* out, int64_t out_row_bytes);
DECLARE_DISPATCH(cat_rows_fn, cat_rows_stub);

}  // namespace ember
