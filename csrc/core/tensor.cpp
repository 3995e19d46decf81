// Tensor geometry helpers.
#include "core/tensor.h"

#include "ops/copy.h"

namespace ember {

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape)
    if (s == 0) return 0;  // an empty shape never overflows, however large its other dims
  for (int64_t s : shape)
    EMBER_CHECK(!__builtin_mul_overflow(n, s, &n), ValueError, "shape ", shape,
                " has more elements than fit in 64 bits");
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (int64_t i = int64_t(shape.size()) - 1; i >= 0; --i) {
    strides[i] = s;
    s *= shape[i] > 1 ? shape[i] : 1;
  }
  return strides;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t s : shape)
    EMBER_CHECK(s >= 0, ValueError, "negative dimension ", s, " in shape ", shape);
  const int64_t n = shape_numel(shape);
  int64_t nbytes = 0;
  EMBER_CHECK(!__builtin_mul_overflow(n, ember::itemsize(dtype), &nbytes), ValueError, "shape ", shape,
              " is too large for dtype ", dtype_name(dtype));
  auto storage = std::make_shared<StorageImpl>(size_t(nbytes), device);
  return Tensor(std::move(storage), shape, contiguous_strides(shape), 0, dtype);
}

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (shape_[i] == 1) continue;
    if (strides_[i] != expected) return numel_ == 0;
    expected *= shape_[i];
  }
  return true;
}

int64_t Tensor::wrap_dim(int64_t d) const {
  const int64_t n = dim() == 0 ? 1 : dim();  // torch lets a 0-d tensor use dims -1 and 0
  EMBER_CHECK(d >= -n && d < n, IndexError, "Dimension out of range (expected to be in range of [",
              -n, ", ", n - 1, "], but got ", d, ")");
  return d < 0 ? d + n : d;
}

Tensor Tensor::as_strided(Shape shape, Shape strides, int64_t offset) const {
  EMBER_CHECK(shape.size() == strides.size(), ValueError, "as_strided: shape ", shape,
              " and strides ", strides, " differ in length");
  int64_t lo = offset, hi = offset;
  bool empty = false;
  for (size_t i = 0; i < shape.size(); ++i) {
    EMBER_CHECK(shape[i] >= 0, ValueError, "as_strided: negative size in shape ", shape);
    if (shape[i] == 0) empty = true;
  }
  for (size_t i = 0; i < shape.size() && !empty; ++i) {
    int64_t extent = 0;
    bool overflow = __builtin_mul_overflow(shape[i] - 1, strides[i], &extent);
    int64_t& bound = extent >= 0 ? hi : lo;
    overflow = overflow || __builtin_add_overflow(bound, extent, &bound);
    EMBER_CHECK(!overflow, ValueError, "as_strided: view of shape ", shape, " with strides ", strides,
                " overflows 64-bit offsets");
  }
  const int64_t capacity = int64_t(storage_->nbytes()) / itemsize();
  EMBER_CHECK(empty || (lo >= 0 && hi < capacity), ValueError, "as_strided: view of shape ", shape,
              " with strides ", strides, " and offset ", offset,
              " reaches outside a storage of ", capacity, " elements");
  return Tensor(storage_, std::move(shape), std::move(strides), offset, dtype_);
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  Tensor out = empty(shape_, dtype_, device());
  copy_(out, *this);
  return out;
}

Tensor Tensor::to(DType dtype, Device device) const {
  Tensor out = empty(shape_, dtype, device);
  copy_(out, *this);
  return out;
}

void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  EMBER_CHECK(a.device() == b.device(), ValueError, op,
              ": expected all tensors to be on the same device, but found at least two devices, ",
              a.device().str(), " and ", b.device().str());
}

}  // namespace ember
