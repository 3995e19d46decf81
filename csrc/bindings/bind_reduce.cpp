// Binds the reductions: _C.reduce(op, x, dims, keepdim, out_dtype), _C.reduce_with_indices,
// _C.reduce_stat and _C.cumsum.
#include "bindings/convert.h"
#include "bindings/registry.h"
#include "ops/reduce.h"

namespace ember {

EMBER_BINDINGS(reduce) {
  m.def("reduce", [](int op, const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, int out_dtype) {
          EMBER_CHECK(op >= 0 && op < int(ReduceOp::Count), ValueError, "unknown reduction ", op);
          py::gil_scoped_release nogil;
          return reduce(ReduceOp(op), x, dims, keepdim, to_dtype(out_dtype));
        },
        py::arg("op"), py::arg("x"), py::arg("dims"), py::arg("keepdim"), py::arg("out_dtype"));
  m.def("reduce_with_indices", [](bool is_max, const Tensor& x, int64_t dim, bool keepdim) {
          py::gil_scoped_release nogil;
          return reduce_with_indices(is_max, x, dim, keepdim);
        },
        py::arg("is_max"), py::arg("x"), py::arg("dim"), py::arg("keepdim"));
  m.def("reduce_stat", [](int op, const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, double param) {
          EMBER_CHECK(op >= 0 && op < int(StatOp::Count), ValueError, "unknown statistic ", op);
          py::gil_scoped_release nogil;
          return reduce_stat(StatOp(op), x, dims, keepdim, param);
        },
        py::arg("op"), py::arg("x"), py::arg("dims"), py::arg("keepdim"), py::arg("param"));
  m.def("cumsum", [](const Tensor& x, int64_t dim, int out_dtype) {
          py::gil_scoped_release nogil;
          return cumsum(x, dim, to_dtype(out_dtype));
        },
        py::arg("x"), py::arg("dim"), py::arg("out_dtype"));
}

}  // namespace ember
