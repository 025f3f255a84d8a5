// A small persistent thread pool for data-parallel loops over row chunks.
#pragma once

#include <cstddef>
#include <functional>

namespace fraudscore {

// [sync] Runs fn(chunk) for chunk in [0, chunks) on up to `threads` threads (the caller is one of
// them) and returns when all are done. threads <= 0 means the pool's size. Calls from several
// threads at once are served one after another; a call made from inside a pool task runs inline.
// fn must not throw.
void parallelFor(size_t chunks, int threads, const std::function<void(size_t)>& fn);

// Number of threads parallelFor uses by default (the machine's cores unless set).
int poolSize();
// [sync] Resizes the pool (n >= 1). Waits for running work to finish first.
void setPoolSize(int n);

}  // namespace fraudscore
