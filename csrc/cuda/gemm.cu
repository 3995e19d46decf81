// CUDA GEMM for float32 and float64: C = act(alpha * A @ B + beta * C + bias) over strided
// batches, with every operand read through its own row and column strides (all four transpose
// combinations and sliced views, no copies). Shapes: A is M x K, B is K x N, C is M x N; batch item
// b offsets A, B and C by b * stride_a, b * stride_b, b * stride_c elements (0 broadcasts).
//
// Kernels (the tiles themselves are in cuda/gemm_tile.cuh):
//   tiled      float32 128x128x8 (8x8 per thread) or 64x64x16 (4x4) SIMT tiles, float64 64x64x8
//              (4x4); 16-byte loads where strides and alignment allow, split-K for few tiles
//   tf32       float32 on tensor cores when ember.backends.cuda.matmul.allow_tf32 is set
//   reference  one thread per output, accumulating in double: the oracle of the tests
#include "cuda/gemm_tile.cuh"
#include "ops/linalg.h"

namespace ember {
namespace cuda {
namespace {

// ---- epilogue -----------------------------------------------------------------------------------
// c = act(alpha * acc + beta * c + bias[j]) at C[z * stride_c + i * ldc_row + j * ldc_col]; beta == 0
// never reads C (NaN there does not propagate, as in BLAS) and ReLU lets NaN through (as torch).
template <typename T>
struct GemmEpilogue {
  T* C;
  int64_t stride_c, ldc_row, ldc_col;
  T alpha, beta;
  const T* bias;
  int64_t bias_stride;
  bool relu;

  struct Row {
    T* p;
  };
  struct Col {
    int64_t off;
    T bias;
  };
  __device__ Row row(int64_t z, int64_t i) const { return {C + z * stride_c + i * ldc_row}; }
  __device__ Col col(int64_t, int64_t j) const { return {j * ldc_col, bias ? bias[j * bias_stride] : T(0)}; }
  __device__ void store(const Row& r, const Col& c, T acc) const {
    T* q = r.p + c.off;
    T v = alpha * acc;
    if (beta != T(0)) v += beta * *q;
    if (bias) v += c.bias;
    if (relu) v = v < T(0) ? T(0) : v;
    *q = v;
  }
};

// ---- reference ----------------------------------------------------------------------------------
template <typename T>
__global__ void __launch_bounds__(256) gemm_reference_kernel(const GemmArgs a, const GemmBatch batch) {
  const T* A = static_cast<const T*>(a.A);
  const T* B = static_cast<const T*>(a.B);
  T* C = static_cast<T*>(a.C);
  const T* bias = static_cast<const T*>(a.bias);
  const int64_t mn = a.M * a.N, total = batch.count * mn;
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = idx / mn, rem = idx - b * mn, i = rem / a.N, j = rem - i * a.N;
    double acc = 0.0;
    if (a.alpha != 0.0)
      for (int64_t p = 0; p < a.K; ++p)
        acc += double(A[b * batch.stride_a + i * a.lda_row + p * a.lda_col]) *
               double(B[b * batch.stride_b + p * a.ldb_row + j * a.ldb_col]);
    T& c = C[b * batch.stride_c + i * a.ldc_row + j * a.ldc_col];
    double x = a.alpha * acc + (a.beta == 0.0 ? 0.0 : a.beta * double(c));
    if (bias) x += double(bias[j * a.bias_stride]);
    if (a.activation == GemmActivation::ReLU) x = x < 0.0 ? 0.0 : x;
    c = T(x);
  }
}

// ---- launchers ----------------------------------------------------------------------------------
// A as rows (M) x K; B as rows (N) x K: B(k, j) is element (j, k) of its "rows x K" view.
template <typename T, bool ALONG_K>
StridedOperand<T, ALONG_K> operand_a(const GemmArgs& g, const GemmBatch& batch, int V) {
  return {static_cast<const T*>(g.A), batch.stride_a, g.lda_row, g.lda_col, g.M,
          strided_vec_ok(g.A, batch.count, batch.stride_a, g.lda_row, g.lda_col, ALONG_K, V)};
}

template <typename T, bool ALONG_K>
StridedOperand<T, ALONG_K> operand_b(const GemmArgs& g, const GemmBatch& batch, int V) {
  return {static_cast<const T*>(g.B), batch.stride_b, g.ldb_col, g.ldb_row, g.N,
          strided_vec_ok(g.B, batch.count, batch.stride_b, g.ldb_col, g.ldb_row, ALONG_K, V)};
}

template <typename T, bool A_ALONG_K, bool B_ALONG_K>
void launch_layout(const GemmArgs& g, const GemmBatch& batch, int64_t K, const GemmEpilogue<T>& epi, bool tf32) {
  constexpr int V = 16 / int(sizeof(T));
  const auto a = operand_a<T, A_ALONG_K>(g, batch, V);
  const auto b = operand_b<T, B_ALONG_K>(g, batch, V);
  if constexpr (sizeof(T) == 4) {
    if (tf32) return launch_tiled_gemm<Tf32Tile, true>(a, b, epi, g.M, g.N, K, batch.count);
  }
  launch_simt_gemm<T>(a, b, epi, g.M, g.N, K, batch.count);
}

template <typename T>
void gemm_typed(const GemmArgs& g, const GemmBatch& batch) {
  // alpha == 0 or K == 0 leaves beta * C + bias: A and B are not read at all (K = 0, alpha = 0).
  const bool no_product = g.K == 0 || g.alpha == 0.0;
  const int64_t K = no_product ? 0 : g.K;
  const GemmEpilogue<T> epi{static_cast<T*>(g.C), batch.stride_c, g.ldc_row, g.ldc_col,
                            no_product ? T(0) : T(g.alpha), T(g.beta), static_cast<const T*>(g.bias),
                            g.bias_stride, g.activation == GemmActivation::ReLU};
  const bool tf32 = sizeof(T) == 4 && matmul_allow_tf32();
  const bool a_k = strided_along_k(g.lda_row, g.lda_col, g.M, g.K);
  const bool b_k = strided_along_k(g.ldb_col, g.ldb_row, g.N, g.K);
  if (a_k && b_k) launch_layout<T, true, true>(g, batch, K, epi, tf32);
  else if (a_k) launch_layout<T, true, false>(g, batch, K, epi, tf32);
  else if (b_k) launch_layout<T, false, true>(g, batch, K, epi, tf32);
  else launch_layout<T, false, false>(g, batch, K, epi, tf32);
}

void check_gemm(DType dtype, const GemmArgs& g, const GemmBatch& batch, const char* name) {
  EMBER_CHECK(dtype == DType::Float32 || dtype == DType::Float64, TypeError, name, ": unsupported dtype ",
              dtype_name(dtype), " (expected float32 or float64)");
  EMBER_CHECK(g.M >= 0 && g.N >= 0 && g.K >= 0 && batch.count >= 0, ValueError, name, ": negative size M=", g.M,
              " N=", g.N, " K=", g.K, " batch=", batch.count);
}

void gemm_cuda(DType dtype, const GemmArgs& g, const GemmBatch& batch) {
  check_gemm(dtype, g, batch, "gemm");
  if (g.M == 0 || g.N == 0 || batch.count == 0) return;
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "gemm", [&] { gemm_typed<scalar_t>(g, batch); });
}

void gemm_reference_cuda(DType dtype, const GemmArgs& g, const GemmBatch& batch) {
  check_gemm(dtype, g, batch, "gemm_reference");
  if (g.M == 0 || g.N == 0 || batch.count == 0) return;
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "gemm_reference", [&] {
    gemm_reference_kernel<scalar_t><<<grid_for(batch.count * g.M * g.N), 256>>>(g, batch);
    CUDA_CHECK_LAUNCH();
  });
}

}  // namespace

REGISTER_CUDA_KERNEL(gemm_stub, &gemm_cuda);
REGISTER_CUDA_KERNEL(gemm_reference_stub, &gemm_reference_cuda);

}  // namespace cuda
}  // namespace ember
