// Binds matrix products: _C.matmul, _C.addmm (fused bias/activation epilogue), _C.linear,
// _C.linear_backward and the TF32 switch behind ember.backends.cuda.matmul.allow_tf32.
// reference=True runs the plain-loop GEMM kernels (the oracle the tests compare against).
#include "bindings/convert.h"
#include "bindings/registry.h"
#include "ops/linalg.h"

namespace ember {
namespace {

GemmActivation gemm_activation(int act) {
  EMBER_CHECK(act == 0 || act == 1, ValueError, "addmm: act must be 0 (none) or 1 (relu), got ", act);
  return GemmActivation(act);
}

LinearActivation linear_activation(int act, const char* name) {
  EMBER_CHECK(act >= 0 && act < kLinearActivations, ValueError, name,
              ": act must be 0 (none), 1 (relu), 2 (tanh) or 3 (sigmoid), got ", act);
  return LinearActivation(act);
}

}  // namespace

EMBER_BINDINGS(linalg) {
  m.def("matmul", [](const Tensor& a, const Tensor& b, bool reference) {
    py::gil_scoped_release nogil;
    return matmul_nd(a, b, "matmul", reference);
  }, py::arg("a"), py::arg("b"), py::arg("reference") = false);
  m.def("addmm", [](py::object c, const Tensor& a, const Tensor& b, double beta, double alpha, py::object bias,
                    int act, py::object out, bool reference) {
          const Tensor* pc = c.is_none() ? nullptr : &c.cast<const Tensor&>();
          const Tensor* pb = bias.is_none() ? nullptr : &bias.cast<const Tensor&>();
          const Tensor* po = out.is_none() ? nullptr : &out.cast<const Tensor&>();
          const GemmActivation epilogue = gemm_activation(act);
          py::gil_scoped_release nogil;
          return addmm(pc, a, b, beta, alpha, pb, epilogue, po, reference);
        },
        py::arg("c"), py::arg("a"), py::arg("b"), py::arg("beta") = 1.0, py::arg("alpha") = 1.0,
        py::arg("bias") = py::none(), py::arg("act") = 0, py::arg("out") = py::none(),
        py::arg("reference") = false);
  m.def("set_matmul_allow_tf32", &set_matmul_allow_tf32, py::arg("allow"));
  m.def("matmul_allow_tf32", &matmul_allow_tf32);
  m.def("linear", [](const Tensor& x, const Tensor& w, py::object bias, int act) {
          const Tensor* pb = bias.is_none() ? nullptr : &bias.cast<const Tensor&>();
          const LinearActivation activation = linear_activation(act, "linear");
          py::gil_scoped_release nogil;
          return linear(x, w, pb, activation);
        },
        py::arg("x"), py::arg("w"), py::arg("bias") = py::none(), py::arg("act") = 0);
  // Returns (dx, dw, db) with None for the ones not asked for.
  m.def("linear_backward", [](const Tensor& dy, const Tensor& x, const Tensor& w, py::object y, int act,
                              bool need_dx, bool need_dw, bool need_db) {
    const Tensor* py_ = y.is_none() ? nullptr : &y.cast<const Tensor&>();
    const LinearActivation activation = linear_activation(act, "linear_backward");
    LinearGrads r;
    {
      py::gil_scoped_release nogil;
      r = linear_backward(dy, x, w, py_, activation, need_dx, need_dw, need_db);
    }
    auto opt = [](const Tensor& t) { return t.defined() ? py::cast(t) : py::object(py::none()); };
    return py::make_tuple(opt(r.dx), opt(r.dw), opt(r.db));
  });
}

}  // namespace ember
