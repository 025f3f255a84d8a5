// Persistent worker threads for parallelFor. One job runs at a time; the caller works too.
//
// Wake-up latency matters more than it seems: a condition-variable wake costs 5-50 us (a futex
// call, an IPI on a VM), as much as scoring a few thousand rows. So a worker that just finished a
// job, and a caller waiting for its helpers, spin for a short while (kSpin) before sleeping: calls
// that come back to back (a batch loop, a busy server) hand work over in well under a microsecond,
// and an idle pool still sleeps.
#include "fraudscore/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace fraudscore {

namespace {

thread_local bool tInsidePool = false;

constexpr auto kSpin = std::chrono::microseconds(50);

inline void cpuRelax() {
#if defined(__x86_64__) || defined(_M_X64)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// Spins until pred() holds or kSpin has passed; returns pred().
template <class Pred>
bool spinFor(Pred pred) {
  const auto until = std::chrono::steady_clock::now() + kSpin;
  for (;;) {
    for (int k = 0; k < 64; ++k) {
      if (pred()) return true;
      cpuRelax();
    }
    if (std::chrono::steady_clock::now() >= until) return pred();
  }
}

class Pool {
 public:
  explicit Pool(int n) { start(n); }
  ~Pool() { stop(); }

  // Lock-free: scoring calls ask for the size on every call, also while a job holds callMu_.
  int size() const { return size_.load(std::memory_order_relaxed); }

  void resize(int n) {
    std::lock_guard<std::mutex> g(callMu_);
    stop();
    start(n);
  }

  void run(size_t chunks, int threads, const std::function<void(size_t)>& fn) {
    std::lock_guard<std::mutex> g(callMu_);  // one job at a time
    const int helpers = std::min<int>(std::max(threads, 1) - 1, static_cast<int>(workers_.size()));
    if (helpers <= 0 || chunks <= 1) {
      for (size_t c = 0; c < chunks; ++c) fn(c);
      return;
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      fn_ = &fn;
      chunks_ = chunks;
      next_.store(0, std::memory_order_relaxed);
      active_.store(helpers, std::memory_order_relaxed);
      helpersWanted_ = helpers;
      // Release: a spinning worker that sees the new generation also sees the job above.
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    tInsidePool = true;
    work();
    tInsidePool = false;
    // Every helper must check in before fn (on the caller's stack) goes out of scope.
    if (!spinFor([&] { return active_.load(std::memory_order_acquire) == 0; })) {
      std::unique_lock<std::mutex> lk(mu_);
      done_.wait(lk, [&] { return active_.load(std::memory_order_acquire) == 0; });
    }
    fn_ = nullptr;
  }

 private:
  void work() {
    for (;;) {
      const size_t c = next_.fetch_add(1, std::memory_order_relaxed);
      if (c >= chunks_) break;
      (*fn_)(c);
    }
  }

  // `seen` starts at the generation current when the worker is created (after a resize it is not
  // 0), so a new worker never mistakes the last finished job for a new one.
  void loop(int id, uint64_t seen) {
    tInsidePool = true;
    for (;;) {
      if (!spinFor([&] {
            return quit_.load(std::memory_order_relaxed) ||
                   generation_.load(std::memory_order_acquire) != seen;
          })) {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] {
          return quit_.load(std::memory_order_relaxed) ||
                 generation_.load(std::memory_order_acquire) != seen;
        });
      }
      if (quit_.load(std::memory_order_relaxed)) return;
      seen = generation_.load(std::memory_order_acquire);
      if (id >= helpersWanted_) continue;
      work();
      if (active_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        // Notify under the lock so a caller between its check and its wait cannot miss it.
        std::lock_guard<std::mutex> lk(mu_);
        done_.notify_all();
      }
    }
  }

  void start(int n) {
    size_.store(std::max(1, n), std::memory_order_relaxed);
    quit_.store(false);
    const uint64_t g = generation_.load();
    for (int i = 0; i < size() - 1; ++i) workers_.emplace_back([this, i, g] { loop(i, g); });
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      quit_.store(true);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  std::mutex callMu_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable done_;
  std::vector<std::thread> workers_;
  // Written under mu_ before generation_ is bumped; read by workers after they see the bump.
  const std::function<void(size_t)>* fn_ = nullptr;
  size_t chunks_ = 0;
  int helpersWanted_ = 0;
  std::atomic<size_t> next_{0};
  std::atomic<int> active_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> quit_{false};
  std::atomic<int> size_{1};
};

Pool& pool() {
  // Leaked on purpose: worker threads must not be joined from static destructors at exit.
  static Pool* p = new Pool(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  return *p;
}

}  // namespace

void parallelFor(size_t chunks, int threads, const std::function<void(size_t)>& fn) {
  if (tInsidePool) {
    for (size_t c = 0; c < chunks; ++c) fn(c);
    return;
  }
  Pool& p = pool();
  p.run(chunks, threads <= 0 ? p.size() : threads, fn);
}

int poolSize() {
  return pool().size();
}

void setPoolSize(int n) {
  pool().resize(n);
}

}  // namespace fraudscore
