// CPU conv2d by im2col + the packed GEMM (portable; the GEMM, im2col/col2im and the depthwise
// loops of cpu/kernels/ carry the per-instruction-set code).
// Shapes: x (N, C, H, W); w (O, C/G, kH, kW); y (N, O, oH, oW); per image and group g:
//   col    (Kg x oHW), Kg = C/G*kH*kW, row (c, kh, kw) holds x[c, oh*S - P + kh*D, ow*S - P + kw*D]
//   y_g    (Og x oHW) = w_g (Og x Kg) . col_g + bias          (bias fused in the GEMM epilogue)
//   dcol_g (Kg x oHW) = w_g^T . dy_g;  dx = col2im(dcol)
//   dw_g   (Og x Kg) += dy_g . col_g^T   over the images;  db = sum of dy over n, oh, ow
// A 1x1, stride-1, unpadded conv reads x as the (C x H*W) matrix itself (no im2col). Images are
// split between threads (each runs single-threaded GEMMs on its own thread-local col buffer,
// grown once and then reused); with fewer images than threads the GEMM itself is threaded.
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/parallel.h"
#include "core/workspace.h"
#include "cpu/gemm.h"
#include "ops/conv.h"

namespace ember {
namespace {

thread_local Workspace tl_col;       // im2col / dcol of the images a thread works on
thread_local Workspace tl_partials;  // the caller's per-thread dw/db partial sums
thread_local Workspace tl_wide;      // padded image and wide output of the wide layout

bool is_pointwise(const Conv2dGeometry& g) {
  return g.kH == 1 && g.kW == 1 && g.sH == 1 && g.sW == 1 && g.padT == 0 && g.padL == 0 && g.oH == g.H &&
         g.oW == g.W;
}

// Depthwise (and C == 1) convolutions take the direct loops: their GEMMs would have K = kH*kW.
bool is_depthwise(const Conv2dGeometry& g) { return g.G == g.C && g.G > 1; }

// Winograd for float32 3x3 stride-1 convolutions with enough channels per group on both sides:
// its GEMMs have K = the channels of one side, and below 8 the transforms cost more than the
// fewer multiplies save (the stem's 3 -> 16 stays on im2col).
bool winograd_suits(DType dtype, const Conv2dGeometry& g, bool input_grad) {
  const ConvAlgorithm algo = conv_algorithm();
  if (algo == ConvAlgorithm::Im2col || dtype != DType::Float32) return false;
  if (g.kH != 3 || g.kW != 3 || g.sH != 1 || g.sW != 1 || g.dilH != 1 || g.dilW != 1) return false;
  if (input_grad && (g.padT > 2 || g.padL > 2)) return false;
  if (algo == ConvAlgorithm::Winograd || algo == ConvAlgorithm::Winograd4x4) return true;
  return g.C / g.G >= 8 && g.O / g.G >= 8;
}

// The direct forward and weight gradient (cpu/kernels/conv_small_k.cpp) for stride 1, groups 1,
// kernels at most 8 wide and at most 27 inputs per output (C * kH * kW: the first layer of an
// image network).
bool small_k_suits(const Conv2dGeometry& g) {
  if (conv_algorithm() == ConvAlgorithm::Im2col) return false;
  return g.G == 1 && g.sH == 1 && g.sW == 1 && g.kH * g.kW > 1 && g.kW <= 8 && g.C * g.kH * g.kW <= 27 &&
         g.N * g.oH * g.oW > 0;
}

// The direct forward wants at least 18 taps per output and rows of 16 outputs: with 9 taps each
// register block is mostly setup and stores, and narrower rows leave vector lanes idle. Measured
// (1 thread, float32, batch 64, with bias; im2col -> direct): 3 -> 16 channels 3x3 at 32x32 0.91 ->
// 0.72 ms, at 16x16 0.24 -> 0.22, 224x224 (batch 4, 3 -> 64) 10.0 -> 8.6, 2 -> 16 at 32x32 0.65 ->
// 0.53, 1 -> 16 5x5 at 32x32 0.83 -> 0.63; but 1 -> 32 3x3 at 28x28 0.53 -> 0.58, 3 -> 16 at 12x12
// 0.15 -> 0.17.
bool small_k_forward_suits(const Conv2dGeometry& g) {
  return small_k_suits(g) && g.C * g.kH * g.kW >= 18 && g.oW >= 16;
}

// Of the two Winograd variants, F(4x4, 3x3) (given winograd_suits): 1.78x fewer multiplies and
// less transform traffic per output, worth it when the image its tiles cover (y for the forward
// and the weight gradient, dx for the input gradient) is at least 8 x 8 and its 4x4 tiles overhang
// it by at most a third. Measured (2 threads, Zen 4, batch 64, F(2x2) -> F(4x4)): 10-40% faster
// at 8x8, 12x12, 14x14, 16x16, 28x28 and 32x32 in all three passes; ties at 9x9 and 10x10 in the
// forward, 10-30% slower there and at 7x7 in the weight gradient; slower below 7x7.
bool winograd43_suits(const Conv2dGeometry& g, bool input_grad) {
  const ConvAlgorithm algo = conv_algorithm();
  if (algo == ConvAlgorithm::Winograd) return false;
  if (algo == ConvAlgorithm::Winograd4x4) return true;
  const int64_t h = input_grad ? g.H : g.oH, w = input_grad ? g.W : g.oW;
  const int64_t covered = 4 * ((h + 3) / 4) * 4 * ((w + 3) / 4);
  return h >= 8 && w >= 8 && 3 * covered <= 4 * h * w;
}

// dst[i] = src[i] for i in [lo, hi): a loop, not memcpy (rows are often 8-32 elements, where a
// call costs more than the copy).
template <typename T>
inline void copy_row(T* __restrict dst, const T* __restrict src, int64_t lo, int64_t hi) {
  for (int64_t i = lo; i < hi; ++i) dst[i] = src[i];
}

// im2col / col2im of one image: per instruction set, in cpu/kernels/im2col.cpp.
template <typename T>
void im2col(const T* x, const Conv2dGeometry& g, T* col) {
  conv_im2col_stub.get(kCPU)(dtype_of<T>::value, g, x, col);
}

template <typename T>
void col2im(const T* col, const Conv2dGeometry& g, T* dx) {
  conv_col2im_stub.get(kCPU)(dtype_of<T>::value, g, col, dx);
}

// ---- the "wide" layout of stride-1 convolutions ------------------------------------------------
// With x zero-padded into xp (C x Hp x Wp), Hp = oH + D*(kH-1), Wp = oW + D*(kW-1), im2col's row
// (c, kh, kw) over the wide output index j = oh*Wp + ow (ow < Wp) is ONE contiguous run of xp,
// xp[c, kh*D + j / Wp, kw*D + j % Wp], so im2col is a copy of L = (oH-1)*Wp + oW elements per row
// instead of oH short rows with border tests. The GEMM then computes L >= oH*oW columns (the
// columns ow >= oW are junk, dropped on the way out), worth it while L stays near oH*oW.
struct Wide {
  int64_t Hp, Wp, L;
};

Wide wide_of(const Conv2dGeometry& g) {
  Wide w;
  w.Hp = g.oH + g.dilH * (g.kH - 1);
  w.Wp = g.oW + g.dilW * (g.kW - 1);
  w.L = (g.oH - 1) * w.Wp + g.oW;
  return w;
}

bool use_wide(const Conv2dGeometry& g) {
  // Measured (AVX2, 1 thread): 8-12% faster from 16 input channels of 3x3 up; slower for 1-3
  // channels, where the GEMM is bound by its output and the junk columns only add to it.
  if (g.sH != 1 || g.sW != 1 || g.kH * g.kW == 1 || g.C / g.G * g.kH * g.kW < 64) return false;
  const Wide w = wide_of(g);
  return 10 * w.L <= 13 * g.oH * g.oW;
}

// xp (C x Hp x Wp) = x (C x H x W) shifted by the top/left padding, zeros elsewhere.
template <typename T>
void pad_image(const T* x, const Conv2dGeometry& g, const Wide& wd, T* xp) {
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t i = 0; i < wd.Hp; ++i) {
      T* dst = xp + (c * wd.Hp + i) * wd.Wp;
      const int64_t h = i - g.padT;
      if (h < 0 || h >= g.H) {
        for (int64_t j = 0; j < wd.Wp; ++j) dst[j] = T(0);
        continue;
      }
      const int64_t lo = std::min(g.padL, wd.Wp), hi = std::min(g.padL + g.W, wd.Wp);
      for (int64_t j = 0; j < lo; ++j) dst[j] = T(0);
      copy_row(dst, x + (c * g.H + h) * g.W - g.padL, lo, hi);
      for (int64_t j = hi; j < wd.Wp; ++j) dst[j] = T(0);
    }
}

template <typename T>
void im2col_wide(const T* xp, const Conv2dGeometry& g, const Wide& wd, T* col) {
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t kh = 0; kh < g.kH; ++kh)
      for (int64_t kw = 0; kw < g.kW; ++kw)
        copy_row(col + ((c * g.kH + kh) * g.kW + kw) * wd.L,
                 xp + (c * wd.Hp + kh * g.dilH) * wd.Wp + kw * g.dilW, 0, wd.L);
}

// dxp (C x Hp x Wp) = the sum of dcol's wide rows over where im2col_wide read them; dx = its
// interior. Junk columns of dcol are zero (their dy was zero), so they add nothing.
template <typename T>
void col2im_wide(const T* dcol, const Conv2dGeometry& g, const Wide& wd, T* dxp, T* dx) {
  std::memset(dxp, 0, size_t(g.C * wd.Hp * wd.Wp) * sizeof(T));
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t kh = 0; kh < g.kH; ++kh)
      for (int64_t kw = 0; kw < g.kW; ++kw) {
        const T* __restrict src = dcol + ((c * g.kH + kh) * g.kW + kw) * wd.L;
        T* __restrict dst = dxp + (c * wd.Hp + kh * g.dilH) * wd.Wp + kw * g.dilW;
        for (int64_t j = 0; j < wd.L; ++j) dst[j] += src[j];
      }
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t h = 0; h < g.H; ++h) {
      T* drow = dx + (c * g.H + h) * g.W;
      const int64_t i = h + g.padT;
      const int64_t hi = i < wd.Hp ? std::max<int64_t>(0, std::min(g.W, wd.Wp - g.padL)) : 0;
      copy_row(drow, dxp + (c * wd.Hp + i) * wd.Wp + g.padL, 0, hi);
      for (int64_t w = hi; w < g.W; ++w) drow[w] = T(0);
    }
}

// rows (R x oH*oW) <-> wide rows (R x L): junk columns written as zeros.
template <typename T>
void to_wide(const T* src, int64_t rows, const Conv2dGeometry& g, const Wide& wd, T* dst) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t oh = 0; oh < g.oH; ++oh) {
      T* d = dst + r * wd.L + oh * wd.Wp;
      copy_row(d, src + (r * g.oH + oh) * g.oW, 0, g.oW);
      if (oh + 1 < g.oH)
        for (int64_t j = g.oW; j < wd.Wp; ++j) d[j] = T(0);
    }
}

template <typename T>
void from_wide(const T* src, int64_t rows, const Conv2dGeometry& g, const Wide& wd, T* dst) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t oh = 0; oh < g.oH; ++oh) copy_row(dst + (r * g.oH + oh) * g.oW, src + r * wd.L + oh * wd.Wp, 0, g.oW);
}

// C (M x N, row stride ldc, unit column stride) = A . B + beta * C + bias[i] on row i.
// `threads` == 1 inside the per-image loops (the GEMM must not fork again).
template <typename T>
void gemm_rows(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda_row, int64_t lda_col, const T* B,
               int64_t ldb_row, int64_t ldb_col, T* C, int64_t ldc, double beta, const T* bias, int threads) {
  if (M == 0 || N == 0) return;
  if (K == 0 || M * N * K <= 4096) {
    // Small or empty: the public entry (serial for these sizes) on C^T = B^T A^T, where the
    // row bias becomes its per-column bias.
    GemmArgs a;
    a.M = N, a.N = M, a.K = K;
    a.A = B, a.lda_row = ldb_col, a.lda_col = ldb_row;
    a.B = A, a.ldb_row = lda_col, a.ldb_col = lda_row;
    a.C = C, a.ldc_row = 1, a.ldc_col = ldc;
    a.beta = beta;
    a.bias = bias;
    gemm(dtype_of<T>::value, a);
    return;
  }
  const GemmKernelArgs k{M, N, K, A, lda_row, lda_col, B, ldb_row, ldb_col, C, ldc, 1, 1.0, beta,
                         bias, 1, 0, GemmActivation::None, threads};
  gemm_packed_stub.get(kCPU)(dtype_of<T>::value, k);
}

// Multiply-adds of one image's GEMMs.
int64_t image_macs(const Conv2dGeometry& g) { return g.O * g.oH * g.oW * (g.C / g.G) * g.kH * g.kW; }

// Threads that split the images: whole images per thread when they balance and there is enough
// work (~0.2 M multiply-adds per thread, as the GEMM's own threshold) to pay for waking them.
int image_threads(const Conv2dGeometry& g) {
  const int threads = get_num_threads();
  if (threads <= 1 || g.N <= 1 || !(g.N % threads == 0 || g.N >= 4 * threads)) return 1;
  return g.N * image_macs(g) >= int64_t(threads) * 200000 ? threads : 1;
}

// Runs f(n0, n1, gemm_threads) over the images: whole images per thread (image_threads), else
// all images in turn with threaded GEMMs (which stay serial when small).
template <typename F>
void for_images(const Conv2dGeometry& g, const F& f) {
  const int64_t N = g.N;
  const int threads = get_num_threads();
  if (image_threads(g) > 1) {
    parallel_for(0, N, 1, [&](int64_t n0, int64_t n1) { f(n0, n1, 1); });
  } else {
    f(0, N, threads);
  }
}

template <typename T>
void forward_typed(const Conv2dGeometry& g, const T* x, const T* w, const T* bias, T* y) {
  const int64_t Og = g.O / g.G, Kg = g.C / g.G * g.kH * g.kW, oHW = g.oH * g.oW;
  const int64_t xs = g.C * g.H * g.W, ys = g.O * oHW;
  const bool direct = is_pointwise(g);
  if (use_wide(g)) {
    const Wide wd = wide_of(g);
    for_images(g, [&](int64_t n0, int64_t n1, int threads) {
      T* col = tl_col.get<T>(g.G * Kg * wd.L);
      T* xp = tl_wide.get<T>(g.C * wd.Hp * wd.Wp + g.O * wd.L);
      T* ywide = xp + g.C * wd.Hp * wd.Wp;
      for (int64_t n = n0; n < n1; ++n) {
        pad_image(x + n * xs, g, wd, xp);
        im2col_wide(xp, g, wd, col);
        for (int64_t grp = 0; grp < g.G; ++grp)
          gemm_rows<T>(Og, wd.L, Kg, w + grp * Og * Kg, Kg, 1, col + grp * Kg * wd.L, wd.L, 1, ywide + grp * Og * wd.L,
                       wd.L, 0.0, bias ? bias + grp * Og : nullptr, threads);
        from_wide(ywide, g.O, g, wd, y + n * ys);
      }
    });
    return;
  }
  for_images(g, [&](int64_t n0, int64_t n1, int threads) {
    T* col = direct ? nullptr : tl_col.get<T>(g.G * Kg * oHW);
    for (int64_t n = n0; n < n1; ++n) {
      const T* src = x + n * xs;
      if (!direct) {
        im2col(src, g, col);
        src = col;
      }
      for (int64_t grp = 0; grp < g.G; ++grp)
        gemm_rows<T>(Og, oHW, Kg, w + grp * Og * Kg, Kg, 1, src + grp * Kg * oHW, oHW, 1, y + n * ys + grp * Og * oHW,
                     oHW, 0.0, bias ? bias + grp * Og : nullptr, threads);
    }
  });
}

template <typename T>
void backward_input_typed(const Conv2dGeometry& g, const T* dy, const T* w, const T* bias, T* dx) {
  const int64_t Og = g.O / g.G, Kg = g.C / g.G * g.kH * g.kW, oHW = g.oH * g.oW, HW = g.H * g.W;
  const int64_t xs = g.C * HW, ys = g.O * oHW;
  const bool direct = is_pointwise(g);
  const bool wide = use_wide(g);
  const Wide wd = wide_of(g);
  for_images(g, [&](int64_t n0, int64_t n1, int threads) {
    if (wide) {
      T* dcol = tl_col.get<T>(g.G * Kg * wd.L);
      T* dxp = tl_wide.get<T>(g.C * wd.Hp * wd.Wp + g.O * wd.L);
      T* dywide = dxp + g.C * wd.Hp * wd.Wp;
      for (int64_t n = n0; n < n1; ++n) {
        to_wide(dy + n * ys, g.O, g, wd, dywide);
        for (int64_t grp = 0; grp < g.G; ++grp)
          gemm_rows<T>(Kg, wd.L, Og, w + grp * Og * Kg, 1, Kg, dywide + grp * Og * wd.L, wd.L, 1,
                       dcol + grp * Kg * wd.L, wd.L, 0.0, nullptr, threads);
        col2im_wide(dcol, g, wd, dxp, dx + n * xs);
        if (bias)
          for (int64_t c = 0; c < g.C; ++c) {
            T* plane = dx + n * xs + c * HW;
            const T b = bias[c];
            for (int64_t i = 0; i < HW; ++i) plane[i] += b;
          }
      }
      return;
    }
    T* dcol = direct ? nullptr : tl_col.get<T>(g.G * Kg * oHW);
    for (int64_t n = n0; n < n1; ++n) {
      T* dst = direct ? dx + n * xs : dcol;
      for (int64_t grp = 0; grp < g.G; ++grp)
        gemm_rows<T>(Kg, oHW, Og, w + grp * Og * Kg, 1, Kg, dy + n * ys + grp * Og * oHW, oHW, 1,
                     dst + grp * Kg * oHW, oHW, 0.0, nullptr, threads);
      if (!direct) col2im(dcol, g, dx + n * xs);
      if (bias)
        for (int64_t c = 0; c < g.C; ++c) {
          T* plane = dx + n * xs + c * HW;
          const T b = bias[c];
          for (int64_t i = 0; i < HW; ++i) plane[i] += b;
        }
    }
  });
}

template <typename T>
void backward_weight_typed(const Conv2dGeometry& g, const T* dy, const T* x, T* dw, T* db) {
  const int64_t Og = g.O / g.G, Kg = g.C / g.G * g.kH * g.kW, oHW = g.oH * g.oW;
  const int64_t xs = g.C * g.H * g.W, ys = g.O * oHW, wsize = g.O * Kg;
  const bool direct = is_pointwise(g);
  const bool wide = use_wide(g);
  const Wide wd = wide_of(g);
  const int threads = get_num_threads();
  // Slots of images: slot 0 accumulates into dw itself, the others into partial buffers.
  const int64_t nslots = image_threads(g);
  const int gemm_threads = nslots > 1 ? 1 : threads;
  const int64_t wpart = dw ? (nslots - 1) * wsize : 0;
  const int64_t wbytes = (wpart * int64_t(sizeof(T)) + 63) / 64 * 64;
  char* scratch = tl_partials.get<char>(wbytes + nslots * g.O * int64_t(sizeof(double)));
  T* partial = reinterpret_cast<T*>(scratch);                  // (nslots - 1) x wsize
  double* dbpart = reinterpret_cast<double*>(scratch + wbytes);  // nslots x O
  if (g.N == 0) {
    if (dw) std::memset(dw, 0, size_t(wsize) * sizeof(T));
    if (db) std::memset(db, 0, size_t(g.O) * sizeof(T));
    return;
  }
  parallel_for(0, nslots, 1, [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s) {
      const int64_t n0 = g.N * s / nslots, n1 = g.N * (s + 1) / nslots;
      T* acc = s == 0 ? dw : partial + (s - 1) * wsize;
      double* dbacc = dbpart + s * g.O;
      for (int64_t o = 0; o < g.O; ++o) dbacc[o] = 0.0;
      const int64_t cols = wide ? wd.L : oHW;  // GEMM depth: output positions (wide or not)
      T* col = (direct || !dw) ? nullptr : tl_col.get<T>(g.G * Kg * cols);
      T* xp = (wide && dw) ? tl_wide.get<T>(g.C * wd.Hp * wd.Wp + g.O * wd.L) : nullptr;
      for (int64_t n = n0; n < n1; ++n) {
        const T* dyn = dy + n * ys;
        if (dw) {
          const T* src = x + n * xs;
          const T* dsrc = dyn;
          if (wide) {
            T* dywide = xp + g.C * wd.Hp * wd.Wp;
            pad_image(src, g, wd, xp);
            im2col_wide(xp, g, wd, col);
            to_wide(dyn, g.O, g, wd, dywide);
            src = col;
            dsrc = dywide;
          } else if (!direct) {
            im2col(src, g, col);
            src = col;
          }
          for (int64_t grp = 0; grp < g.G; ++grp)
            gemm_rows<T>(Og, Kg, cols, dsrc + grp * Og * cols, cols, 1, src + grp * Kg * cols, 1, cols,
                         acc + grp * Og * Kg, Kg, n == n0 ? 0.0 : 1.0, nullptr, gemm_threads);
        }
        if (db)
          for (int64_t o = 0; o < g.O; ++o) {
            // 16 partial sums: they vectorise (4 x 4 lanes even on the portable build), where one
            // sum is a chain of dependent adds at four cycles an element.
            const T* row = dyn + o * oHW;
            T s16[16] = {};
            int64_t i = 0;
            for (; i + 16 <= oHW; i += 16)
              for (int k = 0; k < 16; ++k) s16[k] += row[i + k];
            for (; i < oHW; ++i) s16[0] += row[i];
            double sum = 0.0;
            for (int k = 0; k < 16; ++k) sum += double(s16[k]);
            dbacc[o] += sum;
          }
      }
    }
  });
  if (dw)
    for (int64_t s = 1; s < nslots; ++s) {
      const T* p = partial + (s - 1) * wsize;
      for (int64_t i = 0; i < wsize; ++i) dw[i] += p[i];
    }
  if (db)
    for (int64_t o = 0; o < g.O; ++o) {
      double sum = 0.0;
      for (int64_t s = 0; s < nslots; ++s) sum += dbpart[s * g.O + o];
      db[o] = T(sum);
    }
}

void conv2d_forward_kernel(DType dtype, const Conv2dGeometry& g, const void* x, const void* w, const void* bias,
                           void* y) {
  if (is_depthwise(g)) return conv2d_depthwise_forward_stub.get(kCPU)(dtype, g, x, w, bias, y);
  if (small_k_forward_suits(g)) return conv2d_small_k_forward_stub.get(kCPU)(dtype, g, x, w, bias, y);
  if (winograd_suits(dtype, g, false))
    return (winograd43_suits(g, false) ? conv2d_winograd43_forward_stub : conv2d_winograd_forward_stub)
        .get(kCPU)(dtype, g, x, w, bias, y);
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "conv2d", [&] {
    forward_typed<scalar_t>(g, static_cast<const scalar_t*>(x), static_cast<const scalar_t*>(w),
                            static_cast<const scalar_t*>(bias), static_cast<scalar_t*>(y));
  });
}

void conv2d_backward_input_kernel(DType dtype, const Conv2dGeometry& g, const void* dy, const void* w,
                                  const void* bias, void* dx) {
  if (is_depthwise(g)) return conv2d_depthwise_backward_input_stub.get(kCPU)(dtype, g, dy, w, bias, dx);
  if (winograd_suits(dtype, g, true))
    return (winograd43_suits(g, true) ? conv2d_winograd43_backward_input_stub : conv2d_winograd_backward_input_stub)
        .get(kCPU)(dtype, g, dy, w, bias, dx);
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "conv2d_backward_input", [&] {
    backward_input_typed<scalar_t>(g, static_cast<const scalar_t*>(dy), static_cast<const scalar_t*>(w),
                                   static_cast<const scalar_t*>(bias), static_cast<scalar_t*>(dx));
  });
}

void conv2d_backward_weight_kernel(DType dtype, const Conv2dGeometry& g, const void* dy, const void* x, void* dw,
                                   void* db) {
  if (is_depthwise(g)) return conv2d_depthwise_backward_weight_stub.get(kCPU)(dtype, g, dy, x, dw, db);
  if (dw && small_k_suits(g)) return conv2d_small_k_backward_weight_stub.get(kCPU)(dtype, g, dy, x, dw, db);
  if (winograd_suits(dtype, g, false))
    return (winograd43_suits(g, false) ? conv2d_winograd43_backward_weight_stub : conv2d_winograd_backward_weight_stub)
        .get(kCPU)(dtype, g, dy, x, dw, db);
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "conv2d_backward_weight", [&] {
    backward_weight_typed<scalar_t>(g, static_cast<const scalar_t*>(dy), static_cast<const scalar_t*>(x),
                                    static_cast<scalar_t*>(dw), static_cast<scalar_t*>(db));
  });
}

// conv2d_reference: the direct 7-loop convolution, accumulating in double.
template <typename T>
void reference_typed(const Conv2dGeometry& g, const T* X, const T* Wt, const T* B, T* Y) {
  const int64_t Cg = g.C / g.G, Og = g.O / g.G;
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t o = 0; o < g.O; ++o)
      for (int64_t oh = 0; oh < g.oH; ++oh)
        for (int64_t ow = 0; ow < g.oW; ++ow) {
          double acc = B ? double(B[o]) : 0.0;
          const int64_t c0 = (o / Og) * Cg;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t kh = 0; kh < g.kH; ++kh) {
              const int64_t ih = oh * g.sH - g.padT + kh * g.dilH;
              if (ih < 0 || ih >= g.H) continue;
              for (int64_t kw = 0; kw < g.kW; ++kw) {
                const int64_t iw = ow * g.sW - g.padL + kw * g.dilW;
                if (iw < 0 || iw >= g.W) continue;
                acc += double(X[((n * g.C + c0 + c) * g.H + ih) * g.W + iw]) *
                       double(Wt[((o * Cg + c) * g.kH + kh) * g.kW + kw]);
              }
            }
          Y[((n * g.O + o) * g.oH + oh) * g.oW + ow] = T(acc);
        }
}

void conv2d_reference_kernel(DType dtype, const Conv2dGeometry& g, const void* x, const void* w, const void* bias,
                             void* y) {
  EMBER_DISPATCH_FLOATING_TYPES(dtype, "conv2d_reference", [&] {
    reference_typed<scalar_t>(g, static_cast<const scalar_t*>(x), static_cast<const scalar_t*>(w),
                              static_cast<const scalar_t*>(bias), static_cast<scalar_t*>(y));
  });
}

}  // namespace

REGISTER_CPU_KERNEL(conv2d_reference_stub, &conv2d_reference_kernel);
REGISTER_CPU_KERNEL(conv2d_forward_stub, &conv2d_forward_kernel);
REGISTER_CPU_KERNEL(conv2d_backward_input_stub, &conv2d_backward_input_kernel);
REGISTER_CPU_KERNEL(conv2d_backward_weight_stub, &conv2d_backward_weight_kernel);

}  // namespace ember
