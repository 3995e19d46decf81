// CPU caching allocator: exact-size free lists over 64-byte-aligned blocks.
#include "core/allocator.h"

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "core/check.h"

namespace ember {
namespace {

// Blocks above this size are returned to the OS at once: caching them pins large amounts of
// memory for little gain, because a large allocation's cost is dominated by touching its pages.
constexpr size_t kMaxCachedBlock = size_t(64) << 20;
// Upper bound on the bytes kept in the free lists in total.
constexpr size_t kMaxCachedTotal = size_t(1) << 30;

size_t round_up(size_t n) { return (n + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment; }

class CpuCachingAllocator final : public Allocator {
 public:
  void* allocate(size_t nbytes) override {
    const size_t size = round_up(nbytes == 0 ? 1 : nbytes);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        stats_.cached_bytes -= size;
        note_alloc(size);
        return p;
      }
    }
    void* p = std::aligned_alloc(kCpuAlignment, size);
    if (!p) {
      empty_cache();
      p = std::aligned_alloc(kCpuAlignment, size);
      if (!p) throw std::bad_alloc();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    note_alloc(size);
    return p;
  }

  void deallocate(void* ptr, size_t nbytes) override {
    if (!ptr) return;
    const size_t size = round_up(nbytes == 0 ? 1 : nbytes);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stats_.allocated_bytes -= size;
      if (size <= kMaxCachedBlock && size_t(stats_.cached_bytes) + size <= kMaxCachedTotal) {
        free_[size].push_back(ptr);
        stats_.cached_bytes += size;
        return;
      }
    }
    std::free(ptr);
  }

  AllocatorStats stats() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

  void reset_peak() override {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.peak_bytes = stats_.allocated_bytes;
  }

  void empty_cache() override {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& kv : free_)
      for (void* p : kv.second) std::free(p);
    free_.clear();
    stats_.cached_bytes = 0;
  }

 private:
  void note_alloc(size_t size) {
    stats_.allocated_bytes += size;
    if (stats_.allocated_bytes > stats_.peak_bytes) stats_.peak_bytes = stats_.allocated_bytes;
  }

  mutable std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  AllocatorStats stats_;
};

Allocator* g_allocators[kNumDeviceTypes] = {};

}  // namespace

Allocator* cpu_allocator() {
  // Leaked on purpose: tensors may be freed during interpreter shutdown, after static destructors.
  static Allocator* instance = new CpuCachingAllocator();
  return instance;
}

Allocator* get_allocator(DeviceType type) {
  if (type == DeviceType::CPU) return cpu_allocator();
  Allocator* a = g_allocators[int(type)];
  EMBER_CHECK(a != nullptr, ValueError,
              "ember was built without CUDA support (ember._C.has_cuda is False); "
              "rebuild on a machine with nvcc to use CUDA tensors");
  return a;
}

void register_allocator(DeviceType type, Allocator* allocator) { g_allocators[int(type)] = allocator; }

}  // namespace ember
