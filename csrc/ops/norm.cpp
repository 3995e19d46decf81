// batch_norm / layer_norm: checks, statistics bookkeeping (running stats) and dispatch; the
// kernels are in cpu/kernels/batchnorm.cpp.
#include "ops/norm.h"

#include "ops/copy.h"
#include "ops/elementwise.h"

namespace ember {

DEFINE_DISPATCH(batch_norm_stub);
DEFINE_DISPATCH(batch_norm_backward_stub);
DEFINE_DISPATCH(layer_norm_stub);
DEFINE_DISPATCH(layer_norm_backward_stub);

namespace {
// A per-channel parameter as a contiguous tensor of x's dtype, or undefined when absent.
Tensor param(const std::optional<Tensor>& p, const Tensor& x, int64_t n, const char* op, const char* what) {
  if (!p) return Tensor();
  EMBER_CHECK(p->numel() == n, ValueError, op, ": expected ", what, " with ", n, " elements, but got shape ",
              p->shape());
  check_same_device(*p, x, op);
  return p->contiguous_as(x.dtype(), x.device());
}
const char* cptr(const Tensor& t) { return t.defined() ? static_cast<const char*>(t.raw_data()) : nullptr; }
char* mptr(const Tensor& t) { return t.defined() ? static_cast<char*>(t.raw_data()) : nullptr; }

Tensor mul(const Tensor& t, double s) { return binary(BinaryOp::Mul, Operand::of(t), Operand::of(Scalar::from_double(s))); }

// running = (1 - momentum) * running + momentum * value, in place: computed in double (value is
// float64) on the statistics' device, then stored in running's dtype.
void update_running(const Tensor& running, const Tensor& value, double momentum) {
  const Tensor r = running.to(DType::Float64, running.device());
  const Tensor a = mul(r, 1 - momentum), b = mul(value, momentum);
  copy_(running, binary(BinaryOp::Add, Operand::of(a), Operand::of(b)));
  running.bump_version();
}

// The float64 statistics (C,) the kernels read, on x's device.
void check_stats(const Tensor& t, const Tensor& x, int64_t n, const char* op, const char* what) {
  EMBER_CHECK(t.defined() && t.dtype() == DType::Float64 && t.is_contiguous() && t.numel() == n, ValueError, op,
              ": expected ", what, " to be the forward's contiguous float64 statistics of ", n, " elements");
  check_same_device(t, x, op);
}

void bn_geometry(const Tensor& x, int64_t& N, int64_t& C, int64_t& L) {
  EMBER_CHECK(x.dim() >= 2, ValueError, "batch_norm: expected 2D or more input (N, C, ...), got shape ", x.shape());
  N = x.shape()[0], C = x.shape()[1], L = 1;
  for (int64_t i = 2; i < x.dim(); ++i) L *= x.shape()[i];
}
}  // namespace

std::tuple<Tensor, Tensor, Tensor> batch_norm_forward(const Tensor& x, const std::optional<Tensor>& running_mean,
                                                      const std::optional<Tensor>& running_var,
                                                      const std::optional<Tensor>& weight,
                                                      const std::optional<Tensor>& bias, bool training,
                                                      double momentum, double eps, bool relu) {
  EMBER_CHECK(is_floating(x.dtype()), TypeError, "batch_norm: expected a floating-point input, got ",
              dtype_name(x.dtype()));
  int64_t N, C, L;
  bn_geometry(x, N, C, L);
  if (training)
    EMBER_CHECK(N * L > 1, ValueError, "Expected more than 1 value per channel when training, got input size ",
                x.shape());
  else
    EMBER_CHECK(running_mean && running_var, ValueError,
                "batch_norm: running_mean and running_var must be given when training=False");
  if (running_mean) EMBER_CHECK(running_mean->numel() == C, ValueError, "batch_norm: running_mean should contain ",
                                C, " elements not ", running_mean->numel());
  if (running_var) EMBER_CHECK(running_var->numel() == C, ValueError, "batch_norm: running_var should contain ",
                               C, " elements not ", running_var->numel());
  if (running_mean) check_same_device(*running_mean, x, "batch_norm");
  if (running_var) check_same_device(*running_var, x, "batch_norm");
  Tensor w = param(weight, x, C, "batch_norm", "weight"), b = param(bias, x, C, "batch_norm", "bias");
  Tensor xc = x.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  // Eval mode normalises with copies of the running statistics (later updates must not reach
  // the saved ones); training mode's kernel writes the batch statistics.
  Tensor mean = training ? Tensor::empty({C}, DType::Float64, x.device())
                         : running_mean->to(DType::Float64, x.device());
  Tensor var = training ? Tensor::empty({C}, DType::Float64, x.device())
                        : running_var->to(DType::Float64, x.device());
  batch_norm_stub.get(x.device())(x.dtype(), cptr(xc), mptr(y), cptr(w), cptr(b), mean.data<double>(),
                                  var.data<double>(), N, C, L, eps, training, relu);
  if (training) {
    if (running_mean) update_running(*running_mean, mean, momentum);
    // torch updates the running variance with the unbiased estimate.
    if (running_var) update_running(*running_var, mul(var, double(N * L) / double(N * L - 1)), momentum);
  }
  return {y, mean, var};
}

std::tuple<Tensor, Tensor, Tensor> batch_norm_backward(const Tensor& dy, const Tensor& x, const std::optional<Tensor>& weight,
                                                       const Tensor& mean, const Tensor& var, bool training, double eps,
                                                       bool need_dx, bool need_dweight, bool need_dbias,
                                                       const std::optional<Tensor>& bias, bool relu) {
  int64_t N, C, L;
  bn_geometry(x, N, C, L);
  Tensor w = param(weight, x, C, "batch_norm", "weight");
  Tensor b = relu ? param(bias, x, C, "batch_norm", "bias") : Tensor();
  EMBER_CHECK(dy.shape() == x.shape(), ValueError, "batch_norm_backward: grad shape ", dy.shape(),
              " differs from input shape ", x.shape());
  check_same_device(dy, x, "batch_norm_backward");
  check_stats(mean, x, C, "batch_norm_backward", "mean");
  check_stats(var, x, C, "batch_norm_backward", "var");
  Tensor xc = x.contiguous(), g = dy.contiguous_as(x.dtype(), x.device());
  Tensor dx = need_dx ? Tensor::empty(x.shape(), x.dtype(), x.device()) : Tensor();
  Tensor dw = need_dweight ? Tensor::empty({C}, x.dtype(), x.device()) : Tensor();
  Tensor db = need_dbias ? Tensor::empty({C}, x.dtype(), x.device()) : Tensor();
  batch_norm_backward_stub.get(x.device())(x.dtype(), cptr(g), cptr(xc), cptr(w), cptr(b), mean.data<double>(),
                                           var.data<double>(), eps, mptr(dx), mptr(dw), mptr(db), N, C, L, training,
                                           relu);
  return {dx, dw, db};
}

namespace {
void ln_geometry(const Tensor& x, const Shape& ns, int64_t& M, int64_t& D) {
  const int64_t k = int64_t(ns.size());
  bool ok = k >= 1 && k <= x.dim();
  for (int64_t i = 0; ok && i < k; ++i) ok = x.shape()[x.dim() - k + i] == ns[i];
  EMBER_CHECK(ok, ValueError, "Given normalized_shape=", ns, ", expected input with shape [*, ",
              [&] { std::string s; for (int64_t i = 0; i < k; ++i) s += (i ? ", " : "") + std::to_string(ns[i]); return s; }(),
              "], but got input of size", x.shape());
  D = shape_numel(ns);
  M = D == 0 ? 0 : x.numel() / D;
}
}  // namespace

std::tuple<Tensor, Tensor, Tensor> layer_norm_forward(const Tensor& x, const Shape& normalized_shape,
                                                      const std::optional<Tensor>& weight,
                                                      const std::optional<Tensor>& bias, double eps) {
  EMBER_CHECK(is_floating(x.dtype()), TypeError, "layer_norm: expected a floating-point input, got ",
              dtype_name(x.dtype()));
  int64_t M, D;
  ln_geometry(x, normalized_shape, M, D);
  Tensor w = param(weight, x, D, "layer_norm", "weight"), b = param(bias, x, D, "layer_norm", "bias");
  Tensor xc = x.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor mean = Tensor::empty({M}, DType::Float64, x.device());
  Tensor rstd = Tensor::empty({M}, DType::Float64, x.device());
  if (x.numel() > 0)
    layer_norm_stub.get(x.device())(x.dtype(), cptr(xc), mptr(y), cptr(w), cptr(b), mean.data<double>(),
                                    rstd.data<double>(), M, D, eps);
  return {y, mean, rstd};
}

std::tuple<Tensor, Tensor, Tensor> layer_norm_backward(const Tensor& dy, const Tensor& x, const Shape& normalized_shape,
                                                       const std::optional<Tensor>& weight, const Tensor& mean,
                                                       const Tensor& rstd, bool need_dx, bool need_dweight,
                                                       bool need_dbias) {
  int64_t M, D;
  ln_geometry(x, normalized_shape, M, D);
  Tensor w = param(weight, x, D, "layer_norm", "weight");
  EMBER_CHECK(dy.shape() == x.shape(), ValueError, "layer_norm_backward: grad shape ", dy.shape(),
              " differs from input shape ", x.shape());
  check_same_device(dy, x, "layer_norm_backward");
  check_stats(mean, x, M, "layer_norm_backward", "mean");
  check_stats(rstd, x, M, "layer_norm_backward", "rstd");
  Tensor xc = x.contiguous(), g = dy.contiguous_as(x.dtype(), x.device());
  Tensor dx = need_dx ? Tensor::empty(x.shape(), x.dtype(), x.device()) : Tensor();
  Tensor dw = need_dweight ? Tensor::empty(normalized_shape, x.dtype(), x.device()) : Tensor();
  Tensor db = need_dbias ? Tensor::empty(normalized_shape, x.dtype(), x.device()) : Tensor();
  if (M == 0) {
    if (dw.defined()) fill_(dw, Scalar::from_double(0));
    if (db.defined()) fill_(db, Scalar::from_double(0));
    return {dx, dw, db};
  }
  layer_norm_backward_stub.get(x.device())(x.dtype(), cptr(g), cptr(xc), cptr(w), mean.data<double>(),
                                           rstd.data<double>(), mptr(dx), mptr(dw), mptr(db), M, D);
  return {dx, dw, db};
}

}  // namespace ember
