// CPU random fills from Philox. Element i of a draw uses block first_block + i / per_block.
#include <cmath>

#include "core/parallel.h"
#include "ops/random.h"

namespace ember {
namespace {

template <typename T>
void fill_random(T* out, int64_t numel, const RandomParams& p) {
  const int64_t per = random_elements_per_block(p, dtype_of<T>::value);
  const bool wide = per == 2;
  const int64_t nblocks = (numel + per - 1) / per;
  parallel_for(0, nblocks, 4096, [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      const PhiloxBlock r = philox4x32(p.seed, p.first_block + uint64_t(blk));
      double vals[4];
      switch (p.kind) {
        case RandomKind::Uniform:
        case RandomKind::Bernoulli:
          if (wide) {
            vals[0] = uint_to_unit_double(r.x[0], r.x[1]);
            vals[1] = uint_to_unit_double(r.x[2], r.x[3]);
          } else {
            for (int k = 0; k < 4; ++k) vals[k] = uint_to_unit_float(r.x[k]);
          }
          for (int k = 0; k < per; ++k)
            vals[k] = p.kind == RandomKind::Uniform ? p.a + (p.b - p.a) * vals[k] : double(vals[k] < p.a);
          break;
        case RandomKind::Normal: {
          // Box-Muller: two uniforms (u1 in (0, 1], u2 in [0, 1)) give two normals.
          double u[4];
          int nu;
          if (wide) {
            u[0] = uint_to_unit_double(r.x[0], r.x[1]);
            u[1] = uint_to_unit_double(r.x[2], r.x[3]);
            nu = 2;
          } else {
            for (int k = 0; k < 4; ++k) u[k] = uint_to_unit_float(r.x[k]);
            nu = 4;
          }
          for (int k = 0; k < nu; k += 2) {
            const double radius = std::sqrt(-2.0 * std::log(1.0 - u[k]));
            const double theta = 2.0 * M_PI * u[k + 1];
            vals[k] = p.a + p.b * radius * std::cos(theta);
            vals[k + 1] = p.a + p.b * radius * std::sin(theta);
          }
          break;
        }
        case RandomKind::Integer: {
          const uint64_t range = uint64_t(p.ib - p.ia);
          for (int k = 0; k < per; ++k) {
            const uint64_t x = wide ? ((uint64_t(r.x[2 * k]) << 32) | r.x[2 * k + 1]) : r.x[k];
            const int64_t v = p.ia + int64_t(x % range);
            const int64_t i = blk * per + k;
            if (i < numel) out[i] = static_cast<T>(v);
          }
          continue;
        }
      }
      for (int k = 0; k < per; ++k) {
        const int64_t i = blk * per + k;
        if (i < numel) out[i] = static_cast<T>(vals[k]);
      }
    }
  });
}

void random_fill_kernel(const Tensor& out, const RandomParams& p) {
  EMBER_DISPATCH_ALL_TYPES_AND_BOOL(out.dtype(), "random", [&] {
    fill_random<scalar_t>(out.data<scalar_t>(), out.numel(), p);
  });
}

}  // namespace

REGISTER_CPU_KERNEL(random_fill_stub, &random_fill_kernel);

}  // namespace ember
