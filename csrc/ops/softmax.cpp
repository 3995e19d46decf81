// softmax / log_softmax and the fused cross-entropy / nll_loss: argument checks, geometry and
// reductions of the per-position losses; the kernels are in cpu/kernels/softmax_xent.cpp.
#include "ops/softmax.h"
#include "ops/copy.h"
#include "ops/reduce.h"

#include <limits>

namespace ember {

DEFINE_DISPATCH(softmax_stub);
DEFINE_DISPATCH(softmax_backward_stub);
DEFINE_DISPATCH(xent_forward_stub);
DEFINE_DISPATCH(xent_backward_stub);

namespace {
void split_at(const Shape& shape, int64_t dim, int64_t& outer, int64_t& D, int64_t& inner) {
  outer = 1, inner = 1, D = shape.empty() ? 1 : shape[dim];
  for (int64_t i = 0; i < dim; ++i) outer *= shape[i];
  for (size_t i = dim + 1; i < shape.size(); ++i) inner *= shape[i];
}

void check_float(const Tensor& t, const char* name) {
  EMBER_CHECK(is_floating(t.dtype()), TypeError, name, ": expected a floating-point tensor, got ",
              dtype_name(t.dtype()));
}

[[noreturn]] void throw_bad_target(int64_t t, bool log_probs_input, int64_t C, const Shape& input_shape) {
  throw IndexError(str("Target ", t, " is out of bounds. (", log_probs_input ? "nll_loss" : "cross_entropy",
                       " with ", C, " classes, input shape ", input_shape, ")"));
}

// The sum of every element of a floating tensor on any device, accumulated in double.
double sum_to_host(const Tensor& t) {
  return *reduce(ReduceOp::Sum, t, {}, false, DType::Float64).to(DType::Float64, kCPU).data<double>();
}
}  // namespace

Tensor softmax(const Tensor& x, int64_t dim, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  check_float(x, name);
  const int64_t d = x.dim() == 0 ? 0 : x.wrap_dim(dim);
  Tensor in = x.contiguous();
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.numel() == 0) return out;
  int64_t outer, D, inner;
  split_at(x.shape(), d, outer, D, inner);
  softmax_stub.get(x.device())(x.dtype(), static_cast<char*>(out.raw_data()),
                               static_cast<const char*>(in.raw_data()), outer, D, inner, log);
  return out;
}

Tensor softmax_backward(const Tensor& dy, const Tensor& y, int64_t dim, bool log) {
  EMBER_CHECK(dy.shape() == y.shape() && dy.dtype() == y.dtype(), ValueError,
              "softmax_backward: grad ", dy.shape(), " and output ", y.shape(), " differ");
  check_same_device(dy, y, "softmax_backward");
  const int64_t d = y.dim() == 0 ? 0 : y.wrap_dim(dim);
  Tensor g = dy.contiguous(), yc = y.contiguous();
  Tensor dx = Tensor::empty(y.shape(), y.dtype(), y.device());
  if (y.numel() == 0) return dx;
  int64_t outer, D, inner;
  split_at(y.shape(), d, outer, D, inner);
  softmax_backward_stub.get(y.device())(y.dtype(), static_cast<char*>(dx.raw_data()),
                                        static_cast<const char*>(g.raw_data()),
                                        static_cast<const char*>(yc.raw_data()), outer, D, inner, log);
  return dx;
}

namespace {
// Fills the geometry and target/weight pointers shared by forward and backward. `keep` holds the
// contiguous copies alive.
struct XentSetup {
  XentArgs args;
  Tensor input, target, weight;
  Shape loss_shape;  // shape of the unreduced loss
};

XentSetup setup_xent(const Tensor& input, const Tensor& target, const std::optional<Tensor>& weight,
                     int64_t ignore_index, double label_smoothing, bool log_probs_input, bool check_targets) {
  const char* name = log_probs_input ? "nll_loss" : "cross_entropy";
  check_float(input, name);
  EMBER_CHECK(input.dim() >= 1, ValueError, name, ": expected input with at least 1 dimension, got shape ",
              input.shape());
  EMBER_CHECK(label_smoothing >= 0 && label_smoothing <= 1, ValueError, name,
              ": label_smoothing must be between 0.0 and 1.0. Got: ", label_smoothing);
  check_same_device(target, input, name);
  if (weight) check_same_device(*weight, input, name);
  XentSetup st;
  XentArgs& a = st.args;
  const bool batched = input.dim() >= 2;
  a.N = batched ? input.shape()[0] : 1;
  a.C = batched ? input.shape()[1] : input.shape()[0];
  a.S = 1;
  for (int64_t i = 2; i < input.dim(); ++i) a.S *= input.shape()[i];
  st.input = input.contiguous();
  a.input = static_cast<const char*>(st.input.raw_data());
  // Class-index targets have the input's shape without the class dim.
  Shape idx_shape;
  if (batched) {
    idx_shape.push_back(input.shape()[0]);
    for (int64_t i = 2; i < input.dim(); ++i) idx_shape.push_back(input.shape()[i]);
  }
  st.loss_shape = idx_shape;
  if (is_floating(target.dtype())) {
    EMBER_CHECK(!log_probs_input, TypeError, "nll_loss: expected int64 class-index targets, got ",
                dtype_name(target.dtype()));
    EMBER_CHECK(target.shape() == input.shape(), ValueError, name, ": probability targets must have the input's shape, "
                "but got target shape ", target.shape(), " for input shape ", input.shape());
    EMBER_CHECK(target.dtype() == input.dtype(), TypeError, name, ": expected target dtype ",
                dtype_name(input.dtype()), ", got ", dtype_name(target.dtype()));
    st.target = target.contiguous();
    a.target_prob = static_cast<const char*>(st.target.raw_data());
  } else {
    EMBER_CHECK(target.dtype() == DType::Int64, TypeError, name,
                ": expected class-index targets of dtype int64 (or float probabilities), got ",
                dtype_name(target.dtype()));
    EMBER_CHECK(target.shape() == idx_shape, ValueError, name, ": expected target shape ", idx_shape,
                " for input shape ", input.shape(), ", but got target shape ", target.shape());
    st.target = target.contiguous();
    a.target_idx = st.target.data<int64_t>();
    // On the CPU the targets are checked here; CUDA kernels flag the first bad position instead
    // (XentArgs::bad_target) and the caller raises the same error from it.
    if (check_targets && input.device().is_cpu()) {
      const int64_t n = st.target.numel();
      for (int64_t i = 0; i < n; ++i) {
        const int64_t t = a.target_idx[i];
        if (!(t == ignore_index || (t >= 0 && t < a.C))) throw_bad_target(t, log_probs_input, a.C, input.shape());
      }
    }
  }
  a.weight_sum = double(a.C);
  if (weight) {
    EMBER_CHECK(weight->dim() == 1 && weight->numel() == a.C, ValueError, name,
                ": weight tensor should be defined either for all ", a.C, " classes or no classes but got weight "
                "tensor of shape: ", weight->shape());
    st.weight = weight->to(input.dtype(), input.device()).contiguous();
    a.weight = static_cast<const char*>(st.weight.raw_data());
    a.weight_sum = sum_to_host(st.weight);
  }
  a.ignore_index = ignore_index;
  a.label_smoothing = label_smoothing;
  a.log_probs_input = log_probs_input;
  return st;
}

// A device flag for XentArgs::bad_target when class targets live on a GPU, else undefined.
Tensor make_target_flag(XentSetup& st, const Tensor& input) {
  if (!st.args.target_idx || input.device().is_cpu()) return Tensor();
  Tensor flag = Tensor::empty({}, DType::Int64, input.device());
  fill_(flag, Scalar::from_int(std::numeric_limits<int64_t>::max()));
  st.args.bad_target = flag.data<int64_t>();
  return flag;
}

// Raises the CPU's IndexError for the first out-of-range target a CUDA kernel flagged.
void raise_flagged_target(const Tensor& flag, const XentSetup& st, const Tensor& input, bool log_probs_input) {
  if (!flag.defined()) return;
  const int64_t pos = *flag.to(DType::Int64, kCPU).data<int64_t>();
  if (pos == std::numeric_limits<int64_t>::max()) return;
  const Tensor t = st.target.as_strided({}, {}, st.target.offset() + pos).to(DType::Int64, kCPU);
  throw_bad_target(*t.data<int64_t>(), log_probs_input, st.args.C, input.shape());
}
}  // namespace

std::tuple<Tensor, Tensor, double> cross_entropy_forward(const Tensor& input, const Tensor& target,
                                                         const std::optional<Tensor>& weight, Reduction reduction,
                                                         int64_t ignore_index, double label_smoothing,
                                                         bool log_probs_input) {
  XentSetup st = setup_xent(input, target, weight, ignore_index, label_smoothing, log_probs_input, true);
  XentArgs& a = st.args;
  Tensor loss = Tensor::empty(st.loss_shape, input.dtype(), input.device());
  Tensor lse = Tensor::empty(st.loss_shape, DType::Float64, input.device());
  Tensor denom = Tensor::empty(st.loss_shape, input.dtype(), input.device());
  a.loss = static_cast<char*>(loss.raw_data());
  a.lse = static_cast<char*>(lse.raw_data());
  a.denom = static_cast<char*>(denom.raw_data());
  if (loss.numel() > 0 && a.C > 0) {
    const Tensor flag = make_target_flag(st, input);
    xent_forward_stub.get(input.device())(input.dtype(), a);
    raise_flagged_target(flag, st, input, log_probs_input);
  } else if (loss.numel() > 0) {
    if (a.target_idx && input.device().is_cuda()) {  // no kernel ran to check them
      const auto [lo, hi] = min_max_int64(st.target);
      if (lo != ignore_index || hi != ignore_index)
        throw_bad_target(lo != ignore_index ? lo : hi, log_probs_input, a.C, input.shape());
    }
    // No classes: every class-index target was ignore_index (others fail the range check), and a
    // probability target over zero classes contributes nothing. torch returns zeros here.
    fill_(loss, Scalar::from_double(0.0));
    fill_(lse, Scalar::from_double(-std::numeric_limits<double>::infinity()));
    fill_(denom, Scalar::from_double(a.target_idx ? 0.0 : 1.0));
  }
  if (reduction == Reduction::None) return {loss, lse, 1.0};
  const double total = loss.numel() ? sum_to_host(loss) : 0.0;
  const double weight_total = denom.numel() ? sum_to_host(denom) : 0.0;
  Tensor out = Tensor::empty({}, input.dtype(), input.device());
  const double value = reduction == Reduction::Sum ? total : total / weight_total;  // 0/0 = nan, as torch
  fill_(out, Scalar::from_double(value));
  return {out, lse, weight_total};
}

Tensor cross_entropy_backward(const Tensor& grad, const Tensor& input, const Tensor& target,
                              const std::optional<Tensor>& weight, const Tensor& lse, Reduction reduction,
                              int64_t ignore_index, double label_smoothing, bool log_probs_input,
                              double total_weight) {
  XentSetup st = setup_xent(input, target, weight, ignore_index, label_smoothing, log_probs_input, false);
  XentArgs& a = st.args;
  check_same_device(grad, input, "cross_entropy_backward");
  check_same_device(lse, input, "cross_entropy_backward");
  EMBER_CHECK(lse.dtype() == DType::Float64 && lse.shape() == st.loss_shape, ValueError,
              "cross_entropy_backward: expected the forward's float64 log-sum-exp of shape ", st.loss_shape,
              ", got ", dtype_name(lse.dtype()), " ", lse.shape());
  Tensor g = grad.contiguous_as(input.dtype(), input.device());
  Tensor lse_c = lse.contiguous();
  if (reduction == Reduction::None) {
    EMBER_CHECK(g.shape() == st.loss_shape, ValueError, "cross_entropy_backward: grad shape ", g.shape(),
                " differs from loss shape ", st.loss_shape);
    a.grad_stride = 1;
  } else {
    EMBER_CHECK(g.numel() == 1, ValueError, "cross_entropy_backward: expected a scalar grad");
    a.grad_stride = 0;
    a.scale = reduction == Reduction::Mean ? 1.0 / total_weight : 1.0;
  }
  a.grad = static_cast<const char*>(g.raw_data());
  a.lse_in = static_cast<const char*>(lse_c.raw_data());
  Tensor dinput = Tensor::empty(input.shape(), input.dtype(), input.device());
  a.dinput = static_cast<char*>(dinput.raw_data());
  // The forward has rejected bad targets; the CUDA kernel zeroes the gradient of any it meets
  // rather than reading outside the row (no flag here: that would cost a sync per step).
  if (dinput.numel() > 0) xent_backward_stub.get(input.device())(input.dtype(), a);
  return dinput;
}

}  // namespace ember
