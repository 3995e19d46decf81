// ember's thread pool behind parallel_for (see parallel.h for why it is not OpenMP).
//
// Protocol. The caller publishes a Job (on its stack) in `g_job`, bumps `g_generation` and wakes
// sleeping workers, then claims chunks itself from job.next. A worker that sees a new generation
// registers in `g_inside`, loads g_job, takes a thread slot and claims chunks until none are left.
// The caller, once every chunk is claimed, waits for the claimed ones to finish, withdraws the job
// (g_job = null) and waits until no worker is inside, so no worker can touch the Job after the
// caller returns. All accesses to g_job / g_inside are sequentially consistent: either a late
// worker sees g_job == null, or the caller sees it inside and waits for it.
#include "core/parallel.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "core/check.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define EMBER_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define EMBER_CPU_RELAX() asm volatile("yield")
#else
#define EMBER_CPU_RELAX() ((void)0)
#endif

namespace ember {
namespace {

// Threads from OMP_NUM_THREADS when set (the variable users already know), else the CPUs this
// process may run on.
int default_threads() {
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n >= 1) return n;
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

std::atomic<int> g_num_threads{0};

struct Job {
  detail::ChunkFn fn;
  const void* ctx;
  int64_t begin, end, nchunks;
  std::atomic<int64_t> next{0};   // next chunk to claim
  std::atomic<int64_t> done{0};   // chunks finished
  std::atomic<int> slots{0};      // worker threads still allowed to join
  std::atomic<bool> failed{false};
  std::exception_ptr error;       // written once, by whoever sets `failed`

  // Claims and runs chunks until none are left.
  void work() {
    for (;;) {
      const int64_t c = next.fetch_add(1, std::memory_order_relaxed);
      if (c >= nchunks) return;
      if (!failed.load(std::memory_order_relaxed)) {
        const int64_t n = end - begin;
        const int64_t b = begin + n * c / nchunks, e = begin + n * (c + 1) / nchunks;
        try {
          fn(ctx, b, e);
        } catch (...) {
          if (!failed.exchange(true)) error = std::current_exception();
        }
      }
      done.fetch_add(1, std::memory_order_acq_rel);
    }
  }
};

thread_local bool t_in_parallel = false;

// How long an idle worker polls before it sleeps: long enough to stay awake across the Python
// between two ops of a training step, short enough not to starve a busy machine.
constexpr auto kSpinTime = std::chrono::microseconds(100);

class Pool {
 public:
  explicit Pool(int workers) {
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { worker_loop(); });
  }

  int workers() const { return int(threads_.size()); }

  // Called with the pool's run mutex held; at most nthreads - 1 workers join the caller.
  void run(Job& job, int nthreads) {
    g_job_.store(&job);
    job.slots.store(int(std::min<int64_t>(nthreads - 1, job.nchunks - 1)), std::memory_order_release);
    generation_.fetch_add(1);
    if (sleepers_.load() > 0) {
      std::lock_guard<std::mutex> lock(sleep_mutex_);
      sleep_cv_.notify_all();
    }
    t_in_parallel = true;
    job.work();
    t_in_parallel = false;
    wait_until([&] { return job.done.load(std::memory_order_acquire) >= job.nchunks; });
    g_job_.store(nullptr);
    wait_until([&] { return inside_.load() == 0; });
  }

  std::mutex run_mutex;

 private:
  template <typename Pred>
  static void wait_until(const Pred& ready) {
    for (int i = 0; !ready(); ++i) {
      if (i < 4000) EMBER_CPU_RELAX();
      else sched_yield();  // the thread we wait for may need this core
    }
  }

  void worker_loop() {
    t_in_parallel = true;  // kernels a worker runs never fan out again
    uint64_t seen = generation_.load();
    for (;;) {
      auto spin_until = std::chrono::steady_clock::now() + kSpinTime;
      for (int i = 1; generation_.load(std::memory_order_acquire) == seen; ++i) {
        EMBER_CPU_RELAX();
        if (i % 64 != 0 || std::chrono::steady_clock::now() < spin_until) continue;
        std::unique_lock<std::mutex> lock(sleep_mutex_);
        sleepers_.fetch_add(1);
        sleep_cv_.wait(lock, [&] { return generation_.load() != seen; });
        sleepers_.fetch_sub(1);
        spin_until = std::chrono::steady_clock::now() + kSpinTime;
      }
      seen = generation_.load();
      inside_.fetch_add(1);
      Job* job = g_job_.load();
      if (job != nullptr && job->slots.fetch_sub(1, std::memory_order_acq_rel) > 0) job->work();
      inside_.fetch_sub(1);
    }
  }

  std::vector<std::thread> threads_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<Job*> g_job_{nullptr};
  std::atomic<int> inside_{0};
  std::atomic<int> sleepers_{0};
  std::mutex sleep_mutex_;
  std::condition_variable sleep_cv_;
};

// The pool is created on first use and never destroyed: its threads sleep until process exit
// (joining them from a static destructor would race with interpreter shutdown). A pool that is
// too small for the requested thread count is replaced; the old one is leaked with its threads
// asleep, which happens only when set_num_threads raises the count. After fork() the child has
// none of the parent's threads, so it starts from no pool.
std::atomic<Pool*> g_pool{nullptr};
std::mutex g_pool_mutex;

void forget_pool_in_child() { g_pool.store(nullptr); }

Pool* pool_for(int workers) {
  Pool* p = g_pool.load(std::memory_order_acquire);
  if (p != nullptr && p->workers() >= workers) return p;
  std::lock_guard<std::mutex> lock(g_pool_mutex);
  p = g_pool.load();
  if (p == nullptr || p->workers() < workers) {
    static std::once_flag atfork_once;
    std::call_once(atfork_once, [] { pthread_atfork(nullptr, nullptr, forget_pool_in_child); });
    p = new Pool(workers);
    g_pool.store(p, std::memory_order_release);
  }
  return p;
}

}  // namespace

namespace detail {

bool in_parallel_region() { return t_in_parallel; }

void run_parallel(int64_t begin, int64_t end, int64_t nchunks, int nthreads, ChunkFn fn, const void* ctx) {
  Pool* pool = pool_for(nthreads - 1);
  std::unique_lock<std::mutex> lock(pool->run_mutex, std::try_to_lock);
  if (!lock.owns_lock()) {  // another thread's parallel_for holds the pool: run serially here
    fn(ctx, begin, end);
    return;
  }
  Job job;
  job.fn = fn;
  job.ctx = ctx;
  job.begin = begin;
  job.end = end;
  job.nchunks = nchunks;
  pool->run(job, nthreads);
  if (job.error) std::rethrow_exception(job.error);
}

}  // namespace detail

int get_num_threads() {
  int n = g_num_threads.load(std::memory_order_relaxed);
  if (n == 0) {
    n = default_threads();
    g_num_threads.store(n, std::memory_order_relaxed);
  }
  return n;
}

void set_num_threads(int n) {
  EMBER_CHECK(n >= 1, ValueError, "set_num_threads: expected a positive number of threads, got ", n);
  g_num_threads.store(n, std::memory_order_relaxed);
}

}  // namespace ember
