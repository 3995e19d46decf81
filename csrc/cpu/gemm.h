// CPU GEMM: C = act(alpha * A @ B + beta * C + bias) on raw pointers with arbitrary element
// strides, for float32 and float64. Shapes: A is M x K, B is K x N, C is M x N.
// gemm() picks a small-matrix loop or the packed GotoBLAS/BLIS kernels of
// cpu/kernels/gemm_kernels.cpp (one variant per instruction set); gemm_reference() is the
// plain-loop oracle the tests and benchmarks compare against.
#pragma once
#include <cstdint>

#include "core/dispatch.h"
#include "core/dtype.h"

namespace ember {

// Applied last, after alpha, beta and bias.
enum class GemmActivation : int8_t { None = 0, ReLU = 1 };

// Element (i, j) of A is A[i * lda_row + j * lda_col], and so on: row and column strides in
// ELEMENTS (any sign-free values, including transposed and padded layouts), so all four
// transpose combinations and strided views need no copy. beta == 0 ignores C's old contents
// (NaN and Inf there do not propagate), as BLAS does. bias, when given, has N elements spaced
// bias_stride apart and is added to every row of C (Linear's "+ b"); it has the dtype of C.
struct GemmArgs {
  int64_t M = 0, N = 0, K = 0;
  const void* A = nullptr;
  int64_t lda_row = 0, lda_col = 1;
  const void* B = nullptr;
  int64_t ldb_row = 0, ldb_col = 1;
  void* C = nullptr;
  int64_t ldc_row = 0, ldc_col = 1;
  double alpha = 1.0, beta = 0.0;
  const void* bias = nullptr;
  int64_t bias_stride = 1;
  GemmActivation activation = GemmActivation::None;
};

// dtype: Float32 or Float64 (others throw TypeError). Threads: ember::get_num_threads().
void gemm(DType dtype, const GemmArgs& args);

// `batch` independent products; matrix b uses A + b*strideA, B + b*strideB, C + b*strideC
// (element strides; 0 broadcasts an operand, e.g. one weight matrix for every image) and the
// same bias for every matrix.
void gemm_batched(DType dtype, const GemmArgs& per_matrix, int64_t batch, int64_t strideA,
                  int64_t strideB, int64_t strideC);

// Triple loop, accumulating in double (also for float32); single-threaded. The oracle.
void gemm_reference(DType dtype, const GemmArgs& args);

// ---- kernel interface (gemm.cpp <-> cpu/kernels/gemm_kernels.cpp) ------------------------
// gemm.cpp normalises the problem before calling the packed kernels: M, N, K > 0, alpha != 0,
// and the bias generalised to bias[i * bias_row + j * bias_col] so that the problem can be
// transposed (C^T = B^T A^T) to give the kernels a unit column stride in C or a wide N.
struct GemmKernelArgs {
  int64_t M, N, K;
  const void* A;
  int64_t lda_row, lda_col;
  const void* B;
  int64_t ldb_row, ldb_col;
  void* C;
  int64_t ldc_row, ldc_col;
  double alpha, beta;
  const void* bias;
  int64_t bias_row, bias_col;
  GemmActivation activation;
  int num_threads;  // upper bound; the kernel uses fewer when the work is small
};
using gemm_packed_fn = void (*)(DType dtype, const GemmKernelArgs& args);
DECLARE_DISPATCH(gemm_packed_fn, gemm_packed_stub);

}  // namespace ember
