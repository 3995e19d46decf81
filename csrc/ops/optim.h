// Fused optimizer steps: one call updates every parameter of a param group (and its state
// buffers) in place, following torch.optim's documented update rules and operation order.
#pragma once
#include <cstdint>
#include <vector>

#include "core/dispatch.h"
#include "core/tensor.h"

namespace ember {

enum class OptimAlgo : int { SGD, Adam, RMSprop, Adagrad, Adadelta, Rprop, NAdam };

// Group-wide hyperparameters; each algorithm reads the fields it documents below.
struct OptimHyper {
  double lr = 0, weight_decay = 0, momentum = 0, dampening = 0;
  double beta1 = 0, beta2 = 0, eps = 0, alpha = 0, rho = 0;
  double etaminus = 0, etaplus = 0, step_min = 0, step_max = 0;
  bool nesterov = false, maximize = false, amsgrad = false, decoupled = false, centered = false;
};

// One parameter as the kernel sees it: contiguous buffers of `numel` elements, the per-tensor
// coefficients the op layer derived from its step count, and whether its state is new.
struct OptimTensorArgs {
  void* param;
  const void* grad;
  void* state[3];
  int64_t numel;
  double coef[3];
  bool first;
};

// A slice [begin, end) of tensor `tensor`; chunks spread small and large tensors over threads.
struct OptimChunk {
  int64_t tensor, begin, end;
};

using optim_step_fn = void (*)(OptimAlgo algo, DType dtype, const OptimHyper& hyper,
                               const OptimTensorArgs* tensors, const OptimChunk* chunks, int64_t nchunks);
DECLARE_DISPATCH(optim_step_fn, optim_step_stub);

// params, grads and every state list have equal lengths (state lists may be empty where the
// algorithm/option does not use them); all tensors contiguous, float32/float64, same dtype and
// shape as their param. `steps` are the step counts after this step's increment.
//   SGD      state0 = momentum_buffer;  first[i]: buffer is initialised with the gradient
//   Adam     state0 = exp_avg, state1 = exp_avg_sq, state2 = max_exp_avg_sq (amsgrad);
//            decoupled = AdamW
//   RMSprop  state0 = square_avg, state1 = momentum_buffer, state2 = grad_avg (centered)
//   Adagrad  state0 = sum;          lr_decay in hyper.alpha
//   Adadelta state0 = square_avg, state1 = acc_delta
//   Rprop    state0 = prev, state1 = step_size
//   NAdam    state0 = exp_avg, state1 = exp_avg_sq; coefs[i] = {grad coef, exp_avg coef, bias_correction2}
void optim_step(OptimAlgo algo, const OptimHyper& hyper, const std::vector<Tensor>& params,
                const std::vector<Tensor>& grads, const std::vector<std::vector<Tensor>>& states,
                const std::vector<double>& steps, const std::vector<bool>& first,
                const std::vector<std::vector<double>>& coefs);

}  // namespace ember
