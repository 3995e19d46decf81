// CUDA caching allocator. cudaMalloc/cudaFree are slow and cudaFree synchronises the device, so
// freed blocks go to per-device free lists keyed by rounded size and are reused by later
// allocations of the same size class: small requests round up to 512 bytes, large ones (above
// 1 MiB) to whole 2 MiB pages, so a training loop's activations hit the cache after step one.
//
// All work is issued on the legacy default stream, so a block freed while a kernel still reads
// it can be handed out again at once: the next user's work is ordered after that kernel.
// EMBER_CUDA_NO_CACHE=1 bypasses the cache (see allocator.h).
#include "cuda/allocator.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "cuda/common.cuh"

namespace ember {
namespace cuda {
namespace {

constexpr size_t kSmallRound = 512;
constexpr size_t kLargeThreshold = size_t(1) << 20;
constexpr size_t kLargeRound = size_t(2) << 20;
// A cached block may serve a request this much smaller than itself (large blocks only), so that
// slowly varying sizes (a growing sequence length) reuse blocks instead of piling up new ones.
constexpr size_t kLargeSlackDivisor = 8;
constexpr int kMaxDevices = 64;

size_t round_size(size_t n) {
  if (n <= kLargeThreshold) return (n + kSmallRound - 1) / kSmallRound * kSmallRound;
  return (n + kLargeRound - 1) / kLargeRound * kLargeRound;
}

bool read_no_cache_env() {
  const char* v = std::getenv("EMBER_CUDA_NO_CACHE");
  return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
}

struct DeviceCache {
  std::multimap<size_t, void*> free_blocks;  // rounded size -> block
  AllocatorStats stats;
};

struct LiveBlock {
  size_t size;
  int device;
};

class CudaCachingAllocator final : public Allocator {
 public:
  CudaCachingAllocator() : no_cache_(read_no_cache_env()) {}

  bool no_cache() const { return no_cache_; }

  void* allocate(size_t nbytes) override {
    if (nbytes == 0) return nullptr;  // as torch: empty tensors own no device memory
    int device = 0;
    const cudaError_t err_device = cudaGetDevice(&device);
    if (err_device != cudaSuccess) {
      cudaGetLastError();
      throw std::runtime_error(str("cannot allocate a CUDA tensor: no usable CUDA device (",
                                   cudaGetErrorString(err_device), ")"));
    }
    EMBER_CHECK(device < kMaxDevices, ValueError, "CUDA device index ", device, " is not supported (max ",
                kMaxDevices - 1, ")");
    const size_t size = round_size(nbytes);
    if (!no_cache_) {
      std::lock_guard<std::mutex> lock(mutex_);
      DeviceCache& cache = caches_[device];
      auto it = cache.free_blocks.lower_bound(size);
      const size_t limit = size > kLargeThreshold ? size + size / kLargeSlackDivisor : size;
      if (it != cache.free_blocks.end() && it->first <= limit) {
        const size_t block = it->first;
        void* p = it->second;
        cache.free_blocks.erase(it);
        cache.stats.cached_bytes -= int64_t(block);
        note_alloc(cache, p, block, device);
        return p;
      }
    }
    void* p = nullptr;
    cudaError_t err = cudaMalloc(&p, size);
    if (err == cudaErrorMemoryAllocation && !no_cache_) {
      cudaGetLastError();  // clear the error before retrying
      free_cached(device);
      err = cudaMalloc(&p, size);
    }
    if (err != cudaSuccess) {
      cudaGetLastError();
      const AllocatorStats s = memory_stats_of(device);
      throw std::runtime_error(str("CUDA out of memory: tried to allocate ", size, " bytes on cuda:", device,
                                   " (", s.allocated_bytes, " bytes allocated by ember, ", s.cached_bytes,
                                   " cached): ", cudaGetErrorString(err)));
    }
    std::lock_guard<std::mutex> lock(mutex_);
    note_alloc(caches_[device], p, size, device);
    return p;
  }

  // Never throws: storages die in destructors, possibly during interpreter shutdown.
  void deallocate(void* ptr, size_t) override {
    if (!ptr) return;
    LiveBlock block;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = live_.find(ptr);
      if (it == live_.end()) return;  // not ours; nothing sensible to do in a destructor
      block = it->second;
      live_.erase(it);
      DeviceCache& cache = caches_[block.device];
      cache.stats.allocated_bytes -= int64_t(block.size);
      if (!no_cache_) {
        cache.free_blocks.emplace(block.size, ptr);
        cache.stats.cached_bytes += int64_t(block.size);
        return;
      }
    }
    int current = -1;
    if (cudaGetDevice(&current) == cudaSuccess && current != block.device) cudaSetDevice(block.device);
    cudaFree(ptr);
    if (current >= 0 && current != block.device) cudaSetDevice(current);
    cudaGetLastError();  // e.g. cudaErrorCudartUnloading at exit
  }

  // The current device's statistics (as torch.cuda.memory_allocated() with no argument).
  AllocatorStats stats() const override {
    int device = 0;
    if (cudaGetDevice(&device) != cudaSuccess) {
      cudaGetLastError();
      device = 0;
    }
    return memory_stats_of(device);
  }

  void reset_peak() override {
    int device = 0;
    if (cudaGetDevice(&device) != cudaSuccess) {
      cudaGetLastError();
      device = 0;
    }
    reset_peak_of(device);
  }

  void empty_cache() override {
    for (int d = 0; d < kMaxDevices; ++d) free_cached(d);
  }

  AllocatorStats memory_stats_of(int device) const {
    if (device < 0 || device >= kMaxDevices) return {};
    std::lock_guard<std::mutex> lock(mutex_);
    return caches_[device].stats;
  }

  void reset_peak_of(int device) {
    if (device < 0 || device >= kMaxDevices) return;
    std::lock_guard<std::mutex> lock(mutex_);
    AllocatorStats& s = caches_[device].stats;
    s.peak_bytes = s.allocated_bytes;
  }

  // Returns a device's cached blocks to the driver (cudaFree synchronises the device).
  void free_cached(int device) {
    std::vector<void*> blocks;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      DeviceCache& cache = caches_[device];
      if (cache.free_blocks.empty()) return;
      for (auto& kv : cache.free_blocks) blocks.push_back(kv.second);
      cache.free_blocks.clear();
      cache.stats.cached_bytes = 0;
    }
    DeviceGuard guard(device);
    for (void* p : blocks) CUDA_CHECK(cudaFree(p));
  }

 private:
  void note_alloc(DeviceCache& cache, void* p, size_t size, int device) {
    live_[p] = LiveBlock{size, device};
    cache.stats.allocated_bytes += int64_t(size);
    if (cache.stats.allocated_bytes > cache.stats.peak_bytes) cache.stats.peak_bytes = cache.stats.allocated_bytes;
  }

  const bool no_cache_;
  mutable std::mutex mutex_;
  DeviceCache caches_[kMaxDevices];
  std::unordered_map<void*, LiveBlock> live_;
};

CudaCachingAllocator* instance() {
  // Leaked on purpose: tensors may be freed during interpreter shutdown, after static destructors.
  static CudaCachingAllocator* a = new CudaCachingAllocator();
  return a;
}

// Registration touches no CUDA API, so importing ember on a machine without a GPU is safe.
struct Registrar {
  Registrar() { register_allocator(DeviceType::CUDA, instance()); }
} registrar;

}  // namespace

AllocatorStats memory_stats(int device) { return instance()->memory_stats_of(device); }
void reset_peak_memory_stats(int device) { instance()->reset_peak_of(device); }
void empty_cache() { instance()->empty_cache(); }
bool caching_disabled() { return instance()->no_cache(); }

}  // namespace cuda
}  // namespace ember
