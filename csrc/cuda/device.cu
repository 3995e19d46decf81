// CUDA device queries.
#include "cuda/common.cuh"
#include "cuda/device.h"

namespace ember {
namespace cuda {

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

void synchronize() { CUDA_CHECK(cudaDeviceSynchronize()); }

}  // namespace cuda
}  // namespace ember
