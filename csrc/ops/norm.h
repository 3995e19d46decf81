// Normalisation layers: batch_norm (per channel over N and the spatial dims) and layer_norm (over
// the trailing dims; group_norm is layer_norm over (N*G, C/G*L) rows plus a per-channel affine).
// Shapes: batch_norm input (N, C, L) with L = prod of the spatial dims; layer_norm (M rows, D).
#pragma once
#include <optional>
#include <tuple>

#include "core/dispatch.h"
#include "core/tensor.h"

namespace ember {

// Returns (y, mean, var) with mean/var float64 of shape (C): the batch statistics when training
// (biased var; running stats are updated in place with the unbiased one), else the running stats.
// relu: y = max(batch_norm(x), 0) in the same pass (nn.Sequential's BatchNorm + ReLU).
std::tuple<Tensor, Tensor, Tensor> batch_norm_forward(const Tensor& x, const std::optional<Tensor>& running_mean,
                                                      const std::optional<Tensor>& running_var,
                                                      const std::optional<Tensor>& weight,
                                                      const std::optional<Tensor>& bias, bool training,
                                                      double momentum, double eps, bool relu = false);
// (dx, dweight, dbias); undefined tensors for outputs not asked for. relu: the forward was fused
// with a ReLU; dy then counts only where the forward's output is positive, which the kernels
// recompute from x, weight, bias and the statistics exactly as the forward did (bias is only read
// then).
std::tuple<Tensor, Tensor, Tensor> batch_norm_backward(const Tensor& dy, const Tensor& x, const std::optional<Tensor>& weight,
                                                       const Tensor& mean, const Tensor& var, bool training, double eps,
                                                       bool need_dx, bool need_dweight, bool need_dbias,
                                                       const std::optional<Tensor>& bias = std::nullopt,
                                                       bool relu = false);

// Returns (y, mean, rstd), mean/rstd float64 of shape (M).
std::tuple<Tensor, Tensor, Tensor> layer_norm_forward(const Tensor& x, const Shape& normalized_shape,
                                                      const std::optional<Tensor>& weight,
                                                      const std::optional<Tensor>& bias, double eps);
std::tuple<Tensor, Tensor, Tensor> layer_norm_backward(const Tensor& dy, const Tensor& x, const Shape& normalized_shape,
                                                       const std::optional<Tensor>& weight, const Tensor& mean,
                                                       const Tensor& rstd, bool need_dx, bool need_dweight,
                                                       bool need_dbias);

// ---- kernels: float tensors share `dtype` and are contiguous; null pointers mean "absent" ----
using batch_norm_fn = void (*)(DType dtype, const char* x, char* y, const char* weight, const char* bias,
                               double* mean, double* var, int64_t N, int64_t C, int64_t L, double eps,
                               bool compute_stats, bool relu);
// relu: dy counts only where the fused forward's output x * a + off (a = weight / std, off = bias -
// mean * a, the forward's own float expression) is positive.
using batch_norm_backward_fn = void (*)(DType dtype, const char* dy, const char* x, const char* weight,
                                        const char* bias, const double* mean, const double* var, double eps,
                                        char* dx, char* dweight, char* dbias, int64_t N, int64_t C, int64_t L,
                                        bool training, bool relu);
using layer_norm_fn = void (*)(DType dtype, const char* x, char* y, const char* weight, const char* bias,
                               double* mean, double* rstd, int64_t M, int64_t D, double eps);
using layer_norm_backward_fn = void (*)(DType dtype, const char* dy, const char* x, const char* weight,
                                        const double* mean, const double* rstd, char* dx, char* dweight,
                                        char* dbias, int64_t M, int64_t D);
DECLARE_DISPATCH(batch_norm_fn, batch_norm_stub);
DECLARE_DISPATCH(batch_norm_backward_fn, batch_norm_backward_stub);
DECLARE_DISPATCH(layer_norm_fn, layer_norm_stub);
DECLARE_DISPATCH(layer_norm_backward_fn, layer_norm_backward_stub);

}  // namespace ember
