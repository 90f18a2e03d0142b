// The dynamic schedule's chunk rule (chunking.hpp), in a simulated schedule with synthetic costs
// (no timing): ranks of workers ask for chunks when a worker is idle, in the order of simulated
// time; every point is handed out exactly once, the makespan stays near total work / workers, and
// the chunks shrink to one point per worker at the end.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <queue>
#include <random>
#include <vector>

#include "chunking.hpp"

namespace symsweep {
namespace {

struct Simulated {
  double makespan = 0;
  double ideal = 0;                       // total work / workers
  std::vector<int> handed;                // times each point was handed out
  std::vector<std::uint64_t> per_worker;  // points per asking worker, in the order handed out
  double largest_point = 0;
};

/// `ranks` ranks of `per_rank` workers run points of cost `cost[p]` (seconds), handed out in
/// grid order by chunk_points from the mean cost of the points finished so far. A rank asks when
/// request_workers says, at each event (a worker freed); the chunk goes into its queue at once.
Simulated simulate(const std::vector<double>& cost, int ranks, int per_rank) {
  Simulated out;
  out.handed.assign(cost.size(), 0);
  const int workers = ranks * per_rank;
  std::uint64_t cursor = 0;
  double done_seconds = 0, done_points = 0;
  std::vector<std::queue<std::uint64_t>> queue(static_cast<std::size_t>(ranks));
  // (time a worker becomes free, worker); the worker's rank is worker / per_rank.
  using Event = std::pair<double, int>;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> free;
  for (int w = 0; w < workers; ++w) free.push({0.0, w});
  std::vector<std::uint64_t> running(static_cast<std::size_t>(workers), UINT64_MAX);
  while (!free.empty()) {
    const auto [t, w] = free.top();
    free.pop();
    out.makespan = std::max(out.makespan, t);
    std::uint64_t& was = running[static_cast<std::size_t>(w)];
    if (was != UINT64_MAX) {
      done_seconds += cost[was];
      done_points += 1;
      was = UINT64_MAX;
    }
    auto& q = queue[static_cast<std::size_t>(w / per_rank)];
    const double mean = done_points > 0 ? done_seconds / done_points : 0.0;
    const auto ask = [&](int waiting) {
      const int asked = request_workers(q.size(), waiting, per_rank, mean);
      if (asked == 0) return;
      const std::uint64_t n = chunk_points(cost.size() - cursor, workers, asked, mean);
      if (n > 0) out.per_worker.push_back((n + static_cast<std::uint64_t>(asked) - 1) / asked);
      for (std::uint64_t k = 0; k < n; ++k) q.push(cursor + k);
      cursor += n;
    };
    ask(1);                   // this worker waits
    if (q.empty()) continue;  // nothing left: this worker ends
    const std::uint64_t p = q.front();
    q.pop();
    ++out.handed[p];
    was = p;
    free.push({t + cost[p], w});
    ask(0);  // ahead of time, for cheap points
  }
  double total = 0;
  for (double c : cost) total += c;
  out.ideal = total / workers;
  out.largest_point = *std::max_element(cost.begin(), cost.end());
  return out;
}

/// Costs clustered by phase along the grid, spanning `span` (cheap diverged points, a band of
/// expensive ones, middling ones), with a random jitter of +-20%.
std::vector<double> phased_costs(std::size_t n, double cheap, double span, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  std::vector<double> cost(n);
  for (std::size_t p = 0; p < n; ++p) {
    const double x = static_cast<double>(p) / static_cast<double>(n);
    const double level = x < 0.4 ? 1 : x < 0.7 ? span : std::sqrt(span);
    cost[p] = cheap * level * jitter(gen);
  }
  return cost;
}

TEST(Chunking, EveryPointOnceAndMakespanNearIdeal) {
  // Costs span 100x, clustered by phase, cheap first (the hard order: the mean is measured on
  // cheap points when the expensive ones come) and reversed. Sweeps worth balancing: about 60 s of
  // work per worker (a chunk sized at the cheap cost that meets expensive points costs up to
  // span x T = 5 s, chunking.hpp), or 4 x 10^5 points at most.
  for (const auto& [ranks, per_rank] : {std::pair{2, 1}, {3, 1}, {2, 4}, {16, 8}}) {
    for (std::uint64_t seed = 1; seed <= 2; ++seed) {
      for (double cheap : {1e-5, 1e-3, 0.02}) {
        for (bool reversed : {false, true}) {
          const double per_point = 0.4 * cheap + 0.3 * 100 * cheap + 0.3 * 10 * cheap;
          const auto n = static_cast<std::size_t>(std::min(
              4e5, std::max(200.0 * ranks * per_rank, 60.0 * ranks * per_rank / per_point)));
          std::vector<double> cost = phased_costs(n, cheap, 100, seed);
          if (reversed) std::reverse(cost.begin(), cost.end());
          const Simulated s = simulate(cost, ranks, per_rank);
          for (std::size_t p = 0; p < n; ++p) ASSERT_EQ(s.handed[p], 1) << "point " << p;
          // Within 15% of the ideal, or the ideal plus one point (a grid with few points per
          // worker cannot do better than its largest point).
          EXPECT_LE(s.makespan, std::max(1.15 * s.ideal, s.ideal + s.largest_point))
              << ranks << " x " << per_rank << ", seed " << seed << ", cheap " << cheap
              << (reversed ? ", reversed" : "") << ", " << n << " points";
        }
      }
    }
  }
}

TEST(Chunking, ChunksShrinkToOnePointPerWorkerAtTheEnd) {
  for (int per_rank : {1, 4}) {
    for (double cheap : {1e-5, 1e-3}) {
      for (bool reversed : {false, true}) {
        std::vector<double> cost = phased_costs(5000, cheap, 100, 7);
        if (reversed) std::reverse(cost.begin(), cost.end());
        const Simulated s = simulate(cost, 3, per_rank);
        const std::size_t n = s.per_worker.size();
        ASSERT_GE(n, 25U);
        // Points per asking worker: non-increasing over the last 20 requests, and one point each
        // for the last request of every rank.
        for (std::size_t i = n - 20; i + 1 < n; ++i) {
          EXPECT_GE(s.per_worker[i], s.per_worker[i + 1]) << "request " << i;
        }
        for (std::size_t i = n - 3; i < n; ++i) EXPECT_EQ(s.per_worker[i], 1U) << "request " << i;
        // Chunks of very cheap points (T / 1e-5 s = 5000 per worker at most) are far larger.
        if (cheap < 1e-4) {
          EXPECT_GT(*std::max_element(s.per_worker.begin(), s.per_worker.end()), 20U);
        }
      }
    }
  }
}

TEST(Chunking, RuleBounds) {
  std::mt19937_64 gen(11);
  std::uniform_int_distribution<std::uint64_t> remaining(0, 1'000'000);
  std::uniform_int_distribution<int> workers(1, 256);
  std::uniform_real_distribution<double> log_cost(-7, 2);
  const ChunkRule rule;
  for (int trial = 0; trial < 10000; ++trial) {
    const std::uint64_t r = remaining(gen);
    const int total = workers(gen);
    const int mine = std::min(total, workers(gen));
    const double mean = trial % 10 == 0 ? 0.0 : std::pow(10.0, log_cost(gen));
    const std::uint64_t n = chunk_points(r, total, mine, mean, rule);
    if (r == 0) {
      EXPECT_EQ(n, 0U);
      continue;
    }
    EXPECT_GE(n, std::min<std::uint64_t>(r, static_cast<std::uint64_t>(mine)));  // a point each
    EXPECT_LE(n, r);
    const double per_worker = static_cast<double>(n) / mine;
    // request_workers: never more workers than the rank has; none while its queue is full.
    const int asked = request_workers(static_cast<std::uint64_t>(trial % 7),
                                      std::min(trial % 3, mine), mine, mean);
    EXPECT_LE(asked, mine);
    if (trial % 7 > 0 && mean >= rule.lead_seconds) {
      EXPECT_EQ(asked, 0);
    }
    if (n < r) {
      // Guided: no more than remaining / (k W) per worker (rounded up)...
      EXPECT_LE(per_worker, std::max(1.0, std::ceil(static_cast<double>(r) / (rule.k * total))));
      // ...and no more than T seconds of a worker at the mean cost (one point when unknown).
      const double cap = mean > 0 ? std::max(1.0, std::floor(rule.target_seconds / mean)) : 1.0;
      EXPECT_LE(per_worker, cap);
    }
  }
}

}  // namespace
}  // namespace symsweep
