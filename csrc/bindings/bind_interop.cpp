// Zero-copy interop: NumPy arrays (buffer sharing both ways) and DLPack capsules.
#include <pybind11/numpy.h>

#include "bindings/convert.h"
#include "bindings/dlpack.h"
#include "bindings/registry.h"
#include "core/tensor.h"

namespace ember {
namespace {

// Keeps a Python object alive for as long as a Storage borrows its memory.
std::function<void()> keep_alive(py::object owner) {
  auto* held = new py::object(std::move(owner));
  return [held] {
    if (!Py_IsInitialized()) return;  // interpreter gone: the memory went with it
    py::gil_scoped_acquire gil;
    delete held;
  };
}

DType dtype_from_numpy(const py::dtype& dt) {
  const char kind = dt.kind();
  const auto size = dt.itemsize();
  if (!dt.attr("isnative").cast<bool>())
    throw TypeError(str("arrays with non-native byte order (", std::string(py::str(dt)),
                        ") are not supported; convert with a.astype(a.dtype.newbyteorder('='))"));
  if (kind == 'b' && size == 1) return DType::Bool;
  if (kind == 'u' && size == 1) return DType::UInt8;
  if (kind == 'i' && size == 4) return DType::Int32;
  if (kind == 'i' && size == 8) return DType::Int64;
  if (kind == 'f' && size == 4) return DType::Float32;
  if (kind == 'f' && size == 8) return DType::Float64;
  throw TypeError(str("can't convert np.ndarray of type numpy.", std::string(py::str(dt)),
                      ". The only supported types are: float64, float32, int64, int32, uint8, and bool;"
                      " convert first, e.g. a.astype(np.float32)"));
}

py::dtype numpy_dtype(DType t) {
  switch (t) {
    case DType::Bool: return py::dtype("bool");
    case DType::UInt8: return py::dtype("uint8");
    case DType::Int32: return py::dtype("int32");
    case DType::Int64: return py::dtype("int64");
    case DType::Float32: return py::dtype("float32");
    case DType::Float64: return py::dtype("float64");
    default: throw TypeError(str("numpy() does not support dtype ", dtype_name(t)));
  }
}

Tensor from_numpy(py::array a) {
  const DType dtype = dtype_from_numpy(a.dtype());
  const int64_t item = itemsize(dtype);
  Shape shape(a.ndim()), strides(a.ndim());
  int64_t lo = 0, hi = 0;  // byte extent relative to a.data()
  bool empty = false;
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    shape[d] = a.shape(d);
    const int64_t sb = a.strides(d);
    EMBER_CHECK(sb % item == 0, ValueError, "from_numpy: stride of ", sb, " bytes in dim ", d,
                " is not a multiple of the item size ", item,
                "; pass np.ascontiguousarray(a) instead");
    strides[d] = sb / item;
    if (shape[d] == 0) empty = true;
    const int64_t extent = (shape[d] - 1) * sb;
    (extent >= 0 ? hi : lo) += extent;
  }
  if (empty) lo = hi = 0;
  char* base = static_cast<char*>(const_cast<void*>(a.data())) + lo;
  const size_t nbytes = size_t(hi - lo + item);
  auto storage = std::make_shared<StorageImpl>(base, nbytes, kCPU, keep_alive(a));
  return Tensor(std::move(storage), std::move(shape), std::move(strides), -lo / item, dtype);
}

py::array to_numpy(const Tensor& t) {
  EMBER_CHECK(t.device().is_cpu(), TypeError, "can't convert ", t.device().str(),
              " tensor to numpy. Use Tensor.cpu() to copy the tensor to host memory first.");
  std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end());
  std::vector<py::ssize_t> strides(t.dim());
  for (int64_t d = 0; d < t.dim(); ++d) strides[d] = t.strides()[d] * t.itemsize();
  // The capsule owns a reference to the storage, so the array keeps the memory alive.
  auto* owner = new Storage(t.storage());
  py::capsule base(owner, [](void* p) { delete static_cast<Storage*>(p); });
  return py::array(numpy_dtype(t.dtype()), shape, strides, t.raw_data(), base);
}

// ---- DLPack ----
DLDataType dl_dtype(DType t) {
  switch (t) {
    case DType::Bool: return {kDLBool, 8, 1};
    case DType::UInt8: return {kDLUInt, 8, 1};
    case DType::Int32: return {kDLInt, 32, 1};
    case DType::Int64: return {kDLInt, 64, 1};
    case DType::Float16: return {kDLFloat, 16, 1};
    case DType::BFloat16: return {kDLBfloat, 16, 1};
    case DType::Float32: return {kDLFloat, 32, 1};
    case DType::Float64: return {kDLFloat, 64, 1};
  }
  return {kDLFloat, 32, 1};
}

DType from_dl_dtype(DLDataType t) {
  EMBER_CHECK(t.lanes == 1, TypeError, "from_dlpack: vector dtypes (lanes=", t.lanes, ") are not supported");
  if (t.code == kDLBool && t.bits == 8) return DType::Bool;
  if (t.code == kDLUInt && t.bits == 8) return DType::UInt8;
  if (t.code == kDLInt && t.bits == 32) return DType::Int32;
  if (t.code == kDLInt && t.bits == 64) return DType::Int64;
  if (t.code == kDLFloat && t.bits == 16) return DType::Float16;
  if (t.code == kDLBfloat && t.bits == 16) return DType::BFloat16;
  if (t.code == kDLFloat && t.bits == 32) return DType::Float32;
  if (t.code == kDLFloat && t.bits == 64) return DType::Float64;
  throw TypeError(str("from_dlpack: unsupported DLPack dtype (code ", int(t.code), ", bits ", int(t.bits), ")"));
}

// Owns the exported view (keeping its storage alive) and the shape/stride arrays DLPack points to.
template <typename Managed>
struct DLPackHolder {
  Tensor tensor;
  Shape shape, strides;
  Managed managed;
};

void fill_dl_tensor(DLTensor& dl, const Tensor& t, Shape& shape, Shape& strides) {
  dl.data = t.storage()->data();
  dl.byte_offset = uint64_t(t.offset() * t.itemsize());
  dl.device = {t.device().is_cuda() ? kDLCUDA : kDLCPU, t.device().index};
  dl.ndim = int32_t(t.dim());
  dl.dtype = dl_dtype(t.dtype());
  dl.shape = shape.data();
  dl.strides = strides.data();
}

template <typename Managed>
void capsule_destructor(PyObject* cap, const char* name) {
  // A capsule that nobody consumed still owns the tensor.
  if (PyCapsule_IsValid(cap, name)) {
    auto* m = static_cast<Managed*>(PyCapsule_GetPointer(cap, name));
    if (m && m->deleter) m->deleter(m);
  }
}

py::capsule to_dlpack(const Tensor& t, bool versioned) {
  if (versioned) {
    using Holder = DLPackHolder<DLManagedTensorVersioned>;
    auto* h = new Holder{t, t.shape(), t.strides(), {}};
    h->managed.version = {1, 0};
    h->managed.flags = 0;
    fill_dl_tensor(h->managed.dl_tensor, t, h->shape, h->strides);
    h->managed.manager_ctx = h;
    h->managed.deleter = [](DLManagedTensorVersioned* self) { delete static_cast<Holder*>(self->manager_ctx); };
    return py::capsule(&h->managed, "dltensor_versioned", [](PyObject* cap) {
      capsule_destructor<DLManagedTensorVersioned>(cap, "dltensor_versioned");
    });
  }
  using Holder = DLPackHolder<DLManagedTensor>;
  auto* h = new Holder{t, t.shape(), t.strides(), {}};
  fill_dl_tensor(h->managed.dl_tensor, t, h->shape, h->strides);
  h->managed.manager_ctx = h;
  h->managed.deleter = [](DLManagedTensor* self) { delete static_cast<Holder*>(self->manager_ctx); };
  return py::capsule(&h->managed, "dltensor",
                     [](PyObject* cap) { capsule_destructor<DLManagedTensor>(cap, "dltensor"); });
}

Tensor wrap_dl_tensor(const DLTensor& dl, std::function<void()> release) {
  Device device = kCPU;
  if (dl.device.device_type == kDLCUDA) device = Device{DeviceType::CUDA, int16_t(dl.device.device_id)};
  else
    EMBER_CHECK(dl.device.device_type == kDLCPU || dl.device.device_type == kDLCUDAHost, ValueError,
                "from_dlpack: unsupported device type ", dl.device.device_type);
  const DType dtype = from_dl_dtype(dl.dtype);
  const int64_t item = itemsize(dtype);
  EMBER_CHECK(dl.byte_offset % uint64_t(item) == 0, ValueError, "from_dlpack: byte_offset ", dl.byte_offset,
              " is not a multiple of the item size");
  Shape shape(dl.shape, dl.shape + dl.ndim);
  Shape strides = dl.strides ? Shape(dl.strides, dl.strides + dl.ndim) : contiguous_strides(shape);
  int64_t lo = 0, hi = 0;
  bool empty = false;
  for (int d = 0; d < dl.ndim; ++d) {
    if (shape[d] == 0) empty = true;
    const int64_t extent = (shape[d] - 1) * strides[d];
    (extent >= 0 ? hi : lo) += extent;
  }
  if (empty) lo = hi = 0;
  const int64_t first = int64_t(dl.byte_offset) / item + lo;  // lowest element touched
  char* base = static_cast<char*>(dl.data) + first * item;
  auto storage = std::make_shared<StorageImpl>(base, size_t((hi - lo + 1) * item), device, std::move(release));
  return Tensor(std::move(storage), std::move(shape), std::move(strides), -lo, dtype);
}

// Runs a producer's deleter with the GIL held (NumPy's deleter decrefs Python objects).
template <typename Managed>
std::function<void()> dl_release(Managed* m) {
  return [m] {
    if (!m->deleter || !Py_IsInitialized()) return;
    py::gil_scoped_acquire gil;
    m->deleter(m);
  };
}

Tensor from_dlpack_capsule(py::capsule cap) {
  if (PyCapsule_IsValid(cap.ptr(), "dltensor_versioned")) {
    auto* m = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(cap.ptr(), "dltensor_versioned"));
    EMBER_CHECK(m->version.major == 1, ValueError, "from_dlpack: unsupported DLPack version ", m->version.major, ".",
                m->version.minor);
    Tensor t = wrap_dl_tensor(m->dl_tensor, dl_release(m));
    PyCapsule_SetName(cap.ptr(), "used_dltensor_versioned");  // we own it now
    return t;
  }
  EMBER_CHECK(PyCapsule_IsValid(cap.ptr(), "dltensor"), ValueError,
              "from_dlpack: expected an unconsumed 'dltensor' capsule (each capsule can be used once)");
  auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap.ptr(), "dltensor"));
  Tensor t = wrap_dl_tensor(m->dl_tensor, dl_release(m));
  PyCapsule_SetName(cap.ptr(), "used_dltensor");
  return t;
}

}  // namespace

EMBER_BINDINGS(interop) {
  m.def("from_numpy", &from_numpy, py::arg("array"));
  m.def("to_numpy", &to_numpy, py::arg("tensor"));
  m.def("to_dlpack", &to_dlpack, py::arg("tensor"), py::arg("versioned") = false);
  m.def("from_dlpack_capsule", &from_dlpack_capsule, py::arg("capsule"));
}

}  // namespace ember
