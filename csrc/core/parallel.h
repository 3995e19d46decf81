// The one threading primitive: parallel_for over [begin, end) in chunks of at least `grain`
// iterations, on ember's own thread pool, honouring ember.set_num_threads. Nested calls, and calls
// made while another thread's parallel_for holds the pool, run serially in the caller.
//
// Why not OpenMP: an OpenMP region splits the work statically and ends in a barrier, so when the
// other core is busy (a laptop's background load, a second process) the caller waits a whole
// scheduler slice for a descheduled worker; on the 2-core development VM with one busy core that
// made a training step 10x slower with two threads than with one. Here the caller claims chunks
// too, and any chunk no worker has claimed yet it simply runs itself, so a late worker costs at
// most the chunk it already holds.
#pragma once
#include <algorithm>
#include <cstdint>

namespace ember {

int get_num_threads();
void set_num_threads(int n);

namespace detail {
using ChunkFn = void (*)(const void* ctx, int64_t begin, int64_t end);
// Runs fn(ctx, b, e) on `nchunks` equal chunks of [begin, end) with up to `nthreads` threads
// (the caller included); rethrows the first exception a chunk threw.
void run_parallel(int64_t begin, int64_t end, int64_t nchunks, int nthreads, ChunkFn fn, const void* ctx);
bool in_parallel_region();
}  // namespace detail

// Calls f(chunk_begin, chunk_end) on disjoint chunks covering [begin, end), each of at least
// `grain` iterations (one chunk when the range is shorter), possibly on several threads at once.
template <typename F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, const F& f) {
  const int64_t n = end - begin;
  if (n <= 0) return;
  const int64_t max_chunks = grain > 1 ? std::max<int64_t>(1, n / grain) : n;  // each chunk >= grain
  const int nthreads = int(std::min<int64_t>(get_num_threads(), max_chunks));
  if (nthreads <= 1 || detail::in_parallel_region()) {
    f(begin, end);
    return;
  }
  // A few chunks per thread (within the grain) so that a late worker leaves little behind.
  const int64_t nchunks = std::min<int64_t>(max_chunks, int64_t(nthreads) * 4);
  detail::run_parallel(begin, end, nchunks, nthreads,
                       [](const void* ctx, int64_t b, int64_t e) { (*static_cast<const F*>(ctx))(b, e); }, &f);
}

}  // namespace ember
