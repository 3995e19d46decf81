// Host-side CUDA device queries (declared without CUDA headers so C++ files can include it).
#pragma once

namespace ember {
namespace cuda {

int device_count();  // 0 when no driver or no GPU is present; never throws
void synchronize();

}  // namespace cuda
}  // namespace ember
