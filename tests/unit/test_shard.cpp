// shard_range (store.hpp): the parts of `symsweep run --shard i/N` partition the grid.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "symsweep/error.hpp"
#include "symsweep/store.hpp"
#include "symsweep/sweep.hpp"

namespace symsweep {
namespace {

TEST(ShardRange, PartsAreContiguousNearEqualAndCoverTheGridOnce) {
  for (std::uint64_t points :
       {1ull, 2ull, 3ull, 7ull, 24ull, 100ull, 101ull, 999ull, 4096ull, 100000007ull}) {
    for (std::uint64_t n = 1; n <= std::min<std::uint64_t>(points, 130); ++n) {
      std::uint64_t next = 0, smallest = points, largest = 0;
      for (std::uint64_t i = 0; i < n; ++i) {
        const auto [first, end] = shard_range(points, i, n);
        ASSERT_EQ(first, next) << points << " points, part " << i << " of " << n;
        ASSERT_LT(first, end) << points << " points, part " << i << " of " << n;
        smallest = std::min(smallest, end - first);
        largest = std::max(largest, end - first);
        next = end;
      }
      EXPECT_EQ(next, points) << points << " points, " << n << " parts";
      EXPECT_LE(largest - smallest, 1u) << points << " points, " << n << " parts";
    }
  }
  // At 10^8 points and many parts, no overflow.
  const std::uint64_t huge = std::uint64_t{1} << 40;
  EXPECT_EQ(shard_range(huge, 999, 1000).second, huge);
  EXPECT_EQ(shard_range(huge, 0, 1000).first, 0u);
}

TEST(ShardRange, APartOutsideItsCountIsAnError) {
  EXPECT_THROW(shard_range(10, 3, 3), Error);
  EXPECT_THROW(shard_range(10, 0, 0), Error);
}

TEST(ShardOutput, NamesThePartBesideTheOutput) {
  EXPECT_EQ(shard_output("runs/out.h5", 3, 16), "runs/out.shard-3-of-16.h5");
  EXPECT_EQ(shard_output("out", 0, 2), "out.shard-0-of-2.h5");
  EXPECT_NE(shard_output("a.h5", 1, 12), shard_output("a.h5", 11, 2));
}

}  // namespace
}  // namespace symsweep
