// Binds the reductions: _C.reduce(op, x, dims, keepdim, out_dtype).
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
}

}  // namespace ember
