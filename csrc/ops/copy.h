// copy_ (with broadcasting and dtype conversion, across devices) and fill_.
#pragma once
#include "core/dispatch.h"
#include "core/loop.h"
#include "core/scalar.h"
#include "core/tensor.h"

namespace ember {

// dst[...] = src[...] converted to dst's dtype; src broadcasts to dst's shape.
void copy_(const Tensor& dst, const Tensor& src);
// dst[...] = value converted to dst's dtype.
void fill_(const Tensor& dst, Scalar value);

// Kernels. Same-device copies see a prepared plan; cross-device copies go to the device stub.
using copy_fn = void (*)(const LoopPlan<2>& plan, char* dst, DType dst_dtype, char* src, DType src_dtype);
using fill_fn = void (*)(const LoopPlan<1>& plan, char* dst, DType dtype, Scalar value);
// Any copy that involves a CUDA tensor (to, from or within the GPU): the backend handles
// strides, broadcasting and dtype conversion itself.
using cross_device_copy_fn = void (*)(const Tensor& dst, const Tensor& src, bool non_blocking);
DECLARE_DISPATCH(copy_fn, copy_stub);
DECLARE_DISPATCH(fill_fn, fill_stub);
DECLARE_DISPATCH(cross_device_copy_fn, cross_device_copy_stub);

// True when the byte ranges that `a` and `b` may touch intersect.
bool may_overlap(const Tensor& a, const Tensor& b);

}  // namespace ember
