// dtype promotion (torch.promote_types).
#include "core/dtype.h"

#include "core/dispatch.h"

namespace ember {

DType promote_types(DType a, DType b) {
  if (a == b) return a;
  auto rank = [](DType t) {
    switch (t) {
      case DType::Bool: return 0;
      case DType::UInt8: return 1;
      case DType::Int32: return 2;
      case DType::Int64: return 3;
      case DType::Float16: return 4;
      case DType::BFloat16: return 4;
      case DType::Float32: return 5;
      case DType::Float64: return 6;
    }
    return 0;
  };
  // float16 with bfloat16 has no exact common type narrower than float32.
  if ((a == DType::Float16 && b == DType::BFloat16) || (a == DType::BFloat16 && b == DType::Float16))
    return DType::Float32;
  return rank(a) >= rank(b) ? a : b;
}

void throw_unsupported_dtype(const char* op_name, DType dtype) {
  throw TypeError(str(op_name, ": unsupported dtype ", dtype_name(dtype)));
}

}  // namespace ember
