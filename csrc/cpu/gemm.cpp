// GEMM entry points (portable, compiled once): argument checks, degenerate cases, a direct
// loop for tiny products (no packing, no threads: the XOR MLP's 4x2x4 matmul takes ~50 ns),
// batching, the float64-accumulating reference, and the call through gemm_packed_stub into
// cpu/kernels/gemm_kernels.cpp. Shapes: C (M x N) = A (M x K) @ B (K x N).
#include "cpu/gemm.h"

#include <vector>

#include "core/parallel.h"
#include "ops/linalg.h"

namespace ember {

DEFINE_DISPATCH(gemm_packed_stub);

namespace {

// Products up to this many multiply-adds take the direct loop. Measured single-threaded: the
// packed path costs ~0.08 us at 2x2x2 and overtakes the latency-bound loop near 5x5x5.
constexpr int64_t kSmallGemmMacs = 128;

void check_args(DType dtype, const GemmArgs& a, const char* name) {
  EMBER_CHECK(dtype == DType::Float32 || dtype == DType::Float64, TypeError, name,
              ": unsupported dtype ", dtype_name(dtype), " (expected float32 or float64)");
  EMBER_CHECK(a.M >= 0 && a.N >= 0 && a.K >= 0, ValueError, name, ": negative size M=", a.M,
              " N=", a.N, " K=", a.K);
  EMBER_CHECK(a.M == 0 || a.N == 0 || a.C != nullptr, ValueError, name, ": C is null");
  EMBER_CHECK(a.M == 0 || a.N == 0 || a.K == 0 || a.alpha == 0.0 ||
                  (a.A != nullptr && a.B != nullptr),
              ValueError, name, ": A or B is null");
}

template <typename T>
inline T apply_epilogue(T x, const GemmArgs& a, int64_t j) {
  if (a.bias) x += static_cast<const T*>(a.bias)[j * a.bias_stride];
  if (a.activation == GemmActivation::ReLU) x = x < T(0) ? T(0) : x;  // NaN passes, as torch
  return x;
}

// C = act(beta * C + bias): what is left when alpha == 0 or K == 0 (A and B are not read).
template <typename T>
void scale_only(const GemmArgs& a) {
  T* C = static_cast<T*>(a.C);
  const T beta = T(a.beta);
  for (int64_t i = 0; i < a.M; ++i)
    for (int64_t j = 0; j < a.N; ++j) {
      T& c = C[i * a.ldc_row + j * a.ldc_col];
      c = apply_epilogue(beta == T(0) ? T(0) : beta * c, a, j);
    }
}

// Direct loop for tiny products; accumulates in T.
template <typename T>
void gemm_small(const GemmArgs& a) {
  const T* A = static_cast<const T*>(a.A);
  const T* B = static_cast<const T*>(a.B);
  T* C = static_cast<T*>(a.C);
  const T alpha = T(a.alpha), beta = T(a.beta);
  for (int64_t i = 0; i < a.M; ++i) {
    for (int64_t j = 0; j < a.N; ++j) {
      T acc = T(0);
      for (int64_t p = 0; p < a.K; ++p)
        acc += A[i * a.lda_row + p * a.lda_col] * B[p * a.ldb_row + j * a.ldb_col];
      T& c = C[i * a.ldc_row + j * a.ldc_col];
      c = apply_epilogue(alpha * acc + (beta == T(0) ? T(0) : beta * c), a, j);
    }
  }
}

template <typename T>
void gemm_reference_typed(const GemmArgs& a) {
  const T* A = static_cast<const T*>(a.A);
  const T* B = static_cast<const T*>(a.B);
  T* C = static_cast<T*>(a.C);
  for (int64_t i = 0; i < a.M; ++i) {
    for (int64_t j = 0; j < a.N; ++j) {
      double acc = 0.0;
      if (a.alpha != 0.0)
        for (int64_t p = 0; p < a.K; ++p)
          acc += double(A[i * a.lda_row + p * a.lda_col]) * double(B[p * a.ldb_row + j * a.ldb_col]);
      T& c = C[i * a.ldc_row + j * a.ldc_col];
      double x = a.alpha * acc + (a.beta == 0.0 ? 0.0 : a.beta * double(c));
      if (a.bias) x += double(static_cast<const T*>(a.bias)[j * a.bias_stride]);
      if (a.activation == GemmActivation::ReLU) x = x < 0.0 ? 0.0 : x;
      c = T(x);
    }
  }
}

// Matrix b of a strided batch (element strides, `size` bytes per element).
GemmArgs batch_item(const GemmArgs& a, int64_t b, int64_t stride_a, int64_t stride_b, int64_t stride_c,
                    int64_t size) {
  GemmArgs r = a;
  if (r.A) r.A = static_cast<const char*>(r.A) + b * stride_a * size;
  if (r.B) r.B = static_cast<const char*>(r.B) + b * stride_b * size;
  r.C = static_cast<char*>(r.C) + b * stride_c * size;
  return r;
}

template <typename T>
void gemm_typed(const GemmArgs& a, int num_threads) {
  if (a.M == 0 || a.N == 0) return;
  if (a.K == 0 || a.alpha == 0.0) return scale_only<T>(a);
  if (a.M * a.N * a.K <= kSmallGemmMacs) return gemm_small<T>(a);
  // The kernels get a contiguous bias: they vectorise only unit-stride or broadcast biases.
  std::vector<T> bias_copy;
  const void* bias = a.bias;
  if (bias && a.bias_stride != 1) {
    bias_copy.resize(size_t(a.N));
    for (int64_t j = 0; j < a.N; ++j) bias_copy[size_t(j)] = static_cast<const T*>(a.bias)[j * a.bias_stride];
    bias = bias_copy.data();
  }
  const GemmKernelArgs k{a.M, a.N, a.K, a.A, a.lda_row, a.lda_col, a.B, a.ldb_row, a.ldb_col,
                         a.C, a.ldc_row, a.ldc_col, a.alpha, a.beta, bias, 0, 1,
                         a.activation, num_threads};
  gemm_packed_stub.get(kCPU)(dtype_of<T>::value, k);
}

}  // namespace

void gemm(DType dtype, const GemmArgs& args) {
  check_args(dtype, args, "gemm");
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "gemm", [&] { gemm_typed<scalar_t>(args, get_num_threads()); });
}

void gemm_batched(DType dtype, const GemmArgs& per_matrix, int64_t batch, int64_t strideA,
                  int64_t strideB, int64_t strideC) {
  check_args(dtype, per_matrix, "gemm_batched");
  EMBER_CHECK(batch >= 0, ValueError, "gemm_batched: negative batch ", batch);
  if (batch == 0 || per_matrix.M == 0 || per_matrix.N == 0) return;
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "gemm_batched", [&] {
    const int64_t size = itemsize(dtype);
    auto one = [&](int64_t b, int threads) {
      gemm_typed<scalar_t>(batch_item(per_matrix, b, strideA, strideB, strideC, size), threads);
    };
    const int threads = get_num_threads();
    const double macs = double(per_matrix.M) * double(per_matrix.N) * double(per_matrix.K);
    // Whole products per thread (no fork/join per product) when the batch divides evenly or is
    // long enough to balance; otherwise, or for huge products, threads inside each product.
    const bool by_product = threads > 1 && strideC != 0 &&
                            (batch % threads == 0 || batch >= 4 * threads) && macs < 5e7;
    if (!by_product) {
      for (int64_t b = 0; b < batch; ++b) one(b, threads);
    } else {
      parallel_for(0, batch, 1, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) one(b, 1);
      });
    }
  });
}

void gemm_reference(DType dtype, const GemmArgs& args) {
  check_args(dtype, args, "gemm_reference");
  if (args.M == 0 || args.N == 0) return;
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "gemm_reference", [&] { gemm_reference_typed<scalar_t>(args); });
}

namespace {

// The CPU entries of the device-dispatched GEMM (ops/linalg.h).
void gemm_kernel(DType dtype, const GemmArgs& args, const GemmBatch& batch) {
  gemm_batched(dtype, args, batch.count, batch.stride_a, batch.stride_b, batch.stride_c);
}

void gemm_reference_kernel(DType dtype, const GemmArgs& args, const GemmBatch& batch) {
  const int64_t size = itemsize(dtype);
  for (int64_t b = 0; b < batch.count; ++b)
    gemm_reference(dtype, batch_item(args, b, batch.stride_a, batch.stride_b, batch.stride_c, size));
}

}  // namespace

REGISTER_CPU_KERNEL(gemm_stub, &gemm_kernel);
REGISTER_CPU_KERNEL(gemm_reference_stub, &gemm_reference_kernel);

}  // namespace ember
