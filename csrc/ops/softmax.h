// softmax / log_softmax over one dim, and the fused softmax + cross-entropy (and nll_loss).
// A tensor is viewed as (outer, D, inner) around the softmax dim. For the losses
// N = batch, C = classes (dim 1), S = product of the trailing spatial dims.
#pragma once
#include <cstdint>
#include <optional>
#include <tuple>

#include "core/dispatch.h"
#include "core/tensor.h"

namespace ember {

enum class Reduction : int { None = 0, Mean = 1, Sum = 2 };

Tensor softmax(const Tensor& x, int64_t dim, bool log);
// softmax: dx = y * (dy - sum(dy * y)); log_softmax: dx = dy - exp(y) * sum(dy).
Tensor softmax_backward(const Tensor& dy, const Tensor& y, int64_t dim, bool log);

// cross_entropy (log_probs_input = false) and nll_loss (true). `target` is int64 class indices
// (N, d...) or probabilities with the input's shape. Returns (loss, per-position logsumexp,
// total weight used by the mean reduction).
std::tuple<Tensor, Tensor, double> cross_entropy_forward(const Tensor& input, const Tensor& target,
                                                         const std::optional<Tensor>& weight, Reduction reduction,
                                                         int64_t ignore_index, double label_smoothing,
                                                         bool log_probs_input);
Tensor cross_entropy_backward(const Tensor& grad, const Tensor& input, const Tensor& target,
                              const std::optional<Tensor>& weight, const Tensor& lse, Reduction reduction,
                              int64_t ignore_index, double label_smoothing, bool log_probs_input,
                              double total_weight);

// ---- kernels ----
using softmax_fn = void (*)(DType dtype, char* out, const char* x, int64_t outer, int64_t D, int64_t inner,
                            bool log);
using softmax_backward_fn = void (*)(DType dtype, char* dx, const char* dy, const char* y, int64_t outer,
                                     int64_t D, int64_t inner, bool log);

// Everything the fused loss kernels see; all float tensors share `dtype` and are contiguous.
struct XentArgs {
  int64_t N = 0, C = 0, S = 1;
  const char* input = nullptr;        // (N, C, S) logits or log-probabilities
  const int64_t* target_idx = nullptr;  // (N, S) class indices, or null
  const char* target_prob = nullptr;  // (N, C, S) probabilities, or null
  const char* weight = nullptr;       // (C) or null
  double weight_sum = 0;              // sum of weight (C when there is none)
  int64_t ignore_index = -100;
  double label_smoothing = 0;
  bool log_probs_input = false;
  // forward outputs, (N, S) each
  char* loss = nullptr;
  // log(sum(exp(x - max))) per position, float64 whatever the input dtype; the backward recomputes
  // the max. Storing logsumexp itself would round it to the spacing of the max (float32: 0.001 at
  // 1e4, 1 at 1e7), and p = exp(x - lse) would inherit that error.
  char* lse = nullptr;
  char* denom = nullptr;  // weight of the position's target (0 when ignored), 1 for prob targets
  // CUDA only (the CPU op checks targets before its kernels run): a device int64, INT64_MAX on
  // entry, that the kernels lower to the first position whose class target is out of range.
  int64_t* bad_target = nullptr;
  // backward: dinput = grad[pos * grad_stride] * scale * d(loss_pos)/d(input)
  const char* lse_in = nullptr;
  const char* grad = nullptr;
  int64_t grad_stride = 0;
  double scale = 1;
  char* dinput = nullptr;
};
using xent_fn = void (*)(DType dtype, const XentArgs& args);

DECLARE_DISPATCH(softmax_fn, softmax_stub);
DECLARE_DISPATCH(softmax_backward_fn, softmax_backward_stub);
DECLARE_DISPATCH(xent_fn, xent_forward_stub);
DECLARE_DISPATCH(xent_fn, xent_backward_stub);

}  // namespace ember
