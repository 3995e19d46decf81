// Two kinds of dispatch, as in ATen:
//  * by dtype: EMBER_DISPATCH_* run a lambda with `scalar_t` bound to the element type;
//  * by device and CPU instruction set: a DispatchStub is a table of kernel pointers that the
//    kernel files fill at load time (REGISTER_CPU_KERNEL / REGISTER_CUDA_KERNEL), so adding a
//    device means adding files, not editing every op.
#pragma once
#include "core/check.h"
#include "core/cpu_features.h"
#include "core/device.h"
#include "core/dtype.h"

namespace ember {

// Out of line so that kernel files compiled for several instruction sets share no template
// instantiations with the portable code (the linker would keep only one copy).
[[noreturn]] void throw_unsupported_dtype(const char* op_name, DType dtype);

template <typename FnPtr>
struct DispatchStub {
  FnPtr cpu[kNumCPUCapabilities];
  FnPtr cuda;
  const char* name;

  // The kernel for `device`: on CPU the best registered variant not above cpu_capability().
  FnPtr get(Device device) const {
    if (device.is_cuda()) {
      EMBER_CHECK(cuda != nullptr, NotImplementedError, name, " has no CUDA kernel",
#ifdef EMBER_WITH_CUDA
                  ""
#else
                  " (ember was built without CUDA)"
#endif
      );
      return cuda;
    }
    for (int c = int(cpu_capability()); c >= 0; --c)
      if (cpu[c]) return cpu[c];
    throw NotImplementedError(str(name, " has no CPU kernel"));
  }
};

template <typename FnPtr>
struct StubRegistrar {
  StubRegistrar(FnPtr* slot, FnPtr fn) { *slot = fn; }
};

}  // namespace ember

// In a header: `using relu_fn = void (*)(...); DECLARE_DISPATCH(relu_fn, relu_stub);`
#define DECLARE_DISPATCH(fn_type, name) extern ::ember::DispatchStub<fn_type> name
// In exactly one ops/*.cpp: constant-initialised, so it exists before any registrar runs.
#define DEFINE_DISPATCH(name) decltype(name) name = {{}, nullptr, #name}

#define EMBER_CONCAT_(a, b) a##b
#define EMBER_CONCAT(a, b) EMBER_CONCAT_(a, b)

// In csrc/cpu/kernels/*.cpp this registers the variant being compiled (CPU_CAPABILITY);
// in csrc/cpu/*.cpp (compiled once, portable) it registers the DEFAULT variant.
#ifdef CPU_CAPABILITY
#define REGISTER_CPU_KERNEL(stub, fn)                                                  \
  static ::ember::StubRegistrar<decltype(fn)> EMBER_CONCAT(stub##_reg_, __LINE__)(     \
      &stub.cpu[int(::ember::CPUCapability::CPU_CAPABILITY)], fn)
#else
#define REGISTER_CPU_KERNEL(stub, fn)                                              \
  static ::ember::StubRegistrar<decltype(fn)> EMBER_CONCAT(stub##_reg_, __LINE__)( \
      &stub.cpu[0], fn)
#endif
#define REGISTER_CUDA_KERNEL(stub, fn) \
  static ::ember::StubRegistrar<decltype(fn)> EMBER_CONCAT(stub##_reg_, __LINE__)(&stub.cuda, fn)

// ---- dtype dispatch ----------------------------------------------------------------------
#define EMBER_DTYPE_CASE(enum_value, type, ...) \
  case ::ember::DType::enum_value: {            \
    using scalar_t = type;                      \
    return __VA_ARGS__();                       \
  }

#define EMBER_DTYPE_DEFAULT(dtype, op_name) \
  default:                                  \
    ::ember::throw_unsupported_dtype(op_name, dtype);

#define EMBER_DISPATCH_FLOATING_TYPES(dtype, op_name, ...)        \
  [&] {                                                           \
    switch (dtype) {                                              \
      EMBER_DTYPE_CASE(Float32, float, __VA_ARGS__)               \
      EMBER_DTYPE_CASE(Float64, double, __VA_ARGS__)              \
      EMBER_DTYPE_DEFAULT(dtype, op_name)                         \
    }                                                             \
  }()

#define EMBER_DISPATCH_ALL_TYPES(dtype, op_name, ...)             \
  [&] {                                                           \
    switch (dtype) {                                              \
      EMBER_DTYPE_CASE(Float32, float, __VA_ARGS__)               \
      EMBER_DTYPE_CASE(Float64, double, __VA_ARGS__)              \
      EMBER_DTYPE_CASE(Int64, int64_t, __VA_ARGS__)               \
      EMBER_DTYPE_CASE(Int32, int32_t, __VA_ARGS__)               \
      EMBER_DTYPE_CASE(UInt8, uint8_t, __VA_ARGS__)               \
      EMBER_DTYPE_DEFAULT(dtype, op_name)                         \
    }                                                             \
  }()

#define EMBER_DISPATCH_ALL_TYPES_AND_BOOL(dtype, op_name, ...)    \
  [&] {                                                           \
    switch (dtype) {                                              \
      EMBER_DTYPE_CASE(Float32, float, __VA_ARGS__)               \
      EMBER_DTYPE_CASE(Float64, double, __VA_ARGS__)              \
      EMBER_DTYPE_CASE(Int64, int64_t, __VA_ARGS__)               \
      EMBER_DTYPE_CASE(Int32, int32_t, __VA_ARGS__)               \
      EMBER_DTYPE_CASE(UInt8, uint8_t, __VA_ARGS__)               \
      EMBER_DTYPE_CASE(Bool, bool, __VA_ARGS__)                   \
      EMBER_DTYPE_DEFAULT(dtype, op_name)                         \
    }                                                             \
  }()
