// Memory allocators. The CPU allocator hands out 64-byte-aligned blocks and keeps freed blocks
// in per-size free lists, so a training loop that allocates the same sizes every step stops
// calling malloc after its first step. Devices other than the CPU register their allocator here.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/device.h"

namespace ember {

struct AllocatorStats {
  int64_t allocated_bytes = 0;  // bytes in live blocks (rounded sizes)
  int64_t peak_bytes = 0;       // high-water mark of allocated_bytes since the last reset
  int64_t cached_bytes = 0;     // bytes held in free lists, ready for reuse
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* ptr, size_t nbytes) = 0;
  virtual AllocatorStats stats() const = 0;
  virtual void reset_peak() = 0;
  virtual void empty_cache() = 0;
};

Allocator* cpu_allocator();
// Returns the allocator of a device type; throws if that backend was not built.
Allocator* get_allocator(DeviceType type);
void register_allocator(DeviceType type, Allocator* allocator);

constexpr size_t kCpuAlignment = 64;

}  // namespace ember
