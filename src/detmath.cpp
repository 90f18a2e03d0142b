// CPU-independent elementary functions. See detmath.hpp.
#include "detmath.hpp"

#include <cmath>
#include <limits>

namespace symsweep::det {

namespace {

constexpr double kLn2Hi = 6.93147180369123816490e-01;  // 0x3fe62e42fee00000: k * kLn2Hi is exact
constexpr double kLn2Lo = 1.90821492927058770002e-10;  // ln 2 - kLn2Hi
constexpr double kInvLn2 = 1.44269504088896338700e+00;
constexpr double kLn10Hi = 0x1.26bb1bbb55516p+1;    // ln 10, rounded
constexpr double kLn10Lo = -0x1.f48ad494ea3e9p-53;  // ln 10 - kLn10Hi
constexpr double kInf = std::numeric_limits<double>::infinity();

/// a * b = hi + lo exactly (Dekker's product with Veltkamp's split; no FMA).
void two_product(double a, double b, double& hi, double& lo) {
  const auto split = [](double v, double& h, double& l) {
    const double c = 134217729.0 * v;  // 2^27 + 1
    h = c - (c - v);
    l = v - h;
  };
  double ah, al, bh, bl;
  split(a, ah, al);
  split(b, bh, bl);
  hi = a * b;
  lo = ((ah * bh - hi) + ah * bl + al * bh) + al * bl;
}

}  // namespace

double exp(double x) {
  if (std::isnan(x)) return x;
  if (x > 7.09782712893383973096e+02) return kInf;
  if (x < -7.45133219101941108420e+02) return 0.0;
  // x = k ln2 + r, |r| <= ln2 / 2; exp(x) = 2^k exp(r).
  const int k = static_cast<int>(kInvLn2 * x + (x < 0 ? -0.5 : 0.5));
  const double hi = x - k * kLn2Hi;
  const double lo = k * kLn2Lo;
  const double r = hi - lo;
  // exp(r) = 1 + r + r c / (2 - c), c = r - r^2 (P1 + r^2 (P2 + ...)): fdlibm's Remez fit.
  const double t = r * r;
  const double c =
      r - t * (1.66666666666666019037e-01 +
               t * (-2.77777777770155933842e-03 +
                    t * (6.61375632143793436117e-05 +
                         t * (-1.65339022054652515390e-06 + t * 4.13813679705723846039e-08))));
  const double y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);
  return std::ldexp(y, k);
}

double log(double x) {
  if (std::isnan(x) || x < 0) return std::numeric_limits<double>::quiet_NaN();
  if (x == 0) return -kInf;
  if (x == kInf) return kInf;
  // x = m 2^k with m in [sqrt(2)/2, sqrt(2)); log(x) = k ln2 + log(1 + f), f = m - 1.
  int k = 0;
  double m = std::frexp(x, &k);  // m in [0.5, 1), exact (subnormals included)
  if (m < 0.70710678118654752440) {
    m *= 2.0;
    k -= 1;
  }
  const double f = m - 1.0;
  const double s = f / (2.0 + f);
  const double z = s * s;
  const double w = z * z;
  const double t1 = w * (3.999999999940941908e-01 +
                         w * (2.222219843214978396e-01 + w * 1.531383769920937332e-01));
  const double t2 = z * (6.666666666666735130e-01 +
                         w * (2.857142874366239149e-01 +
                              w * (1.818357216161805012e-01 + w * 1.479819860511658591e-01)));
  const double r = t2 + t1;
  const double hfsq = 0.5 * f * f;
  const double dk = k;
  return dk * kLn2Hi - ((hfsq - (s * (hfsq + r) + dk * kLn2Lo)) - f);
}

double log10(double x) {
  return log(x) / kLn10Hi;
}

double powi(double base, long k) {
  double result = 1.0;
  for (; k > 0; k >>= 1) {
    if (k & 1) result *= base;
    base *= base;
  }
  return result;
}

double pow10(double x) {
  if (std::isnan(x)) return x;
  if (x == std::floor(x) && std::fabs(x) <= 22) {
    const double p = powi(10.0, static_cast<long>(std::fabs(x)));  // exact below 10^23
    return x >= 0 ? p : 1.0 / p;
  }
  if (x > 309) return kInf;
  if (x < -324) return 0.0;
  // x ln10 = hi + lo to about 2^-106 relative; exp(hi + lo) = exp(hi) (1 + lo).
  double hi, lo;
  two_product(x, kLn10Hi, hi, lo);
  lo += x * kLn10Lo;
  const double s = hi + lo;
  const double t = lo - (s - hi);
  return exp(s) * (1.0 + t);
}

}  // namespace symsweep::det
