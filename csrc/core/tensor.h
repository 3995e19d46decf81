// The C++ tensor: a strided view (shape, strides in elements, storage offset) of a Storage,
// with a dtype. Copying a Tensor copies the view, not the data. Sizes and indices are 64-bit.
#pragma once
#include <cstdint>
#include <vector>

#include "core/check.h"
#include "core/dtype.h"
#include "core/storage.h"

namespace ember {

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& shape);
Shape contiguous_strides(const Shape& shape);

class Tensor {
 public:
  Tensor() = default;
  Tensor(Storage storage, Shape shape, Shape strides, int64_t offset, DType dtype)
      : storage_(std::move(storage)), shape_(std::move(shape)), strides_(std::move(strides)),
        offset_(offset), dtype_(dtype), numel_(shape_numel(shape_)) {}

  // A new contiguous tensor with uninitialised contents.
  static Tensor empty(const Shape& shape, DType dtype, Device device = kCPU);

  bool defined() const { return storage_ != nullptr; }
  const Storage& storage() const { return storage_; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int64_t size(int64_t dim) const { return shape_[wrap_dim(dim)]; }
  int64_t stride(int64_t dim) const { return strides_[wrap_dim(dim)]; }
  int64_t dim() const { return int64_t(shape_.size()); }
  int64_t numel() const { return numel_; }
  int64_t offset() const { return offset_; }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_->device(); }
  int64_t itemsize() const { return ember::itemsize(dtype_); }
  int64_t nbytes() const { return numel_ * itemsize(); }
  bool is_contiguous() const;

  void* raw_data() const {
    return static_cast<char*>(storage_->data()) + offset_ * itemsize();
  }
  template <typename T>
  T* data() const { return static_cast<T*>(raw_data()); }

  // Normalises a possibly negative dim, raising IndexError when out of range (torch's message).
  int64_t wrap_dim(int64_t dim) const;

  // A view of the same storage with other geometry; checks that it stays inside the storage.
  Tensor as_strided(Shape shape, Shape strides, int64_t offset) const;
  // This tensor if contiguous, else a contiguous copy.
  Tensor contiguous() const;
  // Copies into a new tensor of another dtype and/or device (always a copy).
  Tensor to(DType dtype, Device device) const;
  // This tensor when it is contiguous and has dtype and device already, else such a copy: for
  // kernel inputs that only need to be readable in that form.
  Tensor contiguous_as(DType dtype, Device device) const {
    return dtype == dtype_ && device == this->device() ? contiguous() : to(dtype, device).contiguous();
  }
  Tensor clone() const { return to(dtype_, device()); }

  void bump_version() const { storage_->bump_version(); }
  int64_t version() const { return storage_->version(); }

 private:
  Storage storage_;
  Shape shape_;
  Shape strides_;
  int64_t offset_ = 0;
  DType dtype_ = DType::Float32;
  int64_t numel_ = 0;
};

// Raises ValueError when `t` lives on another device than `expected` (names both devices).
void check_same_device(const Tensor& a, const Tensor& b, const char* op);

}  // namespace ember
