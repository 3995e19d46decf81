// Matrix products: shape checks, batching and GEMM argument setup (no copies for transposed
// or strided operands: the GEMM reads through row and column strides).
#include "ops/linalg.h"

#include <atomic>

#include "ops/copy.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"

namespace ember {
namespace {

std::string shape_x(const Tensor& t) {
  std::string s;
  for (int64_t d = 0; d < t.dim(); ++d) s += (d ? "x" : "") + std::to_string(t.shape()[d]);
  return s;
}

void check_float_pair(const Tensor& a, const Tensor& b, const char* name) {
  EMBER_CHECK(a.dtype() == b.dtype(), TypeError, name, ": expected both operands to have the same dtype, but got ",
              dtype_name(a.dtype()), " != ", dtype_name(b.dtype()));
  EMBER_CHECK(a.dtype() == DType::Float32 || a.dtype() == DType::Float64, TypeError, name,
              ": only float32 and float64 are supported, got ", dtype_name(a.dtype()));
  check_same_device(a, b, name);
}

// GEMM arguments reading matrix views of a (M x K), b (K x N), writing c (M x N).
GemmArgs matrix_args(const Tensor& a, const Tensor& b, const Tensor& c) {
  GemmArgs g;
  g.M = a.size(-2);
  g.K = a.size(-1);
  g.N = b.size(-1);
  g.A = a.raw_data();
  g.lda_row = a.stride(-2);
  g.lda_col = a.stride(-1);
  g.B = b.raw_data();
  g.ldb_row = b.stride(-2);
  g.ldb_col = b.stride(-1);
  g.C = c.raw_data();
  g.ldc_row = c.stride(-2);
  g.ldc_col = c.stride(-1);
  return g;
}

void run_gemm(DType dtype, const GemmArgs& g, const GemmBatch& batch, Device device, bool reference) {
  (reference ? gemm_reference_stub : gemm_stub).get(device)(dtype, g, batch);
}

std::atomic<bool> g_allow_tf32{false};

// x (..., in) as an (M, in) matrix: a view with one row stride when the leading dims allow it
// (unit column stride only when x has it), else a contiguous copy.
Tensor as_rows(const Tensor& x) {
  const int64_t in = x.size(-1), M = shape_numel(Shape(x.shape().begin(), x.shape().end() - 1));
  auto row_stride_of = [](const Tensor& t, int64_t* row_stride) {
    int64_t inner = -1;  // the innermost leading dim of size != 1 seen so far
    *row_stride = t.size(-1);
    for (int64_t d = t.dim() - 2; d >= 0; --d) {
      if (t.size(d) == 1) continue;
      if (inner >= 0 && t.stride(d) != t.stride(inner) * t.size(inner)) return false;
      if (inner < 0) *row_stride = t.stride(d);
      inner = d;
    }
    return true;
  };
  Tensor x2 = x;
  int64_t row_stride;
  if (!row_stride_of(x2, &row_stride)) {
    x2 = x.contiguous();
    row_stride_of(x2, &row_stride);
  }
  return x2.as_strided({M, in}, {row_stride, x2.stride(-1)}, x2.offset());
}

// The row-blocked backward (linear_backward_rows_stub) where it beats three separate passes:
// many rows, a block of 128 or more rows (its G, X and dX rows in 256 KB), small per-chunk dW
// partials, and work enough for the threads (1024 x 1 -> 1 ran faster unfused). Measured on the
// coordinate MLP's layers (16384 x 42/64 -> 64/3) and shapes around them.
bool by_rows(int64_t M, int64_t N, int64_t K, int64_t itemsize) {
  return M >= 1024 && M >= 16 * std::max(N, K) && (N + 2 * K) * itemsize <= 2048 && M * N * K >= (int64_t(1) << 20);
}

LinearGrads linear_backward_rows(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor* y,
                                 LinearActivation act, int64_t M, bool need_dx, bool need_dw, bool need_db) {
  const int64_t N = w.size(0), K = w.size(1);
  Tensor xm = as_rows(x);
  if (xm.stride(1) != 1) xm = xm.contiguous();
  const Tensor dyc = dy.contiguous();
  const Tensor yc = act != LinearActivation::None ? y->contiguous() : Tensor();
  LinearGrads r;
  if (need_dx) r.dx = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (need_dw) r.dw = Tensor::empty({N, K}, x.dtype(), x.device());
  if (need_db) r.db = Tensor::empty({N}, x.dtype(), x.device());
  if (!need_dx && !need_dw && !need_db) return r;
  const LinearBackwardRows a{M, N, K, dyc.raw_data(), yc.defined() ? yc.raw_data() : nullptr, act,
                             xm.raw_data(), xm.stride(0), w.raw_data(), w.stride(0), w.stride(1),
                             need_dx ? r.dx.raw_data() : nullptr, need_dw ? r.dw.raw_data() : nullptr,
                             need_db ? r.db.raw_data() : nullptr};
  linear_backward_rows_stub.get(x.device())(x.dtype(), a);
  return r;
}

}  // namespace

DEFINE_DISPATCH(gemm_stub);
DEFINE_DISPATCH(gemm_reference_stub);
DEFINE_DISPATCH(linear_backward_rows_stub);

void set_matmul_allow_tf32(bool allow) { g_allow_tf32.store(allow, std::memory_order_relaxed); }
bool matmul_allow_tf32() { return g_allow_tf32.load(std::memory_order_relaxed); }

Tensor matmul_nd(const Tensor& a, const Tensor& b, const char* name, bool reference) {
  check_float_pair(a, b, name);
  EMBER_CHECK(a.dim() >= 2 && b.dim() >= 2, ValueError, name, ": expected at least 2-D operands, got ", a.shape(),
              " and ", b.shape());
  EMBER_CHECK(a.size(-1) == b.size(-2), ValueError, name, ": mat1 and mat2 shapes cannot be multiplied (",
              a.size(-2), "x", a.size(-1), " and ", b.size(-2), "x", b.size(-1), ")");
  const Shape batch_a(a.shape().begin(), a.shape().end() - 2), batch_b(b.shape().begin(), b.shape().end() - 2);
  const Shape batch = broadcast_shapes(batch_a, batch_b);
  const int64_t M = a.size(-2), N = b.size(-1);
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor out = Tensor::empty(out_shape, a.dtype(), a.device());
  if (out.numel() == 0) return out;
  if (a.size(-1) == 0) {
    fill_(out, Scalar::from_int(0));
    return out;
  }
  // Broadcast strides of the batch dims (0 where an operand is broadcast).
  const int64_t nb = int64_t(batch.size());
  Shape sa(nb, 0), sb(nb, 0);
  for (int64_t d = 0; d < nb; ++d) {
    const int64_t da = d - (nb - int64_t(batch_a.size())), db = d - (nb - int64_t(batch_b.size()));
    if (da >= 0 && batch_a[da] != 1) sa[d] = a.strides()[da];
    if (db >= 0 && batch_b[db] != 1) sb[d] = b.strides()[db];
  }
  const int64_t nbatch = shape_numel(batch);
  const int64_t mat_c = M * N;
  const GemmArgs g = matrix_args(a, b, out);
  // One stride per operand over the flattened batch when the batch dims coalesce.
  bool uniform = true;
  int64_t inner = -1;  // the innermost batch dim of size != 1
  for (int64_t d = 0; d < nb && uniform; ++d) {
    if (batch[d] == 1) continue;
    if (inner >= 0) uniform = sa[inner] == sa[d] * batch[d] && sb[inner] == sb[d] * batch[d];
    inner = d;
  }
  if (uniform) {
    const GemmBatch all{nbatch, inner >= 0 ? sa[inner] : 0, inner >= 0 ? sb[inner] : 0, mat_c};
    run_gemm(a.dtype(), g, all, a.device(), reference);
    return out;
  }
  // Otherwise one batched call per index of the outer batch dims, over the innermost one.
  for (int64_t d = nb - 1; d >= 0; --d)
    if (batch[d] != 1) { inner = d; break; }
  const int64_t inner_n = batch[inner], outer_n = nbatch / inner_n;
  const GemmBatch per_outer{inner_n, sa[inner], sb[inner], mat_c};
  const int64_t item = a.itemsize();
  for (int64_t i = 0; i < outer_n; ++i) {
    int64_t rem = i, off_a = 0, off_b = 0;
    for (int64_t d = inner - 1; d >= 0; --d) {
      const int64_t idx = rem % batch[d];
      rem /= batch[d];
      off_a += idx * sa[d];
      off_b += idx * sb[d];
    }
    GemmArgs gi = g;
    gi.A = static_cast<const char*>(a.raw_data()) + off_a * item;
    gi.B = static_cast<const char*>(b.raw_data()) + off_b * item;
    gi.C = static_cast<char*>(out.raw_data()) + i * inner_n * mat_c * item;
    run_gemm(a.dtype(), gi, per_outer, a.device(), reference);
  }
  return out;
}

Tensor addmm(const Tensor* c, const Tensor& a, const Tensor& b, double beta, double alpha, const Tensor* bias,
             GemmActivation act, const Tensor* out, bool reference) {
  check_float_pair(a, b, "addmm");
  EMBER_CHECK(a.dim() == 2 && b.dim() == 2, ValueError, "addmm: expected 2-D matrices, got ", a.shape(), " and ",
              b.shape());
  EMBER_CHECK(a.size(1) == b.size(0), ValueError, "mat1 and mat2 shapes cannot be multiplied (", shape_x(a), " and ",
              shape_x(b), ")");
  const Shape shape{a.size(0), b.size(1)};
  Tensor result;
  if (out) {
    check_same_device(*out, a, "addmm");
    EMBER_CHECK(out->shape() == shape && out->dtype() == a.dtype(), ValueError, "addmm: out has shape ",
                out->shape(), " and dtype ", dtype_name(out->dtype()), ", expected ", shape, " and ",
                dtype_name(a.dtype()));
    result = *out;
  } else {
    result = Tensor::empty(shape, a.dtype(), a.device());
  }
  double eff_beta = 0.0;
  if (c && beta != 0.0) {
    check_float_pair(*c, a, "addmm");
    broadcast_shapes(c->shape(), shape);  // raises on mismatch
    if (!(out && c->storage() == out->storage() && c->raw_data() == out->raw_data() && c->shape() == shape &&
          c->strides() == out->strides()))
      copy_(result, *c);
    eff_beta = beta;
  }
  if (bias) {
    check_float_pair(*bias, a, "addmm");
    EMBER_CHECK(bias->dim() == 1 && bias->size(0) == shape[1], ValueError, "addmm: bias of shape ", bias->shape(),
                " does not match ", shape[1], " output columns");
  }
  if (result.numel() == 0) return result;
  GemmArgs g = matrix_args(a, b, result);
  g.alpha = alpha;
  g.beta = eff_beta;
  if (bias) {
    g.bias = bias->raw_data();
    g.bias_stride = bias->stride(0);
  }
  g.activation = act;
  run_gemm(a.dtype(), g, GemmBatch{}, a.device(), reference);
  if (out) out->bump_version();
  return result;
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor* bias, LinearActivation act) {
  check_float_pair(x, w, "linear");
  EMBER_CHECK(w.dim() == 2, ValueError, "linear: weight must be 2-D (out_features, in_features), got ", w.shape());
  EMBER_CHECK(x.dim() >= 1, ValueError, "linear: input must have at least one dimension");
  EMBER_CHECK(x.size(-1) == w.size(1), ValueError, "mat1 and mat2 shapes cannot be multiplied (",
              x.numel() / std::max<int64_t>(x.size(-1), 1), "x", x.size(-1), " and ", w.size(1), "x", w.size(0), ")");
  const Tensor xm = as_rows(x);
  Tensor wt = w.as_strided({w.size(1), w.size(0)}, {w.stride(1), w.stride(0)}, w.offset());
  const GemmActivation epilogue = act == LinearActivation::ReLU ? GemmActivation::ReLU : GemmActivation::None;
  Tensor y = addmm(nullptr, xm, wt, 0.0, 1.0, bias, epilogue, nullptr);
  if (act == LinearActivation::Tanh) unary(UnaryOp::Tanh, y, &y);
  if (act == LinearActivation::Sigmoid) unary(UnaryOp::Sigmoid, y, &y);
  Shape out_shape(x.shape().begin(), x.shape().end() - 1);
  out_shape.push_back(w.size(0));
  return y.as_strided(out_shape, contiguous_strides(out_shape), 0);
}

LinearGrads linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor* y, LinearActivation act,
                            bool need_dx, bool need_dw, bool need_db) {
  check_float_pair(x, w, "linear_backward");
  EMBER_CHECK(w.dim() == 2 && x.dim() >= 1 && x.size(-1) == w.size(1), ValueError,
              "linear_backward: input ", x.shape(), " does not match weight ", w.shape());
  Shape y_shape(x.shape().begin(), x.shape().end() - 1);
  y_shape.push_back(w.size(0));
  EMBER_CHECK(dy.shape() == y_shape, ValueError, "linear_backward: grad_output has shape ", dy.shape(),
              " but the output has shape ", y_shape);
  check_float_pair(dy, x, "linear_backward");
  if (act != LinearActivation::None) {
    EMBER_CHECK(y != nullptr && y->shape() == y_shape, ValueError,
                "linear_backward: the activation's gradient needs the forward output of shape ", y_shape);
    check_float_pair(*y, x, "linear_backward");
  }
  const int64_t out_f = w.size(0), in_f = w.size(1), M = shape_numel(y_shape) / std::max<int64_t>(out_f, 1);
  if (x.device().is_cpu() && by_rows(M, out_f, in_f, x.itemsize()))
    return linear_backward_rows(dy, x, w, y, act, M, need_dx, need_dw, need_db);
  Tensor g = dy;
  if (act != LinearActivation::None) {
    const BinaryOp derivative = act == LinearActivation::ReLU   ? BinaryOp::ReluBackward
                                : act == LinearActivation::Tanh ? BinaryOp::TanhBackward
                                                                : BinaryOp::SigmoidBackward;
    g = binary(derivative, Operand::of(dy), Operand::of(*y));
  }
  const Tensor gc = g.contiguous();
  const Tensor g2 = gc.as_strided({M, out_f}, {out_f, 1}, gc.offset());
  LinearGrads r;
  if (need_dx) {
    const Tensor dx = addmm(nullptr, g2, w, 0.0, 1.0, nullptr, GemmActivation::None, nullptr);
    r.dx = dx.as_strided(x.shape(), contiguous_strides(x.shape()), 0);
  }
  if (need_dw) {
    const Tensor xc = x.contiguous();
    const Tensor x2 = xc.as_strided({M, in_f}, {in_f, 1}, xc.offset());
    const Tensor g2t = gc.as_strided({out_f, M}, {1, out_f}, gc.offset());
    r.dw = addmm(nullptr, g2t, x2, 0.0, 1.0, nullptr, GemmActivation::None, nullptr);
  }
  if (need_db) r.db = reduce(ReduceOp::Sum, g2, {0}, false, g2.dtype());
  return r;
}

}  // namespace ember
