// Random ops: argument checks, block reservation and dispatch.
#include "ops/random.h"

#include <cmath>

#include "ops/copy.h"

namespace ember {

DEFINE_DISPATCH(random_fill_stub);

Generator& default_generator() {
  static Generator* g = new Generator();  // leaked: outlives static destruction
  return *g;
}

void random_fill_(const Tensor& out, RandomParams p, Generator* gen) {
  switch (p.kind) {
    case RandomKind::Uniform:
      EMBER_CHECK(is_floating(out.dtype()), TypeError, "uniform_: expected a floating-point tensor, got ",
                  dtype_name(out.dtype()));
      EMBER_CHECK(p.a <= p.b, ValueError, "uniform_: expects from <= to, but got from=", p.a, " to=", p.b);
      break;
    case RandomKind::Normal:
      EMBER_CHECK(is_floating(out.dtype()), TypeError, "normal_: expected a floating-point tensor, got ",
                  dtype_name(out.dtype()));
      EMBER_CHECK(p.b >= 0 && std::isfinite(p.b), ValueError, "normal_: expects std >= 0.0, but found std ", p.b);
      break;
    case RandomKind::Integer:
      EMBER_CHECK(p.ia < p.ib, ValueError, "random_: expects 'from' to be less than 'to', but got from=", p.ia,
                  " >= to=", p.ib);
      break;
    case RandomKind::Bernoulli:
      EMBER_CHECK(p.a >= 0 && p.a <= 1, ValueError, "bernoulli_: expected p in [0, 1], but got p=", p.a);
      break;
  }
  if (out.numel() == 0) return;
  Generator& g = gen ? *gen : default_generator();
  p.seed = g.seed();
  const int64_t per = random_elements_per_block(p, out.dtype());
  p.first_block = g.reserve(uint64_t((out.numel() + per - 1) / per));
  if (out.is_contiguous()) {
    random_fill_stub.get(out.device())(out, p);
  } else {
    Tensor tmp = Tensor::empty(out.shape(), out.dtype(), out.device());
    random_fill_stub.get(out.device())(tmp, p);
    copy_(out, tmp);
  }
}

Tensor randperm(int64_t n, DType dtype, Device device, Generator* gen) {
  EMBER_CHECK(n >= 0, ValueError, "randperm: n must be non-negative, got ", n);
  EMBER_CHECK(is_integral(dtype, false) || is_floating(dtype), TypeError,
              "randperm: unsupported dtype ", dtype_name(dtype));
  Tensor idx = Tensor::empty({n}, DType::Int64, kCPU);
  int64_t* v = idx.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) v[i] = i;
  Generator& g = gen ? *gen : default_generator();
  const uint64_t seed = g.seed();
  const uint64_t first = g.reserve(uint64_t(n > 1 ? n - 1 : 0));
  for (int64_t i = n - 1; i > 0; --i) {
    const PhiloxBlock b = philox4x32(seed, first + uint64_t(n - 1 - i));
    const uint64_t r = (uint64_t(b.x[0]) << 32) | b.x[1];
    std::swap(v[i], v[int64_t(r % uint64_t(i + 1))]);
  }
  if (dtype == DType::Int64 && device.is_cpu()) return idx;
  return idx.to(dtype, device);
}

}  // namespace ember
