// Grow-only scratch memory for kernels, one per thread and purpose (declared thread_local): a
// kernel's temporary buffers are allocated on a thread's first call and reused by its later ones.
// The memory is 4096-byte aligned; its contents are unspecified after get().
#pragma once
#include <cstddef>
#include <cstdint>

namespace ember {

class Workspace {
 public:
  Workspace() = default;
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  ~Workspace();

  // At least `bytes` bytes, valid until the next get on this workspace; throws std::bad_alloc.
  // Out of line (core/workspace.cpp, compiled once): kernel files built for several instruction
  // sets must share no out-of-line code with portable files.
  void* get_bytes(size_t bytes);

  // Room for n (at least one) elements of T.
  template <typename T>
  __attribute__((always_inline)) T* get(int64_t n) {
    return static_cast<T*>(get_bytes(size_t(n > 0 ? n : 1) * sizeof(T)));
  }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace ember
