#pragma once
namespace fraudscore {
// [sync] Measured fp32 FMA throughput in GFLOP/s on `threads` threads over about `seconds`.
double measureFmaPeakGflops(int threads, double seconds);
}  // namespace fraudscore
