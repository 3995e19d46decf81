// Argument conversions shared by the binding files: Python numbers to Scalar, dtype/device codes.
#pragma once
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "core/check.h"
#include "core/device.h"
#include "core/dtype.h"
#include "core/scalar.h"

namespace ember {
namespace py = pybind11;

inline Scalar to_scalar(py::handle v) {
  if (PyBool_Check(v.ptr())) return Scalar::from_bool(v.ptr() == Py_True);
  if (PyLong_Check(v.ptr())) {
    int overflow = 0;
    const long long x = PyLong_AsLongLongAndOverflow(v.ptr(), &overflow);
    EMBER_CHECK(!overflow, ValueError, "integer ", std::string(py::str(v)), " does not fit in int64");
    return Scalar::from_int(x);
  }
  if (PyFloat_Check(v.ptr())) return Scalar::from_double(PyFloat_AS_DOUBLE(v.ptr()));
  // NumPy scalars and other numbers.
  if (py::isinstance<py::int_>(v) || PyIndex_Check(v.ptr())) return Scalar::from_int(v.cast<int64_t>());
  try {
    return Scalar::from_double(v.cast<double>());
  } catch (const py::cast_error&) {
    throw TypeError(str("expected a number, but got ", std::string(py::str(py::type::of(v)))));
  }
}

inline DType to_dtype(int code) {
  EMBER_CHECK(code >= 0 && code < kNumDTypes, TypeError, "invalid dtype code ", code);
  return DType(code);
}

inline Device to_device(int type, int index) {
  EMBER_CHECK(type == 0 || type == 1, ValueError, "invalid device type code ", type);
  return Device{DeviceType(type), int16_t(index)};
}

}  // namespace ember
