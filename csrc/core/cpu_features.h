// Which instruction-set variant of the CPU kernels runs: detected once from CPUID, and
// lowered (never raised) by EMBER_CPU_CAPABILITY=avx2|default so that CI can test each path.
#pragma once

namespace ember {

enum class CPUCapability : int { DEFAULT = 0, AVX2 = 1, AVX512 = 2 };
constexpr int kNumCPUCapabilities = 3;

CPUCapability cpu_capability();                // in use (detected, then capped by the env var)
CPUCapability detected_cpu_capability();       // what the hardware and OS support
const char* cpu_capability_name(CPUCapability c);

}  // namespace ember
