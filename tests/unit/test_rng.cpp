// Philox streams: reproducible, independent per (seed, point, purpose), and well distributed;
// the ziggurat's normals; golden values that pin the stream layout (numerics version 2).
#include <gtest/gtest.h>

#include <Random123/philox.h>

#include <cmath>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "symsweep/error.hpp"
#include "symsweep/grid.hpp"
#include "symsweep/rng.hpp"
#include "symsweep/version.hpp"

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
  s.next_u64();
  s.uniform();
  s.below(10);
  EXPECT_EQ(s.words_drawn(), 3u);
  // A normal takes one word, more only in the wedges and the tail (about 1 draw in 100).
  for (int i = 0; i < 10000; ++i) s.normal();
  EXPECT_GE(s.words_drawn(), 10003u);
  EXPECT_LE(s.words_drawn(), 10003u + 400u);
}

// ------------------------------------------------------------------------------ known answers
TEST(Rng, PhiloxMatchesTheRandom123KnownAnswers) {
  // Random123's kat_vectors for philox4x64-10: (counter, key) -> output.
  using P = r123::Philox4x64;
  const auto run = [](P::ctr_type c, P::key_type k) { return P()(c, k); };
  const auto zero = run({{0, 0, 0, 0}}, {{0, 0}});
  EXPECT_EQ(zero.v[0], 0x16554d9eca36314cull);
  EXPECT_EQ(zero.v[1], 0xdb20fe9d672d0fdcull);
  EXPECT_EQ(zero.v[2], 0xd7e772cee186176bull);
  EXPECT_EQ(zero.v[3], 0x7e68b68aec7ba23bull);
  const std::uint64_t f = ~0ull;
  const auto ones = run({{f, f, f, f}}, {{f, f}});
  EXPECT_EQ(ones.v[0], 0x87b092c3013fe90bull);
  EXPECT_EQ(ones.v[3], 0xa09caebf594f0ba0ull);
  const auto pi = run({{0x243f6a8885a308d3ull, 0x13198a2e03707344ull, 0xa4093822299f31d0ull,
                        0x082efa98ec4e6c89ull}},
                      {{0x452821e638d01377ull, 0xbe5466cf34e90c6cull}});
  EXPECT_EQ(pi.v[0], 0xa528f45403e61d95ull);
  EXPECT_EQ(pi.v[1], 0x38c72dbd566e9788ull);
  EXPECT_EQ(pi.v[2], 0xa5a1610e72fd18b5ull);
  EXPECT_EQ(pi.v[3], 0x57bd43b5e52b7fe6ull);
  // A stream's word k of block b is Philox((b, purpose, 0, 0), (seed, key))[k].
  Stream s(0x452821e638d01377ull, 0xbe5466cf34e90c6cull, Purpose::batches);
  const auto block0 = run({{0, 3, 0, 0}}, {{0x452821e638d01377ull, 0xbe5466cf34e90c6cull}});
  for (int k = 0; k < 4; ++k) EXPECT_EQ(s.next_u64(), block0.v[k]);
}

// Golden values of the random streams, recorded at numerics version 2 and unchanged since (3
// changed how GD runs are classified, not the streams). A change here changes every stored
// number: bump kNumericsVersion and say so in the README (tests/compat/ gets a reference file).
TEST(Rng, GoldenValues) {
  ASSERT_GE(kNumericsVersion, 2);
  const std::vector<std::vector<std::uint64_t>> words = {draw(Stream(42, 7, Purpose::data), 3),
                                                         draw(Stream(42, 7, Purpose::init), 3),
                                                         draw(Stream(42, 7, Purpose::batches), 3)};
  const std::vector<std::vector<std::uint64_t>> golden = {
      {14615470314773870375ull, 14571477994776187890ull, 10659753971764243787ull},
      {16370856568412641082ull, 1809712185091022937ull, 665414226521821466ull},
      {7387836416042430025ull, 14396924345909958836ull, 10243723795544755528ull}};
  EXPECT_EQ(words, golden);
  Stream n(42, 7, Purpose::data);
  std::vector<double> normals(6);
  n.normals(normals.data(), normals.size());
  EXPECT_EQ(normals, (std::vector<double>{-0x1.69ca66fb51657p-1, -0x1.1728ac81bc928p+1,
                                          -0x1.5befc7b6285ddp-1, 0x1.c7c71a3985525p-8,
                                          -0x1.3222185c023cep+0, 0x1.0403128847692p+1}));
  const SweepSpec spec = parse_spec("[model]\nname = linear2\nh = 3\n[optimizer]\neta = 0.3\n");
  EXPECT_EQ(stream_key(Grid(spec).params(0)), 16467401706874395179ull);
}

// -------------------------------------------------------------------------------- the ziggurat
TEST(Normals, MomentsAndTheFourSigmaTailMatchTheExactValues) {
  // n = 4e7 draws: standard errors 1.6e-4 (mean), 2.2e-4 (variance), 1.5e-3 (fourth moment);
  // P(|Z| > 4) = erfc(4 / sqrt 2) = 6.334e-5, i.e. 2534 +- 50 expected exceedances.
  const long n = 40000000;
  Stream s(5, 0, Purpose::init);
  std::vector<double> z(1 << 16);
  double m1 = 0, m2 = 0, m4 = 0;
  long beyond4 = 0;
  for (long done = 0; done < n; done += static_cast<long>(z.size())) {
    s.normals(z.data(), z.size());
    for (double x : z) {
      const double x2 = x * x;
      m1 += x;
      m2 += x2;
      m4 += x2 * x2;
      beyond4 += x2 > 16.0;
    }
  }
  const double dn = static_cast<double>(n);
  m1 /= dn, m2 /= dn, m4 /= dn;
  EXPECT_NEAR(m1, 0.0, 5 / std::sqrt(dn));
  EXPECT_NEAR(m2, 1.0, 5 * std::sqrt(2.0 / dn));
  EXPECT_NEAR(m4 / (m2 * m2), 3.0, 5 * std::sqrt(96.0 / dn));  // kurtosis
  const double p4 = std::erfc(4.0 / std::sqrt(2.0));
  EXPECT_NEAR(static_cast<double>(beyond4), p4 * dn, 5 * std::sqrt(p4 * dn));
}

TEST(Normals, TheFarTailMatchesTheExactConditionalProbability) {
  // Beyond r = 3.654 the ziggurat draws from the exact tail. P(X > 6 | X > r) = Q(6) / Q(r)
  // = 7.62e-6: 1.2e7 tail draws expect 92 +- 10 above 6; also P(X > 4.5 | X > r).
  const double r = detail::normal_tail_start();
  const auto q = [](double x) { return 0.5 * std::erfc(x / std::sqrt(2.0)); };
  Stream s(6, 1, Purpose::data);
  const long n = 12000000;
  long above6 = 0, above45 = 0;
  for (long i = 0; i < n; ++i) {
    const double x = detail::normal_tail(s);
    ASSERT_GT(x, r);
    above6 += x > 6.0;
    above45 += x > 4.5;
  }
  const double dn = static_cast<double>(n);
  const double e6 = dn * q(6.0) / q(r), e45 = dn * q(4.5) / q(r);
  EXPECT_NEAR(static_cast<double>(above6), e6, 5 * std::sqrt(e6));
  EXPECT_NEAR(static_cast<double>(above45), e45, 5 * std::sqrt(e45));
}

TEST(Normals, BlocksGiveTheSameNumbersAsSingleDraws) {
  Stream a(3, 9, Purpose::batches), b(3, 9, Purpose::batches);
  std::vector<double> bulk(100003);
  a.normals(bulk.data(), 5);
  a.normals(bulk.data() + 5, bulk.size() - 5);
  for (double x : bulk) ASSERT_EQ(x, b.normal());
  EXPECT_EQ(a.words_drawn(), b.words_drawn());
}

TEST(Rng, EveryWordIsItsCounterBlocksPhiloxOutput) {
  // Across many refills, wherever the stream starts reading (words taken by next_u64, normal,
  // normals and below in between): word k of block b is Philox((b, purpose, substream, 0),
  // (seed, key))[k].
  using P = r123::Philox4x64;
  for (std::uint64_t sub : {0ull, 5ull}) {
    Stream s(17, 23, Purpose::noise, sub);
    Stream probe(17, 23, Purpose::noise, sub);
    Stream pick(1, 1, Purpose::data);
    std::uint64_t word = 0;
    double scratch[64];
    for (int round = 0; round < 2000; ++round) {
      const std::uint64_t before = probe.words_drawn();
      switch (pick.below(4)) {
        case 0:
          probe.next_u64();
          break;
        case 1:
          probe.normal();
          break;
        case 2:
          probe.normals(scratch, 1 + pick.below(64));
          break;
        default:
          probe.below(1 + pick.below(1000));
          break;
      }
      for (; word < probe.words_drawn(); ++word) {
        const auto out = P()({{word / 4, 4, sub, 0}}, {{17, 23}});
        ASSERT_EQ(s.next_u64(), out.v[word % 4]) << "word " << word;
      }
      ASSERT_GT(probe.words_drawn(), before);
    }
  }
}

TEST(Normals, BlocksOfEveryLengthAtEveryOffsetMatchSingleDraws) {
  // normals() of random lengths (0 to 300), starting at every position within the buffered words,
  // interleaved with single words and normals: the same doubles as normal() alone, bit for bit
  // (signs of zeros included), and the same words consumed.
  for (std::uint64_t seed = 0; seed < 8; ++seed) {
    Stream a(seed, 77, Purpose::batches), b(seed, 77, Purpose::batches);
    Stream pick(seed, 1, Purpose::data);
    std::vector<double> block(300);
    for (int round = 0; round < 3000; ++round) {
      if (pick.below(3) == 0) {
        ASSERT_EQ(a.next_u64(), b.next_u64());
      }
      const std::size_t n = pick.below(301);
      a.normals(block.data(), n);
      for (std::size_t i = 0; i < n; ++i) {
        const double x = b.normal();
        ASSERT_EQ(std::memcmp(&block[i], &x, sizeof x), 0) << "seed " << seed << " round " << round;
      }
      ASSERT_EQ(a.words_drawn(), b.words_drawn());
    }
  }
}

TEST(Normals, AreSymmetric) {
  // The sign is its own bit: the fraction of negative draws is 1/2 within 5 standard errors.
  Stream s(8, 8, Purpose::data);
  const long n = 1000000;
  long negative = 0;
  for (long i = 0; i < n; ++i) negative += s.normal() < 0;
  EXPECT_NEAR(static_cast<double>(negative), 0.5 * n, 5 * std::sqrt(0.25 * n));
}

// -------------------------------------------------------------------------------- stream keys
const char* const kKeyed = R"(
[model]
name = linear2
h = 2
[optimizer]
eta = 0.1
batch = 4
)";

std::uint64_t key_of(const std::vector<std::string>& sets, std::uint64_t point = 0) {
  const SweepSpec spec = parse_spec(kKeyed, sets);
  return stream_key(Grid(spec).params(point));
}

TEST(StreamKey, DependsOnThePathNotOnPlacementOrObservation) {
  const std::uint64_t base = key_of({});
  // The same point inside a grid, at another flat index.
  EXPECT_EQ(key_of({"axes.optimizer.eta=0.05, 0.1, 0.2"}, 1), base);
  EXPECT_EQ(key_of({"axes.optimizer.batch=2, 4", "axes.optimizer.eta=0.1, 0.3"}, 2), base);
  // Run length, observation and the seed (the other half of the Philox key) leave it alone.
  EXPECT_EQ(key_of({"optimizer.steps=50000", "optimizer.tol=0", "record.every=10",
                    "optimizer.check_every=7", "optimizer.divergence_bound=1e3", "sweep.seed=9",
                    "sweep.name=other"}),
            base);
  // A key given at its default value is the same point.
  EXPECT_EQ(key_of({"data.noise_var=0", "data.mode=finite", "model.dx=1"}), base);
  // Anything that changes the path changes it.
  for (const std::string set :
       {"optimizer.eta=0.2", "optimizer.batch=2", "data.n=128", "data.noise_var=0.1", "model.h=3",
        "optimizer.weight_decay=1e-4", "data.mode=online"}) {
    EXPECT_NE(key_of({set}), base) << set;
  }
}

// stream_key remembers each thread's canonical defaults: a thread that computes a key for the
// first time (nothing remembered) and one that has computed keys before agree, point by point.
TEST(StreamKey, RememberedDefaultsGiveTheSameKeys) {
  const std::vector<std::vector<std::string>> points = {
      {}, {"optimizer.eta=0.2"}, {"data.noise_var=0"}, {"model.h=3", "data.mode=online"}};
  std::vector<std::uint64_t> warm;
  for (int round = 0; round < 2; ++round) {
    for (const auto& sets : points) key_of(sets);
  }
  for (const auto& sets : points) warm.push_back(key_of(sets));
  for (std::size_t i = 0; i < points.size(); ++i) {
    std::uint64_t cold = 0;
    std::thread fresh([&] { cold = key_of(points[i]); });
    fresh.join();
    EXPECT_EQ(cold, warm[i]) << i;
  }
}

TEST(StreamKey, NumbersAreCanonicalised) {
  // linspace(0, 0.3, 4) computes 0.09999999999999999 for 0.1: the same point as a typed 0.1.
  const SweepSpec spec = parse_spec(kKeyed, {"axes.data.noise_var=linspace(0, 0.3, 4)"});
  const Grid grid(spec);
  EXPECT_NE(grid.params(1).number("data.noise_var"), 0.1);
  EXPECT_EQ(stream_key(grid.params(1)), key_of({"data.noise_var=0.1"}));
  EXPECT_EQ(stream_key(grid.params(3)), key_of({"data.noise_var=0.3"}));
  EXPECT_EQ(key_of({"optimizer.eta=1e-1"}), key_of({"optimizer.eta=0.100"}));
}

TEST(StreamKey, CommonRandomKeysAreLeftOut) {
  const std::vector<std::string> crn = {"sweep.common_random=optimizer.eta, optimizer.batch"};
  const auto with = [&](std::vector<std::string> sets) {
    sets.insert(sets.end(), crn.begin(), crn.end());
    return key_of(sets);
  };
  EXPECT_EQ(with({"optimizer.eta=0.3"}), with({}));
  EXPECT_EQ(with({"optimizer.batch=8"}), with({}));
  EXPECT_NE(with({"data.n=128"}), with({}));
  EXPECT_NE(key_of({"optimizer.eta=0.3"}), key_of({}));
}

TEST(StreamKey, CommonRandomNamesKeysThatKeyTheStreams) {
  const auto message = [](const std::string& list) {
    try {
      parse_spec(kKeyed, {"sweep.common_random=" + list});
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("optimizer.steps")
                .find("'optimizer.steps' is not a key whose value keys the "
                      "random streams; such keys: model.name"),
            std::string::npos)
      << message("optimizer.steps");
  EXPECT_EQ(message("sweep.seed"),
            "sweep.common_random = 'sweep.seed': sweep.seed cannot be common: the seed is what "
            "makes repeats independent");
  EXPECT_EQ(message("optimizer.eta, optimizer.eta"),
            "sweep.common_random = 'optimizer.eta, optimizer.eta': 'optimizer.eta' is named twice");
}

}  // namespace
}  // namespace symsweep
