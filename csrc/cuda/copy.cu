// CUDA copies: strided same-device copy with dtype conversion, fill, and copies that cross
// devices (host <-> device, device <-> device). Transfers move contiguous blocks with cudaMemcpy;
// any conversion, broadcast or scatter into a strided destination runs as a device kernel on the
// narrower side of the transfer. All work uses the legacy default stream; device-to-host copies
// into pageable memory return once the data is on the host, so `non_blocking` is accepted and
// ignored (a pinned-memory path, pin_memory(), is future work).
#include "cuda/loop.cuh"
#include "ops/copy.h"

namespace ember {
namespace cuda {
namespace {

// ---- kernels (functors run by the shared elementwise kernels of loop.cuh) ---------------------
template <typename To>
struct ConvertTo {
  template <typename From>
  __device__ __forceinline__ To operator()(From v) const {
    if constexpr (std::is_same_v<To, bool>) return v != From(0);
    else return static_cast<To>(v);
  }
};

template <typename T>
struct FillWith {
  T value;
  __device__ __forceinline__ T operator()() const { return value; }
};

// ---- launchers ----------------------------------------------------------------------------
void copy_kernel(const LoopPlan<2>& plan, char* dst, DType dst_dtype, char* src, DType src_dtype) {
  EMBER_DISPATCH_ALL_TYPES_AND_BOOL(dst_dtype, "copy_", [&] {
    using dst_t = scalar_t;
    EMBER_DISPATCH_ALL_TYPES_AND_BOOL(src_dtype, "copy_", [&] {
      launch_elementwise<dst_t, scalar_t>(plan, {dst, src}, ConvertTo<dst_t>{}, "copy_");
    });
  });
}

void fill_kernel(const LoopPlan<1>& plan, char* dst, DType dtype, Scalar value) {
  EMBER_DISPATCH_ALL_TYPES_AND_BOOL(dtype, "fill_", [&] {
    launch_elementwise<scalar_t>(plan, {dst}, FillWith<scalar_t>{value.to<scalar_t>()}, "fill_");
  });
}

bool same_layout_dense(const Tensor& dst, const Tensor& src) {
  return dst.dtype() == src.dtype() && dst.shape() == src.shape() && dst.is_contiguous() && src.is_contiguous();
}

// dst = src on one device (any strides, broadcast src, dtype conversion, overlapping views).
// The caller has made that device current.
void device_copy(const Tensor& dst, const Tensor& src) {
  if (dst.numel() == 0) return;
  if (may_overlap(dst, src)) {
    Tensor tmp = Tensor::empty(src.shape(), src.dtype(), src.device());
    device_copy(tmp, src);
    device_copy(dst, tmp);
    return;
  }
  if (same_layout_dense(dst, src)) {
    CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), size_t(dst.nbytes()), cudaMemcpyDeviceToDevice, 0));
    return;
  }
  const auto plan = make_loop_plan<2>(dst.shape(), {dst.strides(), broadcast_strides(src, dst.shape())},
                                      {dst.itemsize(), src.itemsize()});
  copy_kernel(plan, static_cast<char*>(dst.raw_data()), dst.dtype(), static_cast<char*>(src.raw_data()),
              src.dtype());
}

// A contiguous tensor on src's device holding src converted to `dtype` (src itself if it already is).
Tensor pack_on_device(const Tensor& src, DType dtype) {
  if (src.is_contiguous() && src.dtype() == dtype) return src;
  Tensor packed = Tensor::empty(src.shape(), dtype, src.device());
  device_copy(packed, src);
  return packed;
}

void host_to_device(const Tensor& dst, const Tensor& src) {
  DeviceGuard guard(dst.device().index);
  const Tensor host = src.is_contiguous() ? src : src.contiguous();
  if (same_layout_dense(dst, host)) {
    CUDA_CHECK(cudaMemcpy(dst.raw_data(), host.raw_data(), size_t(dst.nbytes()), cudaMemcpyHostToDevice));
    return;
  }
  // Upload src's own bytes (no wider than the converted result) and convert/broadcast/scatter there.
  Tensor staged = Tensor::empty(host.shape(), host.dtype(), dst.device());
  CUDA_CHECK(cudaMemcpy(staged.raw_data(), host.raw_data(), size_t(host.nbytes()), cudaMemcpyHostToDevice));
  device_copy(dst, staged);
}

void device_to_host(const Tensor& dst, const Tensor& src) {
  DeviceGuard guard(src.device().index);
  if (dst.is_contiguous() && dst.shape() == src.shape()) {
    const Tensor packed = pack_on_device(src, dst.dtype());
    CUDA_CHECK(cudaMemcpy(dst.raw_data(), packed.raw_data(), size_t(dst.nbytes()), cudaMemcpyDeviceToHost));
    return;
  }
  // Download src's elements once, then broadcast/convert/scatter on the CPU.
  const Tensor packed = pack_on_device(src, src.dtype());
  Tensor host = Tensor::empty(src.shape(), src.dtype(), kCPU);
  CUDA_CHECK(cudaMemcpy(host.raw_data(), packed.raw_data(), size_t(host.nbytes()), cudaMemcpyDeviceToHost));
  copy_(dst, host);
}

void device_to_device(const Tensor& dst, const Tensor& src) {
  if (dst.device() == src.device()) {
    DeviceGuard guard(dst.device().index);
    device_copy(dst, src);
    return;
  }
  // Across GPUs: pack into dst's dtype and shape on the source, copy peer-to-peer, scatter on dst.
  Tensor packed;
  {
    DeviceGuard guard(src.device().index);
    if (src.shape() == dst.shape()) {
      packed = pack_on_device(src, dst.dtype());
    } else {
      packed = Tensor::empty(dst.shape(), dst.dtype(), src.device());
      device_copy(packed, src);
    }
    // The peer copy below runs on dst's default stream; finish the packing first.
    CUDA_CHECK(cudaDeviceSynchronize());
  }
  DeviceGuard guard(dst.device().index);
  if (dst.is_contiguous()) {
    CUDA_CHECK(cudaMemcpyPeer(dst.raw_data(), dst.device().index, packed.raw_data(), src.device().index,
                              size_t(dst.nbytes())));
    return;
  }
  Tensor staged = Tensor::empty(dst.shape(), dst.dtype(), dst.device());
  CUDA_CHECK(cudaMemcpyPeer(staged.raw_data(), dst.device().index, packed.raw_data(), src.device().index,
                            size_t(staged.nbytes())));
  device_copy(dst, staged);
}

// Any copy that involves a CUDA tensor. The op layer has checked broadcastability; this accepts
// every combination of strides, dtypes and devices (not only the contiguous blocks it promises).
void cross_device_copy_kernel(const Tensor& dst, const Tensor& src, bool /*non_blocking*/) {
  if (dst.numel() == 0) return;
  if (src.device().is_cpu() && dst.device().is_cpu()) {
    copy_(dst, src);
  } else if (src.device().is_cpu()) {
    host_to_device(dst, src);
  } else if (dst.device().is_cpu()) {
    device_to_host(dst, src);
  } else {
    device_to_device(dst, src);
  }
}

}  // namespace

REGISTER_CUDA_KERNEL(copy_stub, &copy_kernel);
REGISTER_CUDA_KERNEL(fill_stub, &fill_kernel);
REGISTER_CUDA_KERNEL(cross_device_copy_stub, &cross_device_copy_kernel);

}  // namespace cuda
}  // namespace ember
