// One point end to end: outcomes, traces, determinism, and what the final state must satisfy.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "alloc_counter.hpp"
#include "symsweep/rng.hpp"
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

// ------------------------------------------------------------------------- record.diagnostics
// What is measured never changes another stored number: for each model (finite and online data),
// a point run with every diagnostic, and with each one left out, or alone, or at the end only,
// stores the same bits in every field both runs have (results and traces; /run is placement).
// Online, the gradient-noise set of each measurement is keyed by its step (rng.hpp), so the
// end's grad_noise does not depend on how many trace records drew before it either.

/// A point's value bytes of every field of its schema except /run, keyed by "group/name".
std::map<std::string, std::vector<unsigned char>> stored(const SweepFields& fields,
                                                         const Record& r) {
  std::map<std::string, std::vector<unsigned char>> out;
  const Schema& schema = fields.schema();
  for (FieldId id = 0; id < static_cast<FieldId>(schema.fields().size()); ++id) {
    const FieldDef& f = schema.field(id);
    if (f.group == Group::run || !schema.present(id)) continue;
    const unsigned char* at = r.data() + schema.offset(id);
    out[std::string(to_string(f.group)) + "/" + f.name] =
        std::vector<unsigned char>(at, at + schema.count(id) * Schema::elem_size(f.type));
  }
  return out;
}

struct DiagnosticsCase {
  const char* name;
  const char* ini;
};

const DiagnosticsCase kDiagnosticsCases[] = {
    {"linear2_finite", R"(
[model]
name = linear2
dx = 3
h = 2
dy = 2
[data]
n = 16
noise_var = 0.1
[optimizer]
eta = 0.05
batch = 4
steps = 60
tol = 0
[record]
every = 20
final_window = 10
)"},
    {"linear2_online", R"(
[model]
name = linear2
dx = 3
h = 2
dy = 2
[data]
mode = online
noise_var = 0.1
[optimizer]
eta = 0.05
batch = 4
steps = 60
tol = 0
[record]
every = 20
noise_batch = 64
)"},
    {"linear2_gd", R"(
[model]
name = linear2
dx = 2
h = 2
dy = 1
[data]
n = 8
[optimizer]
eta = 0.1
batch = 8
steps = 40
tol = 1e-12
check_every = 10
[record]
every = 10
)"},
    {"diaglinear_online", R"(
[model]
name = diaglinear
dx = 2
[data]
mode = online
x_decay = 0.5
noise_var = 0.5
[optimizer]
eta = 0.05
batch = 1
steps = 60
tol = 0
[record]
every = 20
final_window = 20
noise_batch = 32
)"},
    {"scaleinv_online", R"(
[model]
name = scaleinv
dx = 4
[data]
mode = online
noise_var = 0.5
[optimizer]
eta = 0.02
batch = 2
steps = 60
tol = 0
weight_decay = 0.005
[record]
every = 20
final_window = 30
noise_batch = 32
)"},
    {"deeplinear_online", R"(
[model]
name = deeplinear
depth = 3
widths = 3, 2
dx = 2
dy = 2
init_first_scale = 1.5
[data]
mode = online
noise_var = 0.3
[optimizer]
eta = 0.03
batch = 2
steps = 60
tol = 0
[record]
every = 20
final_window = 20
noise_batch = 32
)"},
    {"mlp2_relu_finite", R"(
[model]
name = mlp2
dx = 2
h = 3
dy = 2
[data]
n = 16
noise_var = 0.3
[optimizer]
eta = 0.05
batch = 2
steps = 60
tol = 0
[record]
every = 20
final_window = 20
noise_batch = 16
)"},
    {"poly_finite", R"(
[model]
name = poly
preset = prop6
x0 = 0.1
a = 0.3
[data]
n = 2
[optimizer]
eta = 1.6
batch = 1
steps = 60
tol = 0
[record]
every = 10
)"},
};

/// record.diagnostics values: every diagnostic but `skip` (each wherever it has a field), or
/// only `only`, or with `end_only` measured at the end alone.
std::string diagnostics_list(int skip, int only, int end_only) {
  std::string out;
  for (int i = 0; i < Diagnostics::count; ++i) {
    const auto n = static_cast<Diagnostics::Name>(i);
    if (i == skip || (only >= 0 && i != only)) continue;
    out += std::string(out.empty() ? "" : ", ") + (i == end_only ? "results." : "") +
           Diagnostics::name(n);
  }
  return out.empty() ? "none" : out;
}

class DiagnosticsProperty : public ::testing::TestWithParam<DiagnosticsCase> {};

TEST_P(DiagnosticsProperty, WhatIsMeasuredChangesNoOtherStoredNumber) {
  const std::string ini = GetParam().ini;
  const Sweep all(ini);
  const PointResult base = simulate_point(all.grid, all.fields, 0);
  ASSERT_EQ(base.values.code(all.fields.core().status), static_cast<std::uint8_t>(Status::done))
      << base.error;
  const auto expected = stored(all.fields, base.values);
  // record.diagnostics = default declares what the file held before the key existed.
  const Sweep spelled(ini, {"record.diagnostics=" + diagnostics_list(-1, -1, -1)});
  EXPECT_EQ(stored(spelled.fields, simulate_point(spelled.grid, spelled.fields, 0).values),
            expected);

  std::vector<std::string> values = {"none"};
  for (int i = 0; i < Diagnostics::count; ++i) {
    values.push_back(diagnostics_list(i, -1, -1));  // all but i
    values.push_back(diagnostics_list(-1, i, -1));  // i alone
    if (Diagnostics::has_end(static_cast<Diagnostics::Name>(i)))
      values.push_back(diagnostics_list(-1, -1, i));  // i at the end only
  }
  for (const std::string& value : values) {
    SCOPED_TRACE("record.diagnostics = " + value);
    const Sweep some(ini, {"record.diagnostics=" + value});
    const PointResult r = simulate_point(some.grid, some.fields, 0);
    const auto got = stored(some.fields, r.values);
    const Diagnostics want = parse_diagnostics(value);
    std::size_t dropped = 0;
    for (const auto& [path, bytes] : expected) {
      const auto it = got.find(path);
      if (it == got.end()) {
        ++dropped;
        continue;
      }
      EXPECT_TRUE(it->second == bytes) << path << " changed";
    }
    for (const auto& [path, bytes] : got) EXPECT_EQ(expected.count(path), 1u) << path;
    // The core's fields of a diagnostic not measured are not in the schema.
    const Schema& schema = some.fields.schema();
    const std::pair<Diagnostics::Name, const char*> end_fields[] = {
        {Diagnostics::C, "C_final"},
        {Diagnostics::theta_norm, "theta_norm"},
        {Diagnostics::hessian_trace, "hessian_trace"},
        {Diagnostics::sharpness, "sharpness"},
        {Diagnostics::grad_noise, "grad_noise"},
        {Diagnostics::noether_flow, "noether_flow"},
        {Diagnostics::noether_flow, "noether_flow_trace"},
        {Diagnostics::noether_flow, "noether_flow_spectrum"}};
    for (const auto& [n, field] : end_fields) {
      if (!want.end(n)) {
        EXPECT_EQ(schema.find(Group::results, field), -1) << field;
      }
    }
    for (int i = 0; i < Diagnostics::count; ++i) {
      const auto n = static_cast<Diagnostics::Name>(i);
      const char* field = n == Diagnostics::model ? "eq_gap" : Diagnostics::name(n);
      if (!want.traced(n)) {
        EXPECT_EQ(schema.find(Group::traces, field), -1) << field;
      }
    }
    if (value == "none") {
      EXPECT_GT(dropped, 0u);
      EXPECT_EQ(schema.find_dim("layer")->coords.size(), 0u);
      EXPECT_EQ(schema.find_dim("symmetry")->coords.size(), 0u);
      EXPECT_EQ(schema.find_dim("generator")->coords.size(), 0u);
    }
  }
}

TEST_P(DiagnosticsProperty, TraceRecordsChangeNoResult) {
  // The issue's case: online, the end's grad_noise read the noise stream after the trace records
  // had drawn from it. Results with record.every = 0, 20 and 10 are the same bits.
  const std::string ini = GetParam().ini;
  const Sweep none(ini, {"record.every=0"});
  auto expected = stored(none.fields, simulate_point(none.grid, none.fields, 0).values);
  for (const char* every : {"record.every=20", "record.every=10"}) {
    const Sweep some(ini, {every});
    auto got = stored(some.fields, simulate_point(some.grid, some.fields, 0).values);
    for (auto it = got.begin(); it != got.end();) {
      it = it->first.rfind("traces/", 0) == 0 ? got.erase(it) : std::next(it);
    }
    EXPECT_EQ(got, expected) << every;
  }
}

INSTANTIATE_TEST_SUITE_P(Models, DiagnosticsProperty, ::testing::ValuesIn(kDiagnosticsCases),
                         [](const ::testing::TestParamInfo<DiagnosticsCase>& p) {
                           return std::string(p.param.name);
                         });

TEST(Simulate, ANoiseMeasurementAtTheLastRecordEqualsTheEnds) {
  // Keyed by step, the end's Sigma and the trace record at the same step draw the same samples.
  const Sweep s(kDiagnosticsCases[1].ini);
  const PointResult r = simulate_point(s.grid, s.fields, 0);
  const SweepFields::Core& c = s.fields.core();
  const std::size_t layers = s.fields.schema().find_dim("layer")->coords.size();
  const std::size_t last = s.fields.record_steps().size() - 1;
  ASSERT_EQ(s.fields.record_steps()[last], 60);
  ASSERT_EQ(layers, 2u);
  for (std::size_t l = 0; l < layers; ++l) {
    EXPECT_TRUE(same_bits(r.values.real(c.grad_noise, l),
                          r.values.real(c.trace_grad_noise, last * layers + l)));
    EXPECT_GT(r.values.real(c.grad_noise, l), 0.0);
  }
}

// The flows per symmetry block: the block's flow matrix has the per-generator flows on its
// diagonal (Tr F = the flows of E_ii summed; its eigenvalues sum to that), at the end and on every
// trace record; where a model of the grid has more than 64 generators the per-generator field is
// not stored at all (never a truncated list), and the blocks are sized for the largest model.
TEST(Simulate, NoetherFlowsPerBlockAgreeWithThePerGeneratorFlowsAndAreNeverTruncated) {
  const Sweep s(kDiagnosticsCases[1].ini, {"model.h=3"});
  const PointResult r = simulate_point(s.grid, s.fields, 0);
  const SweepFields::Core& c = s.fields.core();
  ASSERT_EQ(s.fields.schema().find_dim("generator")->coords.size(), 6u);
  ASSERT_EQ(s.fields.schema().find_dim("symmetry")->coords.size(), 1u);
  ASSERT_EQ(s.fields.schema().find_dim("flow_eig")->coords.size(), 3u);
  const std::size_t records = s.fields.record_steps().size();
  for (std::size_t slot = 0; slot <= records; ++slot) {  // each record, then the end
    const bool end = slot == records;
    const auto flow = [&](std::size_t k) {
      return end ? r.values.real(c.noether_flow, k)
                 : r.values.real(c.trace_noether_flow, slot * 6 + k);
    };
    const double trace = end ? r.values.real(c.noether_flow_trace, 0)
                             : r.values.real(c.trace_noether_flow_trace, slot);
    double eig_sum = 0, diag_sum = 0, scale = 0;
    for (std::size_t e = 0; e < 3; ++e) {
      const double eig = end ? r.values.real(c.noether_flow_spectrum, e)
                             : r.values.real(c.trace_noether_flow_spectrum, slot * 3 + e);
      if (e > 0) {
        EXPECT_LE(eig, end ? r.values.real(c.noether_flow_spectrum, e - 1)
                           : r.values.real(c.trace_noether_flow_spectrum, slot * 3 + e - 1));
      }
      eig_sum += eig;
      diag_sum += flow(e);
      scale += std::fabs(flow(e)) + std::fabs(eig);
    }
    for (std::size_t k = 3; k < 6; ++k) scale += std::fabs(flow(k));
    ASSERT_GT(scale, 0.0) << "slot " << slot;
    EXPECT_NEAR(trace, diag_sum, 1e-12 * scale) << "slot " << slot;
    EXPECT_NEAR(eig_sum, trace, 1e-12 * scale) << "slot " << slot;
  }
  // h = 2 and h = 11 in one grid: 66 generators for the larger, so its list is not stored (NaN)
  // while the smaller's is, whole, with the same bits as alone; alone, h = 11 has no such field.
  const Sweep big(kDiagnosticsCases[1].ini, {"axes.model.h=2,11"});
  ASSERT_GE(big.fields.core().noether_flow, 0);
  EXPECT_EQ(big.fields.schema().find_dim("generator")->coords.size(), 3u);
  EXPECT_EQ(big.fields.schema().find_dim("flow_eig")->coords.size(), 11u);
  const PointResult small = simulate_point(big.grid, big.fields, 0);
  const Sweep two(kDiagnosticsCases[1].ini, {"model.h=2"});
  const PointResult alone = simulate_point(two.grid, two.fields, 0);
  for (std::size_t k = 0; k < 3; ++k) {
    EXPECT_TRUE(same_bits(small.values.real(big.fields.core().noether_flow, k),
                          alone.values.real(two.fields.core().noether_flow, k)));
  }
  const FieldId spectrum = big.fields.core().noether_flow_spectrum;
  EXPECT_TRUE(std::isfinite(small.values.real(spectrum, 1)));
  EXPECT_TRUE(std::isnan(small.values.real(spectrum, 2)));  // past its block of 2
  const PointResult large = simulate_point(big.grid, big.fields, 1);
  for (std::size_t e = 0; e < 11; ++e) EXPECT_TRUE(std::isfinite(large.values.real(spectrum, e)));
  for (std::size_t k = 0; k < 3; ++k) {
    EXPECT_TRUE(std::isnan(large.values.real(big.fields.core().noether_flow, k)));
  }
  const Sweep eleven(kDiagnosticsCases[1].ini, {"model.h=11"});
  EXPECT_EQ(eleven.fields.core().noether_flow, -1);
  EXPECT_EQ(eleven.fields.core().trace_noether_flow, -1);
  EXPECT_EQ(eleven.fields.schema().find_dim("generator")->coords.size(), 0u);
}

// The remembered stream keys are stream_key's, on every point of a grid whose axes mix keys that
// enter the streams (remembered per combination of eta and noise_var) with keys that do not
// (seed, steps), asked in two orders (first computed, then remembered); and on a grid with more
// combinations than are remembered (computed every time).
TEST(Simulate, RememberedStreamKeysAreStreamKeys) {
  const std::vector<std::vector<std::string>> grids = {
      {"axes.optimizer.eta=0.01,0.02,0.03", "axes.sweep.seed=0,1,2,3", "axes.data.noise_var=0,0.1",
       "axes.optimizer.steps=100,200"},
      {"axes.optimizer.eta=linspace(0.001,0.01,300)", "axes.data.noise_var=linspace(0,1,220)"}};
  for (const auto& sets : grids) {
    const Sweep s(kIni, sets);
    const std::uint64_t n = s.grid.size();
    const std::uint64_t stride = n > 1000 ? 997 : 1;  // a sample of the large grid's points
    for (std::uint64_t k = 0; k < 2 * n; k += stride) {
      const std::uint64_t p = k < n ? n - 1 - k : k - n;
      const ParamSet params = s.grid.params(p);
      ASSERT_EQ(s.fields.stream_key(p, params), stream_key(params)) << sets[0] << " point " << p;
    }
  }
}

}  // namespace
}  // namespace symsweep
