// The tiled GEMM shared by the matrix products (cuda/gemm.cu) and the implicit-GEMM convolutions
// (cuda/conv.cu): per batch item b, C (M x N) = A (M x K) . B (K x N), where an "operand" says how
// to fetch A(i, k) or B(k, j) (a strided matrix, or a gather such as im2col that is never
// materialised) and an "epilogue" says what to do with C(i, j) (alpha/beta/bias/ReLU and a strided
// store, a scatter into NCHW, ...).
//
// Tiles: a block computes a BM x BN tile of C and steps through K in slices of BK. Each slice goes
//   global -> registers (the next slice is fetched while the current one is multiplied)
//          -> shared memory, k-major: a[BK][BM + V], b[BK][BN + V] (double-buffered)
//          -> per thread TM x TN accumulators by FMA (SIMT), or per warp 16x16x8 TF32 wmma tiles.
// Both operands are "rows x K" to the loaders (A's rows are C's rows, B's rows are C's columns),
// so one loader serves either. Element (r, k) of a strided operand is ptr[r * s_row + k * s_k]:
// the loader walks the contiguous dim with adjacent threads (coalesced) and uses 16-byte loads
// when the host has checked that alignment allows it; edges (any M, N, K) load zeros.
//
// Split-K: when the tiles alone cannot fill the GPU but K is long, batch item z = b * splits + s
// covers k in [s * k_per_split, (s + 1) * k_per_split); partial tiles go to a workspace
// [batch][splits][M][N] that a second kernel sums in a fixed order (deterministic) before the real
// epilogue runs. Indices into tensors are 64-bit throughout; only intra-tile offsets are int.
#pragma once
#include <mma.h>

#include <algorithm>
#include <climits>
#include <cstdint>

#include "core/tensor.h"
#include "cuda/common.cuh"

namespace ember {
namespace cuda {

// ---- configuration ------------------------------------------------------------------------------
// BM x BN block tile, BK-deep K slices, TM x TN accumulators per thread (TM, TN multiples of V).
template <typename T, int BM_, int BN_, int BK_, int TM_, int TN_>
struct TileConfig {
  using scalar = T;
  static constexpr int BM = BM_, BN = BN_, BK = BK_, TM = TM_, TN = TN_;
  static constexpr int V = 16 / int(sizeof(T));     // elements per 16-byte vector
  static constexpr int TR = BM / TM, TC = BN / TN;  // thread grid: TR rows x TC columns
  static constexpr int THREADS = TR * TC;
  // One vector of padding per shared row: rows stay 16-byte aligned and the transposing stores of
  // k-contiguous operands (row stride BM + V = 4 banks mod 32 for float) hit distinct banks.
  static constexpr int LDA = BM + V, LDB = BN + V;
  static_assert(TM % V == 0 && TN % V == 0 && BK % V == 0, "tiles must be whole 16-byte vectors");
  static_assert(BM % (TM / V * V) == 0 && BN % (TN / V * V) == 0, "thread grid must cover the tile");
};

using SgemmLarge = TileConfig<float, 128, 128, 8, 8, 8>;  // 256 threads, 8x8 accumulators each
using SgemmSmall = TileConfig<float, 64, 64, 16, 4, 4>;   // 256 threads: 4x more blocks per tile area
using DgemmTile = TileConfig<double, 64, 64, 8, 4, 4>;    // 256 threads, 4x4 accumulators
// TF32 wmma: 8 warps in a 2 x 4 grid, 64 x 32 of C (4 x 2 fragments of 16 x 16) each; TM/TN only
// size the loaders' thread count here.
using Tf32Tile = TileConfig<float, 128, 128, 16, 8, 8>;

template <class Cfg>
struct SharedTiles {
  using T = typename Cfg::scalar;
  alignas(128) T a[2][Cfg::BK][Cfg::LDA];
  alignas(128) T b[2][Cfg::BK][Cfg::LDB];
};

// ---- 16-byte vectors ------------------------------------------------------------------------------
template <typename T>
struct Vec16;
template <>
struct Vec16<float> {
  using type = float4;
};
template <>
struct Vec16<double> {
  using type = double2;
};

// Register arrays are only element-aligned, so vectors move through them component by component.
template <typename T>
__device__ __forceinline__ void load16(const T* src, T* dst) {
  const typename Vec16<T>::type v = *reinterpret_cast<const typename Vec16<T>::type*>(src);
  if constexpr (sizeof(T) == 4) {
    dst[0] = v.x, dst[1] = v.y, dst[2] = v.z, dst[3] = v.w;
  } else {
    dst[0] = v.x, dst[1] = v.y;
  }
}

template <typename T>
__device__ __forceinline__ void store16(T* dst, const T* src) {
  typename Vec16<T>::type v;
  if constexpr (sizeof(T) == 4) {
    v.x = src[0], v.y = src[1], v.z = src[2], v.w = src[3];
  } else {
    v.x = src[0], v.y = src[1];
  }
  *reinterpret_cast<typename Vec16<T>::type*>(dst) = v;
}

inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// ---- operands and their loaders -----------------------------------------------------------------
// A strided matrix: element (r, k) of batch item b at ptr[b * batch_stride + r * s_row + k * s_k].
// ALONG_K: the k dim is the contiguous one (s_k == 1 when vec); otherwise the rows are (s_row == 1
// when vec). vec: 16-byte loads are legal (checked on the host by strided_vec_ok).
template <class Cfg, int ROWS, bool ALONG_K>
struct StridedLoader;

template <typename T, bool ALONG_K>
struct StridedOperand {
  const T* ptr;
  int64_t batch_stride, s_row, s_k, rows;
  bool vec;

  template <class Cfg, int ROWS>
  __device__ StridedLoader<Cfg, ROWS, ALONG_K> loader(int64_t b, int64_t row0) const {
    return StridedLoader<Cfg, ROWS, ALONG_K>(*this, b, row0);
  }
};

// Each thread moves PER_THREAD vectors of V elements per slice: chunk c covers V consecutive
// elements along the contiguous dim (k when ALONG_K, rows otherwise), adjacent chunks adjacent.
// The chunk's pointer and how many of its rows exist are fixed for the whole K loop; per slice only
// k0 * s_k is added and k is compared as an int against the slice's valid depth.
template <class Cfg, int ROWS, bool ALONG_K>
struct StridedLoader {
  using T = typename Cfg::scalar;
  static constexpr int V = Cfg::V, BK = Cfg::BK;
  static constexpr int CHUNKS = ROWS * BK / V;
  static_assert(CHUNKS % Cfg::THREADS == 0, "every thread moves the same number of vectors");
  static constexpr int PER_THREAD = CHUNKS / Cfg::THREADS;

  using Op = StridedOperand<T, ALONG_K>;
  const T* ptr[PER_THREAD];    // the chunk's first element at k0 = 0
  int valid_rows[PER_THREAD];  // ALONG_K: 0 or 1; otherwise how many of the chunk's V rows exist
  T reg[PER_THREAD][V];

  __device__ StridedLoader(const Op& op, int64_t b, int64_t row0) {
    const T* base = op.ptr + b * op.batch_stride + row0 * op.s_row;
    const int64_t rows_left = op.rows - row0;
#pragma unroll
    for (int i = 0; i < PER_THREAD; ++i) {
      int r, k;
      chunk(i, r, k);
      ptr[i] = base + r * op.s_row + k * op.s_k;
      const int64_t n = rows_left - r;
      valid_rows[i] = n <= 0 ? 0 : ALONG_K ? 1 : n < V ? int(n) : V;
    }
  }

  // Tile-local (row, k) of chunk i of this thread.
  __device__ __forceinline__ static void chunk(int i, int& r, int& k) {
    const int c = int(threadIdx.x) + i * Cfg::THREADS;
    if constexpr (ALONG_K) {
      r = c / (BK / V);
      k = (c % (BK / V)) * V;
    } else {
      k = c / (ROWS / V);
      r = (c % (ROWS / V)) * V;
    }
  }

  // Fetches the slice starting at k0 (columns at or beyond k_end read as zero). `op` is the
  // operand this loader was made from: strides are read from the kernel's parameters, not kept in
  // registers (a 128 x 128 tile has none to spare).
  __device__ __forceinline__ void load(const Op& op, int64_t k0, int64_t k_end) {
    const int64_t s_row = op.s_row, s_k = op.s_k;
    const bool vec = op.vec;
    const int depth = k_end - k0 < BK ? int(k_end - k0) : BK;  // valid k in this slice
    const int64_t step = k0 * s_k;
#pragma unroll
    for (int i = 0; i < PER_THREAD; ++i) {
      int r, k;
      chunk(i, r, k);
      const T* p = ptr[i] + step;
      if constexpr (ALONG_K) {
        if (vec && valid_rows[i] && k + V <= depth) {
          load16(p, reg[i]);
        } else {
#pragma unroll
          for (int j = 0; j < V; ++j) reg[i][j] = (valid_rows[i] && k + j < depth) ? p[j * s_k] : T(0);
        }
      } else {
        if (vec && k < depth && valid_rows[i] == V) {
          load16(p, reg[i]);
        } else {
#pragma unroll
          for (int j = 0; j < V; ++j) reg[i][j] = (j < valid_rows[i] && k < depth) ? p[j * s_row] : T(0);
        }
      }
    }
  }

  template <int LD>
  __device__ __forceinline__ void store(T (*tile)[LD]) const {
#pragma unroll
    for (int i = 0; i < PER_THREAD; ++i) {
      int r, k;
      chunk(i, r, k);
      if constexpr (ALONG_K) {
#pragma unroll
        for (int j = 0; j < V; ++j) tile[k + j][r] = reg[i][j];
      } else {
        store16(&tile[k][r], reg[i]);
      }
    }
  }
};

// Picks the walking order of a strided operand: along its unit-stride dim, else its smaller stride.
inline bool strided_along_k(int64_t s_row, int64_t s_k, int64_t rows, int64_t K) {
  if (s_k == 1 && s_row != 1) return true;
  if (s_row == 1 && s_k != 1) return false;
  if (s_k == 1) return K >= rows;  // both 1: a vector or a single element per row
  return (s_k < 0 ? -s_k : s_k) <= (s_row < 0 ? -s_row : s_row);
}

// 16-byte loads need an aligned start for every batch item, row and slice the loader visits.
inline bool strided_vec_ok(const void* ptr, int64_t batch, int64_t batch_stride, int64_t s_row, int64_t s_k,
                           bool along_k, int V) {
  if (!aligned16(ptr) || (batch > 1 && batch_stride % V != 0)) return false;
  return along_k ? (s_k == 1 && s_row % V == 0) : (s_row == 1 && s_k % V == 0);
}

// A gathered operand (im2col and friends). Src provides
//   int64_t rows;                        the number of valid rows
//   struct Row, Col;                     what a row index and a k index decode to (once each)
//   Row row(int64_t b, int64_t r) const; Col col(int64_t b, int64_t k) const;
//   T at(const Row&, const Col&) const;  the element, 0 where it lies in padding
// ALONG_K: adjacent threads take adjacent k (contiguous memory runs along k); otherwise adjacent
// rows. Each thread keeps the decoded rows it serves for the whole K loop and decodes one k per
// slice (ALONG_K) or one row for good (otherwise), so index arithmetic stays out of the hot path.
template <class Cfg, int ROWS, bool ALONG_K, class Src>
struct GatherLoader {
  using T = typename Cfg::scalar;
  static constexpr int BK = Cfg::BK, THREADS = Cfg::THREADS;
  static_assert(ALONG_K ? THREADS % BK == 0 : THREADS % ROWS == 0, "threads must tile the slice evenly");
  static constexpr int PER_THREAD = ROWS * BK / THREADS;
  static constexpr int STEP = ALONG_K ? THREADS / BK : THREADS / ROWS;  // row (k) step between elements
  static constexpr int NROWS = ALONG_K ? PER_THREAD : 1;
  using Row = typename Src::Row;
  using Col = typename Src::Col;

  int64_t b;
  Row rows[NROWS];
  bool row_ok[NROWS];
  T reg[PER_THREAD];

  __device__ GatherLoader(const Src& src, int64_t b_, int64_t row0) : b(b_) {
#pragma unroll
    for (int i = 0; i < NROWS; ++i) {
      const int64_t r = row0 + (ALONG_K ? int(threadIdx.x) / BK + i * STEP : int(threadIdx.x) % ROWS);
      row_ok[i] = r < src.rows;
      rows[i] = row_ok[i] ? src.row(b, r) : Row{};
    }
  }

  // `op` is the operand this loader was made from (read from the kernel's parameters).
  template <class Op>
  __device__ __forceinline__ void load(const Op& op, int64_t k0, int64_t k_end) {
    const Src& src = op.src;
    if constexpr (ALONG_K) {
      const int64_t k = k0 + int(threadIdx.x) % BK;
      const bool k_ok = k < k_end;
      const Col col = k_ok ? src.col(b, k) : Col{};
#pragma unroll
      for (int i = 0; i < PER_THREAD; ++i) reg[i] = (k_ok && row_ok[i]) ? src.at(rows[i], col) : T(0);
    } else {
#pragma unroll
      for (int i = 0; i < PER_THREAD; ++i) {
        const int64_t k = k0 + int(threadIdx.x) / ROWS + i * STEP;
        reg[i] = (k < k_end && row_ok[0]) ? src.at(rows[0], src.col(b, k)) : T(0);
      }
    }
  }

  template <int LD>
  __device__ __forceinline__ void store(T (*tile)[LD]) const {
#pragma unroll
    for (int i = 0; i < PER_THREAD; ++i) {
      if constexpr (ALONG_K) tile[int(threadIdx.x) % BK][int(threadIdx.x) / BK + i * STEP] = reg[i];
      else tile[int(threadIdx.x) / ROWS + i * STEP][int(threadIdx.x) % ROWS] = reg[i];
    }
  }
};

template <class Src, bool ALONG_K>
struct GatherOperand {
  Src src;

  template <class Cfg, int ROWS>
  __device__ GatherLoader<Cfg, ROWS, ALONG_K, Src> loader(int64_t b, int64_t row0) const {
    return GatherLoader<Cfg, ROWS, ALONG_K, Src>(src, b, row0);
  }
};

// ---- the problem a kernel launch solves ---------------------------------------------------------
// Epi provides struct Row, Col; Row row(int64_t z, int64_t i) const; Col col(int64_t z, int64_t j)
// const; void store(const Row&, const Col&, T acc) const, where z is the batch item (the kernels
// only call it for i < M, j < N).
template <class OpA, class OpB, class Epi>
struct GemmProblem {
  OpA a;
  OpB b;
  Epi epi;
  int64_t M, N, K, batch;
  int64_t splits, k_per_split;  // splits == 1: k_per_split >= K
  int64_t z0;                   // block (x, y) computes item z0 + y (launches cover 65535 items each)
};

// C stored densely as [items][M][N]: the split-K partials (item z = b * splits + s of a
// [batch][splits][M][N] workspace) and the convolutions' weight gradients (item = group).
template <typename T>
struct DenseEpilogue {
  T* ws;
  int64_t M, N;
  struct Row {
    T* p;
  };
  struct Col {
    int64_t j;
  };
  __device__ Row row(int64_t z, int64_t i) const { return {ws + (z * M + i) * N}; }
  __device__ Col col(int64_t, int64_t j) const { return {j}; }
  __device__ void store(const Row& r, const Col& c, T acc) const { r.p[c.j] = acc; }
};

// What block (x, y) computes: its output tile (m0, n0), batch item z = b * splits + s and the K
// range of split s. Tiles: groups of 8 tile rows walk down their tile columns together, so the
// blocks resident at one time share panels of A and B in L2. The tile index math is 32-bit (the
// host keeps 8 * tiles <= INT_MAX): a 64-bit division costs registers the 128 x 128 tile needs.
struct BlockJob {
  int64_t m0, n0, z, b, k_begin, k_end;
};

template <class Cfg, class P>
__device__ __forceinline__ BlockJob block_job(const P& p) {
  constexpr uint32_t kGroup = 8;
  const uint32_t t = blockIdx.x, tiles_m = uint32_t(ceil_div(p.M, Cfg::BM)), tiles_n = uint32_t(ceil_div(p.N, Cfg::BN));
  const uint32_t per_group = kGroup * tiles_n;
  const uint32_t group = t / per_group;
  const uint32_t first = group * kGroup;
  const uint32_t rows = tiles_m - first < kGroup ? tiles_m - first : kGroup;
  const uint32_t in_group = t - group * per_group;
  BlockJob j;
  j.m0 = int64_t(first + in_group % rows) * Cfg::BM;
  j.n0 = int64_t(in_group / rows) * Cfg::BN;
  j.z = p.z0 + blockIdx.y;
  j.b = j.z / p.splits;
  j.k_begin = (j.z - j.b * p.splits) * p.k_per_split;
  j.k_end = j.k_begin + p.k_per_split < p.K ? j.k_begin + p.k_per_split : p.K;
  return j;
}

// Runs the double-buffered K loop over [k_begin, k_end); compute(a_tile, b_tile) consumes one
// slice in shared memory. Race-free with one barrier per slice: slice t+1 is written into the
// buffer that slice t-1 was read from, and every thread passed the barrier after slice t-1.
template <class Cfg, class P, class LA, class LB, class Compute>
__device__ __forceinline__ void k_loop(const P& p, LA& la, LB& lb, int64_t k_begin, int64_t k_end,
                                       SharedTiles<Cfg>& sm, const Compute& compute) {
  if (k_begin >= k_end) return;
  const int slices = int(ceil_div(k_end - k_begin, Cfg::BK));  // the host checks that K / BK fits
  la.load(p.a, k_begin, k_end);
  lb.load(p.b, k_begin, k_end);
  la.store(sm.a[0]);
  lb.store(sm.b[0]);
  __syncthreads();
  for (int t = 0; t < slices; ++t) {
    const int cur = t & 1;
    const bool more = t + 1 < slices;
    if (more) {
      const int64_t k0 = k_begin + int64_t(t + 1) * Cfg::BK;
      la.load(p.a, k0, k_end);
      lb.load(p.b, k0, k_end);
    }
    compute(sm.a[cur], sm.b[cur]);
    if (more) {
      la.store(sm.a[cur ^ 1]);
      lb.store(sm.b[cur ^ 1]);
    }
    __syncthreads();
  }
}

// ---- kernels ------------------------------------------------------------------------------------
// grid.x: output tiles; grid.y: batch * splits items from z0. The problem is a __grid_constant__
// parameter: loaders and epilogues read it in place (no register copies). There is no loop over
// items inside the kernel: its live state alone made the 128 x 128 tile spill registers.
template <class Cfg, class P>
__global__ void __launch_bounds__(Cfg::THREADS, 2) simt_gemm_kernel(const __grid_constant__ P p) {
  using T = typename Cfg::scalar;
  constexpr int V = Cfg::V, TM = Cfg::TM, TN = Cfg::TN, TR = Cfg::TR, TC = Cfg::TC;
  __shared__ SharedTiles<Cfg> sm;
  const int ty = int(threadIdx.x) / TC, tx = int(threadIdx.x) % TC;
  const BlockJob job = block_job<Cfg>(p);
  const int64_t m0 = job.m0, n0 = job.n0, z = job.z;
  auto la = p.a.template loader<Cfg, Cfg::BM>(job.b, m0);
  auto lb = p.b.template loader<Cfg, Cfg::BN>(job.b, n0);
  // acc[i][j] is C(m0 + row(i), n0 + col(j)): row(i) = (i / V) * TR * V + ty * V + i % V, so a
  // thread's rows come in vectors TR * V apart (its shared reads are 16-byte vectors that the
  // threads of a warp either share or read from consecutive addresses).
  T acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = T(0);
  k_loop<Cfg>(p, la, lb, job.k_begin, job.k_end, sm, [&](const T (*as)[Cfg::LDA], const T (*bs)[Cfg::LDB]) {
#pragma unroll
    for (int kk = 0; kk < Cfg::BK; ++kk) {
      T a[TM], bv[TN];
#pragma unroll
      for (int h = 0; h < TM / V; ++h) load16(&as[kk][h * TR * V + ty * V], &a[h * V]);
#pragma unroll
      for (int h = 0; h < TN / V; ++h) load16(&bs[kk][h * TC * V + tx * V], &bv[h * V]);
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fma(a[i], bv[j], acc[i][j]);
    }
  });
  // Columns are decoded once (for the convolutions that is a division), rows once per row.
  typename decltype(p.epi)::Col cols[TN];
#pragma unroll
  for (int j = 0; j < TN; ++j) {
    const int64_t gj = n0 + (j / V) * TC * V + tx * V + j % V;
    cols[j] = gj < p.N ? p.epi.col(z, gj) : typename decltype(p.epi)::Col{};
  }
  const int64_t n_left = p.N - n0 - tx * V;  // column j exists when (j / V) * TC * V + j % V < n_left
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int64_t gi = m0 + (i / V) * TR * V + ty * V + i % V;
    if (gi >= p.M) continue;
    const auto row = p.epi.row(z, gi);
#pragma unroll
    for (int j = 0; j < TN; ++j)
      if ((j / V) * TC * V + j % V < n_left) p.epi.store(row, cols[j], acc[i][j]);
  }
}

// TF32 tensor cores (sm_80+): operands rounded to TF32 (wmma::__float_to_tf32) as fragments are
// loaded, products accumulated in float32. The shared tiles are the SIMT kernel's: a[k][m] is a
// column-major M x K fragment source and b[k][n] a row-major K x N one; every fragment pointer is
// 32-byte aligned (LDA * 4 * 8 and 16 * 4 are multiples of 32) and ldm = BM + 4 a multiple of 4.
template <class Cfg, class P>
__global__ void __launch_bounds__(256, 1) tf32_gemm_kernel(const __grid_constant__ P p) {
  namespace wmma = nvcuda::wmma;
  static_assert(Cfg::THREADS == 256 && Cfg::BM == 128 && Cfg::BN == 128 && Cfg::BK % 8 == 0, "2 x 4 warps");
  constexpr int WM = 64, WN = 32, FM = WM / 16, FN = WN / 16;
  __shared__ SharedTiles<Cfg> sm;
  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
  const int wm = warp / 4, wn = warp % 4;
  const BlockJob job = block_job<Cfg>(p);
  const int64_t m0 = job.m0, n0 = job.n0, z = job.z;
  auto la = p.a.template loader<Cfg, Cfg::BM>(job.b, m0);
  auto lb = p.b.template loader<Cfg, Cfg::BN>(job.b, n0);
  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[FM][FN];
#pragma unroll
  for (int i = 0; i < FM; ++i)
#pragma unroll
    for (int j = 0; j < FN; ++j) wmma::fill_fragment(acc[i][j], 0.0f);
  k_loop<Cfg>(p, la, lb, job.k_begin, job.k_end, sm, [&](const float (*as)[Cfg::LDA], const float (*bs)[Cfg::LDB]) {
#pragma unroll
    for (int kk = 0; kk < Cfg::BK; kk += 8) {
      wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::col_major> af[FM];
      wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> bf[FN];
#pragma unroll
      for (int i = 0; i < FM; ++i) {
        wmma::load_matrix_sync(af[i], &as[kk][wm * WM + i * 16], Cfg::LDA);
#pragma unroll
        for (int e = 0; e < af[i].num_elements; ++e) af[i].x[e] = wmma::__float_to_tf32(af[i].x[e]);
      }
#pragma unroll
      for (int j = 0; j < FN; ++j) {
        wmma::load_matrix_sync(bf[j], &bs[kk][wn * WN + j * 16], Cfg::LDB);
#pragma unroll
        for (int e = 0; e < bf[j].num_elements; ++e) bf[j].x[e] = wmma::__float_to_tf32(bf[j].x[e]);
      }
#pragma unroll
      for (int i = 0; i < FM; ++i)
#pragma unroll
        for (int j = 0; j < FN; ++j) wmma::mma_sync(acc[i][j], af[i], bf[j], acc[i][j]);
    }
  });
  // Epilogue: each warp parks one 16 x 16 fragment at a time in its own 1 KiB of the A tiles (idle:
  // k_loop ends on a barrier), then its lanes store it, two rows of 16 consecutive columns a step.
  float* scratch = &sm.a[0][0][0] + warp * 256;
#pragma unroll
  for (int i = 0; i < FM; ++i)
#pragma unroll
    for (int j = 0; j < FN; ++j) {
      wmma::store_matrix_sync(scratch, acc[i][j], 16, wmma::mem_row_major);
      __syncwarp();
      for (int e = lane; e < 256; e += 32) {
        const int64_t gi = m0 + wm * WM + i * 16 + e / 16, gj = n0 + wn * WN + j * 16 + e % 16;
        if (gi < p.M && gj < p.N) p.epi.store(p.epi.row(z, gi), p.epi.col(z, gj), scratch[e]);
      }
      __syncwarp();
    }
}
static_assert(2 * Tf32Tile::BK * Tf32Tile::LDA >= 8 * 256, "the TF32 epilogue scratch fits in the A tiles");

// Sums the split-K partials of element (b, i, j) in split order and applies the real epilogue.
template <typename T, class Epi>
__global__ void __launch_bounds__(256) splitk_reduce_kernel(const T* ws, int64_t batch, int64_t splits,
                                                            int64_t M, int64_t N, const Epi epi) {
  const int64_t mn = M * N, total = batch * mn;
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = idx / mn, rem = idx - b * mn, i = rem / N, j = rem - i * N;
    const T* src = ws + b * splits * mn + rem;
    T sum = T(0);
    for (int64_t s = 0; s < splits; ++s) sum += src[s * mn];
    epi.store(epi.row(b, i), epi.col(b, j), sum);
  }
}

// ---- launchers ----------------------------------------------------------------------------------
// The current device: kernels get raw pointers, and ember allocates on the current device.
inline Device current_cuda_device() {
  int d = 0;
  CUDA_CHECK(cudaGetDevice(&d));
  return Device{DeviceType::CUDA, int16_t(d)};
}

inline int multiprocessor_count() {
  int n = 0;
  CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, current_cuda_device().index));
  return n > 0 ? n : 1;
}

// K per split for `blocks` output tiles (all batch items): split only when the tiles fill less
// than the GPU and every split still gets a long K range (>= 1024), at most 64 splits.
inline int64_t k_per_split_for(int64_t blocks, int64_t K, int BK) {
  const int64_t sms = multiprocessor_count();
  if (K < 2048 || blocks >= sms) return K > 0 ? K : 1;
  const int64_t splits = std::min<int64_t>({ceil_div(2 * sms, blocks), K / 1024, 64});
  if (splits <= 1) return K;
  return ceil_div(ceil_div(K, splits), BK) * BK;
}

// One launch per 65535 items (grid.y's limit).
template <class Cfg, bool TF32, class P>
void launch_gemm_kernel(unsigned tiles, P p) {
  const int64_t items = p.batch * p.splits;
  for (p.z0 = 0; p.z0 < items; p.z0 += 65535) {
    const dim3 grid(tiles, unsigned(std::min<int64_t>(items - p.z0, 65535)));
    if constexpr (TF32) tf32_gemm_kernel<Cfg, P><<<grid, Cfg::THREADS>>>(p);
    else simt_gemm_kernel<Cfg, P><<<grid, Cfg::THREADS>>>(p);
    CUDA_CHECK_LAUNCH();
  }
}

// Solves `batch` products of M x N over K with one tile configuration (split-K when it pays).
template <class Cfg, bool TF32, class OpA, class OpB, class Epi>
void launch_tiled_gemm(const OpA& a, const OpB& b, const Epi& epi, int64_t M, int64_t N, int64_t K,
                       int64_t batch) {
  using T = typename Cfg::scalar;
  if (M == 0 || N == 0 || batch == 0) return;
  const int64_t tiles = ceil_div(M, Cfg::BM) * ceil_div(N, Cfg::BN);
  // block_job works in 32 bits (8 * tiles must fit) and k_loop counts slices in an int.
  EMBER_CHECK(tiles <= INT_MAX / 8 && ceil_div(K, Cfg::BK) <= INT_MAX, ValueError, "matrix product of ", M, " x ",
              N, " outputs over K = ", K, " is too large for one CUDA launch");
  const int64_t kps = k_per_split_for(tiles * batch, K, Cfg::BK);
  const int64_t splits = K > kps ? ceil_div(K, kps) : 1;
  if (splits == 1) {
    launch_gemm_kernel<Cfg, TF32>(unsigned(tiles), GemmProblem<OpA, OpB, Epi>{a, b, epi, M, N, K, batch, 1, kps, 0});
    return;
  }
  // The workspace returns to the allocator's cache when this function ends; work on the one
  // stream is ordered, so no later user of the block can overtake the kernels below.
  const Tensor ws = Tensor::empty({batch * splits * M * N}, dtype_of<T>::value, current_cuda_device());
  const DenseEpilogue<T> partial{ws.data<T>(), M, N};
  launch_gemm_kernel<Cfg, TF32>(
      unsigned(tiles), GemmProblem<OpA, OpB, DenseEpilogue<T>>{a, b, partial, M, N, K, batch, splits, kps, 0});
  splitk_reduce_kernel<T, Epi><<<grid_for(batch * M * N), 256>>>(ws.data<T>(), batch, splits, M, N, epi);
  CUDA_CHECK_LAUNCH();
}

// The SIMT configuration for T: 128 x 128 float tiles once they fill the GPU, 64 x 64 before.
// kLargeTiles = false keeps 64 x 64 tiles for operands whose gathers need too many registers to
// fit beside 8 x 8 accumulators (ptxas -v reports the spills).
template <typename T, bool kLargeTiles = true, class OpA, class OpB, class Epi>
void launch_simt_gemm(const OpA& a, const OpB& b, const Epi& epi, int64_t M, int64_t N, int64_t K,
                      int64_t batch) {
  if constexpr (sizeof(T) == 8) {
    launch_tiled_gemm<DgemmTile, false>(a, b, epi, M, N, K, batch);
  } else if constexpr (!kLargeTiles) {
    launch_tiled_gemm<SgemmSmall, false>(a, b, epi, M, N, K, batch);
  } else {
    const int64_t large_tiles = ceil_div(M, SgemmLarge::BM) * ceil_div(N, SgemmLarge::BN) * batch;
    if (large_tiles >= multiprocessor_count()) launch_tiled_gemm<SgemmLarge, false>(a, b, epi, M, N, K, batch);
    else launch_tiled_gemm<SgemmSmall, false>(a, b, epi, M, N, K, batch);
  }
}

}  // namespace cuda
}  // namespace ember
