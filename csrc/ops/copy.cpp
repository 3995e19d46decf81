// copy_ and fill_: checks, overlap handling and device routing.
#include "ops/copy.h"

namespace ember {

DEFINE_DISPATCH(copy_stub);
DEFINE_DISPATCH(fill_stub);
DEFINE_DISPATCH(cross_device_copy_stub);

namespace {
void check_broadcastable_to(const Shape& from, const Shape& to) {
  bool ok = from.size() <= to.size();
  for (size_t i = 0; ok && i < from.size(); ++i) {
    const int64_t f = from[from.size() - 1 - i], t = to[to.size() - 1 - i];
    ok = f == t || f == 1;
  }
  EMBER_CHECK(ok, ValueError, "copy_: source of shape ", from,
              " cannot be broadcast to destination of shape ", to);
}

std::pair<int64_t, int64_t> byte_range(const Tensor& t) {
  int64_t lo = t.offset(), hi = t.offset();
  for (int64_t d = 0; d < t.dim(); ++d) {
    const int64_t extent = (t.shape()[d] - 1) * t.strides()[d];
    (extent >= 0 ? hi : lo) += extent;
  }
  return {lo * t.itemsize(), (hi + 1) * t.itemsize()};
}
}  // namespace

bool may_overlap(const Tensor& a, const Tensor& b) {
  if (a.storage() != b.storage() || a.numel() == 0 || b.numel() == 0) return false;
  auto [alo, ahi] = byte_range(a);
  auto [blo, bhi] = byte_range(b);
  return alo < bhi && blo < ahi;
}

void copy_(const Tensor& dst, const Tensor& src) {
  check_broadcastable_to(src.shape(), dst.shape());
  if (dst.numel() == 0) return;
  if (dst.device() != src.device() || dst.device().is_cuda()) {
    // Any copy that touches a CUDA tensor goes to the CUDA backend, which stages conversions,
    // broadcasts and strided layouts itself (staging here recursed forever for non-contiguous
    // CUDA sources or destinations).
    cross_device_copy_stub.get(dst.device().is_cuda() ? dst.device() : src.device())(dst, src, false);
    return;
  }
  if (may_overlap(dst, src)) {
    copy_(dst, src.clone());
    return;
  }
  const auto plan = make_loop_plan<2>(dst.shape(), {dst.strides(), broadcast_strides(src, dst.shape())},
                                      {dst.itemsize(), src.itemsize()});
  copy_stub.get(dst.device())(plan, static_cast<char*>(dst.raw_data()), dst.dtype(),
                              static_cast<char*>(src.raw_data()), src.dtype());
}

void fill_(const Tensor& dst, Scalar value) {
  if (dst.numel() == 0) return;
  const auto plan = make_loop_plan<1>(dst.shape(), {dst.strides()}, {dst.itemsize()});
  fill_stub.get(dst.device())(plan, static_cast<char*>(dst.raw_data()), dst.dtype(), value);
}

}  // namespace ember
