// Binds the fused optimizer steps: one _C call per param group per step, e.g.
// _C.adam_step(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, lr, ...).
// Lists hold TensorImpl; empty lists stand for unused state. The GIL is released while updating.
#include "bindings/convert.h"
#include "bindings/registry.h"
#include "ops/optim.h"

namespace ember {
namespace {
using TList = std::vector<Tensor>;

void run(OptimAlgo algo, const OptimHyper& h, const TList& params, const TList& grads,
         std::vector<TList> states, const std::vector<double>& steps, const std::vector<bool>& first = {},
         const std::vector<std::vector<double>>& coefs = {}) {
  py::gil_scoped_release nogil;
  optim_step(algo, h, params, grads, states, steps, first, coefs);
}
}  // namespace

EMBER_BINDINGS(optim) {
  m.def("sgd_step", [](const TList& params, const TList& grads, const TList& momentum_buffers,
                       const std::vector<bool>& first, double lr, double momentum, double dampening,
                       double weight_decay, bool nesterov, bool maximize) {
          OptimHyper h;
          h.lr = lr; h.momentum = momentum; h.dampening = dampening; h.weight_decay = weight_decay;
          h.nesterov = nesterov; h.maximize = maximize;
          run(OptimAlgo::SGD, h, params, grads, {momentum_buffers}, {}, first);
        },
        py::arg("params"), py::arg("grads"), py::arg("momentum_buffers"), py::arg("first"), py::arg("lr"),
        py::arg("momentum"), py::arg("dampening"), py::arg("weight_decay"), py::arg("nesterov"),
        py::arg("maximize"));

  m.def("adam_step", [](const TList& params, const TList& grads, const TList& exp_avgs, const TList& exp_avg_sqs,
                        const TList& max_exp_avg_sqs, const std::vector<double>& steps, double lr, double beta1,
                        double beta2, double eps, double weight_decay, bool amsgrad, bool maximize,
                        bool decoupled) {
          OptimHyper h;
          h.lr = lr; h.beta1 = beta1; h.beta2 = beta2; h.eps = eps; h.weight_decay = weight_decay;
          h.amsgrad = amsgrad; h.maximize = maximize; h.decoupled = decoupled;
          run(OptimAlgo::Adam, h, params, grads, {exp_avgs, exp_avg_sqs, max_exp_avg_sqs}, steps);
        },
        py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"),
        py::arg("max_exp_avg_sqs"), py::arg("steps"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"),
        py::arg("eps"), py::arg("weight_decay"), py::arg("amsgrad"), py::arg("maximize"),
        py::arg("decoupled"));

  m.def("rmsprop_step", [](const TList& params, const TList& grads, const TList& square_avgs,
                           const TList& momentum_buffers, const TList& grad_avgs, double lr, double alpha,
                           double eps, double weight_decay, double momentum, bool centered, bool maximize) {
          OptimHyper h;
          h.lr = lr; h.alpha = alpha; h.eps = eps; h.weight_decay = weight_decay; h.momentum = momentum;
          h.centered = centered; h.maximize = maximize;
          run(OptimAlgo::RMSprop, h, params, grads, {square_avgs, momentum_buffers, grad_avgs}, {});
        },
        py::arg("params"), py::arg("grads"), py::arg("square_avgs"), py::arg("momentum_buffers"),
        py::arg("grad_avgs"), py::arg("lr"), py::arg("alpha"), py::arg("eps"), py::arg("weight_decay"),
        py::arg("momentum"), py::arg("centered"), py::arg("maximize"));

  m.def("adagrad_step", [](const TList& params, const TList& grads, const TList& sums,
                           const std::vector<double>& steps, double lr, double lr_decay, double weight_decay,
                           double eps, bool maximize) {
          OptimHyper h;
          h.lr = lr; h.alpha = lr_decay; h.weight_decay = weight_decay; h.eps = eps; h.maximize = maximize;
          run(OptimAlgo::Adagrad, h, params, grads, {sums}, steps);
        },
        py::arg("params"), py::arg("grads"), py::arg("sums"), py::arg("steps"), py::arg("lr"),
        py::arg("lr_decay"), py::arg("weight_decay"), py::arg("eps"), py::arg("maximize"));

  m.def("adadelta_step", [](const TList& params, const TList& grads, const TList& square_avgs,
                            const TList& acc_deltas, double lr, double rho, double eps, double weight_decay,
                            bool maximize) {
          OptimHyper h;
          h.lr = lr; h.rho = rho; h.eps = eps; h.weight_decay = weight_decay; h.maximize = maximize;
          run(OptimAlgo::Adadelta, h, params, grads, {square_avgs, acc_deltas}, {});
        },
        py::arg("params"), py::arg("grads"), py::arg("square_avgs"), py::arg("acc_deltas"), py::arg("lr"),
        py::arg("rho"), py::arg("eps"), py::arg("weight_decay"), py::arg("maximize"));

  m.def("rprop_step", [](const TList& params, const TList& grads, const TList& prevs, const TList& step_sizes,
                         double etaminus, double etaplus, double step_size_min, double step_size_max,
                         bool maximize) {
          OptimHyper h;
          h.etaminus = etaminus; h.etaplus = etaplus; h.step_min = step_size_min; h.step_max = step_size_max;
          h.maximize = maximize;
          run(OptimAlgo::Rprop, h, params, grads, {prevs, step_sizes}, {});
        },
        py::arg("params"), py::arg("grads"), py::arg("prevs"), py::arg("step_sizes"), py::arg("etaminus"),
        py::arg("etaplus"), py::arg("step_size_min"), py::arg("step_size_max"), py::arg("maximize"));

  m.def("nadam_step", [](const TList& params, const TList& grads, const TList& exp_avgs,
                         const TList& exp_avg_sqs, const std::vector<std::vector<double>>& coefs, double lr,
                         double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                         bool maximize) {
          OptimHyper h;
          h.lr = lr; h.beta1 = beta1; h.beta2 = beta2; h.eps = eps; h.weight_decay = weight_decay;
          h.decoupled = decoupled; h.maximize = maximize;
          run(OptimAlgo::NAdam, h, params, grads, {exp_avgs, exp_avg_sqs}, {}, {}, coefs);
        },
        py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"), py::arg("coefs"),
        py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
        py::arg("decoupled"), py::arg("maximize"));
}

}  // namespace ember
