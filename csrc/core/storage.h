// Reference-counted memory behind one or more tensors (views share a Storage).
// A storage either owns its block (returned to its device allocator) or borrows external
// memory (a NumPy array, a DLPack capsule) and runs a release callback when the last view dies.
#pragma once
#include <atomic>
#include <functional>
#include <memory>

#include "core/allocator.h"
#include "core/device.h"

namespace ember {

class StorageImpl {
 public:
  // Owned memory from the device's allocator.
  StorageImpl(size_t nbytes, Device device)
      : nbytes_(nbytes), device_(device), allocator_(get_allocator(device.type)) {
    data_ = allocator_->allocate(nbytes);
  }
  // Borrowed memory; `release` runs once when the storage dies.
  StorageImpl(void* data, size_t nbytes, Device device, std::function<void()> release)
      : data_(data), nbytes_(nbytes), device_(device), release_(std::move(release)) {}

  StorageImpl(const StorageImpl&) = delete;
  StorageImpl& operator=(const StorageImpl&) = delete;

  ~StorageImpl() {
    if (allocator_) allocator_->deallocate(data_, nbytes_);
    else if (release_) release_();
  }

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  bool owns_memory() const { return allocator_ != nullptr; }

  // Version counter shared by all views: bumped by every in-place write, so autograd can
  // detect that a tensor saved for backward was modified.
  int64_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  Allocator* allocator_ = nullptr;
  std::function<void()> release_;
  std::atomic<int64_t> version_{0};
};

using Storage = std::shared_ptr<StorageImpl>;

}  // namespace ember
