// Philox streams: reproducible, independent per (seed, point, purpose), and well distributed.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <vector>

#include "symsweep/rng.hpp"

namespace symsweep {
namespace {

std::vector<std::uint64_t> draw(Stream s, int n) {
  std::vector<std::uint64_t> out;
  for (int i = 0; i < n; ++i) out.push_back(s.next_u64());
  return out;
}

TEST(Rng, IdenticalOnRecreation) {
  EXPECT_EQ(draw(Stream(7, 3, Purpose::batches), 1000), draw(Stream(7, 3, Purpose::batches), 1000));
  Stream a(1, 2, Purpose::data), b(1, 2, Purpose::data);
  for (int i = 0; i < 1001; ++i) ASSERT_EQ(a.normal(), b.normal());
}

TEST(Rng, StreamsDifferPerSeedPointAndPurpose) {
  const auto base = draw(Stream(7, 3, Purpose::data), 64);
  const std::vector<std::vector<std::uint64_t>> others = {
      draw(Stream(8, 3, Purpose::data), 64), draw(Stream(7, 4, Purpose::data), 64),
      draw(Stream(7, 3, Purpose::init), 64), draw(Stream(7, 3, Purpose::batches), 64),
      draw(Stream(3, 7, Purpose::data), 64)};  // seed and point are not interchangeable
  std::set<std::uint64_t> words(base.begin(), base.end());
  for (const auto& o : others) {
    EXPECT_NE(o, base);
    for (auto w : o) EXPECT_EQ(words.count(w), 0u) << "a 64-bit word repeated across streams";
  }
}

TEST(Rng, NeighbouringPointsAreUncorrelated) {
  // Sample correlation of normals from adjacent points: |r| < 5 / sqrt(n).
  const int n = 20000;
  Stream a(11, 100, Purpose::data), b(11, 101, Purpose::data);
  double sab = 0, saa = 0, sbb = 0;
  for (int i = 0; i < n; ++i) {
    const double x = a.normal(), y = b.normal();
    sab += x * y;
    saa += x * x;
    sbb += y * y;
  }
  EXPECT_LT(std::fabs(sab / std::sqrt(saa * sbb)), 5.0 / std::sqrt(n));
}

TEST(Rng, NormalMoments) {
  const int n = 200000;
  Stream s(5, 0, Purpose::init);
  double m1 = 0, m2 = 0, m3 = 0, m4 = 0;
  for (int i = 0; i < n; ++i) {
    const double z = s.normal();
    m1 += z;
    m2 += z * z;
    m3 += z * z * z;
    m4 += z * z * z * z;
  }
  m1 /= n, m2 /= n, m3 /= n, m4 /= n;
  // Standard errors: 1/sqrt(n), sqrt(2/n), sqrt(15/n), sqrt(96/n); allow 5 of them.
  EXPECT_NEAR(m1, 0.0, 5 / std::sqrt(n));
  EXPECT_NEAR(m2, 1.0, 5 * std::sqrt(2.0 / n));
  EXPECT_NEAR(m3, 0.0, 5 * std::sqrt(15.0 / n));
  EXPECT_NEAR(m4, 3.0, 5 * std::sqrt(96.0 / n));
}

TEST(Rng, UniformIsInHalfOpenUnitInterval) {
  Stream s(1, 1, Purpose::batches);
  double mean = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const double u = s.uniform();
    ASSERT_GT(u, 0.0);
    ASSERT_LE(u, 1.0);
    mean += u;
  }
  EXPECT_NEAR(mean / n, 0.5, 5 * std::sqrt(1.0 / 12 / n));
}

TEST(Rng, BelowIsUniformChiSquare) {
  for (std::uint64_t m : {1ull, 2ull, 7ull, 10ull, 1000ull}) {
    Stream s(9, m, Purpose::batches);
    std::vector<double> count(m, 0);
    const int n = 50000;
    for (int i = 0; i < n; ++i) {
      const auto k = s.below(m);
      ASSERT_LT(k, m);
      count[k] += 1;
    }
    if (m == 1) continue;
    double chi2 = 0;
    const double expect = static_cast<double>(n) / static_cast<double>(m);
    for (double c : count) chi2 += (c - expect) * (c - expect) / expect;
    const double dof = static_cast<double>(m - 1);
    EXPECT_LT(chi2, dof + 6 * std::sqrt(2 * dof)) << "m = " << m;
  }
}

TEST(Rng, BelowHandlesHugeRanges) {
  Stream s(2, 2, Purpose::batches);
  const std::uint64_t m = (std::uint64_t{1} << 63) + 12345;  // rejection is likely here
  for (int i = 0; i < 1000; ++i) ASSERT_LT(s.below(m), m);
}

TEST(Rng, CountsWords) {
  Stream s(0, 0, Purpose::data);
  s.normal();  // two words
  s.normal();  // the spare: none
  s.next_u64();
  EXPECT_EQ(s.words_drawn(), 3u);
}

}  // namespace
}  // namespace symsweep
