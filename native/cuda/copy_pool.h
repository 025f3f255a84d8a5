// Host-side helpers of the CUDA backend shared by the scoring engine and the trainer: a small
// pool of threads for copying between pageable caller memory and pinned staging, and the check
// that tells whether a caller's buffer is already pinned (then it is copied directly).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

namespace fraudscore {
namespace cudadetail {

// A few host threads for copying between pageable caller memory and pinned staging: one core copies
// at roughly a fifth of a PCIe 5 link's speed, so staging would otherwise bound the pipeline.
class CopyPool {
 public:
  explicit CopyPool(int threads) {
    for (int t = 0; t < threads; ++t) workers_.emplace_back([this] { loop(); });
  }
  ~CopyPool() {
    {
      std::lock_guard<std::mutex> g(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
  }
  // memcpy split into pieces of 1 MiB, run on the pool and the calling thread. Callers take turns
  // (callMu_), and a job ends only when every worker that joined it has left, so a worker never
  // sees the pieces of two jobs.
  void copy(void* dst, const void* src, size_t bytes) {
    constexpr size_t kPiece = size_t(1) << 20;
    const size_t pieces = (bytes + kPiece - 1) / kPiece;
    if (pieces <= 1 || workers_.empty()) {
      std::memcpy(dst, src, bytes);
      return;
    }
    std::lock_guard<std::mutex> turn(callMu_);
    Job job{static_cast<char*>(dst), static_cast<const char*>(src), bytes, kPiece, pieces};
    {
      std::lock_guard<std::mutex> g(mu_);
      job_ = job;
      next_.store(0);
      done_ = 0;
      ++generation_;
    }
    cv_.notify_all();
    const size_t mine = work(job);
    std::unique_lock<std::mutex> lk(mu_);
    done_ += mine;
    doneCv_.wait(lk, [&] { return done_ == job.pieces && active_ == 0; });
    job_ = Job{};
  }

 private:
  struct Job {
    char* dst = nullptr;
    const char* src = nullptr;
    size_t bytes = 0, piece = 0, pieces = 0;
  };
  size_t work(const Job& j) {
    size_t finished = 0;
    for (;;) {
      const size_t k = next_.fetch_add(1);
      if (k >= j.pieces) break;
      const size_t off = k * j.piece;
      std::memcpy(j.dst + off, j.src + off, std::min(j.piece, j.bytes - off));
      ++finished;
    }
    return finished;
  }
  void loop() {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      cv_.wait(lk, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      const Job j = job_;  // snapshot under the lock: consistent with next_'s reset
      ++active_;
      lk.unlock();
      const size_t finished = work(j);
      lk.lock();
      done_ += finished;
      --active_;
      if (active_ == 0) doneCv_.notify_all();
    }
  }
  std::vector<std::thread> workers_;
  std::mutex callMu_, mu_;
  std::condition_variable cv_, doneCv_;
  bool stop_ = false;
  uint64_t generation_ = 0;
  Job job_;
  std::atomic<size_t> next_{0};
  size_t done_ = 0;
  int active_ = 0;
};

inline bool isPinned(const void* p) {
  if (!p) return true;
  cudaPointerAttributes a;
  if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return a.type == cudaMemoryTypeHost;
}

// One pool per process, sized from the machine (at most 7 helpers; none on a 1-2 core machine).
inline CopyPool& copyPool() {
  static CopyPool pool([] {
    const unsigned hw = std::thread::hardware_concurrency();
    return static_cast<int>(std::min(7u, hw > 2 ? hw / 2 : 0u));
  }());
  return pool;
}

}  // namespace cudadetail
}  // namespace fraudscore
