// Binds the elementwise ops: _C.unary(op, x, out), _C.binary(op, a, b, out, alpha), where, clamp, lerp.
#include <optional>

#include "bindings/convert.h"
#include "bindings/registry.h"
#include "ops/elementwise.h"

namespace ember {
namespace {

// An operand is a TensorImpl or a Python number; `storage` keeps a converted Tensor alive.
Operand to_operand(py::handle h) {
  if (py::isinstance<Tensor>(h)) return Operand::of(h.cast<const Tensor&>());
  return Operand::of(to_scalar(h));
}

const Tensor* optional_out(const py::object& out) {
  return out.is_none() ? nullptr : &out.cast<const Tensor&>();
}

}  // namespace

EMBER_BINDINGS(elementwise) {
  m.def("unary", [](int op, const Tensor& x, py::object out) {
          EMBER_CHECK(op >= 0 && op < int(UnaryOp::Count), ValueError, "unknown unary op ", op);
          const Tensor* o = optional_out(out);
          py::gil_scoped_release nogil;
          return unary(UnaryOp(op), x, o);
        },
        py::arg("op"), py::arg("x"), py::arg("out") = py::none());
  m.def("binary", [](int op, py::handle a, py::handle b, py::object out, py::handle alpha) {
          EMBER_CHECK(op >= 0 && op < int(BinaryOp::Count), ValueError, "unknown binary op ", op);
          const Operand oa = to_operand(a), ob = to_operand(b);
          const Tensor* o = optional_out(out);
          const Scalar al = to_scalar(alpha);
          py::gil_scoped_release nogil;
          return binary(BinaryOp(op), oa, ob, o, al);
        },
        py::arg("op"), py::arg("a"), py::arg("b"), py::arg("out") = py::none(), py::arg("alpha") = 1);
  m.def("where", [](const Tensor& cond, py::handle a, py::handle b) {
    const Operand oa = to_operand(a), ob = to_operand(b);
    py::gil_scoped_release nogil;
    return where(cond, oa, ob);
  });
  m.def("clamp", [](const Tensor& x, py::handle lo, py::handle hi, py::object out) {
          std::optional<Operand> l, h;
          if (!lo.is_none()) l = to_operand(lo);
          if (!hi.is_none()) h = to_operand(hi);
          const Tensor* o = optional_out(out);
          py::gil_scoped_release nogil;
          return clamp(x, l, h, o);
        },
        py::arg("x"), py::arg("lo"), py::arg("hi"), py::arg("out") = py::none());
  m.def("lerp", [](const Tensor& a, const Tensor& b, py::handle w, py::object out) {
          const Operand ow = to_operand(w);
          const Tensor* o = optional_out(out);
          py::gil_scoped_release nogil;
          return lerp(a, b, ow, o);
        },
        py::arg("a"), py::arg("b"), py::arg("w"), py::arg("out") = py::none());
  m.def("result_type", [](py::handle a, py::handle b) { return int(result_type({to_operand(a), to_operand(b)})); });
  m.def("broadcast_shapes", &broadcast_shapes);
}

}  // namespace ember
