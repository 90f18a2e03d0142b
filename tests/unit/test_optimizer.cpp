// Batch sampling, the SGD update, and the allocation-free step loop.
#include <gtest/gtest.h>

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

INSTANTIATE_TEST_SUITE_P(Modes, StepLoop,
                         ::testing::Values(Case{"Minibatch", 8, 64}, Case{"FullBatch", 64, 64},
                                           Case{"Online", 0, 1}),
                         [](const ::testing::TestParamInfo<Case>& p) { return p.param.name; });

}  // namespace
}  // namespace symsweep
