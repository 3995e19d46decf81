// Standalone test of parallel_for and the thread pool behind it (csrc/core/parallel.cpp): every
// index is visited exactly once for any range, grain and thread count; chunks respect the grain;
// nested calls run serially; an exception in a chunk reaches the caller; several caller threads
// at once; a worker starved by a busy core does not stall the caller; fork() in between.
//
// Built and run by tests/test_parallel.py, or by hand from the repository root:
//   g++ -O2 -std=c++17 -pthread -Icsrc tests/cpp/test_parallel.cpp csrc/core/parallel.cpp -o /tmp/test_parallel && /tmp/test_parallel
// Exit status 0 = all passed.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/parallel.h"

using namespace ember;

namespace {

int g_failures = 0;

#define EXPECT(cond, ...)                              \
  do {                                                 \
    if (!(cond)) {                                     \
      ++g_failures;                                    \
      std::printf("FAIL %s:%d: ", __FILE__, __LINE__); \
      std::printf(__VA_ARGS__);                        \
      std::printf("\n");                               \
    }                                                  \
  } while (0)

// Visits [begin, end) with parallel_for and checks each index was seen once, and the chunk sizes.
void check_cover(int64_t begin, int64_t end, int64_t grain) {
  const int64_t n = end - begin;
  std::vector<std::atomic<int>> seen(size_t(n > 0 ? n : 0));
  std::atomic<int64_t> small_chunks{0}, calls{0};
  parallel_for(begin, end, grain, [&](int64_t b, int64_t e) {
    calls.fetch_add(1);
    if (e - b < grain) small_chunks.fetch_add(1);
    for (int64_t i = b; i < e; ++i) seen[size_t(i - begin)].fetch_add(1);
  });
  for (int64_t i = 0; i < n; ++i)
    EXPECT(seen[size_t(i)].load() == 1, "range [%ld,%ld) grain %ld: index %ld seen %d times", long(begin), long(end),
           long(grain), long(begin + i), seen[size_t(i)].load());
  // Chunks are equal splits with at least `grain` iterations each, so a short chunk means the
  // whole range was shorter than the grain.
  if (n >= grain) EXPECT(small_chunks.load() == 0, "range %ld grain %ld: %ld chunks below the grain", long(n),
                         long(grain), long(small_chunks.load()));
  if (n == 0) EXPECT(calls.load() == 0, "empty range called f");
}

void test_cover() {
  for (int threads : {1, 2, 3, 4, 7}) {
    set_num_threads(threads);
    for (int64_t n : {0, 1, 2, 3, 7, 33, 97, 1000, 100003})
      for (int64_t grain : {1, 2, 5, 64, 4096}) check_cover(-5, -5 + n, grain);
  }
}

void test_nested_runs_serially_inside() {
  set_num_threads(4);
  std::atomic<int64_t> total{0};
  parallel_for(0, 8, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      int inner_calls = 0;
      parallel_for(0, 1000, 1, [&](int64_t ib, int64_t ie) {
        ++inner_calls;  // a plain int: safe only because nested calls run on this thread
        total.fetch_add(ie - ib);
      });
      EXPECT(inner_calls == 1, "nested parallel_for split into %d calls", inner_calls);
    }
  });
  EXPECT(total.load() == 8000, "nested total %ld", long(total.load()));
}

void test_exception_reaches_caller() {
  set_num_threads(3);
  for (int rep = 0; rep < 50; ++rep) {
    bool caught = false;
    try {
      parallel_for(0, 64, 1, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i)
          if (i == 37) throw std::runtime_error("chunk failed");
      });
    } catch (const std::runtime_error& err) {
      caught = std::string(err.what()) == "chunk failed";
    }
    EXPECT(caught, "exception from a chunk did not reach the caller (rep %d)", rep);
  }
  check_cover(0, 1000, 1);  // the pool still works afterwards
}

void test_many_callers() {
  set_num_threads(2);
  std::vector<std::thread> callers;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&] {
      for (int rep = 0; rep < 200; ++rep) {
        std::atomic<int64_t> sum{0};
        parallel_for(0, 10000, 16, [&](int64_t b, int64_t e) {
          int64_t s = 0;
          for (int64_t i = b; i < e; ++i) s += i;
          sum.fetch_add(s);
        });
        if (sum.load() != int64_t(10000) * 9999 / 2) bad.fetch_add(1);
      }
    });
  }
  for (auto& c : callers) c.join();
  EXPECT(bad.load() == 0, "%d wrong sums from concurrent callers", bad.load());
}

// Two busy threads keep both cores of a small machine occupied; the caller's parallel_for must
// still finish promptly (it runs unclaimed chunks itself instead of waiting for a worker).
void test_busy_machine_does_not_stall() {
  set_num_threads(2);
  std::atomic<bool> stop{false};
  std::vector<std::thread> hogs;
  for (int t = 0; t < 2; ++t)
    hogs.emplace_back([&] {
      volatile uint64_t x = 0;
      while (!stop.load(std::memory_order_relaxed)) x = x + 1;
    });
  const auto t0 = std::chrono::steady_clock::now();
  for (int rep = 0; rep < 2000; ++rep) check_cover(0, 256, 1);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  stop.store(true);
  for (auto& h : hogs) h.join();
  std::printf("2000 small parallel_for calls with both cores busy: %.3f s\n", s);
}

void test_fork_child_gets_its_own_pool() {
  set_num_threads(2);
  check_cover(0, 1000, 1);  // the parent's pool exists now
  const pid_t pid = fork();
  if (pid == 0) {
    const int before = g_failures;
    check_cover(0, 100000, 1);
    _exit(g_failures == before ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "parallel_for in a forked child failed or hung");
}

}  // namespace

int main() {
  test_cover();
  test_nested_runs_serially_inside();
  test_exception_reaches_caller();
  test_many_callers();
  test_busy_machine_does_not_stall();
  test_fork_child_gets_its_own_pool();
  std::printf("%s (%d failures)\n", g_failures ? "FAILED" : "all passed", g_failures);
  return g_failures ? 1 : 0;
}
