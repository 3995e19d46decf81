// Device queries and CUDA memory statistics. They exist in every build: without CUDA they report
// zero devices and empty statistics, so `ember.cuda.is_available()` is always safe to call.
#include <pybind11/stl.h>

#include "bindings/registry.h"
#include "core/allocator.h"
#ifdef EMBER_WITH_CUDA
#include "cuda/allocator.h"
#include "cuda/device.h"
#include "cuda/nn_reference.h"
#endif

namespace ember {
namespace {
py::dict stats_dict(const AllocatorStats& s) {
  py::dict d;
  d["allocated_bytes"] = s.allocated_bytes;
  d["peak_bytes"] = s.peak_bytes;
  d["cached_bytes"] = s.cached_bytes;
  return d;
}
}  // namespace

EMBER_BINDINGS(cuda) {
#ifdef EMBER_WITH_CUDA
  m.def("cuda_device_count", [] { return cuda::device_count(); });
  m.def("cuda_current_device", [] { return cuda::current_device(); });
  m.def("cuda_synchronize", [] {
    py::gil_scoped_release nogil;
    cuda::synchronize();
  });
  m.def("cuda_device_name", [](int device) { return cuda::device_name(device); });
  m.def("cuda_device_capability", [](int device) { return cuda::device_capability(device); });
  m.def("cuda_memory_stats", [](int device) { return stats_dict(cuda::memory_stats(device)); });
  m.def("cuda_reset_peak_memory_stats", [](int device) { cuda::reset_peak_memory_stats(device); });
  m.def("cuda_empty_cache", [] {
    py::gil_scoped_release nogil;
    cuda::empty_cache();
  });
  m.def("cuda_caching_disabled", [] { return cuda::caching_disabled(); });
  // Tests: route the nn kernels through their plain reference kernels (see cuda/nn_reference.h).
  m.def("cuda_set_reference_kernels", [](bool on) { cuda::set_reference_kernels(on); });
  m.def("cuda_reference_kernels", [] { return cuda::use_reference_kernels(); });
#else
  m.def("cuda_device_count", [] { return 0; });
  m.def("cuda_current_device", [] { return 0; });
  m.def("cuda_synchronize", [] {});
  m.def("cuda_memory_stats", [](int) { return stats_dict(AllocatorStats{}); });
  m.def("cuda_reset_peak_memory_stats", [](int) {});
  m.def("cuda_empty_cache", [] {});
  m.def("cuda_caching_disabled", [] { return false; });
  m.def("cuda_set_reference_kernels", [](bool) {});
  m.def("cuda_reference_kernels", [] { return false; });
#endif
}

}  // namespace ember
