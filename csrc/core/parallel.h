// The one threading primitive: parallel_for over [begin, end) in chunks of at least `grain`
// iterations, on OpenMP threads, honouring ember.set_num_threads. Nested calls run serially.
#pragma once
#include <algorithm>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ember {

int get_num_threads();
void set_num_threads(int n);

// Calls f(chunk_begin, chunk_end) on disjoint chunks covering [begin, end).
template <typename F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, const F& f) {
  const int64_t n = end - begin;
  if (n <= 0) return;
#ifdef _OPENMP
  const int64_t max_chunks = grain > 0 ? (n + grain - 1) / grain : n;
  const int64_t nthreads = std::min<int64_t>(get_num_threads(), max_chunks);
  if (nthreads > 1 && !omp_in_parallel()) {
#pragma omp parallel num_threads(int(nthreads))
    {
      const int64_t tid = omp_get_thread_num();
      const int64_t nt = omp_get_num_threads();
      const int64_t chunk = (n + nt - 1) / nt;
      const int64_t b = begin + tid * chunk;
      const int64_t e = std::min(end, b + chunk);
      if (b < e) f(b, e);
    }
    return;
  }
#endif
  f(begin, end);
}

}  // namespace ember
