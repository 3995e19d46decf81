// CUDA reductions (sum, mean, prod, max/min with and without indices, argmax/argmin, all/any, and
// the statistics var/std, logsumexp and p-norms) over the ReducePlan geometry of ops/reduce.h:
// output o reduces the sub-space of reduced dims at the input offset of kept index o. Accumulation matches the CPU kernels' types (double for
// floating inputs, int64 for integers); the order is a tree, so float results agree with the CPU
// to rounding. Max/min propagate NaN and report the first index of the extreme (torch's rule).
//
// Kernels:
//   rows     one block per output (or per chunk of an output's reduced range when there are few
//            outputs: partial results, then a combine pass); threads stride the reduced range.
//   columns  the kept dim is contiguous and the reduced one strided ("reduce the leading dim"):
//            32 adjacent outputs per block row, 16 rows of threads split the reduced range.
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "cuda/common.cuh"
#include "cuda/math.cuh"
#include "ops/reduce.h"

namespace ember {
namespace cuda {
namespace {

constexpr int kMaxReduceDims = 16;
constexpr int kRowThreads = 256;
constexpr int kColWidth = 32, kColRows = 16;

// Kept and reduced dims, innermost first, strides in elements; adjacent dims merged.
struct ReduceGeom {
  int kept_ndim, red_ndim;
  int64_t out_numel, red_numel;
  int64_t kept_shape[kMaxReduceDims], kept_strides[kMaxReduceDims];
  int64_t red_shape[kMaxReduceDims], red_strides[kMaxReduceDims];
};

// Where results go: values (dtype `dtype`) and/or int64 indices; mean scales by `scale`.
struct ReduceOut {
  char* values;
  int64_t* indices;
  DType dtype;
  bool mean;
  double scale;
};

__device__ __forceinline__ int64_t dims_offset(const int64_t* shape, const int64_t* strides, int nd, int64_t i) {
  if (nd == 1) return i * strides[0];
  int64_t off = 0;
#pragma unroll
  for (int d = 0; d < kMaxReduceDims; ++d) {
    if (d == nd) break;
    int64_t q, r;
    if (((uint64_t(i) | uint64_t(shape[d])) >> 32) == 0) {
      q = uint32_t(i) / uint32_t(shape[d]);
      r = i - q * shape[d];
    } else {
      q = i / shape[d];
      r = i - q * shape[d];
    }
    off += r * strides[d];
    i = q;
  }
  return off;
}

__device__ __forceinline__ int64_t kept_offset(const ReduceGeom& g, int64_t o) {
  return dims_offset(g.kept_shape, g.kept_strides, g.kept_ndim, o);
}
__device__ __forceinline__ int64_t red_offset(const ReduceGeom& g, int64_t i) {
  return dims_offset(g.red_shape, g.red_strides, g.red_ndim, i);
}

template <typename V>
__device__ __forceinline__ void store_as(char* out, int64_t o, DType dtype, V v) {
  switch (dtype) {
    case DType::Float32: reinterpret_cast<float*>(out)[o] = static_cast<float>(v); break;
    case DType::Float64: reinterpret_cast<double*>(out)[o] = static_cast<double>(v); break;
    case DType::Int64: reinterpret_cast<int64_t*>(out)[o] = static_cast<int64_t>(v); break;
    case DType::Int32: reinterpret_cast<int32_t*>(out)[o] = static_cast<int32_t>(v); break;
    case DType::UInt8: reinterpret_cast<uint8_t*>(out)[o] = static_cast<uint8_t>(v); break;
    case DType::Bool: reinterpret_cast<bool*>(out)[o] = v != V(0); break;
    default: break;  // rejected on the host
  }
}

// ---- reducers: identity, map (element, reduced index), combine (associative), store ---------
template <typename T>
using acc_t = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

template <typename T>
struct SumReducer {
  using Acc = acc_t<T>;
  __device__ Acc identity() const { return Acc(0); }
  __device__ Acc map(T v, int64_t) const { return Acc(v); }
  __device__ Acc combine(Acc a, Acc b) const { return a + b; }
  __device__ void store(const ReduceOut& out, int64_t o, Acc a) const {
    if (out.mean) store_as(out.values, o, out.dtype, double(a) * out.scale);
    else store_as(out.values, o, out.dtype, a);
  }
};

template <typename T>
struct ProdReducer {
  using Acc = acc_t<T>;
  __device__ Acc identity() const { return Acc(1); }
  __device__ Acc map(T v, int64_t) const { return Acc(v); }
  __device__ Acc combine(Acc a, Acc b) const { return a * b; }
  __device__ void store(const ReduceOut& out, int64_t o, Acc a) const { store_as(out.values, o, out.dtype, a); }
};

template <typename T>
struct AllAnyReducer {
  using Acc = int;
  bool all;
  __device__ Acc identity() const { return all ? 1 : 0; }
  __device__ Acc map(T v, int64_t) const { return v != T(0) ? 1 : 0; }
  __device__ Acc combine(Acc a, Acc b) const { return all ? (a & b) : (a | b); }
  __device__ void store(const ReduceOut& out, int64_t o, Acc a) const { store_as(out.values, o, out.dtype, a); }
};

template <typename T>
struct Extreme {
  T v;
  int64_t i;  // < 0: empty
};

// NaN beats everything; among equals (and among NaNs) the lower index wins.
template <typename T, bool kMax>
struct ExtremeReducer {
  using Acc = Extreme<T>;
  __device__ Acc identity() const { return Acc{T(0), -1}; }
  __device__ Acc map(T v, int64_t i) const { return Acc{v, i}; }
  __device__ Acc combine(Acc a, Acc b) const {
    if (a.i < 0) return b;
    if (b.i < 0) return a;
    const bool an = is_nan(a.v), bn = is_nan(b.v);
    if (an || bn) {
      if (an && bn) return a.i <= b.i ? a : b;
      return an ? a : b;
    }
    if (kMax ? b.v > a.v : b.v < a.v) return b;
    if (kMax ? a.v > b.v : a.v < b.v) return a;
    return a.i <= b.i ? a : b;
  }
  __device__ void store(const ReduceOut& out, int64_t o, Acc a) const {
    if (out.values) reinterpret_cast<T*>(out.values)[o] = a.v;
    if (out.indices) out.indices[o] = a.i;
  }
};

// ---- statistics (reduce_stat): var/std, logsumexp and norms, in double --------------------------
// var/std: Welford triples (count, mean, m2) merged with Chan's formula: one pass, no sum of
// squares to cancel against a large mean; var = m2 / max(0, n - correction).
struct VarAcc {
  double n, mean, m2;
};

template <typename T>
struct VarReducer {
  using Acc = VarAcc;
  double correction;
  bool take_sqrt;
  __device__ Acc identity() const { return Acc{0.0, 0.0, 0.0}; }
  __device__ Acc map(T v, int64_t) const { return Acc{1.0, double(v), 0.0}; }
  __device__ Acc combine(Acc a, Acc b) const {
    if (b.n == 0.0) return a;
    if (a.n == 0.0) return b;
    const double n = a.n + b.n, d = b.mean - a.mean, fb = b.n / n;
    return Acc{n, a.mean + d * fb, a.m2 + b.m2 + d * d * a.n * fb};
  }
  __device__ void store(const ReduceOut& out, int64_t o, Acc a) const {
    const double m2 = a.n == 0.0 ? ::nan("") : a.m2;  // an empty reduction is NaN, as on the CPU
    const double var = m2 / fmax(0.0, a.n - correction);
    store_as(out.values, o, out.dtype, take_sqrt ? sqrt(var) : var);
  }
};

// logsumexp online: (m, s) stands for s * exp(m); merging rescales the smaller one. Equal maxima
// (including two infinities) add without an exp, so no inf - inf appears; s == 0 is empty.
struct LseAcc {
  double m, s;
};

template <typename T>
struct LseReducer {
  using Acc = LseAcc;
  __device__ Acc identity() const { return Acc{-INFINITY, 0.0}; }
  __device__ Acc map(T v, int64_t) const { return Acc{double(v), 1.0}; }
  __device__ Acc combine(Acc a, Acc b) const {
    if (a.s == 0.0) return b;
    if (b.s == 0.0) return a;
    if (a.m != a.m || b.m != b.m) return Acc{::nan(""), 1.0};
    if (a.m == b.m) return Acc{a.m, a.s + b.s};
    const Acc hi = a.m > b.m ? a : b, lo = a.m > b.m ? b : a;
    return Acc{hi.m, hi.s + lo.s * ::exp(lo.m - hi.m)};
  }
  __device__ void store(const ReduceOut& out, int64_t o, Acc a) const {
    store_as(out.values, o, out.dtype, a.s == 0.0 ? -INFINITY : a.m + ::log(a.s));
  }
};

// p-norms for finite p: sum of |v|^p (p = 0 counts non-zeros), then the 1/p power.
template <typename T>
struct PowerSumReducer {
  using Acc = double;
  double p;
  __device__ Acc identity() const { return 0.0; }
  __device__ Acc map(T v, int64_t) const {
    const double a = fabs(double(v));
    if (p == 2.0) return a * a;
    if (p == 1.0) return a;
    if (p == 0.0) return v != T(0) ? 1.0 : 0.0;
    return ::pow(a, p);
  }
  __device__ Acc combine(Acc a, Acc b) const { return a + b; }
  __device__ void store(const ReduceOut& out, int64_t o, Acc a) const {
    store_as(out.values, o, out.dtype, p == 2.0 ? sqrt(a) : (p == 1.0 || p == 0.0) ? a : ::pow(a, 1.0 / p));
  }
};

// inf / -inf norms: the largest / smallest |v|; NaN propagates.
template <typename T, bool kMax>
struct AbsExtremeReducer {
  using Acc = double;
  __device__ Acc identity() const { return kMax ? -INFINITY : INFINITY; }
  __device__ Acc map(T v, int64_t) const { return fabs(double(v)); }
  __device__ Acc combine(Acc a, Acc b) const {
    if (a != a) return a;
    if (b != b) return b;
    return kMax ? fmax(a, b) : fmin(a, b);
  }
  __device__ void store(const ReduceOut& out, int64_t o, Acc a) const { store_as(out.values, o, out.dtype, a); }
};

// ---- kernels --------------------------------------------------------------------------------
// Tree reduction over the first `n` (a power of two) entries of smem; the result is in smem[0].
template <typename R, typename Acc>
__device__ __forceinline__ void block_tree(const R& r, Acc* smem, int tid, int n) {
  for (int s = n / 2; s > 0; s >>= 1) {
    if (tid < s) smem[tid] = r.combine(smem[tid], smem[tid + s]);
    __syncthreads();
  }
}

// Block v handles output v / splits, reduced range [c * chunk, (c + 1) * chunk) with c = v % splits.
// With splits > 1 each block writes its partial to partials[v] instead of the output.
template <typename T, typename R>
__global__ void __launch_bounds__(kRowThreads) reduce_rows_kernel(const T* x, const ReduceGeom g, const R r,
                                                                  const ReduceOut out, int64_t chunk,
                                                                  int64_t splits, typename R::Acc* partials) {
  using Acc = typename R::Acc;
  __shared__ Acc smem[kRowThreads];
  const int tid = threadIdx.x;
  const int64_t nvirtual = g.out_numel * splits;
  for (int64_t v = blockIdx.x; v < nvirtual; v += gridDim.x) {
    const int64_t o = v / splits, c = v - o * splits;
    const int64_t base = kept_offset(g, o);
    const int64_t begin = c * chunk;
    const int64_t end = begin + chunk < g.red_numel ? begin + chunk : g.red_numel;
    Acc acc = r.identity();
    for (int64_t i = begin + tid; i < end; i += blockDim.x) acc = r.combine(acc, r.map(x[base + red_offset(g, i)], i));
    smem[tid] = acc;
    __syncthreads();
    block_tree(r, smem, tid, blockDim.x);
    if (tid == 0) {
      if (partials) partials[v] = smem[0];
      else r.store(out, o, smem[0]);
    }
    __syncthreads();  // smem is reused by the next output
  }
}

// Second pass of a split reduction: output o combines partials[o * splits .. + splits).
template <typename R>
__global__ void __launch_bounds__(kRowThreads) reduce_partials_kernel(const typename R::Acc* partials,
                                                                      int64_t out_numel, int64_t splits,
                                                                      const R r, const ReduceOut out) {
  using Acc = typename R::Acc;
  __shared__ Acc smem[kRowThreads];
  const int tid = threadIdx.x;
  for (int64_t o = blockIdx.x; o < out_numel; o += gridDim.x) {
    Acc acc = r.identity();
    for (int64_t s = tid; s < splits; s += blockDim.x) acc = r.combine(acc, partials[o * splits + s]);
    smem[tid] = acc;
    __syncthreads();
    block_tree(r, smem, tid, blockDim.x);
    if (tid == 0) r.store(out, o, smem[0]);
    __syncthreads();
  }
}

// blockDim = (kColWidth, kColRows): threadIdx.x picks one of 32 adjacent outputs, threadIdx.y
// a residue class of the reduced range.
template <typename T, typename R>
__global__ void __launch_bounds__(kColWidth * kColRows) reduce_cols_kernel(const T* x, const ReduceGeom g,
                                                                           const R r, const ReduceOut out) {
  using Acc = typename R::Acc;
  __shared__ Acc smem[kColRows][kColWidth];
  const int tx = threadIdx.x, ty = threadIdx.y;
  for (int64_t o0 = int64_t(blockIdx.x) * kColWidth; o0 < g.out_numel; o0 += int64_t(gridDim.x) * kColWidth) {
    const int64_t o = o0 + tx;
    Acc acc = r.identity();
    if (o < g.out_numel) {
      const int64_t base = kept_offset(g, o);
      for (int64_t i = ty; i < g.red_numel; i += kColRows) acc = r.combine(acc, r.map(x[base + red_offset(g, i)], i));
    }
    smem[ty][tx] = acc;
    __syncthreads();
    for (int s = kColRows / 2; s > 0; s >>= 1) {
      if (ty < s) smem[ty][tx] = r.combine(smem[ty][tx], smem[ty + s][tx]);
      __syncthreads();
    }
    if (ty == 0 && o < g.out_numel) r.store(out, o, smem[0][tx]);
    __syncthreads();
  }
}

// ---- launchers ----------------------------------------------------------------------------
// The plan's dims (already merged by make_plan: no size-1 dims, none contiguous with its inner
// neighbour) into the kernel's fixed arrays, innermost first; no dims becomes one of size 1.
int copy_dims(const Shape& shape, const Shape& strides, int64_t* out_shape, int64_t* out_strides, const char* what) {
  const int n = int(shape.size());
  EMBER_CHECK(n <= kMaxReduceDims, ValueError, "CUDA reductions support at most ", kMaxReduceDims, " ", what,
              " dimensions after merging, got ", n, "; make the input contiguous first");
  if (n == 0) {
    out_shape[0] = 1;
    out_strides[0] = 0;
    return 1;
  }
  for (int d = 0; d < n; ++d) {
    out_shape[d] = shape[n - 1 - d];
    out_strides[d] = strides[n - 1 - d];
  }
  return n;
}

ReduceGeom make_geom(const ReducePlan& p) {
  ReduceGeom g;
  std::memset(&g, 0, sizeof(g));
  g.out_numel = p.out_numel;
  g.red_numel = p.red_numel;
  g.kept_ndim = copy_dims(p.kept_shape, p.kept_strides, g.kept_shape, g.kept_strides, "kept");
  g.red_ndim = copy_dims(p.red_shape, p.red_strides, g.red_shape, g.red_strides, "reduced");
  return g;
}

int sm_count() {
  int device = 0, n = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
  return n > 0 ? n : 1;
}

int pow2_threads(int64_t n) {
  int t = 32;
  while (t < kRowThreads && t < n) t <<= 1;
  return t;
}

unsigned capped_grid(int64_t n) { return unsigned(n < (int64_t(1) << 20) ? (n > 0 ? n : 1) : (int64_t(1) << 20)); }

template <typename T, typename R>
void launch_reduce(const ReduceGeom& g, const T* x, const R& r, const ReduceOut& out, Device device) {
  using Acc = typename R::Acc;
  // Columns: adjacent outputs are adjacent in memory and the reduced dim is not, or each output
  // reduces so few elements that one thread per output is best.
  const bool kept_dense = g.kept_strides[0] == 1 && g.kept_shape[0] > 1;
  const bool red_dense = g.red_strides[0] == 1;
  if ((kept_dense && !red_dense && g.out_numel >= 256) || g.red_numel <= 16) {
    const dim3 block(kColWidth, kColRows);
    reduce_cols_kernel<T, R><<<capped_grid(ceil_div(g.out_numel, kColWidth)), block>>>(x, g, r, out);
    CUDA_CHECK_LAUNCH();
    return;
  }
  // Few outputs with long reductions: split each reduced range so that the grid fills the GPU.
  const int64_t target_blocks = int64_t(sm_count()) * 4;
  int64_t splits = 1, chunk = g.red_numel;
  if (g.out_numel < target_blocks && g.red_numel >= 8192) {
    splits = std::min(ceil_div(target_blocks, g.out_numel), ceil_div(g.red_numel, 4096));
    chunk = ceil_div(g.red_numel, splits);
    splits = ceil_div(g.red_numel, chunk);
  }
  const int threads = pow2_threads(chunk);
  if (splits == 1) {
    reduce_rows_kernel<T, R><<<capped_grid(g.out_numel), threads>>>(x, g, r, out, chunk, 1, nullptr);
    CUDA_CHECK_LAUNCH();
    return;
  }
  const int64_t nparts = g.out_numel * splits;
  Tensor scratch = Tensor::empty({nparts * int64_t(sizeof(Acc))}, DType::UInt8, device);
  Acc* partials = reinterpret_cast<Acc*>(scratch.raw_data());
  reduce_rows_kernel<T, R><<<capped_grid(nparts), threads>>>(x, g, r, out, chunk, splits, partials);
  CUDA_CHECK_LAUNCH();
  reduce_partials_kernel<R><<<capped_grid(g.out_numel), pow2_threads(splits)>>>(partials, g.out_numel, splits, r, out);
  CUDA_CHECK_LAUNCH();
  // `scratch` returns to the cache now; the stream orders any reuse after these kernels.
}

template <typename T>
void launch_extreme(bool is_max, const ReduceGeom& g, const T* x, const ReduceOut& out, Device device) {
  if (is_max) launch_reduce(g, x, ExtremeReducer<T, true>{}, out, device);
  else launch_reduce(g, x, ExtremeReducer<T, false>{}, out, device);
}

void check_out_dtype(DType dtype) {
  EMBER_CHECK(dtype != DType::Float16 && dtype != DType::BFloat16, TypeError,
              "CUDA reductions do not support output dtype ", dtype_name(dtype), " yet");
}

void reduce_kernel(ReduceOp op, const ReducePlan& p, const Tensor& x, const Tensor& out) {
  check_out_dtype(out.dtype());
  DeviceGuard guard(x.device().index);
  const ReduceGeom g = make_geom(p);
  ReduceOut o{static_cast<char*>(out.raw_data()), nullptr, out.dtype(), false, 0.0};
  EMBER_DISPATCH_ALL_TYPES_AND_BOOL(x.dtype(), "reduce", [&] {
    const scalar_t* xp = x.data<scalar_t>();
    switch (op) {
      case ReduceOp::Sum: case ReduceOp::Mean:
        o.mean = op == ReduceOp::Mean;
        o.scale = p.red_numel ? 1.0 / double(p.red_numel) : std::numeric_limits<double>::quiet_NaN();
        return launch_reduce(g, xp, SumReducer<scalar_t>{}, o, x.device());
      case ReduceOp::Prod: return launch_reduce(g, xp, ProdReducer<scalar_t>{}, o, x.device());
      case ReduceOp::All: case ReduceOp::Any:
        return launch_reduce(g, xp, AllAnyReducer<scalar_t>{op == ReduceOp::All}, o, x.device());
      case ReduceOp::Max: case ReduceOp::Min:
        return launch_extreme<scalar_t>(op == ReduceOp::Max, g, xp, o, x.device());
      case ReduceOp::ArgMax: case ReduceOp::ArgMin:
        o.values = nullptr;
        o.indices = out.data<int64_t>();
        return launch_extreme<scalar_t>(op == ReduceOp::ArgMax, g, xp, o, x.device());
      default: throw_unsupported_dtype("reduce", x.dtype());
    }
  });
}

void reduce_index_kernel(bool is_max, const ReducePlan& p, const Tensor& x, const Tensor& values,
                         const Tensor& indices) {
  DeviceGuard guard(x.device().index);
  const ReduceGeom g = make_geom(p);
  const ReduceOut o{static_cast<char*>(values.raw_data()), indices.data<int64_t>(), values.dtype(), false, 0.0};
  EMBER_DISPATCH_ALL_TYPES_AND_BOOL(x.dtype(), "max", [&] {
    launch_extreme<scalar_t>(is_max, g, x.data<scalar_t>(), o, x.device());
  });
}

void reduce_stat_kernel(StatOp op, const ReducePlan& p, const Tensor& x, const Tensor& out, double param) {
  DeviceGuard guard(x.device().index);
  const ReduceGeom g = make_geom(p);
  const ReduceOut o{static_cast<char*>(out.raw_data()), nullptr, out.dtype(), false, 0.0};
  EMBER_DISPATCH_FLOATING_TYPES(x.dtype(), "reduce_stat", [&] {
    const scalar_t* xp = x.data<scalar_t>();
    switch (op) {
      case StatOp::Var: case StatOp::Std:
        return launch_reduce(g, xp, VarReducer<scalar_t>{param, op == StatOp::Std}, o, x.device());
      case StatOp::LogSumExp: return launch_reduce(g, xp, LseReducer<scalar_t>{}, o, x.device());
      case StatOp::Norm:
        if (std::isinf(param) && param > 0) return launch_reduce(g, xp, AbsExtremeReducer<scalar_t, true>{}, o, x.device());
        if (std::isinf(param)) return launch_reduce(g, xp, AbsExtremeReducer<scalar_t, false>{}, o, x.device());
        return launch_reduce(g, xp, PowerSumReducer<scalar_t>{param}, o, x.device());
      default: throw_unsupported_dtype("reduce_stat", x.dtype());
    }
  });
}

}  // namespace

REGISTER_CUDA_KERNEL(reduce_stub, &reduce_kernel);
REGISTER_CUDA_KERNEL(reduce_index_stub, &reduce_index_kernel);
REGISTER_CUDA_KERNEL(reduce_stat_stub, &reduce_stat_kernel);

}  // namespace cuda
}  // namespace ember
