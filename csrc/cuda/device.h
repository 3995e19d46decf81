// Host-side CUDA device queries (declared without CUDA headers so C++ files can include it).
#pragma once
#include <string>
#include <utility>

namespace ember {
namespace cuda {

int device_count();  // 0 when no driver or no GPU is present; never throws
int current_device();
void synchronize();  // waits for all work on the current device
std::string device_name(int device);
std::pair<int, int> device_capability(int device);  // (major, minor)

}  // namespace cuda
}  // namespace ember
