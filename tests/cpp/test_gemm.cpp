// Standalone test of the CPU GEMM kernels against gemm_reference (the float64-accumulating
// triple loop): all size combinations of {1,2,3,7,16,17,33,64,97,257} and some 1025s, the four
// transposes, strided and padded operands, alpha/beta (beta = 0 with NaN in C), bias + ReLU,
// float32 and float64, 1 and 2 threads, batching, and every instruction-set path.
//
// Build and run from the repository root (no CMake needed; the kernel file is compiled once
// per instruction set, as cmake/cpu_capability.cmake does):
//   mkdir -p /tmp/gemm_test && for isa in "DEFAULT:" "AVX2:-mavx2 -mfma -mf16c -mbmi2" "AVX512:-mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma -mf16c -mbmi2"; do g++ -O3 -std=c++17 -pthread -Icsrc -DCPU_CAPABILITY=${isa%%:*} -DCPU_CAPABILITY_${isa%%:*}=1 ${isa#*:} -c csrc/cpu/kernels/gemm_kernels.cpp -o /tmp/gemm_test/gemm_kernels_${isa%%:*}.o || break; done && g++ -O3 -std=c++17 -pthread -Icsrc tests/cpp/test_gemm.cpp csrc/cpu/gemm.cpp csrc/core/cpu_features.cpp csrc/core/parallel.cpp csrc/core/dtype.cpp /tmp/gemm_test/gemm_kernels_*.o -o /tmp/gemm_test/test_gemm && /tmp/gemm_test/test_gemm
// Without EMBER_CPU_CAPABILITY set, the binary re-runs itself once per path the CPU supports
// (avx512, avx2, default); with it set (avx512|avx2|default), it tests that path only.
// Exit status 0 = all passed.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/parallel.h"
#include "cpu/gemm.h"
#include "ops/linalg.h"

using namespace ember;

// cpu/gemm.cpp registers into these two stubs; the library defines them in ops/linalg.cpp,
// which this test does not link.
namespace ember {
DEFINE_DISPATCH(gemm_stub);
DEFINE_DISPATCH(gemm_reference_stub);
}  // namespace ember

namespace {

int g_failures = 0;
int64_t g_checks = 0;

// Where an operand lives in its buffer: element (i, j) at offset i * row + j * col.
enum class Layout { RowMajor, ColMajor, RowStrided, ColStrided };
const char* layout_name(Layout l) {
  switch (l) {
    case Layout::RowMajor: return "row";
    case Layout::ColMajor: return "col";
    case Layout::RowStrided: return "row-strided";
    case Layout::ColStrided: return "col-strided";
  }
  return "?";
}

struct Operand {
  int64_t rows, cols, row, col, size;
};

// Padded leading dimensions and a non-unit inner stride for the strided layouts.
Operand make_operand(int64_t rows, int64_t cols, Layout l) {
  Operand o{rows, cols, 0, 0, 0};
  switch (l) {
    case Layout::RowMajor: o.row = cols; o.col = 1; break;
    case Layout::ColMajor: o.row = 1; o.col = rows; break;
    case Layout::RowStrided: o.col = 2; o.row = 2 * cols + 3; break;
    case Layout::ColStrided: o.row = 3; o.col = 3 * rows + 1; break;
  }
  o.size = (rows - 1) * o.row + (cols - 1) * o.col + 1;
  return o;
}

struct Case {
  int64_t M, N, K;
  Layout la = Layout::RowMajor, lb = Layout::RowMajor, lc = Layout::RowMajor;
  double alpha = 1.0, beta = 0.0;
  bool bias = false;
  int64_t bias_stride = 1;
  bool relu = false;
  int threads = 2;
};

template <typename T>
const char* type_name() { return sizeof(T) == 4 ? "float32" : "float64"; }

// Runs one case through gemm and gemm_reference and compares. Unused (padding) elements of A
// and B hold NaN, so reading them poisons the result; C's padding must be left untouched.
template <typename T>
void check_case(const Case& cs, std::mt19937& rng) {
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  const T nan = std::numeric_limits<T>::quiet_NaN();
  const Operand oa = make_operand(cs.M, cs.K, cs.la), ob = make_operand(cs.K, cs.N, cs.lb),
                oc = make_operand(cs.M, cs.N, cs.lc);
  std::vector<T> A(size_t(oa.size), nan), B(size_t(ob.size), nan), C0(size_t(oc.size), T(-7));
  std::vector<T> absA(A.size(), nan), absB(B.size(), nan);
  for (int64_t i = 0; i < cs.M; ++i)
    for (int64_t p = 0; p < cs.K; ++p) {
      const size_t o = size_t(i * oa.row + p * oa.col);
      A[o] = T(dist(rng));
      absA[o] = std::abs(A[o]);
    }
  for (int64_t p = 0; p < cs.K; ++p)
    for (int64_t j = 0; j < cs.N; ++j) {
      const size_t o = size_t(p * ob.row + j * ob.col);
      B[o] = T(dist(rng));
      absB[o] = std::abs(B[o]);
    }
  for (int64_t i = 0; i < cs.M; ++i)
    for (int64_t j = 0; j < cs.N; ++j)
      C0[size_t(i * oc.row + j * oc.col)] = cs.beta == 0.0 ? nan : T(dist(rng));
  std::vector<T> bias;
  if (cs.bias) {
    bias.assign(size_t(cs.N * cs.bias_stride), nan);
    for (int64_t j = 0; j < cs.N; ++j) bias[size_t(j * cs.bias_stride)] = T(dist(rng));
  }

  GemmArgs args;
  args.M = cs.M; args.N = cs.N; args.K = cs.K;
  args.A = A.data(); args.lda_row = oa.row; args.lda_col = oa.col;
  args.B = B.data(); args.ldb_row = ob.row; args.ldb_col = ob.col;
  args.ldc_row = oc.row; args.ldc_col = oc.col;
  args.alpha = cs.alpha; args.beta = cs.beta;
  args.bias = cs.bias ? bias.data() : nullptr;
  args.bias_stride = cs.bias_stride;
  args.activation = cs.relu ? GemmActivation::ReLU : GemmActivation::None;

  std::vector<T> C = C0, R = C0, Mag(C0.size(), T(0));
  set_num_threads(cs.threads);
  args.C = C.data();
  gemm(dtype_of<T>::value, args);
  args.C = R.data();
  gemm_reference(dtype_of<T>::value, args);
  // Error scale per element: |alpha| sum_p |a_ip b_pj| + |beta c_ij| + |bias_j|.
  GemmArgs mag = args;
  mag.A = absA.data(); mag.B = absB.data(); mag.C = Mag.data();
  mag.alpha = std::abs(cs.alpha); mag.beta = 0.0; mag.bias = nullptr;
  mag.activation = GemmActivation::None;
  gemm_reference(dtype_of<T>::value, mag);

  const double eps = sizeof(T) == 4 ? 1.2e-7 : 2.3e-16;
  const double tol_factor = 4.0 * eps * (4.0 + std::sqrt(double(cs.K)));
  int reported = 0;
  for (int64_t i = 0; i < cs.M; ++i)
    for (int64_t j = 0; j < cs.N; ++j) {
      const size_t o = size_t(i * oc.row + j * oc.col);
      double scale = double(Mag[o]) + (cs.beta != 0.0 ? std::abs(cs.beta * C0[o]) : 0.0) +
                     (cs.bias ? std::abs(double(bias[size_t(j * cs.bias_stride)])) : 0.0);
      const double got = C[o], want = R[o];
      const bool ok = std::isfinite(got) && std::abs(got - want) <= tol_factor * scale + 1e-30;
      ++g_checks;
      if (!ok && reported++ < 3) {
        std::printf("FAIL %s M=%lld N=%lld K=%lld A=%s B=%s C=%s alpha=%g beta=%g bias=%d(stride %lld) "
                    "relu=%d threads=%d: C[%lld,%lld]=%.9g expected %.9g (tol %.3g)\n",
                    type_name<T>(), (long long)cs.M, (long long)cs.N, (long long)cs.K,
                    layout_name(cs.la), layout_name(cs.lb), layout_name(cs.lc), cs.alpha, cs.beta,
                    int(cs.bias), (long long)cs.bias_stride, int(cs.relu), cs.threads,
                    (long long)i, (long long)j, got, want, tol_factor * scale);
      }
      C[o] = R[o] = C0[o];  // for the padding comparison below
    }
  if (std::memcmp(C.data(), C0.data(), C.size() * sizeof(T)) != 0) {
    std::printf("FAIL %s M=%lld N=%lld K=%lld C=%s: gemm wrote outside C\n", type_name<T>(),
                (long long)cs.M, (long long)cs.N, (long long)cs.K, layout_name(cs.lc));
    ++reported;
  }
  if (reported) ++g_failures;
}

template <typename T>
void check_batched(std::mt19937& rng, int64_t batch, int64_t M, int64_t N, int64_t K,
                   bool broadcast_b) {
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  std::vector<T> A(size_t(batch * M * K)), B(size_t((broadcast_b ? 1 : batch) * K * N));
  std::vector<T> C(size_t(batch * M * N)), bias(static_cast<size_t>(N));
  for (auto& v : A) v = T(dist(rng));
  for (auto& v : B) v = T(dist(rng));
  for (auto& v : bias) v = T(dist(rng));
  std::vector<T> R(C.size());
  GemmArgs a;
  a.M = M; a.N = N; a.K = K;
  a.A = A.data(); a.lda_row = K; a.lda_col = 1;
  a.B = B.data(); a.ldb_row = 1; a.ldb_col = K;  // B^T stored, as Linear's weight
  a.ldc_row = N; a.ldc_col = 1;
  a.bias = bias.data();
  a.activation = GemmActivation::ReLU;
  const int64_t sB = broadcast_b ? 0 : K * N;
  set_num_threads(2);
  a.C = C.data();
  gemm_batched(dtype_of<T>::value, a, batch, M * K, sB, M * N);
  bool ok = true;
  for (int64_t b = 0; b < batch; ++b) {
    GemmArgs r = a;
    r.A = A.data() + b * M * K;
    r.B = B.data() + b * sB;
    r.C = R.data() + b * M * N;
    gemm_reference(dtype_of<T>::value, r);
  }
  const double tol = (sizeof(T) == 4 ? 1e-5 : 1e-13) * (4.0 + std::sqrt(double(K))) * double(K);
  for (size_t i = 0; i < C.size(); ++i) {
    ++g_checks;
    if (!(std::abs(double(C[i]) - double(R[i])) <= tol)) ok = false;
  }
  if (!ok) {
    std::printf("FAIL %s gemm_batched batch=%lld M=%lld N=%lld K=%lld broadcast_b=%d\n",
                type_name<T>(), (long long)batch, (long long)M, (long long)N, (long long)K,
                int(broadcast_b));
    ++g_failures;
  }
}

template <typename T>
void run_all(std::mt19937& rng) {
  const int64_t sizes[] = {1, 2, 3, 7, 16, 17, 33, 64, 97, 257};
  const Layout both[] = {Layout::RowMajor, Layout::ColMajor};
  const int before = g_failures;

  // Every size combination, all four transposes, plain C = A @ B (beta = 0 over NaN).
  for (int64_t M : sizes)
    for (int64_t N : sizes)
      for (int64_t K : sizes)
        for (Layout la : both)
          for (Layout lb : both) {
            Case c{M, N, K, la, lb};
            c.threads = (M + N + K) % 2 ? 1 : 2;
            check_case<T>(c, rng);
          }

  // Strided / padded operands and a column-major or strided C.
  const Layout all[] = {Layout::RowMajor, Layout::ColMajor, Layout::RowStrided, Layout::ColStrided};
  const int64_t some[] = {1, 7, 17, 64, 97};
  for (int64_t M : some)
    for (int64_t N : some)
      for (int64_t K : {int64_t(3), int64_t(33), int64_t(257)})
        for (Layout la : all)
          for (Layout lb : all)
            for (Layout lc : all) {
              if ((la == Layout::RowMajor || la == Layout::ColMajor) &&
                  (lb == Layout::RowMajor || lb == Layout::ColMajor) && lc == Layout::RowMajor)
                continue;  // covered above
              Case c{M, N, K, la, lb, lc};
              check_case<T>(c, rng);
            }

  // alpha / beta, bias (with a stride) and ReLU, on both sides of the small-matrix cutoff.
  const double alphas[] = {1.0, -0.5, 0.0, 2.0};
  const double betas[] = {0.0, 1.0, -1.5};
  for (int64_t M : {int64_t(4), int64_t(17), int64_t(130)})
    for (int64_t N : {int64_t(2), int64_t(33), int64_t(97)})
      for (int64_t K : {int64_t(0), int64_t(4), int64_t(300)})
        for (double alpha : alphas)
          for (double beta : betas)
            for (int epi = 0; epi < 4; ++epi) {
              Case c{M, N, K};
              c.alpha = alpha;
              c.beta = beta;
              c.bias = epi & 1;
              c.relu = epi & 2;
              c.bias_stride = (M + K) % 3 == 0 ? 3 : 1;
              c.lb = (N + epi) % 2 ? Layout::ColMajor : Layout::RowMajor;
              c.lc = (K + epi) % 3 == 2 ? Layout::ColMajor : Layout::RowMajor;
              check_case<T>(c, rng);
            }

  // Large: K beyond one cache block, M and N beyond one MC / NC block, all transposes.
  for (auto s : {std::vector<int64_t>{1025, 33, 1025}, std::vector<int64_t>{97, 1025, 1025},
                 std::vector<int64_t>{1025, 1025, 7}, std::vector<int64_t>{257, 5000, 300},
                 std::vector<int64_t>{3000, 17, 600}})
    for (Layout la : both)
      for (Layout lb : both) {
        Case c{s[0], s[1], s[2], la, lb};
        c.beta = 0.5;
        c.bias = true;
        c.relu = true;
        check_case<T>(c, rng);
      }

  // The training shapes of the MLP / CNN benchmarks, with the epilogue Linear uses.
  for (auto s : {std::vector<int64_t>{128, 512, 784}, std::vector<int64_t>{128, 10, 512},
                 std::vector<int64_t>{2000, 64, 42}, std::vector<int64_t>{64, 196, 288},
                 std::vector<int64_t>{4, 2, 4}}) {
    Case c{s[0], s[1], s[2], Layout::RowMajor, Layout::ColMajor};
    c.bias = true;
    c.relu = true;
    check_case<T>(c, rng);
  }

  check_batched<T>(rng, 64, 64, 196, 288, true);
  check_batched<T>(rng, 5, 4, 2, 4, false);
  check_batched<T>(rng, 3, 100, 70, 50, false);

  std::printf("  %s: %s\n", type_name<T>(), g_failures == before ? "ok" : "FAILED");
}

int run_one_path() {
  std::printf("instruction set path: %s\n", cpu_capability_name(cpu_capability()));
  std::mt19937 rng(1234);
  run_all<float>(rng);
  run_all<double>(rng);
  // Unsupported dtypes are rejected.
  bool threw = false;
  try {
    GemmArgs a;
    gemm(DType::Int32, a);
  } catch (const TypeError&) {
    threw = true;
  }
  if (!threw) {
    std::printf("FAIL gemm(Int32) did not throw TypeError\n");
    ++g_failures;
  }
  std::printf("%lld elements checked, %d failing cases\n", (long long)g_checks, g_failures);
  std::fflush(stdout);
  return g_failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (std::getenv("EMBER_CPU_CAPABILITY")) return run_one_path();
  // Re-run this binary once per path the CPU supports.
  const char* paths[] = {"avx512", "avx2", "default"};
  int status = 0;
  for (int c = int(detected_cpu_capability()); c >= 0; --c) {
    const std::string cmd = std::string("EMBER_CPU_CAPABILITY=") + paths[2 - c] + " '" + argv[0] + "'";
    std::fflush(stdout);
    const int rc = std::system(cmd.c_str());
    std::printf("==> %s: %s\n\n", paths[2 - c], rc == 0 ? "PASSED" : "FAILED");
    if (rc != 0) status = 1;
  }
  if (int(detected_cpu_capability()) < 2)
    std::printf("note: this CPU has no AVX-512, so the avx512 path was not run\n");
  return status;
}
