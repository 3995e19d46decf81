// CUDA fused optimizer steps (SGD, Adam/AdamW, RMSprop, Adagrad, Adadelta, Rprop, NAdam): every
// update rule of csrc/cpu/kernels/optim.cpp, step by step and in the parameter's precision T, with
// the hyperparameters converted to T where the CPU converts them.
// Notation: p = param, g = gradient, lerp(a, b, w) = a + w (b - a) (torch's two-sided form).
//
// Multi-tensor launch: the group's OptimTensorArgs go to the device in one array, with
// block_start[t] = the first virtual block of tensor t (prefix sums of ceil(numel / kBlockElems)).
// Block vb finds its tensor by binary search in block_start and updates elements
// [(vb - block_start[t]) * kBlockElems, + kBlockElems) of it: one launch for the whole group,
// however many tensors and of whatever sizes. Reference path: one plain launch per tensor.
#include <algorithm>
#include <cstring>
#include <vector>

#include "cuda/math.cuh"
#include "cuda/nn_util.cuh"
#include "ops/optim.h"

namespace ember {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kBlockElems = kThreads * 8;

// torch's two-sided lerp(a, b, w) = a + w (b - a) for w < 0.5, else b - (b - a)(1 - w); the side
// is fixed per step (low_w).
template <typename T>
__device__ __forceinline__ T torch_lerp(bool low_w, T self, T end, T w, T one_minus_w) {
  return low_w ? self + w * (end - self) : end - (end - self) * one_minus_w;
}

// Each rule updates elements i = i0, i0 + step, ... < end of one parameter.
template <typename T>
__device__ void sgd(const OptimHyper& h, const OptimTensorArgs& a, int64_t i0, int64_t end, int64_t step) {
  T* p = static_cast<T*>(a.param);
  const T* gr = static_cast<const T*>(a.grad);
  T* buf = static_cast<T*>(a.state[0]);
  const T wd = T(h.weight_decay), mom = T(h.momentum), damp1 = T(1.0 - h.dampening), neg_lr = T(-h.lr);
  const bool has_wd = h.weight_decay != 0, has_mom = h.momentum != 0;
  for (int64_t i = i0; i < end; i += step) {
    T g = h.maximize ? -gr[i] : gr[i];
    if (has_wd) g = g + wd * p[i];
    if (has_mom) {
      buf[i] = a.first ? g : buf[i] * mom + damp1 * g;
      g = h.nesterov ? g + mom * buf[i] : buf[i];
    }
    p[i] = p[i] + neg_lr * g;
  }
}

// Adam / AdamW. coef[0] = lr / bias_correction1, coef[1] = sqrt(bias_correction2).
template <typename T>
__device__ void adam(const OptimHyper& h, const OptimTensorArgs& a, int64_t i0, int64_t end, int64_t step) {
  T* p = static_cast<T*>(a.param);
  const T* gr = static_cast<const T*>(a.grad);
  T* m = static_cast<T*>(a.state[0]);
  T* v = static_cast<T*>(a.state[1]);
  T* vmax = static_cast<T*>(a.state[2]);
  const T wd = T(h.weight_decay), decay = T(1.0 - h.lr * h.weight_decay);
  const T w1 = T(1.0 - h.beta1), beta1 = T(h.beta1), beta2 = T(h.beta2), w2 = T(1.0 - h.beta2);
  const T bc2_sqrt = T(a.coef[1]), eps = T(h.eps), neg_step = T(-a.coef[0]);
  const bool has_wd = h.weight_decay != 0, low_w = w1 < T(0.5);
  for (int64_t i = i0; i < end; i += step) {
    T g = h.maximize ? -gr[i] : gr[i];
    if (h.decoupled) p[i] = p[i] * decay;
    else if (has_wd) g = g + wd * p[i];
    const T mi = torch_lerp(low_w, m[i], g, w1, beta1);
    const T vi = v[i] * beta2 + w2 * g * g;
    m[i] = mi;
    v[i] = vi;
    T denom;
    if (h.amsgrad) {
      const T vm = vmax[i] >= vi ? vmax[i] : vi;  // torch.maximum (NaN propagates)
      vmax[i] = vm;
      denom = m_sqrt(vm) / bc2_sqrt + eps;
    } else {
      denom = m_sqrt(vi) / bc2_sqrt + eps;
    }
    p[i] = p[i] + neg_step * mi / denom;
  }
}

template <typename T>
__device__ void rmsprop(const OptimHyper& h, const OptimTensorArgs& a, int64_t i0, int64_t end, int64_t step) {
  T* p = static_cast<T*>(a.param);
  const T* gr = static_cast<const T*>(a.grad);
  T* sq = static_cast<T*>(a.state[0]);
  T* buf = static_cast<T*>(a.state[1]);
  T* gavg = static_cast<T*>(a.state[2]);
  const T wd = T(h.weight_decay), alpha = T(h.alpha), w = T(1.0 - h.alpha), eps = T(h.eps);
  const T mom = T(h.momentum), neg_lr = T(-h.lr);
  const bool has_wd = h.weight_decay != 0, has_mom = h.momentum > 0, low_w = w < T(0.5);
  for (int64_t i = i0; i < end; i += step) {
    T g = h.maximize ? -gr[i] : gr[i];
    if (has_wd) g = g + wd * p[i];
    const T si = sq[i] * alpha + w * g * g;
    sq[i] = si;
    T avg;
    if (h.centered) {
      const T ga = torch_lerp(low_w, gavg[i], g, w, alpha);
      gavg[i] = ga;
      avg = m_sqrt(si + T(-1) * ga * ga);
    } else {
      avg = m_sqrt(si);
    }
    avg = avg + eps;
    // torch: buf = buf * mom + g / avg; p += -lr * buf   or   p.addcdiv_(g, avg, value=-lr)
    T upd;
    if (has_mom) {
      upd = buf[i] * mom + g / avg;
      buf[i] = upd;
      upd = neg_lr * upd;
    } else {
      upd = neg_lr * g / avg;
    }
    p[i] = p[i] + upd;
  }
}

// coef[0] = clr = lr / (1 + (step - 1) * lr_decay).
template <typename T>
__device__ void adagrad(const OptimHyper& h, const OptimTensorArgs& a, int64_t i0, int64_t end, int64_t step) {
  T* p = static_cast<T*>(a.param);
  const T* gr = static_cast<const T*>(a.grad);
  T* sum = static_cast<T*>(a.state[0]);
  const T wd = T(h.weight_decay), eps = T(h.eps), neg_clr = T(-a.coef[0]);
  const bool has_wd = h.weight_decay != 0;
  for (int64_t i = i0; i < end; i += step) {
    T g = h.maximize ? -gr[i] : gr[i];
    if (has_wd) g = g + wd * p[i];
    const T si = sum[i] + T(1) * g * g;
    sum[i] = si;
    const T std_ = m_sqrt(si) + eps;
    p[i] = p[i] + neg_clr * g / std_;
  }
}

template <typename T>
__device__ void adadelta(const OptimHyper& h, const OptimTensorArgs& a, int64_t i0, int64_t end, int64_t step) {
  T* p = static_cast<T*>(a.param);
  const T* gr = static_cast<const T*>(a.grad);
  T* sq = static_cast<T*>(a.state[0]);
  T* acc = static_cast<T*>(a.state[1]);
  const T wd = T(h.weight_decay), rho = T(h.rho), w = T(1.0 - h.rho), eps = T(h.eps), neg_lr = T(-h.lr);
  const bool has_wd = h.weight_decay != 0;
  for (int64_t i = i0; i < end; i += step) {
    T g = h.maximize ? -gr[i] : gr[i];
    if (has_wd) g = g + wd * p[i];
    const T si = sq[i] * rho + w * g * g;
    sq[i] = si;
    const T std_ = m_sqrt(si + eps);
    T delta = m_sqrt(acc[i] + eps);
    delta = delta / std_ * g;
    acc[i] = acc[i] * rho + w * delta * delta;
    p[i] = p[i] + neg_lr * delta;
  }
}

template <typename T>
__device__ void rprop(const OptimHyper& h, const OptimTensorArgs& a, int64_t i0, int64_t end, int64_t step) {
  T* p = static_cast<T*>(a.param);
  const T* gr = static_cast<const T*>(a.grad);
  T* prev = static_cast<T*>(a.state[0]);
  T* ss = static_cast<T*>(a.state[1]);
  const T etaminus = T(h.etaminus), etaplus = T(h.etaplus), lo = T(h.step_min), hi = T(h.step_max);
  for (int64_t i = i0; i < end; i += step) {
    T g = h.maximize ? -gr[i] : gr[i];
    const T prod = g * prev[i];
    const T factor = prod > T(0) ? etaplus : (prod < T(0) ? etaminus : T(1));
    T s = ss[i] * factor;
    s = s < lo ? lo : s;
    s = s > hi ? hi : s;
    ss[i] = s;
    g = factor == etaminus ? T(0) : g;  // torch: grad[sign.eq(etaminus)] = 0
    const T sgn = (g > T(0) ? T(1) : T(0)) - (g < T(0) ? T(1) : T(0));
    p[i] = p[i] + T(-1) * sgn * s;
    prev[i] = g;
  }
}

// coef = {-lr (1 - mu) / (1 - mu_product), -lr mu_next / (1 - mu_product_next), bias_correction2}.
template <typename T>
__device__ void nadam(const OptimHyper& h, const OptimTensorArgs& a, int64_t i0, int64_t end, int64_t step) {
  T* p = static_cast<T*>(a.param);
  const T* gr = static_cast<const T*>(a.grad);
  T* m = static_cast<T*>(a.state[0]);
  T* v = static_cast<T*>(a.state[1]);
  const T wd = T(h.weight_decay), decay = T(1.0 - h.lr * h.weight_decay);
  const T w1 = T(1.0 - h.beta1), beta1 = T(h.beta1), beta2 = T(h.beta2), w2 = T(1.0 - h.beta2), eps = T(h.eps);
  const T cg = T(a.coef[0]), cm = T(a.coef[1]), bc2 = T(a.coef[2]);
  const bool has_wd = h.weight_decay != 0, low_w = w1 < T(0.5);
  for (int64_t i = i0; i < end; i += step) {
    T g = h.maximize ? -gr[i] : gr[i];
    T pi = p[i];
    if (has_wd) {
      if (h.decoupled) pi = pi * decay;
      else g = g + wd * pi;
    }
    const T mi = torch_lerp(low_w, m[i], g, w1, beta1);
    const T vi = v[i] * beta2 + w2 * g * g;
    m[i] = mi;
    v[i] = vi;
    const T denom = m_sqrt(vi / bc2) + eps;
    pi = pi + cg * g / denom;
    p[i] = pi + cm * mi / denom;
  }
}

template <typename T>
__device__ __forceinline__ void update(OptimAlgo algo, const OptimHyper& h, const OptimTensorArgs& a, int64_t i0,
                                       int64_t end, int64_t step) {
  switch (algo) {
    case OptimAlgo::SGD: return sgd<T>(h, a, i0, end, step);
    case OptimAlgo::Adam: return adam<T>(h, a, i0, end, step);
    case OptimAlgo::RMSprop: return rmsprop<T>(h, a, i0, end, step);
    case OptimAlgo::Adagrad: return adagrad<T>(h, a, i0, end, step);
    case OptimAlgo::Adadelta: return adadelta<T>(h, a, i0, end, step);
    case OptimAlgo::Rprop: return rprop<T>(h, a, i0, end, step);
    case OptimAlgo::NAdam: return nadam<T>(h, a, i0, end, step);
  }
}

// ---- kernels ----------------------------------------------------------------------------------
template <typename T>
__global__ void __launch_bounds__(kThreads) multi_tensor_step_kernel(OptimAlgo algo, const OptimHyper h,
                                                                     const OptimTensorArgs* tensors,
                                                                     const int64_t* block_start, int64_t ntensors,
                                                                     int64_t nblocks) {
  for (int64_t vb = blockIdx.x; vb < nblocks; vb += gridDim.x) {
    // The last tensor whose first block is <= vb (empty tensors own no block and are skipped).
    int64_t lo = 0, hi = ntensors - 1;
    while (lo < hi) {
      const int64_t mid = (lo + hi + 1) / 2;
      if (block_start[mid] <= vb) lo = mid;
      else hi = mid - 1;
    }
    const OptimTensorArgs a = tensors[lo];
    const int64_t begin = (vb - block_start[lo]) * kBlockElems;
    update<T>(algo, h, a, begin + threadIdx.x, min(begin + kBlockElems, a.numel), blockDim.x);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) single_tensor_step_kernel(OptimAlgo algo, const OptimHyper h,
                                                                      const OptimTensorArgs a) {
  update<T>(algo, h, a, int64_t(blockIdx.x) * blockDim.x + threadIdx.x, a.numel, int64_t(gridDim.x) * blockDim.x);
}

// ---- launchers --------------------------------------------------------------------------------
template <typename T>
void step_group(OptimAlgo algo, const OptimHyper& hyper, const OptimTensorArgs* tensors, int64_t ntensors) {
  if (use_reference_kernels()) {
    for (int64_t t = 0; t < ntensors; ++t)
      if (tensors[t].numel > 0)
        single_tensor_step_kernel<T><<<grid_for(tensors[t].numel, kThreads), kThreads>>>(algo, hyper, tensors[t]);
    CUDA_CHECK_LAUNCH();
    return;
  }
  // One upload: the argument array, then block_start (sizeof(OptimTensorArgs) keeps it 8-aligned).
  static_assert(sizeof(OptimTensorArgs) % alignof(int64_t) == 0, "block_start must stay aligned");
  const size_t args_bytes = size_t(ntensors) * sizeof(OptimTensorArgs);
  std::vector<char> host(args_bytes + size_t(ntensors + 1) * sizeof(int64_t));
  std::memcpy(host.data(), tensors, args_bytes);
  int64_t* start = reinterpret_cast<int64_t*>(host.data() + args_bytes);
  start[0] = 0;
  for (int64_t t = 0; t < ntensors; ++t) start[t + 1] = start[t] + ceil_div(tensors[t].numel, kBlockElems);
  const int64_t nblocks = start[ntensors];
  if (nblocks == 0) return;
  const Tensor dev = upload(host.data(), int64_t(host.size()));
  const char* base = static_cast<const char*>(dev.raw_data());
  multi_tensor_step_kernel<T><<<grid_blocks(nblocks, int64_t(sm_count()) * 16), kThreads>>>(
      algo, hyper, reinterpret_cast<const OptimTensorArgs*>(base),
      reinterpret_cast<const int64_t*>(base + args_bytes), ntensors, nblocks);
  CUDA_CHECK_LAUNCH();
}

void optim_step_launch(OptimAlgo algo, DType dtype, const OptimHyper& hyper, const OptimTensorArgs* tensors,
                       const OptimChunk* chunks, int64_t nchunks) {
  // The CPU's chunk list names every tensor with elements; the GPU makes its own blocks.
  int64_t ntensors = 0;
  for (int64_t c = 0; c < nchunks; ++c) ntensors = std::max(ntensors, chunks[c].tensor + 1);
  if (ntensors == 0) return;
  if (dtype == DType::Float64) step_group<double>(algo, hyper, tensors, ntensors);
  else if (dtype == DType::Float32) step_group<float>(algo, hyper, tensors, ntensors);
  else throw_unsupported_dtype("optimizer step", dtype);
}

}  // namespace

REGISTER_CUDA_KERNEL(optim_step_stub, &optim_step_launch);

}  // namespace cuda
}  // namespace ember
