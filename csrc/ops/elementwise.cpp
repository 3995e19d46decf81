// Elementwise ops: type promotion, broadcasting, output checks and dispatch.
#include "ops/elementwise.h"

#include "ops/copy.h"

namespace ember {

DEFINE_DISPATCH(unary_stub);
DEFINE_DISPATCH(binary_stub);
DEFINE_DISPATCH(ternary_stub);

namespace {
enum class Category { Bool = 0, Integral = 1, Floating = 2 };
Category category(DType t) {
  if (t == DType::Bool) return Category::Bool;
  return is_floating(t) ? Category::Floating : Category::Integral;
}
DType default_float() { return DType::Float32; }

const char* unary_name(UnaryOp op) {
  static const char* names[] = {"neg", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "abs", "sign", "sin",
                                "cos", "tanh", "sigmoid", "relu", "floor", "ceil", "round", "reciprocal",
                                "square", "logical_not", "erf", "log2", "exp2", "trunc", "frac", "isnan",
                                "isinf", "isfinite", "bitwise_not"};
  return names[int(op)];
}
const char* binary_name(BinaryOp op) {
  static const char* names[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt",
                                "le", "gt", "ge", "logical_and", "logical_or", "logical_xor", "floor_divide",
                                "remainder", "atan2", "bitwise_and", "bitwise_or", "bitwise_xor",
                                "relu_backward", "sigmoid_backward", "tanh_backward"};
  return names[int(op)];
}

// torch's can_cast: no float -> integral, no non-bool -> bool.
bool can_cast(DType from, DType to) {
  if (is_floating(from) && !is_floating(to)) return false;
  if (from != DType::Bool && to == DType::Bool) return false;
  return true;
}

// A 0-d CPU tensor holding a scalar, so that every operand goes through the same strided loop.
Tensor scalar_tensor(Scalar s, DType dtype, Device device) {
  Tensor t = Tensor::empty({}, dtype, device);
  fill_(t, s);
  return t;
}

Tensor as_dtype(const Tensor& t, DType dtype) { return t.dtype() == dtype ? t : t.to(dtype, t.device()); }

Tensor materialize(const Operand& o, DType dtype, Device device) {
  return o.tensor ? as_dtype(*o.tensor, dtype) : scalar_tensor(o.scalar, dtype, device);
}

// Prepares the output: a new tensor, or `out` after checking shape and castability. Returns the
// tensor the kernel writes, which is a temporary when `out` has another dtype.
Tensor prepare_out(const Tensor* out, const Shape& shape, DType dtype, Device device, const char* name) {
  if (!out) return Tensor::empty(shape, dtype, device);
  EMBER_CHECK(out->shape() == shape, ValueError, name, ": output with shape ", out->shape(),
              " doesn't match the broadcast shape ", shape);
  EMBER_CHECK(out->device() == device, ValueError, name, ": expected all tensors to be on the same device, but found ",
              out->device().str(), " and ", device.str());
  EMBER_CHECK(can_cast(dtype, out->dtype()), TypeError, name, ": result type ", dtype_name(dtype),
              " can't be cast to the desired output type ", dtype_name(out->dtype()));
  return out->dtype() == dtype ? *out : Tensor::empty(shape, dtype, device);
}

void finish_out(const Tensor* out, const Tensor& result) {
  if (out && result.storage() != out->storage()) copy_(*out, result);
}

// An input that partially overlaps the output (but is not the same view) must be read from a copy.
Tensor unalias(const Tensor& in, const Tensor& result) {
  if (may_overlap(in, result) &&
      !(in.raw_data() == result.raw_data() && in.strides() == result.strides() && in.shape() == result.shape()))
    return in.clone();
  return in;
}

Device operand_device(std::initializer_list<const Operand*> ops, const char* name) {
  const Tensor* first = nullptr;
  for (const Operand* o : ops) {
    if (!o->tensor) continue;
    // 0-d CPU tensors may mix with CUDA tensors, as in torch.
    if (!first) { first = o->tensor; continue; }
    if (first->device() != o->tensor->device()) {
      const bool first_scalar = first->dim() == 0 && first->device().is_cpu();
      const bool this_scalar = o->tensor->dim() == 0 && o->tensor->device().is_cpu();
      if (first_scalar) first = o->tensor;
      else EMBER_CHECK(this_scalar, ValueError, name, ": expected all tensors to be on the same device, but found at least two devices, ",
                       first->device().str(), " and ", o->tensor->device().str(), "!");
    }
  }
  return first ? first->device() : kCPU;
}
}  // namespace

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    EMBER_CHECK(da == db || da == 1 || db == 1, ValueError, "The size of tensor a (", da,
                ") must match the size of tensor b (", db, ") at non-singleton dimension ", i,
                " (shapes ", a, " and ", b, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

DType result_type(std::initializer_list<Operand> operands) {
  // Three priority classes, each keeping its own promoted dtype: dimensioned tensors, 0-d tensors,
  // and Python numbers. A lower class only matters when its category is higher.
  bool has[3] = {false, false, false};
  DType best[3] = {DType::Bool, DType::Bool, DType::Bool};
  for (const Operand& o : operands) {
    int cls;
    DType t;
    if (o.tensor) {
      cls = o.tensor->dim() > 0 ? 0 : 1;
      t = o.tensor->dtype();
    } else {
      cls = 2;
      t = o.scalar.is_bool ? DType::Bool : o.scalar.is_integral ? DType::Int64 : default_float();
    }
    best[cls] = has[cls] ? promote_types(best[cls], t) : t;
    has[cls] = true;
  }
  DType r = DType::Bool;
  bool any = false;
  for (int cls = 0; cls < 3; ++cls) {
    if (!has[cls]) continue;
    if (!any) { r = best[cls]; any = true; continue; }
    if (int(category(best[cls])) > int(category(r))) {
      // A higher category from a lower class: a float scalar promotes an int tensor to the
      // default float dtype (or to the 0-d tensor's dtype), not to float64.
      r = cls == 2 && category(best[cls]) == Category::Floating ? default_float()
          : cls == 2 && category(best[cls]) == Category::Integral ? DType::Int64 : best[cls];
    }
  }
  return r;
}

Tensor unary(UnaryOp op, const Tensor& x, const Tensor* out) {
  const char* name = unary_name(op);
  DType in_dtype = x.dtype(), out_dtype = x.dtype();
  switch (op) {
    case UnaryOp::Exp: case UnaryOp::Log: case UnaryOp::Log1p: case UnaryOp::Expm1: case UnaryOp::Sqrt:
    case UnaryOp::Rsqrt: case UnaryOp::Sin: case UnaryOp::Cos: case UnaryOp::Tanh: case UnaryOp::Sigmoid:
    case UnaryOp::Reciprocal: case UnaryOp::Erf: case UnaryOp::Log2: case UnaryOp::Exp2:
      if (!is_floating(in_dtype)) in_dtype = out_dtype = default_float();
      break;
    case UnaryOp::Frac:
      EMBER_CHECK(is_floating(in_dtype), TypeError, name, ": expected a floating-point tensor, got ", dtype_name(in_dtype));
      break;
    case UnaryOp::LogicalNot: case UnaryOp::IsNan: case UnaryOp::IsInf: case UnaryOp::IsFinite:
      out_dtype = DType::Bool;
      break;
    case UnaryOp::BitwiseNot:
      EMBER_CHECK(!is_floating(in_dtype), TypeError, name, ": bitwise ops need integer or bool tensors, got ",
                  dtype_name(in_dtype));
      break;
    case UnaryOp::Neg:
      EMBER_CHECK(in_dtype != DType::Bool, TypeError,
                  "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert a mask, "
                  "use the `~` or `logical_not()` operator instead.");
      break;
    default:
      break;
  }
  Tensor result = prepare_out(out, x.shape(), out_dtype, x.device(), name);
  if (x.numel() == 0) return out ? *out : result;
  Tensor in = unalias(as_dtype(x, in_dtype), result);
  const auto plan = make_loop_plan<2>(result.shape(), {result.strides(), in.strides()},
                                      {result.itemsize(), in.itemsize()});
  unary_stub.get(x.device())(op, plan, static_cast<char*>(result.raw_data()), static_cast<char*>(in.raw_data()),
                             out_dtype, in_dtype);
  finish_out(out, result);
  if (out) out->bump_version();
  return out ? *out : result;
}

Tensor binary(BinaryOp op, Operand a, Operand b, const Tensor* out, Scalar alpha) {
  const char* name = binary_name(op);
  const Device device = operand_device({&a, &b}, name);
  DType compute = result_type({a, b});
  DType out_dtype = compute;
  switch (op) {
    case BinaryOp::Div: case BinaryOp::Atan2:
      if (!is_floating(compute)) compute = out_dtype = default_float();
      break;
    case BinaryOp::Eq: case BinaryOp::Ne: case BinaryOp::Lt: case BinaryOp::Le: case BinaryOp::Gt:
    case BinaryOp::Ge: case BinaryOp::LogicalAnd: case BinaryOp::LogicalOr: case BinaryOp::LogicalXor:
      out_dtype = DType::Bool;
      break;
    case BinaryOp::BitwiseAnd: case BinaryOp::BitwiseOr: case BinaryOp::BitwiseXor:
      EMBER_CHECK(!is_floating(compute), TypeError, name, ": bitwise ops need integer or bool tensors, got ",
                  dtype_name(compute));
      break;
    case BinaryOp::Sub:
      EMBER_CHECK(compute != DType::Bool, TypeError,
                  "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or "
                  "`logical_xor()` operator instead.");
      break;
    case BinaryOp::Add: case BinaryOp::Mul: case BinaryOp::Maximum: case BinaryOp::Minimum:
      break;
    default:
      if (compute == DType::Bool) compute = out_dtype = DType::Int64;
      break;
  }
  if (op == BinaryOp::Add && compute == DType::Bool && !(alpha.is_bool || (alpha.is_integral && alpha.i == 1)))
    compute = out_dtype = DType::Int64;
  const Shape& sa = a.tensor ? a.tensor->shape() : Shape{};
  const Shape& sb = b.tensor ? b.tensor->shape() : Shape{};
  const Shape shape = broadcast_shapes(sa, sb);
  Tensor result = prepare_out(out, shape, out_dtype, device, name);
  if (result.numel() == 0) return out ? *out : result;
  Tensor ta = unalias(materialize(a, compute, device), result);
  Tensor tb = unalias(materialize(b, compute, device), result);
  if (ta.device() != device) ta = ta.to(compute, device);
  if (tb.device() != device) tb = tb.to(compute, device);
  const auto plan = make_loop_plan<3>(shape, {result.strides(), broadcast_strides(ta, shape), broadcast_strides(tb, shape)},
                                      {result.itemsize(), ta.itemsize(), tb.itemsize()});
  binary_stub.get(device)(op, plan, static_cast<char*>(result.raw_data()), static_cast<char*>(ta.raw_data()),
                          static_cast<char*>(tb.raw_data()), out_dtype, compute, alpha);
  finish_out(out, result);
  if (out) out->bump_version();
  return out ? *out : result;
}

namespace {
Tensor ternary(TernaryOp op, const char* name, const Tensor& x, Operand b, Operand c, DType dtype, int mode,
               const Tensor* out, Shape shape) {
  const Device device = x.device();
  Tensor result = prepare_out(out, shape, dtype, device, name);
  if (result.numel() == 0) return out ? *out : result;
  const DType first_dtype = op == TernaryOp::Where ? DType::Bool : dtype;
  Tensor ta = unalias(as_dtype(x, first_dtype), result);
  Tensor tb = unalias(materialize(b, dtype, device), result);
  Tensor tc = unalias(materialize(c, dtype, device), result);
  for (Tensor* t : {&ta, &tb, &tc}) check_same_device(*t, result, name);
  const auto plan = make_loop_plan<4>(
      shape, {result.strides(), broadcast_strides(ta, shape), broadcast_strides(tb, shape), broadcast_strides(tc, shape)},
      {result.itemsize(), ta.itemsize(), tb.itemsize(), tc.itemsize()});
  ternary_stub.get(device)(op, plan, static_cast<char*>(result.raw_data()), static_cast<char*>(ta.raw_data()),
                           static_cast<char*>(tb.raw_data()), static_cast<char*>(tc.raw_data()), dtype, mode);
  finish_out(out, result);
  if (out) out->bump_version();
  return out ? *out : result;
}
const Shape& shape_of(const Operand& o) {
  static const Shape empty;
  return o.tensor ? o.tensor->shape() : empty;
}
}  // namespace

Tensor where(const Tensor& cond, Operand a, Operand b) {
  const DType dtype = result_type({a, b});
  const Shape shape = broadcast_shapes(cond.shape(), broadcast_shapes(shape_of(a), shape_of(b)));
  const Device device = operand_device({&a, &b}, "where");
  EMBER_CHECK(cond.device() == device || (cond.dim() == 0 && cond.device().is_cpu()), ValueError,
              "where: expected all tensors to be on the same device, but found ", cond.device().str(), " and ",
              device.str());
  Tensor c = cond.device() == device ? cond : cond.to(DType::Bool, device);
  return ternary(TernaryOp::Where, "where", c, a, b, dtype, 0, nullptr, shape);
}

Tensor clamp(const Tensor& x, std::optional<Operand> lo, std::optional<Operand> hi, const Tensor* out) {
  EMBER_CHECK(lo || hi, ValueError, "clamp: at least one of 'min' or 'max' must not be None");
  DType dtype = x.dtype();
  if (lo) dtype = result_type({Operand::of(x), *lo});
  if (hi) dtype = promote_types(dtype, result_type({Operand::of(x), *hi}));
  EMBER_CHECK(dtype != DType::Bool, TypeError, "clamp is not supported for bool tensors");
  Shape shape = x.shape();
  if (lo) shape = broadcast_shapes(shape, shape_of(*lo));
  if (hi) shape = broadcast_shapes(shape, shape_of(*hi));
  const int mode = (lo ? 1 : 0) | (hi ? 2 : 0);
  return ternary(TernaryOp::Clamp, "clamp", x, lo ? *lo : Operand::of(Scalar::from_int(0)),
                 hi ? *hi : Operand::of(Scalar::from_int(0)), dtype, mode, out, shape);
}

Tensor lerp(const Tensor& a, const Tensor& b, Operand w, const Tensor* out) {
  EMBER_CHECK(is_floating(a.dtype()) && a.dtype() == b.dtype(), TypeError,
              "lerp: expected start and end to have the same floating-point dtype, got ", dtype_name(a.dtype()),
              " and ", dtype_name(b.dtype()));
  Shape shape = broadcast_shapes(broadcast_shapes(a.shape(), b.shape()), shape_of(w));
  return ternary(TernaryOp::Lerp, "lerp", a, Operand::of(b), w, a.dtype(), 0, out, shape);
}

}  // namespace ember
