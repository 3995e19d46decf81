// Binds the C++ tensor (as _C.TensorImpl), creation, copies and random fills. Calls that run a
// kernel or may wait release the GIL once their Python arguments are converted.
#include <pybind11/stl.h>

#include "bindings/convert.h"
#include "bindings/registry.h"
#include "core/allocator.h"
#include "core/tensor.h"
#include "ops/copy.h"
#include "ops/random.h"

namespace ember {
namespace {

py::tuple to_tuple(const Shape& v) {
  py::tuple t(v.size());
  for (size_t i = 0; i < v.size(); ++i) t[i] = py::int_(v[i]);
  return t;
}

py::object item(const Tensor& t) {
  EMBER_CHECK(t.numel() == 1, ValueError, "a Tensor with ", t.numel(),
              " elements cannot be converted to Scalar");
  Tensor c = t;
  if (!t.device().is_cpu()) {
    py::gil_scoped_release nogil;  // waits for the device
    c = t.to(t.dtype(), kCPU);
  }
  switch (c.dtype()) {
    case DType::Bool: return py::bool_(*c.data<bool>());
    case DType::UInt8: return py::int_(*c.data<uint8_t>());
    case DType::Int32: return py::int_(*c.data<int32_t>());
    case DType::Int64: return py::int_(*c.data<int64_t>());
    case DType::Float32: return py::float_(*c.data<float>());
    case DType::Float64: return py::float_(*c.data<double>());
    default: throw TypeError(str("item: unsupported dtype ", dtype_name(c.dtype())));
  }
}

}  // namespace

EMBER_BINDINGS(tensor) {
  py::class_<Tensor>(m, "TensorImpl")
      .def_property_readonly("shape", [](const Tensor& t) { return to_tuple(t.shape()); })
      .def_property_readonly("strides", [](const Tensor& t) { return to_tuple(t.strides()); })
      .def_property_readonly("offset", &Tensor::offset)
      .def_property_readonly("dtype", [](const Tensor& t) { return int(t.dtype()); })
      .def_property_readonly("device_type", [](const Tensor& t) { return int(t.device().type); })
      .def_property_readonly("device_index", [](const Tensor& t) { return int(t.device().index); })
      .def_property_readonly("numel", &Tensor::numel)
      .def_property_readonly("ndim", &Tensor::dim)
      .def_property_readonly("itemsize", &Tensor::itemsize)
      .def_property_readonly("data_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.raw_data()); })
      .def_property_readonly("storage_ptr",
                             [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.storage()->data()); })
      .def_property_readonly("storage_nbytes", [](const Tensor& t) { return t.storage()->nbytes(); })
      .def_property_readonly("version", &Tensor::version)
      // (shape, dtype, device_type, device_index) in one call: what autograd records of each output.
      .def_property_readonly("meta", [](const Tensor& t) {
        return py::make_tuple(to_tuple(t.shape()), int(t.dtype()), int(t.device().type), int(t.device().index));
      })
      .def("same_shape", [](const Tensor& a, const Tensor& b) { return a.shape() == b.shape(); })
      .def("bump_version", &Tensor::bump_version)
      .def("is_contiguous", &Tensor::is_contiguous)
      .def("contiguous", &Tensor::contiguous, py::call_guard<py::gil_scoped_release>())
      .def("clone", &Tensor::clone, py::call_guard<py::gil_scoped_release>())
      .def("to", [](const Tensor& t, int dtype, int dev_type, int dev_index) {
             py::gil_scoped_release nogil;
             return t.to(to_dtype(dtype), to_device(dev_type, dev_index));
           })
      .def("as_strided", &Tensor::as_strided, py::arg("shape"), py::arg("strides"), py::arg("offset"))
      .def("shares_storage", [](const Tensor& a, const Tensor& b) { return a.storage() == b.storage(); })
      .def("copy_", [](const Tensor& dst, const Tensor& src) {
             {
               py::gil_scoped_release nogil;
               copy_(dst, src);
             }
             dst.bump_version();
           })
      .def("fill_", [](const Tensor& dst, py::handle v) {
             const Scalar s = to_scalar(v);
             {
               py::gil_scoped_release nogil;
               fill_(dst, s);
             }
             dst.bump_version();
           })
      .def("item", &item);

  m.def("empty", [](const std::vector<int64_t>& shape, int dtype, int dev_type, int dev_index) {
    return Tensor::empty(shape, to_dtype(dtype), to_device(dev_type, dev_index));
  });
  m.def("full", [](const std::vector<int64_t>& shape, py::handle value, int dtype, int dev_type, int dev_index) {
    const Scalar s = to_scalar(value);
    py::gil_scoped_release nogil;
    Tensor t = Tensor::empty(shape, to_dtype(dtype), to_device(dev_type, dev_index));
    fill_(t, s);
    return t;
  });

  // ---- random ----
  py::class_<Generator>(m, "Generator")
      .def(py::init<>())
      .def("manual_seed", &Generator::manual_seed)
      .def("seed_value", &Generator::seed)
      .def("get_state", [](const Generator& g) { return py::make_tuple(g.seed(), g.offset()); })
      .def("set_state", &Generator::set_state);
  m.def("default_generator", &default_generator, py::return_value_policy::reference);
  m.def("random_fill_", [](const Tensor& t, int kind, double a, double b, int64_t ia, int64_t ib,
                           Generator* gen) {
          RandomParams p;
          p.kind = RandomKind(kind);
          p.a = a; p.b = b; p.ia = ia; p.ib = ib;
          {
            py::gil_scoped_release nogil;
            random_fill_(t, p, gen);
          }
          t.bump_version();
        },
        py::arg("t"), py::arg("kind"), py::arg("a") = 0.0, py::arg("b") = 1.0, py::arg("ia") = 0,
        py::arg("ib") = 2, py::arg("generator") = nullptr);
  m.def("randperm", [](int64_t n, int dtype, int dev_type, int dev_index, Generator* gen) {
          py::gil_scoped_release nogil;
          return randperm(n, to_dtype(dtype), to_device(dev_type, dev_index), gen);
        },
        py::arg("n"), py::arg("dtype"), py::arg("dev_type"), py::arg("dev_index"), py::arg("generator") = nullptr);

  // ---- allocator statistics ----
  m.def("memory_stats", [](int dev_type) {
    const AllocatorStats s = get_allocator(DeviceType(dev_type))->stats();
    py::dict d;
    d["allocated_bytes"] = s.allocated_bytes;
    d["peak_bytes"] = s.peak_bytes;
    d["cached_bytes"] = s.cached_bytes;
    return d;
  });
  m.def("reset_peak_memory_stats", [](int dev_type) { get_allocator(DeviceType(dev_type))->reset_peak(); });
  m.def("empty_cache", [](int dev_type) { get_allocator(DeviceType(dev_type))->empty_cache(); },
        py::call_guard<py::gil_scoped_release>());
}

}  // namespace ember
