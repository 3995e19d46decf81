// Random number generation: a Philox generator object (seed + block offset) and the random
// fills built on it. Each draw reserves a contiguous range of Philox blocks, and element i of
// the (contiguous) result is a function of (seed, first_block, i) only.
#pragma once
#include <memory>
#include <mutex>

#include "core/dispatch.h"
#include "core/philox.h"
#include "core/tensor.h"

namespace ember {

class Generator {
 public:
  explicit Generator(uint64_t seed = 67280421310721ull) : seed_(seed) {}
  void manual_seed(uint64_t seed) {
    std::lock_guard<std::mutex> lock(mutex_);
    seed_ = seed;
    offset_ = 0;
  }
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) {
    std::lock_guard<std::mutex> lock(mutex_);
    seed_ = seed;
    offset_ = offset;
  }
  // Reserves `blocks` Philox blocks and returns the first.
  uint64_t reserve(uint64_t blocks) {
    std::lock_guard<std::mutex> lock(mutex_);
    const uint64_t first = offset_;
    offset_ += blocks;
    return first;
  }

 private:
  std::mutex mutex_;
  uint64_t seed_;
  uint64_t offset_ = 0;
};

Generator& default_generator();

// Parameters of one draw. Uniform: [a, b). Normal: mean a, std b. Integer: [ia, ib).
// Bernoulli: 1 with probability a.
struct RandomParams {
  RandomKind kind;
  double a = 0, b = 1;
  int64_t ia = 0, ib = 2;
  uint64_t seed = 0;
  uint64_t first_block = 0;
};

// Elements per Philox block (4 words): one word per element for 32-bit draws, two for float64
// values and for integer ranges wider than 2^32. Every device's kernel uses this layout.
inline int64_t random_elements_per_block(const RandomParams& p, DType dtype) {
  const bool wide = p.kind == RandomKind::Integer ? uint64_t(p.ib - p.ia) > 0xFFFFFFFFull
                                                  : dtype == DType::Float64;
  return wide ? 2 : 4;
}

// Fills `out` (any strides) in place; gen == nullptr means the default generator.
void random_fill_(const Tensor& out, RandomParams params, Generator* gen);
// A random permutation of 0..n-1 (Fisher-Yates driven by Philox).
Tensor randperm(int64_t n, DType dtype, Device device, Generator* gen);

// Kernel: fills a contiguous tensor.
using random_fill_fn = void (*)(const Tensor& out, const RandomParams& params);
DECLARE_DISPATCH(random_fill_fn, random_fill_stub);

}  // namespace ember
