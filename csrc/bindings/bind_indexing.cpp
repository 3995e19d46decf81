// Binds the copying shape ops and the indexing primitives (see ops/indexing.h).
#include "bindings/convert.h"
#include "bindings/registry.h"
#include "ops/indexing.h"

namespace ember {

EMBER_BINDINGS(indexing) {
  using V = std::vector<int64_t>;
  m.def("cat", &cat, py::arg("tensors"), py::arg("dim"), py::call_guard<py::gil_scoped_release>());
  m.def("flip", &flip, py::arg("x"), py::arg("dims"), py::call_guard<py::gil_scoped_release>());
  m.def("roll", &roll, py::arg("x"), py::arg("shifts"), py::arg("dims"), py::call_guard<py::gil_scoped_release>());
  m.def("repeat", &repeat, py::arg("x"), py::arg("reps"), py::call_guard<py::gil_scoped_release>());
  m.def("tril_triu", &tril_triu, py::arg("x"), py::arg("k"), py::arg("upper"),
        py::call_guard<py::gil_scoped_release>());
  m.def("index_offsets", [](const std::vector<Tensor>& indices, const V& sizes, const V& strides, const V& dims,
                            const V& shape, bool allow_negative) {
          py::gil_scoped_release nogil;
          return index_offsets(indices, sizes, strides, dims, shape, allow_negative);
        },
        py::arg("indices"), py::arg("sizes"), py::arg("strides"), py::arg("dims"), py::arg("shape"),
        py::arg("allow_negative") = true);
  m.def("index_gather", &index_gather, py::arg("src_view"), py::arg("offsets"),
        py::call_guard<py::gil_scoped_release>());
  m.def("index_scatter_", [](const Tensor& dst_view, const Tensor& offsets, const Tensor& values, bool accumulate) {
          {
            py::gil_scoped_release nogil;
            index_scatter_(dst_view, offsets, values, accumulate);
          }
          dst_view.bump_version();
        },
        py::arg("dst_view"), py::arg("offsets"), py::arg("values"), py::arg("accumulate"));
  m.def("nonzero", &nonzero, py::arg("x"), py::call_guard<py::gil_scoped_release>());
}

}  // namespace ember
