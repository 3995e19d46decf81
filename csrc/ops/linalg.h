// Matrix products on tensors: matmul over (broadcast) batches, addmm with the fused epilogue
// (bias + activation), and linear. The GEMM kernels themselves live in cpu/gemm.{h,cpp}.
#pragma once
#include "core/tensor.h"
#include "cpu/gemm.h"

namespace ember {

// a: (..., M, K), b: (..., K, N), both at least 2-D; batch dims broadcast. Result (..., M, N).
Tensor matmul_nd(const Tensor& a, const Tensor& b, const char* name);

// out = act(beta * c + alpha * (a @ b) + bias): a (M, K), b (K, N), c broadcastable to (M, N)
// (may be null), bias (N) (may be null). `out` (M, N), when given, is written in place.
Tensor addmm(const Tensor* c, const Tensor& a, const Tensor& b, double beta, double alpha,
             const Tensor* bias, GemmActivation act, const Tensor* out);

// y = act(x @ w^T + bias): x (..., in), w (out, in), bias (out) or null. One GEMM over all
// leading dims of x when they can be viewed as one (no copy), with the epilogue fused.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor* bias, GemmActivation act);

// Gradients of y = act(x @ w^T + bias) from dy, in one call: {dx, dw, db}, each left undefined
// unless asked for. With act = ReLU, `y` (the forward output) masks dy first.
//   dx = dY W   (..., in);   dW = dY^T X   (out, in);   db = sum of the rows of dY   (out)
struct LinearGrads {
  Tensor dx, dw, db;
};
LinearGrads linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor* y, GemmActivation act,
                            bool need_dx, bool need_dw, bool need_db);

}  // namespace ember
