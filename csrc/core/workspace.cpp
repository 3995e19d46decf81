#include "core/workspace.h"

#include <cstdlib>
#include <new>

namespace ember {

Workspace::~Workspace() { std::free(ptr_); }

void* Workspace::get_bytes(size_t bytes) {
  if (bytes > bytes_) {
    std::free(ptr_);
    bytes_ = (bytes + 4095) / 4096 * 4096;
    ptr_ = std::aligned_alloc(4096, bytes_);
    if (!ptr_) {
      bytes_ = 0;
      throw std::bad_alloc();
    }
  }
  return ptr_;
}

}  // namespace ember
