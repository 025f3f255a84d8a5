// Persistent worker threads for parallelFor. One job runs at a time; the caller works too.
#include "fraudscore/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace fraudscore {

namespace {

thread_local bool tInsidePool = false;

class Pool {
 public:
  explicit Pool(int n) { start(n); }
  ~Pool() { stop(); }

  int size() {
    std::lock_guard<std::mutex> g(callMu_);
    return size_;
  }

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
      next_.store(0);
      active_ = helpers;
      helpersWanted_ = helpers;
      ++generation_;
    }
    cv_.notify_all();
    tInsidePool = true;
    work();
    tInsidePool = false;
    std::unique_lock<std::mutex> lk(mu_);
    done_.wait(lk, [&] { return active_ == 0; });
    fn_ = nullptr;
  }

 private:
  void work() {
    for (;;) {
      const size_t c = next_.fetch_add(1);
      if (c >= chunks_) break;
      (*fn_)(c);
    }
  }

  void loop(int id) {
    tInsidePool = true;
    uint64_t seen = 0;
    for (;;) {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return quit_ || generation_ != seen; });
      if (quit_) return;
      seen = generation_;
      if (id >= helpersWanted_) continue;
      lk.unlock();
      work();
      lk.lock();
      if (--active_ == 0) done_.notify_all();
    }
  }

  void start(int n) {
    size_ = std::max(1, n);
    quit_ = false;
    for (int i = 0; i < size_ - 1; ++i) workers_.emplace_back([this, i] { loop(i); });
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      quit_ = true;
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
  const std::function<void(size_t)>* fn_ = nullptr;
  size_t chunks_ = 0;
  std::atomic<size_t> next_{0};
  int active_ = 0;
  int helpersWanted_ = 0;
  uint64_t generation_ = 0;
  bool quit_ = false;
  int size_ = 1;
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

int poolSize() { return pool().size(); }

void setPoolSize(int n) { pool().resize(n); }

}  // namespace fraudscore
