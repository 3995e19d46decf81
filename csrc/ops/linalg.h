// Matrix products on tensors: matmul over (broadcast) batches, addmm with the fused epilogue
// (bias + activation), and linear. The GEMM kernels live in cpu/gemm.{h,cpp} and cuda/gemm.cu and
// are reached through gemm_stub (by device); every operand is read through its strides.
#pragma once
#include "core/dispatch.h"
#include "core/tensor.h"
#include "cpu/gemm.h"

namespace ember {

// a: (..., M, K), b: (..., K, N), both at least 2-D; batch dims broadcast. Result (..., M, N).
// reference = true runs the plain-loop kernels (double accumulation) instead: the oracle.
Tensor matmul_nd(const Tensor& a, const Tensor& b, const char* name, bool reference = false);

// out = act(beta * c + alpha * (a @ b) + bias): a (M, K), b (K, N), c broadcastable to (M, N)
// (may be null), bias (N) (may be null). `out` (M, N), when given, is written in place.
Tensor addmm(const Tensor* c, const Tensor& a, const Tensor& b, double beta, double alpha,
             const Tensor* bias, GemmActivation act, const Tensor* out, bool reference = false);

// The activations linear() applies to its output. ReLU runs in the GEMM's epilogue; tanh and
// sigmoid run in place over the fresh output right after the GEMM (the same elementwise kernels
// as ember.tanh / ember.sigmoid, so the values are bitwise those of the unfused pair).
enum class LinearActivation : int8_t { None = 0, ReLU = 1, Tanh = 2, Sigmoid = 3 };
constexpr int kLinearActivations = 4;

// y = act(x @ w^T + bias): x (..., in), w (out, in), bias (out) or null. One GEMM over all
// leading dims of x when they can be viewed as one (no copy), with the epilogue fused.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor* bias, LinearActivation act);

// Gradients of y = act(x @ w^T + bias) from dy, in one call: {dx, dw, db}, each left undefined
// unless asked for. With an activation, dy first goes through its derivative, read from `y` (the
// forward output): dy * (y > 0), dy * (1 - y^2) or dy * y * (1 - y).
//   dx = dY W   (..., in);   dW = dY^T X   (out, in);   db = sum of the rows of dY   (out)
struct LinearGrads {
  Tensor dx, dw, db;
};
LinearGrads linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor* y, LinearActivation act,
                            bool need_dx, bool need_dw, bool need_db);

// torch.backends.cuda.matmul.allow_tf32: float32 products on CUDA may use TF32 tensor cores
// (10-bit mantissa inputs, float32 accumulation). Off by default, as in torch; the CPU ignores it.
void set_matmul_allow_tf32(bool allow);
bool matmul_allow_tf32();

// ---- kernels (cpu/gemm.cpp, cuda/gemm.cu) ------------------------------------------------------
// `count` products with the same GemmArgs; product b reads A + b*stride_a, B + b*stride_b and
// writes C + b*stride_c (element strides; 0 broadcasts an operand). The bias is shared.
struct GemmBatch {
  int64_t count = 1;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;
};
using gemm_fn = void (*)(DType dtype, const GemmArgs& per_matrix, const GemmBatch& batch);
DECLARE_DISPATCH(gemm_fn, gemm_stub);            // the fast kernels
DECLARE_DISPATCH(gemm_fn, gemm_reference_stub);  // one loop per output, accumulating in double

// linear_backward over many rows and few features (cpu/kernels/linear_backward.cpp): blocks of
// rows, each forming dY * act'(y) in cache and multiplying it into dX and a per-chunk dW at once.
// dy and y (when act != None): M x N contiguous; x: M x K, rows x_row apart, unit column stride;
// w: N x K with strides (w_row, w_col); dx (M x K), dw (N x K), db (N): contiguous, or null when
// not wanted. CPU only; linear_backward takes it when linear_backward_by_rows(M, N, K) holds.
struct LinearBackwardRows {
  int64_t M, N, K;
  const void* dy;
  const void* y;
  LinearActivation act;
  const void* x;
  int64_t x_row;
  const void* w;
  int64_t w_row, w_col;
  void* dx;
  void* dw;
  void* db;
};
using linear_backward_rows_fn = void (*)(DType dtype, const LinearBackwardRows& args);
DECLARE_DISPATCH(linear_backward_rows_fn, linear_backward_rows_stub);

}  // namespace ember
