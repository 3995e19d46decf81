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

int current_device() {
  int d = 0;
  CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

void synchronize() { CUDA_CHECK(cudaDeviceSynchronize()); }

namespace {
void check_index(int device) {
  const int n = device_count();
  EMBER_CHECK(device >= 0 && device < n, ValueError, "Invalid CUDA device index ", device, " (", n,
              " device(s) available)");
}
}  // namespace

std::string device_name(int device) {
  check_index(device);
  cudaDeviceProp prop;
  CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  return prop.name;
}

std::pair<int, int> device_capability(int device) {
  check_index(device);
  int major = 0, minor = 0;
  CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
  return {major, minor};
}

}  // namespace cuda
}  // namespace ember
