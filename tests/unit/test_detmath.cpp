// CPU-independent exp, log, log10, pow10 (src/detmath.hpp): within an ulp of glibc's (which is
// within an ulp of the truth), exact where they promise to be, and right at the edges.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

#include "detmath.hpp"
#include "symsweep/rng.hpp"

namespace symsweep {
namespace {

/// |a - b| in units of the last place of b.
double ulps(double a, double b) {
  const double ulp =
      std::nextafter(std::fabs(b), std::numeric_limits<double>::infinity()) - std::fabs(b);
  return std::fabs(a - b) / ulp;
}

TEST(DetMath, ExpIsWithinAnUlpOverItsRange) {
  Stream s(1, 1, Purpose::data);
  double worst = 0;
  for (int i = 0; i < 200000; ++i) {
    const double x = -740.0 + 1449.0 * s.uniform();
    worst = std::max(worst, ulps(det::exp(x), std::exp(x)));
  }
  for (int i = 0; i < 100000; ++i) {  // near 0, where the reduction does nothing
    const double x = 1e-3 * (2 * s.uniform() - 1);
    worst = std::max(worst, ulps(det::exp(x), std::exp(x)));
  }
  EXPECT_LE(worst, 1.0);
  EXPECT_EQ(det::exp(0.0), 1.0);
  EXPECT_EQ(det::exp(800.0), std::numeric_limits<double>::infinity());
  EXPECT_EQ(det::exp(-800.0), 0.0);
  EXPECT_EQ(det::exp(-std::numeric_limits<double>::infinity()), 0.0);
  EXPECT_TRUE(std::isnan(det::exp(std::nan(""))));
  EXPECT_GT(det::exp(-740.0), 0.0);  // subnormal results
}

TEST(DetMath, LogIsWithinAnUlpOverItsRange) {
  Stream s(2, 2, Purpose::data);
  double worst = 0;
  for (int i = 0; i < 200000; ++i) {
    const double x = std::pow(10.0, -300.0 + 600.0 * s.uniform());
    worst = std::max(worst, ulps(det::log(x), std::log(x)));
  }
  for (int i = 0; i < 100000; ++i) {  // near 1, where log is small
    const double x = 1.0 + 0.1 * (2 * s.uniform() - 1);
    worst = std::max(worst, ulps(det::log(x), std::log(x)));
  }
  EXPECT_LE(worst, 1.0);
  EXPECT_EQ(det::log(1.0), 0.0);
  EXPECT_EQ(det::log(0.0), -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(det::log(-1.0)));
  EXPECT_EQ(det::log(std::numeric_limits<double>::infinity()),
            std::numeric_limits<double>::infinity());
  EXPECT_LE(ulps(det::log(4.9406564584124654e-324), std::log(4.9406564584124654e-324)), 1.0);
}

TEST(DetMath, PowersOfTenAreExactForWholeExponents) {
  for (int k = -22; k <= 22; ++k) {
    const double exact = std::strtod(("1e" + std::to_string(k)).c_str(), nullptr);  // rounded once
    EXPECT_EQ(det::pow10(k), exact) << k;
  }
  Stream s(3, 3, Purpose::data);
  double worst = 0;
  for (int i = 0; i < 100000; ++i) {
    const double x = -300.0 + 600.0 * s.uniform();
    worst = std::max(worst, ulps(det::pow10(x), std::pow(10.0, x)));
  }
  EXPECT_LE(worst, 2.0);
  EXPECT_LE(ulps(det::log10(1000.0), 3.0), 1.0);
  EXPECT_EQ(det::powi(0.5, 10), 1.0 / 1024);
  EXPECT_EQ(det::powi(3.0, 0), 1.0);
}

}  // namespace
}  // namespace symsweep
