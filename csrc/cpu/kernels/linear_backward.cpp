// Backward of y = act(x @ w^T + b) for tall inputs (many rows, few features: a coordinate MLP's
// 16384 x 64 layers), one pass over the rows. The general path (ops/linalg.cpp) writes dY * act'(y)
// to memory once and reads it back three times (dX = G W, dW = G^T X, db = column sums of G); the
// weight gradient's product then splits its 16384-long K between threads. Here each thread takes
// whole blocks of rows: it forms the block's G in an L2-resident buffer, adds its column sums,
// multiplies it into the block's dX rows and into the chunk's own dW partial, then goes on, so dy,
// y and x are read once and dX written once. The partials are added in chunk order at the end (the
// same bits for the same thread count). Compiled once per instruction set; float32 and float64.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/parallel.h"
#include "core/workspace.h"
#include "cpu/gemm.h"
#include "ops/linalg.h"

namespace ember {
namespace CPU_CAPABILITY {
namespace {

thread_local Workspace tl_block;  // the calling thread's G block

// G = dY * act'(y) over `rows` contiguous rows of n, its column sums added to sums[0, n). The
// derivatives are those of the elementwise backward ops (BinaryOp::ReluBackward and so on).
template <typename T, typename F>
void grad_rows(const T* dy, const T* y, T* g, T* sums, int64_t rows, int64_t n, F f) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* d = dy + r * n;
    const T* yr = y + r * n;
    T* gr = g + r * n;
    for (int64_t j = 0; j < n; ++j) {
      const T v = f(d[j], yr[j]);
      gr[j] = v;
      sums[j] += v;
    }
  }
}

template <typename T>
void column_sums(const T* a, T* sums, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < n; ++j) sums[j] += a[r * n + j];
}

template <typename T>
void gemm1(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda_row, int64_t lda_col, const T* B,
           int64_t ldb_row, int64_t ldb_col, T* C, int64_t ldc_row, double beta) {
  const GemmKernelArgs k{M, N, K, A, lda_row, lda_col, B, ldb_row, ldb_col, C, ldc_row, 1, 1.0, beta,
                         nullptr, 0, 1, GemmActivation::None, 1};
  gemm_packed_stub.get(kCPU)(dtype_of<T>::value, k);
}

template <typename T>
void backward_rows(const LinearBackwardRows& a) {
  const int64_t M = a.M, N = a.N, K = a.K;
  const T* dy = static_cast<const T*>(a.dy);
  const T* y = static_cast<const T*>(a.y);
  const T* x = static_cast<const T*>(a.x);
  const T* w = static_cast<const T*>(a.w);
  T* dx = static_cast<T*>(a.dx);
  T* dw = static_cast<T*>(a.dw);
  T* db = static_cast<T*>(a.db);
  const bool form_g = a.act != LinearActivation::None;
  // Rows per block: G, X's and dX's rows of a block in about 256 KB (half of a Zen 4 core's L2).
  const int64_t row_bytes = (N + 2 * K) * int64_t(sizeof(T));
  const int64_t block = std::max<int64_t>(64, (256 * 1024 / row_bytes) / 16 * 16);
  // One or two chunks per thread (two when each still has a few blocks, so that a thread that
  // starts late leaves little behind); each chunk has its own dW partial (chunk 0 writes dw itself)
  // and column sums.
  const int64_t threads = std::max(1, get_num_threads());
  const int64_t chunks =
      std::min<int64_t>(M, threads == 1 ? 1 : M >= 4 * threads * block ? 2 * threads : threads);  // none empty
  std::vector<T> dw_part(dw ? size_t((chunks - 1) * N * K) : 0);
  std::vector<double> db_part(db ? size_t(chunks * N) : 0);
  parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
    T* g_buf = form_g ? tl_block.get<T>(block * N) : nullptr;
    std::vector<T> sums(static_cast<size_t>(N));
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t r0 = M * c / chunks, r1 = M * (c + 1) / chunks;
      T* dwc = dw ? (c == 0 ? dw : dw_part.data() + (c - 1) * N * K) : nullptr;
      for (int64_t b0 = r0; b0 < r1; b0 += block) {
        const int64_t rows = std::min(block, r1 - b0);
        const T* dyb = dy + b0 * N;
        const T* g = dyb;
        std::fill(sums.begin(), sums.end(), T(0));
        if (form_g) {
          const T* yb = y + b0 * N;
          switch (a.act) {
            case LinearActivation::ReLU:
              grad_rows(dyb, yb, g_buf, sums.data(), rows, N, [](T d, T v) { return v > T(0) ? d : T(0); });
              break;
            case LinearActivation::Tanh:
              grad_rows(dyb, yb, g_buf, sums.data(), rows, N, [](T d, T v) { return d * (T(1) - v * v); });
              break;
            default:
              grad_rows(dyb, yb, g_buf, sums.data(), rows, N, [](T d, T v) { return d * v * (T(1) - v); });
              break;
          }
          g = g_buf;
        } else if (db) {
          column_sums(dyb, sums.data(), rows, N);
        }
        if (db)
          for (int64_t j = 0; j < N; ++j) db_part[size_t(c * N + j)] += double(sums[size_t(j)]);
        // dX rows = G W: (rows x N) (N x K).
        if (dx) gemm1<T>(rows, K, N, g, N, 1, w, a.w_row, a.w_col, dx + b0 * K, K, 0.0);
        // The chunk's dW += G^T X: (N x rows) (rows x K).
        if (dwc) gemm1<T>(N, K, rows, g, 1, N, x + b0 * a.x_row, a.x_row, 1, dwc, K, b0 == r0 ? 0.0 : 1.0);
      }
    }
  });
  if (dw)
    for (int64_t c = 1; c < chunks; ++c) {
      const T* p = dw_part.data() + (c - 1) * N * K;
      for (int64_t i = 0; i < N * K; ++i) dw[i] += p[i];
    }
  if (db)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0.0;
      for (int64_t c = 0; c < chunks; ++c) s += db_part[size_t(c * N + j)];
      db[j] = T(s);
    }
}

void linear_backward_rows_kernel(DType dtype, const LinearBackwardRows& args) {
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "linear_backward", [&] { backward_rows<scalar_t>(args); });
}

}  // namespace

REGISTER_CPU_KERNEL(linear_backward_rows_stub, &linear_backward_rows_kernel);

}  // namespace CPU_CAPABILITY
}  // namespace ember
