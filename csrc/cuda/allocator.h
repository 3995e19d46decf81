// Per-device statistics and control of the CUDA caching allocator (plain C++ so that the
// bindings can include it without CUDA headers). The Allocator interface has no device argument:
// blocks are allocated on the *current* CUDA device (cudaGetDevice) and remembered per device,
// so multi-GPU use means making the right device current before allocating.
#pragma once
#include "core/allocator.h"

namespace ember {
namespace cuda {

AllocatorStats memory_stats(int device);
void reset_peak_memory_stats(int device);
// Returns every cached (free) block of every device to the driver.
void empty_cache();
// True when EMBER_CUDA_NO_CACHE=1 (read once, at first use): every allocation is a cudaMalloc
// and every free a cudaFree, so compute-sanitizer sees each out-of-bounds access.
bool caching_disabled();

}  // namespace cuda
}  // namespace ember
