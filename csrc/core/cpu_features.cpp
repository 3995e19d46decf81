// Runtime CPU feature detection.
#include "core/cpu_features.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "core/check.h"

namespace ember {

CPUCapability detected_cpu_capability() {
#if defined(__x86_64__) || defined(__i386__)
  // libgcc's checks include the OS's XSAVE support for the wider register state.
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("fma"))
    return CPUCapability::AVX512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("f16c") && __builtin_cpu_supports("bmi2"))
    return CPUCapability::AVX2;
#endif
  return CPUCapability::DEFAULT;
}

namespace {
CPUCapability compute_capability() {
  CPUCapability c = detected_cpu_capability();
  if (const char* env = std::getenv("EMBER_CPU_CAPABILITY")) {
    std::string v(env);
    for (auto& ch : v) ch = char(std::tolower(ch));
    CPUCapability want;
    if (v == "avx512") want = CPUCapability::AVX512;
    else if (v == "avx2") want = CPUCapability::AVX2;
    else if (v == "default") want = CPUCapability::DEFAULT;
    else
      throw ValueError(str("EMBER_CPU_CAPABILITY='", env,
                           "' is not one of 'avx512', 'avx2', 'default'"));
    if (int(want) < int(c)) c = want;  // the variable can only lower the path
  }
  return c;
}
}  // namespace

CPUCapability cpu_capability() {
  static const CPUCapability c = compute_capability();
  return c;
}

const char* cpu_capability_name(CPUCapability c) {
  switch (c) {
    case CPUCapability::AVX512: return "avx512";
    case CPUCapability::AVX2: return "avx2";
    case CPUCapability::DEFAULT: return "default";
  }
  return "?";
}

}  // namespace ember
