// Binds the nn kernels used by ember.nn.functional: softmax, fused cross-entropy / nll_loss,
// mse_loss, batch_norm, layer_norm, 2-D pooling and the fused activations.
#include <pybind11/stl.h>

#include "bindings/convert.h"
#include "bindings/registry.h"
#include "ops/activation.h"
#include "ops/loss.h"
#include "ops/norm.h"
#include "ops/pool.h"
#include "ops/softmax.h"

namespace ember {

namespace {
using Pair = std::pair<int64_t, int64_t>;
using OptT = std::optional<Tensor>;
py::object opt(const Tensor& t) { return t.defined() ? py::cast(t) : py::none(); }
Reduction to_reduction(int r) {
  EMBER_CHECK(r >= 0 && r <= 2, ValueError, "invalid reduction code ", r);
  return Reduction(r);
}
}  // namespace

EMBER_BINDINGS(nn) {
  m.def("softmax", [](const Tensor& x, int64_t dim, bool log) {
    py::gil_scoped_release nogil;
    return softmax(x, dim, log);
  }, py::arg("x"), py::arg("dim"), py::arg("log"));
  m.def("softmax_backward", [](const Tensor& dy, const Tensor& y, int64_t dim, bool log) {
    py::gil_scoped_release nogil;
    return softmax_backward(dy, y, dim, log);
  }, py::arg("dy"), py::arg("y"), py::arg("dim"), py::arg("log"));

  m.def("cross_entropy", [](const Tensor& input, const Tensor& target, const OptT& weight, int reduction,
                            int64_t ignore_index, double label_smoothing, bool log_probs_input) {
    py::gil_scoped_release nogil;
    return cross_entropy_forward(input, target, weight, to_reduction(reduction), ignore_index, label_smoothing,
                                 log_probs_input);
  });
  m.def("cross_entropy_backward", [](const Tensor& grad, const Tensor& input, const Tensor& target, const OptT& weight,
                                     const Tensor& lse, int reduction, int64_t ignore_index, double label_smoothing,
                                     bool log_probs_input, double total_weight) {
    py::gil_scoped_release nogil;
    return cross_entropy_backward(grad, input, target, weight, lse, to_reduction(reduction), ignore_index,
                                  label_smoothing, log_probs_input, total_weight);
  });

  m.def("mse_loss", [](const Tensor& x, const Tensor& y, int reduction) {
    const Reduction r = to_reduction(reduction);
    py::gil_scoped_release nogil;
    return mse_loss(x, y, r);
  });
  m.def("mse_loss_backward", [](const Tensor& grad, const Tensor& x, const Tensor& y, int reduction) {
    const Reduction r = to_reduction(reduction);
    py::gil_scoped_release nogil;
    return mse_loss_backward(grad, x, y, r);
  });

  m.def(
      "batch_norm",
      [](const Tensor& x, const OptT& rm, const OptT& rv, const OptT& w, const OptT& b, bool training,
         double momentum, double eps, bool relu) {
        py::gil_scoped_release nogil;
        return batch_norm_forward(x, rm, rv, w, b, training, momentum, eps, relu);
      },
      py::arg("x"), py::arg("running_mean"), py::arg("running_var"), py::arg("weight"), py::arg("bias"),
      py::arg("training"), py::arg("momentum"), py::arg("eps"), py::arg("relu") = false);
  m.def(
      "batch_norm_backward",
      [](const Tensor& dy, const Tensor& x, const OptT& w, const Tensor& mean, const Tensor& var, bool training,
         double eps, bool ndx, bool ndw, bool ndb, const OptT& bias, bool relu) {
        std::tuple<Tensor, Tensor, Tensor> r;
        {
          py::gil_scoped_release nogil;
          r = batch_norm_backward(dy, x, w, mean, var, training, eps, ndx, ndw, ndb, bias, relu);
        }
        return py::make_tuple(opt(std::get<0>(r)), opt(std::get<1>(r)), opt(std::get<2>(r)));
      },
      py::arg("dy"), py::arg("x"), py::arg("weight"), py::arg("mean"), py::arg("var"), py::arg("training"),
      py::arg("eps"), py::arg("need_dx"), py::arg("need_dweight"), py::arg("need_dbias"),
      py::arg("bias") = py::none(), py::arg("relu") = false);
  m.def("layer_norm", [](const Tensor& x, const Shape& ns, const OptT& w, const OptT& b, double eps) {
    py::gil_scoped_release nogil;
    return layer_norm_forward(x, ns, w, b, eps);
  });
  m.def("layer_norm_backward", [](const Tensor& dy, const Tensor& x, const Shape& ns, const OptT& w,
                                  const Tensor& mean, const Tensor& rstd, bool ndx, bool ndw, bool ndb) {
    std::tuple<Tensor, Tensor, Tensor> r;
    {
      py::gil_scoped_release nogil;
      r = layer_norm_backward(dy, x, ns, w, mean, rstd, ndx, ndw, ndb);
    }
    return py::make_tuple(opt(std::get<0>(r)), opt(std::get<1>(r)), opt(std::get<2>(r)));
  });

  m.def("pool2d", [](int kind, const Tensor& x, Pair k, Pair s, Pair p, Pair d, bool ceil_mode,
                     bool count_include_pad, int64_t divisor_override, bool need_indices) {
    std::pair<Tensor, Tensor> r;
    {
      py::gil_scoped_release nogil;
      EMBER_CHECK(kind >= 0 && kind <= 3, ValueError, "invalid pool kind ", kind);
      r = pool2d_forward(PoolKind(kind), x, k, s, p, d, ceil_mode, count_include_pad, divisor_override,
                         need_indices);
    }
    return py::make_tuple(r.first, opt(r.second));
  });
  m.def("pool2d_backward", [](int kind, const Tensor& dy, const Tensor& x, const OptT& indices, Pair k, Pair s,
                              Pair p, Pair d, bool ceil_mode, bool count_include_pad, int64_t divisor_override) {
    py::gil_scoped_release nogil;
    EMBER_CHECK(kind >= 0 && kind <= 3, ValueError, "invalid pool kind ", kind);
    return pool2d_backward(PoolKind(kind), dy, x, indices ? *indices : Tensor(), k, s, p, d, ceil_mode,
                           count_include_pad, divisor_override);
  });

  m.def("activation", [](int op, const Tensor& x, double p0, double p1, double p2, const OptT& out) {
    py::gil_scoped_release nogil;
    return activation(ActOp(op), x, p0, p1, p2, out ? &*out : nullptr);
  }, py::arg("op"), py::arg("x"), py::arg("p0") = 0.0, py::arg("p1") = 0.0, py::arg("p2") = 0.0,
     py::arg("out") = py::none());
  m.def("activation_backward", [](int op, const Tensor& g, const Tensor& x, double p0, double p1, double p2) {
    py::gil_scoped_release nogil;
    return activation_backward(ActOp(op), g, x, p0, p1, p2);
  }, py::arg("op"), py::arg("grad"), py::arg("x"), py::arg("p0") = 0.0, py::arg("p1") = 0.0, py::arg("p2") = 0.0);
}

}  // namespace ember
