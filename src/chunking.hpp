// The chunk rule of the dynamic schedule (sweep.cpp, Runner): how many points a rank receives when
// it asks rank 0 for work (private to the library; a pure function, tested with synthetic costs in
// tests/unit/test_chunking.cpp).
//
// When a rank asks (request_workers): when the points are cheap (c < L = 0.05 s) and its queue
// holds less than L of work, it asks ahead for all its workers, so that a request's latency (a few
// 1 ms polls) is hidden; otherwise only when a worker waits for a point with the queue empty, and
// then for the workers waiting only: an expensive point is never queued on one rank while another
// rank idles.
//
// How much (chunk_points): guided self-scheduling, capped by time. With R points not yet handed
// out, W worker threads over all ranks, w the workers the request is for and a measured mean cost
// of c seconds per point:
//
//   per worker = clamp(ceil(R / (k W)), 1, max(1, floor(T / c)))      (k = 2, T = 0.05 s)
//   chunk      = min(R, w x per worker)
//
// Early on the chunks are large (few requests for cheap points: a chunk is worth about T seconds
// of a worker); as R shrinks they shrink with it, and near the end every request gets one point per
// worker, so the ranks finish within about one point of each other. The danger of any rule from a
// measured mean: a chunk sized at cheap points' cost that meets expensive ones (phases are
// contiguous in the grid) costs span x T instead of T; T = 0.05 s keeps that at 5 s for a span of
// 100 (small beside a sweep worth balancing), and k = 2 hands out at most half of what remains per
// worker at once. T is also what a request's latency (a few 1 ms polls, hidden by asking ahead)
// is weighed against. While no cost is measured yet (c <= 0) a request gets one point per
// worker.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace symsweep {

struct ChunkRule {
  double k = 2;                  ///< the guided divisor: R / (k W) points per worker at most
  double target_seconds = 0.05;  ///< a worker's share of a chunk is worth about this much
  double lead_seconds = 0.05;    ///< cheap points (mean under this) are asked for this far ahead
};

/// How many workers a rank asks for now (0: no request): `queued` points in its queue, `waiting`
/// of its `workers` workers waiting for one, a mean cost of `mean_seconds` (<= 0: unknown).
inline int request_workers(std::uint64_t queued, int waiting, int workers, double mean_seconds,
                           const ChunkRule& rule = ChunkRule()) {
  const bool cheap = mean_seconds > 0 && mean_seconds < rule.lead_seconds;
  if (cheap && static_cast<double>(queued) * mean_seconds < rule.lead_seconds) return workers;
  if (waiting > 0 && queued == 0) return waiting;
  return 0;
}

/// The points to hand a rank of `rank_workers` workers, out of `remaining` not yet handed out,
/// with `total_workers` workers over all ranks and a mean cost of `mean_seconds` per point
/// (<= 0: unknown). 0 only when nothing remains.
inline std::uint64_t chunk_points(std::uint64_t remaining, int total_workers, int rank_workers,
                                  double mean_seconds, const ChunkRule& rule = ChunkRule()) {
  if (remaining == 0) return 0;
  const double workers = std::max(total_workers, 1);
  const double guided = std::ceil(static_cast<double>(remaining) / (rule.k * workers));
  const double cap =
      mean_seconds > 0 ? std::max(1.0, std::floor(rule.target_seconds / mean_seconds)) : 1.0;
  const double per_worker = std::clamp(guided, 1.0, std::min(cap, 1e15));
  const double chunk = per_worker * std::max(rank_workers, 1);
  return chunk >= static_cast<double>(remaining) ? remaining : static_cast<std::uint64_t>(chunk);
}

}  // namespace symsweep
