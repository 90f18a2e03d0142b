// Field declarations, the Record layout, and a model's own fields filled by a real run.
#include <gtest/gtest.h>

#include <cmath>

#include <cfenv>
#include <stdexcept>

#include "../common/probe_model.hpp"
#include "symsweep/error.hpp"
#include "symsweep/schedule.hpp"
#include "symsweep/schema.hpp"
#include "symsweep/simulate.hpp"

namespace symsweep {
namespace {

Schema small_schema() {
  Schema s;
  s.add_dim({"j", "a trailing dimension", {0, 1, 2}});
  s.add_dim({"none", "an empty dimension", {}});
  s.add(enum_field(Group::results, "status", "status", "d", {"pending", "done", "failed"}));
  s.add(real_field(Group::results, "x", "x", "d", "m", {"j"}));
  s.add(integer_field(Group::results, "n", "n", "d"));
  s.add(int32_field(Group::run, "r", "r", "d"));
  s.add(real_field(Group::traces, "absent", "a", "d", "", {"j", "none"}));
  s.add(real_field(Group::results, "y", "y", "d"));
  return s;
}

TEST(Schema, LaysOutFieldsAlignedInDeclarationOrder) {
  const Schema s = small_schema();
  ASSERT_EQ(s.fields().size(), 6u);
  EXPECT_EQ(s.count(s.id(Group::results, "status")), 1u);
  EXPECT_EQ(s.count(s.id(Group::results, "x")), 3u);
  EXPECT_EQ(s.count(s.id(Group::traces, "absent")), 0u);
  EXPECT_FALSE(s.present(s.id(Group::traces, "absent")));
  EXPECT_EQ(s.tail_shape(s.id(Group::traces, "absent")), (std::vector<std::size_t>{3, 0}));
  std::size_t end = 0;
  for (FieldId id = 0; id < static_cast<FieldId>(s.fields().size()); ++id) {
    EXPECT_EQ(s.offset(id) % 8, 0u) << s.field(id).name;
    EXPECT_GE(s.offset(id), end) << s.field(id).name;
    end = s.offset(id) + s.count(id) * Schema::elem_size(s.field(id).type);
  }
  EXPECT_EQ(s.record_bytes() % 8, 0u);
  EXPECT_GE(s.record_bytes(), end);
  // Same name in another group is another field.
  EXPECT_EQ(s.find(Group::run, "x"), -1);
  EXPECT_EQ(s.find(Group::results, "nope"), -1);
}

TEST(Schema, RejectsBrokenDeclarations) {
  Schema s = small_schema();
  EXPECT_THROW(s.add(enum_field(Group::results, "e", "e", "d", {"a b", "c"})), Error);
  EXPECT_THROW(s.add(enum_field(Group::results, "e", "e", "d", {"a", "a"})), Error);
  FieldDef nan_integer = integer_field(Group::results, "i", "i", "d");
  nan_integer.fill = std::nan("");
  EXPECT_THROW(s.add(nan_integer), Error);
  FieldDef bad_enum_fill = enum_field(Group::results, "e", "e", "d", {"a", "b"});
  bad_enum_fill.fill = 2;
  EXPECT_THROW(s.add(bad_enum_fill), Error);
  EXPECT_THROW(s.add(real_field(Group::results, "a.b", "a", "d")), Error);
  EXPECT_THROW(s.add_dim({"traces", "a group's name", {0}}), Error);
  EXPECT_THROW(s.add(real_field(Group::results, "x", "x", "again")), Error);
  EXPECT_THROW(s.add(real_field(Group::results, "z", "z", "d", "", {"missing"})), Error);
  EXPECT_THROW(s.add(enum_field(Group::results, "e", "e", "d", {})), Error);
  EXPECT_THROW(s.add(real_field(Group::results, "a/b", "a", "d")), Error);
  EXPECT_THROW(s.add_dim({"j", "twice", {0}}), Error);
  EXPECT_THROW(s.set_status_field(s.id(Group::results, "x")), Error);
}

TEST(Record, StartsAtTheFillsAndReadsBackWhatWasSet) {
  const Schema s = small_schema();
  Record r(s);
  const FieldId status = s.id(Group::results, "status"), x = s.id(Group::results, "x"),
                n = s.id(Group::results, "n"), rank = s.id(Group::run, "r");
  EXPECT_EQ(r.code(status), 0);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_TRUE(std::isnan(r.real(x, i)));
  EXPECT_EQ(r.integer(n), -1);
  EXPECT_EQ(r.integer(rank), -1);
  r.set_code(status, 2);
  const double values[2] = {1.5, -2.5};
  r.set_reals(x, values, 2, 1);
  r.set_integer(n, std::int64_t{1} << 40);
  r.set_integer(rank, -7);
  EXPECT_EQ(r.code(status), 2);
  EXPECT_TRUE(std::isnan(r.real(x, 0)));
  EXPECT_EQ(r.real(x, 1), 1.5);
  EXPECT_EQ(r.real(x, 2), -2.5);
  EXPECT_EQ(r.integer(n), std::int64_t{1} << 40);
  EXPECT_EQ(r.integer(rank), -7);
}

TEST(Record, AMovedFromRecordIsEmptyAndRefusesAccess) {
  const Schema s = small_schema();
  Record a(s);
  const Record b = std::move(a);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): that is the point
  EXPECT_FALSE(b.empty());
  EXPECT_THROW(a.set(s.id(Group::results, "y"), 1.0), Error);
  EXPECT_THROW(a.set_code(s.id(Group::results, "status"), 1), Error);
  EXPECT_EQ(b.code(s.id(Group::results, "status")), 0);
}

TEST(Record, ChecksTypesAndBounds) {
  const Schema s = small_schema();
  Record r(s);
  const FieldId status = s.id(Group::results, "status"), x = s.id(Group::results, "x"),
                rank = s.id(Group::run, "r");
  EXPECT_THROW(r.set(status, 1.0), Error);                          // an enum is not a real
  EXPECT_THROW(r.set_integer(x, 1), Error);                         // a real is not an integer
  EXPECT_THROW(r.set(x, 1.0, 3), Error);                            // past the trailing dimension
  EXPECT_THROW(r.set_code(status, 3), Error);                       // no fourth member
  EXPECT_THROW(r.set_integer(rank, std::int64_t{1} << 33), Error);  // not a 32-bit value
  const double four[4] = {1, 2, 3, 4};
  EXPECT_THROW(r.set_reals(x, four, 4), Error);
}

// ---------------------------------------------------------------- a model's own fields in a run
const char* const kSchemaProbe = R"(
[model]
name = probe
x0 = 0.5, -1.5
A = 2, 0.5; 0.5, 1
[data]
n = 4
[optimizer]
eta = 0.2
batch = 4
steps = 2000
tol = 1e-12
check_every = 10
[record]
every = 50
)";

class ProbeRun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { testing::ProbeModel::ensure_registered(); }
};

TEST_F(ProbeRun, ModelFieldsAreDeclaredAfterTheCoreOnesAndFilledByTheRun) {
  const SweepSpec spec = parse_spec(kSchemaProbe);
  const Grid grid(spec);
  const SweepFields fields(grid);
  const Schema& s = fields.schema();
  const FieldId x = s.id(Group::results, "probe_x");
  EXPECT_GT(x, fields.core().rank);  // the model's fields follow the core run's
  EXPECT_EQ(s.count(x), 2u);
  const PointResult p = simulate_point(grid, fields, 0);
  const Record& r = p.values;
  EXPECT_EQ(r.code(fields.core().status), static_cast<std::uint8_t>(Status::done));
  EXPECT_EQ(r.code(fields.core().outcome), static_cast<std::uint8_t>(Outcome::converged));
  // GD on 1/2 (theta - x0)^T A (theta - x0) from 0 ends at x0.
  EXPECT_NEAR(r.real(x, 0), 0.5, 1e-10);
  EXPECT_NEAR(r.real(x, 1), -1.5, 1e-10);
  EXPECT_EQ(r.real(s.id(Group::results, "probe_trace_A")), 3.0);
  EXPECT_EQ(r.integer(s.id(Group::results, "probe_variant")), 0);
  EXPECT_EQ(s.field(s.id(Group::results, "probe_side"))
                .members[r.code(s.id(Group::results, "probe_side"))],
            "positive");
  // |theta| on the record schedule: 0 at step 0, near |x0| at the last record before the run
  // converged, NaN after it ended.
  const FieldId norm = s.id(Group::traces, "probe_norm");
  ASSERT_EQ(s.count(norm), 41u);  // steps 0, 50, ..., 2000
  const auto steps_run = static_cast<std::size_t>(r.integer(fields.core().steps_run));
  ASSERT_LT(steps_run, 2000u);
  const std::size_t last = steps_run / 50;
  EXPECT_EQ(r.real(norm, 0), 0.0);
  EXPECT_NEAR(r.real(norm, last), std::sqrt(0.5 * 0.5 + 1.5 * 1.5), 1e-6);
  EXPECT_TRUE(std::isnan(r.real(norm, last + 1)));
}

TEST_F(ProbeRun, VectorAxisOfVaryingLengthPadsTheModelField) {
  const SweepSpec spec = parse_spec(kSchemaProbe, {"model.A=", "axes.model.x0=-1 | 1, 2, 3"});
  const Grid grid(spec);
  const SweepFields fields(grid);
  const FieldId x = fields.schema().id(Group::results, "probe_x");
  ASSERT_EQ(fields.schema().count(x), 3u);  // the longest x0
  const Record one = simulate_point(grid, fields, 0).values;
  EXPECT_NEAR(one.real(x, 0), -1.0, 1e-10);
  EXPECT_TRUE(std::isnan(one.real(x, 1)));
  EXPECT_TRUE(std::isnan(one.real(x, 2)));
  const Record three = simulate_point(grid, fields, 1).values;
  EXPECT_NEAR(three.real(x, 2), 3.0, 1e-10);
}

// A model whose construction fails: with a standard exception for x0 = 2, with something else for
// x0 = 3. Each point fails alone, inside the OpenMP loop, without taking the process down.
TEST_F(ProbeRun, PointsThatThrowComeBackFailedWithTheirReason) {
  ModelInfo thrower = testing::ProbeModel::info();
  thrower.name = "thrower";
  const auto create = thrower.create;
  thrower.create = [create](const ParamSet& p) -> std::unique_ptr<Model> {
    if (p.vector("model.x0").front() == 2) throw std::runtime_error("no model at x0 = 2");
    if (p.vector("model.x0").front() == 3) throw 42;
    return create(p);
  };
  if (find_model("thrower") == nullptr) register_model(thrower);
  const SweepSpec spec = parse_spec(
      "[model]\nname = thrower\n[data]\nn = 4\n[optimizer]\nbatch = 4\nsteps = 5\n"
      "[axes]\nmodel.x0 = 1 | 2 | 3\n");
  const Grid grid(spec);
  const SweepFields fields(grid);
  const std::vector<PointResult> results = run_points(grid, fields, {0, 1, 2});
  ASSERT_EQ(results.size(), 3u);
  const FieldId status = fields.core().status;
  EXPECT_EQ(results[0].values.code(status), static_cast<std::uint8_t>(Status::done))
      << results[0].error;
  EXPECT_EQ(results[1].values.code(status), static_cast<std::uint8_t>(Status::failed));
  EXPECT_EQ(results[1].error, "no model at x0 = 2");
  EXPECT_EQ(results[1].index, 1u);
  EXPECT_TRUE(std::isnan(results[1].values.real(fields.core().final_loss)));  // the fill
  EXPECT_EQ(results[2].values.code(status), static_cast<std::uint8_t>(Status::failed));
  EXPECT_EQ(results[2].error, "an exception that is not a std::exception");
}

// A model that leaves the rounding mode changed must not change the next point's numbers.
TEST_F(ProbeRun, TheFloatingPointStateIsRestoredForTheNextPoint) {
  ModelInfo rounder = testing::ProbeModel::info();
  rounder.name = "rounder";
  const auto create = rounder.create;
  rounder.create = [create](const ParamSet& p) -> std::unique_ptr<Model> {
    if (p.vector("model.x0").front() == 1) std::fesetround(FE_UPWARD);
    return create(p);
  };
  if (find_model("rounder") == nullptr) register_model(rounder);
  const std::string ini =
      "[model]\nname = rounder\nA = 2, 0.3; 0.3, 1\n[data]\nn = 4\n[optimizer]\nbatch = 4\n"
      "steps = 50\neta = 0.1\n[axes]\nmodel.x0 = 1, 0.5 | 0.3, 0.7\n";
  const SweepSpec spec = parse_spec(ini);
  const Grid grid(spec);
  const SweepFields fields(grid);
  const auto sweep = run_points(grid, fields, {0, 1});
  EXPECT_EQ(std::fegetround(), FE_TONEAREST);
  const SweepSpec alone_spec = parse_spec(ini, {"model.x0=0.3, 0.7"});
  const Grid alone_grid(alone_spec);
  const SweepFields alone_fields(alone_grid);
  const PointResult alone = simulate_point(alone_grid, alone_fields, 0);
  const FieldId loss = fields.core().final_loss;
  ASSERT_TRUE(std::isfinite(alone.values.real(loss)));
  EXPECT_EQ(sweep[1].values.real(loss), alone.values.real(loss));
  EXPECT_EQ(sweep[1].values.real(fields.core().sharpness),
            alone.values.real(alone_fields.core().sharpness));
}

TEST_F(ProbeRun, FinishTwiceIsRefused) {
  const SweepSpec spec = parse_spec(kSchemaProbe);
  const Grid grid(spec);
  const SweepFields fields(grid);
  PointRun run(grid, fields, 0);
  run.advance(1 << 20);
  run.finish();
  EXPECT_THROW(run.finish(), Error);
}

}  // namespace
}  // namespace symsweep
