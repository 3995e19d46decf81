// A process-wide switch between the fast CUDA nn kernels and the plain reference kernel kept beside
// each of them (one thread per row, channel or output, atomics instead of gathers). Tests turn it
// on to check one path against the other on the same inputs; it is off by default. Plain C++ so
// that the bindings can include it without CUDA headers.
#pragma once

namespace ember {
namespace cuda {

bool use_reference_kernels();
void set_reference_kernels(bool on);

}  // namespace cuda
}  // namespace ember
