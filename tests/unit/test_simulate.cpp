// One point end to end: outcomes, traces, determinism, and what the final state must satisfy.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "alloc_counter.hpp"
#include "symsweep/simulate.hpp"

namespace symsweep {
namespace {

/// A point's values of the core fields, read back from its Record.
struct CoreValues {
  Status status;
  Outcome outcome;
  std::int64_t steps_run, diverged_at;
  double final_loss, grad_norm, sharpness;
  std::vector<double> conserved, trace_loss, trace_conserved;
};

std::vector<double> reals(const Record& r, FieldId id) {
  std::vector<double> out(r.schema().count(id));
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = r.real(id, i);
  return out;
}

struct Sweep {
  explicit Sweep(const std::string& ini, const std::vector<std::string>& sets = {})
      : spec(parse_spec(ini, sets)), grid(spec), fields(grid) {}
  CoreValues view(const PointResult& p) const {
    const SweepFields::Core& c = fields.core();
    const Record& r = p.values;
    return {static_cast<Status>(r.code(c.status)),
            static_cast<Outcome>(r.code(c.outcome)),
            r.integer(c.steps_run),
            r.integer(c.diverged_at),
            r.real(c.final_loss),
            r.real(c.grad_norm),
            r.real(c.sharpness),
            reals(r, c.conserved),
            reals(r, c.trace_loss),
            reals(r, c.trace_conserved)};
  }
  CoreValues run(std::uint64_t p) const { return view(simulate_point(grid, fields, p)); }
  std::size_t n_conserved() const { return fields.schema().find_dim("k")->coords.size(); }
  SweepSpec spec;
  Grid grid;
  SweepFields fields;
};

const char* const kIni = R"(
[sweep]
seed = 3
[model]
name = linear2
dx = 3
h = 3
dy = 2
[data]
n = 32
[optimizer]
batch = 32
steps = 20000
tol = 1e-9
check_every = 10
[record]
every = 100
)";

bool same_bits(double a, double b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}
bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

TEST(Simulate, GradientDescentConvergesBelowTheLinearThreshold) {
  const Sweep s(kIni, {"optimizer.eta=0.05"});
  const CoreValues r = s.run(0);
  EXPECT_EQ(r.status, Status::done);
  EXPECT_EQ(r.outcome, Outcome::converged);
  EXPECT_LT(r.steps_run, 20000);
  EXPECT_EQ(r.steps_run % 10, 0);  // stopped at a check
  EXPECT_LE(r.grad_norm, 1e-9);
  EXPECT_EQ(r.diverged_at, -1);
  EXPECT_LT(0.05 * r.sharpness, 2.0);  // a minimum GD converged to is linearly stable
  EXPECT_TRUE(std::isfinite(r.final_loss));
  // Traces: the loss decreases from step 0 and is NaN after the run stopped.
  EXPECT_GT(r.trace_loss[0], r.trace_loss[1]);
  const auto stopped = static_cast<std::size_t>(r.steps_run / 100);
  EXPECT_TRUE(std::isfinite(r.trace_loss[stopped]));
  EXPECT_TRUE(std::isnan(r.trace_loss.back()));
}

// The whole SGD loop of a point (batches, updates, trace records with the conserved spectrum,
// convergence and divergence checks) allocates nothing; set-up and the final measurements may.
class PointLoop : public ::testing::TestWithParam<const char*> {};

TEST_P(PointLoop, AllocatesNothing) {
  SYMSWEEP_SKIP_UNLESS_COUNTING_WORKS();
  const std::string mode = GetParam();
  std::vector<std::string> sets = {"optimizer.eta=0.02",  "optimizer.steps=3000",
                                   "optimizer.tol=1e-30", "optimizer.check_every=7",
                                   "record.every=10",     "optimizer.weight_decay=1e-3",
                                   "data.noise_var=0.1",  "model.h=5"};
  if (mode == "online" || mode == "gd_online") sets.push_back("data.mode=online");
  if (mode == "minibatch" || mode == "online") sets.push_back("optimizer.batch=4");
  if (mode == "gd_online") sets.push_back("optimizer.method=gd");
  if (mode == "reshuffle") {
    sets.push_back("optimizer.batch=5");  // 32 = 6 x 5 + 2
    sets.push_back("optimizer.sampling=reshuffle");
  }
  if (mode == "matrices_step_decay") {
    sets.push_back("optimizer.batch=4");
    sets.push_back("data.x_cov=1, 0.3, 0; 0.3, 1, -0.2; 0, -0.2, 0.5");
    sets.push_back("data.teacher=1, -1, 0.5; 0.2, 0, 1");
    sets.push_back("optimizer.schedule=step");
    sets.push_back("optimizer.decay_every=500");
    sets.push_back("optimizer.decay_factor=0.7");
  }
  const Sweep s(kIni, sets);
  PointRun run(s.grid, s.fields, 0);
  testing::start_counting_allocations();
  const bool ended = run.advance(std::numeric_limits<std::int64_t>::max());
  const long allocations = testing::stop_counting_allocations();
  EXPECT_TRUE(ended);
  EXPECT_EQ(allocations, 0);
  const CoreValues r = s.view(run.finish());
  EXPECT_EQ(r.steps_run, 3000);
  EXPECT_TRUE(std::isfinite(r.trace_loss.back()));
}

INSTANTIATE_TEST_SUITE_P(Modes, PointLoop,
                         ::testing::Values("minibatch", "fullbatch", "online", "gd_online",
                                           "reshuffle", "matrices_step_decay"),
                         [](const ::testing::TestParamInfo<const char*>& p) {
                           return std::string(p.param);
                         });

TEST(Simulate, MethodGdIsFullBatchSgdBitForBit) {
  // Common random numbers over method and batch: one dataset and start. gd ignores the batch
  // size and equals SGD with S = n; SGD with S = 4 is another run.
  const Sweep s(kIni, {"sweep.common_random=optimizer.method, optimizer.batch",
                       "optimizer.eta=0.05", "optimizer.steps=300", "data.noise_var=0.1",
                       "axes.optimizer.method=sgd, gd", "axes.optimizer.batch=4, 32"});
  const CoreValues sgd4 = s.run(0), sgd32 = s.run(1), gd4 = s.run(2), gd32 = s.run(3);
  for (const CoreValues* gd : {&gd4, &gd32}) {
    EXPECT_EQ(gd->steps_run, sgd32.steps_run);
    EXPECT_TRUE(same_bits(gd->trace_loss, sgd32.trace_loss));
    EXPECT_TRUE(same_bits(gd->trace_conserved, sgd32.trace_conserved));
    EXPECT_TRUE(same_bits(gd->final_loss, sgd32.final_loss));
  }
  EXPECT_FALSE(same_bits(sgd4.trace_loss, sgd32.trace_loss));
}

TEST(Simulate, OnlineGdDescendsThePopulationLossDeterministically) {
  // Online gd is GD on the population loss: it falls monotonically (eta far below
  // 2 / lambda_max) to the Bayes risk.
  const Sweep s(kIni, {"data.mode=online", "optimizer.method=gd", "optimizer.eta=0.05",
                       "optimizer.steps=2000", "data.noise_cov=0.2, 0.05; 0.05, 0.1",
                       "data.x_cov=1, 0.5, 0.25"});
  const CoreValues r = s.run(0);
  EXPECT_EQ(r.status, Status::done);
  for (std::size_t i = 1; i < r.trace_loss.size() && std::isfinite(r.trace_loss[i]); ++i) {
    EXPECT_LE(r.trace_loss[i], r.trace_loss[i - 1]) << i;
  }
  // The Bayes risk 1/2 tr(Sigma_eps) = 0.15 bounds the population loss from below.
  EXPECT_GE(r.final_loss, 0.15);
  EXPECT_LT(r.final_loss, 0.15 + 1e-6);
  EXPECT_EQ(r.outcome, Outcome::converged);
}

TEST(Simulate, AdvanceInSlicesGivesTheSameRun) {
  const Sweep s(kIni, {"optimizer.eta=0.1", "optimizer.batch=4", "optimizer.steps=500",
                       "data.noise_var=0.1"});
  const CoreValues whole = s.run(0);
  PointRun run(s.grid, s.fields, 0);
  int slices = 0;
  while (!run.advance(37)) ++slices;
  const CoreValues sliced = s.view(run.finish());
  EXPECT_GT(slices, 10);
  EXPECT_TRUE(same_bits(whole.trace_loss, sliced.trace_loss));
  EXPECT_TRUE(same_bits(whole.conserved, sliced.conserved));
  EXPECT_TRUE(same_bits(whole.final_loss, sliced.final_loss));
}

TEST(Simulate, GradientFlowNearlyConservesD) {
  // At small eta the conserved spectrum moves by O(eta^2) per step only.
  const Sweep s(kIni, {"optimizer.eta=0.01", "optimizer.steps=2000", "optimizer.tol=0"});
  const CoreValues r = s.run(0);
  ASSERT_EQ(r.outcome, Outcome::moving);
  const std::size_t h = 3;
  for (std::size_t k = 0; k < h; ++k) {
    EXPECT_NEAR(r.conserved[k], r.trace_conserved[k], 0.02 * (1 + std::fabs(r.trace_conserved[k])));
  }
}

TEST(Simulate, LargeStepSizeDiverges) {
  const Sweep s(kIni, {"optimizer.eta=5", "optimizer.batch=4"});
  const CoreValues r = s.run(0);
  EXPECT_EQ(r.status, Status::done);
  EXPECT_EQ(r.outcome, Outcome::diverged);
  EXPECT_GE(r.diverged_at, 1);
  EXPECT_EQ(r.steps_run, r.diverged_at);
  EXPECT_TRUE(std::isnan(r.final_loss));
  EXPECT_TRUE(std::isnan(r.sharpness));
  EXPECT_TRUE(std::isnan(r.conserved[0]));
  EXPECT_TRUE(std::isfinite(r.trace_loss[0]));
  EXPECT_TRUE(std::isnan(r.trace_loss[1]));
}

TEST(Simulate, APointIsAPureFunctionOfSeedAndIndex) {
  const Sweep s(kIni,
                {"optimizer.batch=4", "optimizer.steps=500", "axes.optimizer.eta=0.01, 0.1, 0.5"});
  const CoreValues a = s.run(1);
  s.run(0);
  s.run(2);
  const CoreValues b = s.run(1);
  EXPECT_EQ(a.outcome, b.outcome);
  EXPECT_EQ(a.steps_run, b.steps_run);
  EXPECT_TRUE(same_bits(a.final_loss, b.final_loss));
  EXPECT_TRUE(same_bits(a.sharpness, b.sharpness));
  EXPECT_TRUE(same_bits(a.conserved, b.conserved));
  EXPECT_TRUE(same_bits(a.trace_loss, b.trace_loss));
  EXPECT_TRUE(same_bits(a.trace_conserved, b.trace_conserved));
  // A different seed gives a different run.
  const Sweep t(kIni, {"optimizer.batch=4", "optimizer.steps=500", "sweep.seed=4",
                       "axes.optimizer.eta=0.01, 0.1, 0.5"});
  EXPECT_FALSE(same_bits(t.run(1).final_loss, a.final_loss));
}

TEST(Simulate, TracesArePaddedToTheLongestRunOfTheGrid) {
  const Sweep s(kIni, {"record.every=10", "optimizer.tol=0", "axes.optimizer.steps=15, 30"});
  EXPECT_EQ(s.fields.record_steps(), (std::vector<std::int64_t>{0, 10, 20, 30}));
  EXPECT_EQ(s.n_conserved(), 3u);
  const CoreValues short_run = s.run(0);
  EXPECT_EQ(short_run.steps_run, 15);
  EXPECT_TRUE(std::isfinite(short_run.trace_loss[1]));
  EXPECT_TRUE(std::isnan(short_run.trace_loss[2]));
  EXPECT_TRUE(std::isnan(short_run.trace_conserved[2 * 3]));
  const CoreValues long_run = s.run(1);
  EXPECT_TRUE(std::isfinite(long_run.trace_loss[3]));
}

TEST(Simulate, ConservedSpectrumIsPaddedWhenWidthIsSwept) {
  const Sweep s(kIni, {"optimizer.steps=10", "record.every=10", "axes.model.h=1, 4"});
  EXPECT_EQ(s.n_conserved(), 4u);
  const CoreValues narrow = s.run(0);
  ASSERT_EQ(narrow.conserved.size(), 4u);
  EXPECT_TRUE(std::isfinite(narrow.conserved[0]));
  EXPECT_TRUE(std::isnan(narrow.conserved[1]));
}

TEST(Simulate, OnlineSgdApproachesTheBayesRisk) {
  // Population loss = 1/2 |(UW - V) Sx^{1/2}|^2 + 1/2 tr(Seps) >= 1/2 tr(Seps) = 0.1 here.
  const Sweep s(kIni, {"data.mode=online", "data.noise_var=0.2", "model.dy=1", "optimizer.batch=8",
                       "optimizer.eta=0.02", "optimizer.steps=5000", "optimizer.tol=0"});
  const CoreValues r = s.run(0);
  EXPECT_EQ(r.outcome, Outcome::moving);
  EXPECT_GE(r.final_loss, 0.1 - 1e-12);
  EXPECT_LT(r.final_loss, 0.1 + 0.01);
  EXPECT_GT(r.trace_loss[0], r.final_loss);
}

TEST(Simulate, WeightDecayConvergesToAStationaryPointOfTheRegularisedObjective) {
  const Sweep s(kIni, {"optimizer.eta=0.05", "optimizer.weight_decay=0.1"});
  const CoreValues r = s.run(0);
  EXPECT_EQ(r.outcome, Outcome::converged);
  EXPECT_LE(r.grad_norm, 1e-9);
}

}  // namespace
}  // namespace symsweep
