// Batch sampling, the SGD update, and the allocation-free step loop.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "alloc_counter.hpp"

#include "symsweep/data.hpp"
#include "symsweep/models/linear2.hpp"
#include "symsweep/optimizer.hpp"
#include "symsweep/rng.hpp"

namespace symsweep {
namespace {

SampleSet dataset(Index n, Index dx = 2, Index dy = 2) {
  DataSpec ds;
  ds.dx = dx;
  ds.dy = dy;
  ds.noise_var = 0.1;
  Stream s(1, 0, Purpose::data);
  return Teacher(ds).sample(s, n);
}

TEST(BatchSource, DrawsDistinctRowsOfTheDataset) {
  const SampleSet set = dataset(20);
  BatchSource src(set, 6, Stream(1, 0, Purpose::batches));
  for (int step = 0; step < 200; ++step) {
    const Batch b = src.next();
    const auto idx = src.last_indices();
    ASSERT_EQ(b.size(), 6);
    ASSERT_EQ(idx.size(), 6u);
    EXPECT_EQ(std::set<Index>(idx.begin(), idx.end()).size(), 6u) << "repeated index";
    for (std::size_t k = 0; k < idx.size(); ++k) {
      ASSERT_GE(idx[k], 0);
      ASSERT_LT(idx[k], 20);
      EXPECT_EQ(b.x.row(static_cast<Index>(k)), set.x.row(idx[k]));
      EXPECT_EQ(b.y.row(static_cast<Index>(k)), set.y.row(idx[k]));
    }
  }
}

TEST(BatchSource, EverySampleIsEquallyLikely) {
  const Index n = 10, s = 3;
  const SampleSet set = dataset(n);
  BatchSource src(set, s, Stream(4, 4, Purpose::batches));
  std::vector<double> count(static_cast<std::size_t>(n), 0);
  const int steps = 30000;
  for (int k = 0; k < steps; ++k) {
    src.next();
    for (Index i : src.last_indices()) count[static_cast<std::size_t>(i)] += 1;
  }
  const double expect = static_cast<double>(steps * s) / static_cast<double>(n);
  double chi2 = 0;
  for (double c : count) chi2 += (c - expect) * (c - expect) / expect;
  EXPECT_LT(chi2, 9 + 6 * std::sqrt(18.0));  // 9 degrees of freedom
}

TEST(BatchSource, SameStreamSameBatches) {
  const SampleSet set = dataset(30);
  BatchSource a(set, 5, Stream(2, 9, Purpose::batches));
  BatchSource b(set, 5, Stream(2, 9, Purpose::batches));
  for (int k = 0; k < 100; ++k) {
    a.next();
    b.next();
    ASSERT_EQ(a.last_indices(), b.last_indices());
  }
}

TEST(BatchSource, FullBatchIsTheDatasetItself) {
  const SampleSet set = dataset(8);
  BatchSource src(set, 8, Stream(1, 1, Purpose::batches));
  for (int k = 0; k < 3; ++k) {
    const Batch b = src.next();
    EXPECT_EQ(b.x.data(), set.x.data());
    EXPECT_EQ(b.y.data(), set.y.data());
  }
}

TEST(BatchSource, OnlineBatchesAreFresh) {
  DataSpec ds;
  ds.dx = 3;
  ds.dy = 1;
  const Teacher t(ds);
  BatchSource src(t, 4, Stream(1, 2, Purpose::batches));
  const RowMatrix first = src.next().x;
  const RowMatrix second = src.next().x;
  EXPECT_EQ(first.rows(), 4);
  EXPECT_NE(first, second);
}

TEST(Sgd, UpdateIsThetaMinusEtaTimesGradientPlusWeightDecay) {
  const SampleSet set = dataset(16, 3, 2);
  Linear2 model(3, 2, 2, 1, 1);
  Vector theta;
  Stream init(1, 1, Purpose::init);
  model.initialize(init, theta);
  OptimizerSpec opt;
  opt.eta = 0.07;
  opt.batch = 4;
  opt.weight_decay = 0.3;
  BatchSource src(set, opt.batch, Stream(1, 1, Purpose::batches));
  BatchSource replay(set, opt.batch, Stream(1, 1, Purpose::batches));
  Sgd sgd(model, src, opt);
  Linear2 probe(3, 2, 2, 1, 1);
  for (int k = 0; k < 10; ++k) {
    Vector g(model.dim());
    const double loss = probe.loss_grad(theta, replay.next(), g);
    const Vector expected = theta - opt.eta * (g + opt.weight_decay * theta);
    EXPECT_EQ(sgd.step(theta), loss);
    EXPECT_LT((theta - expected).norm(), 1e-15 * expected.norm());
    EXPECT_EQ(sgd.last_gradient(), g);
  }
}

TEST(AllocationCounter, SeesEigenAndStandardLibraryAllocations) {
  SYMSWEEP_SKIP_UNLESS_COUNTING_WORKS();
  testing::start_counting_allocations();
  Matrix m(50, 50);                  // Eigen: std::malloc
  std::vector<int> v(100);           // operator new
  Vector sum = m.col(0) + m.col(1);  // a temporary vector
  const long seen = testing::stop_counting_allocations();
  EXPECT_GE(seen, 3);
  EXPECT_EQ(v.size() + static_cast<std::size_t>(sum.size()), 150u);
}

struct Case {
  const char* name;
  Index batch;  // 0: online
  Index n;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name;
}

class StepLoop : public ::testing::TestWithParam<Case> {};

TEST_P(StepLoop, AllocatesNothing) {
  SYMSWEEP_SKIP_UNLESS_COUNTING_WORKS();
  const Case c = GetParam();
  DataSpec ds;
  ds.dx = 8;
  ds.dy = 4;
  ds.noise_var = 0.1;
  const Teacher teacher(ds);
  Stream data(1, 0, Purpose::data);
  const SampleSet set = teacher.sample(data, c.n);
  Linear2 model(8, 6, 4, 1, 1);
  Vector theta;
  Stream init(1, 0, Purpose::init);
  model.initialize(init, theta);
  OptimizerSpec opt;
  opt.eta = 0.01;
  opt.weight_decay = 1e-3;
  opt.batch = c.batch == 0 ? 16 : c.batch;
  BatchSource src = c.batch == 0 ? BatchSource(teacher, opt.batch, Stream(1, 0, Purpose::batches))
                                 : BatchSource(set, opt.batch, Stream(1, 0, Purpose::batches));
  Sgd sgd(model, src, opt);
  sgd.step(theta);  // warm-up

  testing::start_counting_allocations();
  for (int k = 0; k < 1000; ++k) sgd.step(theta);
  EXPECT_EQ(testing::stop_counting_allocations(), 0);
  EXPECT_TRUE(theta.allFinite());
}

// ---- Random reshuffling: an epoch is one permutation of the dataset, cut into batches.

TEST(Reshuffle, EveryEpochUsesEverySampleExactlyOnce) {
  for (Index s : {4, 5, 1, 19}) {  // 20 = 5 x 4; 4 x 5; 20 x 1; 19 + 1
    const Index n = 20;
    const SampleSet set = dataset(n);
    BatchSource src(set, s, Stream(3, 1, Purpose::batches), OptimizerSpec::Sampling::reshuffle);
    const Index per_epoch = (n + s - 1) / s;
    std::vector<std::vector<Index>> orders;
    for (int epoch = 0; epoch < 6; ++epoch) {
      std::vector<Index> seen;
      for (Index b = 0; b < per_epoch; ++b) {
        const Batch batch = src.next();
        const auto idx = src.last_indices();
        ASSERT_EQ(batch.size(), b + 1 < per_epoch ? s : n - (per_epoch - 1) * s);
        ASSERT_EQ(idx.size(), static_cast<std::size_t>(batch.size()));
        for (std::size_t k = 0; k < idx.size(); ++k) {
          EXPECT_EQ(batch.x.row(static_cast<Index>(k)), set.x.row(idx[k]));
          EXPECT_EQ(batch.y.row(static_cast<Index>(k)), set.y.row(idx[k]));
        }
        seen.insert(seen.end(), idx.begin(), idx.end());
      }
      std::vector<Index> sorted = seen;
      std::sort(sorted.begin(), sorted.end());
      std::vector<Index> all(static_cast<std::size_t>(n));
      std::iota(all.begin(), all.end(), Index{0});
      EXPECT_EQ(sorted, all) << "S = " << s << ", epoch " << epoch;
      orders.push_back(seen);
    }
    EXPECT_NE(orders[0], orders[1]) << "the permutation is drawn afresh every epoch";
  }
}

TEST(Reshuffle, EveryPositionOfThePermutationIsUniform) {
  // n = 5: the sample first in an epoch is uniform over 5 (chi^2, 4 degrees of freedom), and so
  // is the one last.
  const Index n = 5;
  const SampleSet set = dataset(n);
  BatchSource src(set, 2, Stream(6, 2, Purpose::batches), OptimizerSpec::Sampling::reshuffle);
  std::vector<double> first(5, 0), last(5, 0);
  const int epochs = 20000;
  for (int e = 0; e < epochs; ++e) {
    src.next();
    first[static_cast<std::size_t>(src.last_indices()[0])] += 1;
    src.next();
    src.next();
    ASSERT_EQ(src.last_indices().size(), 1u);
    last[static_cast<std::size_t>(src.last_indices()[0])] += 1;
  }
  for (const auto& count : {first, last}) {
    double chi2 = 0;
    for (double c : count) chi2 += (c - epochs / 5.0) * (c - epochs / 5.0) / (epochs / 5.0);
    EXPECT_LT(chi2, 4 + 6 * std::sqrt(8.0));
  }
}

TEST(Reshuffle, FullBatchIsTheDatasetAndDrawsNothing) {
  const SampleSet set = dataset(8);
  BatchSource src(set, 8, Stream(1, 1, Purpose::batches), OptimizerSpec::Sampling::reshuffle);
  EXPECT_EQ(src.next().x.data(), set.x.data());
}

// ---- Step-size schedules.

TEST(Schedule, EtaFollowsTheFormula) {
  OptimizerSpec o;
  o.eta = 0.3;
  for (std::int64_t k : {0, 1, 99, 12345}) EXPECT_EQ(o.eta_at(k), 0.3);
  o.schedule = OptimizerSpec::Schedule::warmup;
  o.warmup_steps = 8;
  for (std::int64_t k = 0; k < 20; ++k) {
    const double expected = k < 8 ? 0.3 * static_cast<double>(k + 1) / 8.0 : 0.3;
    EXPECT_NEAR(o.eta_at(k), expected, 1e-16) << k;
  }
  EXPECT_EQ(o.eta_at(7), 0.3);
  o.schedule = OptimizerSpec::Schedule::step;
  o.decay_every = 7;
  o.decay_factor = 0.5;
  double expected = 0.3;  // multiplied by 0.5 at k = 7, 14, 21, ...
  for (std::int64_t k = 0; k < 100; ++k) {
    if (k > 0 && k % 7 == 0) expected *= 0.5;
    EXPECT_DOUBLE_EQ(o.eta_at(k), expected) << k;
  }
}

TEST(Schedule, SgdTakesEtaKAtUpdateK) {
  const SampleSet set = dataset(16, 3, 2);
  Linear2 model(3, 2, 2, 1, 1);
  Vector theta;
  Stream init(1, 1, Purpose::init);
  model.initialize(init, theta);
  OptimizerSpec opt;
  opt.eta = 0.05;
  opt.batch = 4;
  opt.weight_decay = 0.1;
  opt.schedule = OptimizerSpec::Schedule::step;
  opt.decay_every = 3;
  opt.decay_factor = 0.5;
  BatchSource src(set, opt.batch, Stream(1, 1, Purpose::batches));
  BatchSource replay(set, opt.batch, Stream(1, 1, Purpose::batches));
  Sgd sgd(model, src, opt);
  Linear2 probe(3, 2, 2, 1, 1);
  double eta = 0.05;
  for (int k = 0; k < 10; ++k) {
    if (k > 0 && k % 3 == 0) eta *= 0.5;
    Vector g(model.dim());
    probe.loss_grad(theta, replay.next(), g);
    const Vector expected = theta - eta * (g + opt.weight_decay * theta);
    sgd.step(theta);
    EXPECT_LT((theta - expected).norm(), 1e-15 * expected.norm()) << k;
  }
  EXPECT_EQ(sgd.updates(), 10);
}

// ---- gd: the exact full-batch (online: population) gradient.

TEST(Gd, OnlineStepIsThePopulationGradientStep) {
  // A full Sigma_x and Sigma_eps, a dense V: one GD step through the reference set moves theta
  // by -eta times the population gradient dL/dU = E Sx W^T, dL/dW = U^T E Sx (E = U W - V).
  DataSpec ds;
  ds.dx = 2;
  ds.dy = 2;
  ds.online = true;
  ds.x_cov = (Matrix(2, 2) << 1.5, -0.4, -0.4, 0.7).finished();
  ds.noise_cov = (Matrix(2, 2) << 0.2, 0.05, 0.05, 0.1).finished();
  ds.teacher = (Matrix(2, 2) << 1.0, 0.5, -0.3, 2.0).finished();
  const Teacher teacher(ds);
  const SampleSet ref = teacher.reference_set();
  Linear2 model(2, 3, 2, 1, 1);
  Vector theta;
  Stream init(2, 2, Purpose::init);
  model.initialize(init, theta);
  OptimizerSpec opt;
  opt.eta = 0.1;
  opt.method = OptimizerSpec::Method::gd;
  BatchSource src(ref, ref.size(), Stream(1, 1, Purpose::batches));
  Sgd sgd(model, src, opt);
  for (int k = 0; k < 5; ++k) {
    const Matrix u = model.u(theta), w = model.w(theta);
    const Matrix e = u * w - ds.teacher;
    Vector g(model.dim());
    Eigen::Map<Matrix>(g.data(), 2, 3) = e * ds.x_cov * w.transpose();
    Eigen::Map<Matrix>(g.data() + 6, 3, 2) = u.transpose() * e * ds.x_cov;
    const Vector expected = theta - opt.eta * g;
    sgd.step(theta);
    EXPECT_LT((theta - expected).norm(), 1e-14 * expected.norm()) << k;
  }
}

TEST(StepLoop, ReshuffleFullCovarianceAndScheduleAllocateNothing) {
  SYMSWEEP_SKIP_UNLESS_COUNTING_WORKS();
  DataSpec ds;
  ds.dx = 3;
  ds.dy = 2;
  ds.x_cov = (Matrix(3, 3) << 2.0, 0.6, -0.3, 0.6, 1.0, 0.2, -0.3, 0.2, 0.5).finished();
  ds.noise_cov = (Matrix(2, 2) << 0.3, -0.1, -0.1, 0.2).finished();
  const Teacher teacher(ds);
  Stream data(1, 0, Purpose::data);
  const SampleSet set = teacher.sample(data, 30);
  for (bool online : {false, true}) {
    Linear2 model(3, 4, 2, 1, 1);
    Vector theta;
    Stream init(1, 0, Purpose::init);
    model.initialize(init, theta);
    OptimizerSpec opt;
    opt.eta = 0.01;
    opt.batch = 7;  // 30 = 4 x 7 + 2
    opt.schedule = OptimizerSpec::Schedule::warmup;
    BatchSource src = online ? BatchSource(teacher, opt.batch, Stream(1, 0, Purpose::batches))
                             : BatchSource(set, opt.batch, Stream(1, 0, Purpose::batches),
                                           OptimizerSpec::Sampling::reshuffle);
    Sgd sgd(model, src, opt);
    sgd.step(theta);
    testing::start_counting_allocations();
    for (int k = 0; k < 1000; ++k) sgd.step(theta);
    EXPECT_EQ(testing::stop_counting_allocations(), 0) << (online ? "online" : "reshuffle");
    EXPECT_TRUE(theta.allFinite());
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, StepLoop,
                         ::testing::Values(Case{"Minibatch", 8, 64}, Case{"FullBatch", 64, 64},
                                           Case{"Online", 0, 1}),
                         [](const ::testing::TestParamInfo<Case>& p) { return p.param.name; });

}  // namespace
}  // namespace symsweep
