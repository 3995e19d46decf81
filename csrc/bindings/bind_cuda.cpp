// Device queries that exist in every build: they report zero devices when CUDA was not built.
#include "bindings/registry.h"
#ifdef EMBER_WITH_CUDA
#include "cuda/device.h"
#endif

namespace ember {

EMBER_BINDINGS(cuda) {
#ifdef EMBER_WITH_CUDA
  m.def("cuda_device_count", [] { return cuda::device_count(); });
  m.def("cuda_synchronize", [] {
    py::gil_scoped_release nogil;
    cuda::synchronize();
  });
#else
  m.def("cuda_device_count", [] { return 0; });
  m.def("cuda_synchronize", [] {});
#endif
}

}  // namespace ember
