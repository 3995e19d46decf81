// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11).
// Counter-based: output block b of seed s is a pure function of (s, b), so every element of a
// random tensor is reproducible regardless of thread count, chunking or device. The same
// header compiles for CUDA, which is what makes CPU and GPU draws identical.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define EMBER_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define EMBER_HOST_DEVICE inline
#endif

namespace ember {

struct PhiloxBlock {
  uint32_t x[4];
};

EMBER_HOST_DEVICE PhiloxBlock philox4x32(uint64_t seed, uint64_t block) {
  uint32_t c0 = uint32_t(block), c1 = uint32_t(block >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t(0xD2511F53u) * c0;
    const uint64_t p1 = uint64_t(0xCD9E8D57u) * c2;
    const uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n2 = uint32_t(p0 >> 32) ^ c3 ^ k1;
    c1 = uint32_t(p1);
    c3 = uint32_t(p0);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return PhiloxBlock{{c0, c1, c2, c3}};
}

// Uniform [0, 1) from 24 random bits (float) or 53 bits (double), as torch does.
EMBER_HOST_DEVICE float uint_to_unit_float(uint32_t x) { return float(x >> 8) * (1.0f / 16777216.0f); }
EMBER_HOST_DEVICE double uint_to_unit_double(uint32_t hi, uint32_t lo) {
  const uint64_t v = ((uint64_t(hi) << 32) | lo) >> 11;
  return double(v) * (1.0 / 9007199254740992.0);
}

// How many uint32 words each element consumes; element i of a draw lives in block
// offset + i / (4 / words), lanes (i % (4 / words)) * words ...
enum class RandomKind : int { Uniform = 0, Normal = 1, Integer = 2, Bernoulli = 3 };

}  // namespace ember
