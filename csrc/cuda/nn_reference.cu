// The reference-kernel switch of nn_reference.h.
#include <atomic>

#include "cuda/nn_reference.h"

namespace ember {
namespace cuda {
namespace {
std::atomic<bool> g_reference{false};
}  // namespace

bool use_reference_kernels() { return g_reference.load(std::memory_order_relaxed); }
void set_reference_kernels(bool on) { g_reference.store(on, std::memory_order_relaxed); }

}  // namespace cuda
}  // namespace ember
