// A model's structure is declared once (model.hpp's ModelShape): the registry refuses an entry
// whose model reports anything else, every built-in model reports what its entry declares over
// the parameters that change its shape, and a point whose model disagrees with its entry fails
// with the reason instead of being truncated into the file's dimensions.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "symsweep/data.hpp"
#include "symsweep/error.hpp"
#include "symsweep/grid.hpp"
#include "symsweep/model.hpp"
#include "symsweep/optimizer.hpp"
#include "symsweep/rng.hpp"
#include "symsweep/schedule.hpp"
#include "symsweep/sgd_stability.hpp"
#include "symsweep/simulate.hpp"
#include "symsweep/stability.hpp"

namespace symsweep {
namespace {

/// l = 1/2 |theta - 1|^2 on d parameters (model.dx), with a declared shape and what it
/// actually does set apart: `reported` values from conserved(), generators up to `applies`.
class Shaped final : public Model {
 public:
  Shaped(Index d, ModelShape shape, Index reported, Index applies)
      : Model(std::move(shape)), d_(d), reported_(reported), applies_(applies) {}
  Index dim() const override { return d_; }
  Index input_dim() const override { return 1; }
  Index output_dim() const override { return 1; }
  void reserve(Index) override {}
  double loss_grad(const Vector& theta, const Batch&, Vector& grad) override {
    grad = theta.array() - 1.0;
    return 0.5 * grad.squaredNorm();
  }
  double loss(const Vector& theta, const Batch&) override {
    return 0.5 * (theta.array() - 1.0).matrix().squaredNorm();
  }
  void hessian_vector(const Vector&, const Batch&, const Vector& v, Vector& out) override {
    out = v;
  }
  void conserved(const Vector& theta, Vector& out) const override {
    out = Vector::Constant(reported_, theta.squaredNorm());
  }
  void apply_generator(Index k, const Vector& v, Vector& out) const override {
    SYMSWEEP_VERIFY(k < applies_, "no generator " + std::to_string(k));
    out = v;
  }
  void initialize(NormalSource& normal, Vector& theta) const override {
    theta.resize(d_);
    for (Index i = 0; i < d_; ++i) theta[i] = normal.normal();
  }
  /// A kink at theta_0 = 1 (as a ReLU pre-activation at zero), when asked for.
  bool smooth_near(const Vector& theta, const Batch&, double radius) override {
    return !kinked || std::fabs(theta[0] - 1.0) > radius;
  }
  bool kinked = false;

 private:
  Index d_, reported_, applies_;
};

/// A registry entry "name" (keys model.dx, default 4) whose model is built with `built` and
/// whose entry declares `declared`, reporting `reported` conserved values and applying
/// `applies` generators.
ModelInfo entry(const std::string& name, ModelShape declared, ModelShape built, Index reported,
                Index applies) {
  ModelInfo info;
  info.name = name;
  info.summary = "test model";
  info.params = {
      ParamDef{"model.dx", ParamKind::Integer, "4", "parameters", Range{1, 64}, {}, true}};
  info.shape = [declared](const ParamSet&) { return declared; };
  info.create = [built, reported, applies](const ParamSet& p) -> std::unique_ptr<Model> {
    return std::make_unique<Shaped>(p.integer("model.dx"), built, reported, applies);
  };
  return info;
}

/// register_model's message for the entry (empty when it is accepted), and that a refused
/// entry leaves the registry without it.
std::string refusal(const ModelInfo& info) {
  try {
    register_model(info);
  } catch (const Error& e) {
    EXPECT_EQ(find_model(info.name), nullptr) << "a refused model stays out of the registry";
    return e.what();
  }
  EXPECT_NE(find_model(info.name), nullptr);
  return "";
}

TEST(ModelShape, AnEntryWhoseModelReportsWhatItDeclaresIsRegistered) {
  const ModelShape shape{2, {1, 3}, {2, 1}};
  EXPECT_EQ(refusal(entry("shape_ok", shape, shape, 2, 4)), "");
  EXPECT_EQ(shape.generator_count(), 4);
  EXPECT_EQ(shape.first_generator(1), 3);
  EXPECT_EQ(shape.largest_block(), 2);
}

TEST(ModelShape, AnEntryThatDisagreesWithItsModelIsRefusedAtRegistration) {
  const ModelShape shape{2, {1, 3}, {2, 1}};
  // The entry declares other counts than the model's constructor.
  ModelShape more = shape;
  more.symmetry_blocks = {3, 1};
  std::string m = refusal(entry("shape_blocks", more, shape, 2, 4));
  EXPECT_NE(m.find("model 'shape_blocks'"), std::string::npos) << m;
  EXPECT_NE(m.find("declares conserved 2, layers [1, 3], symmetry blocks [3, 1]"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("reports conserved 2, layers [1, 3], symmetry blocks [2, 1]"), std::string::npos)
      << m;
  // Both agree, but conserved() fills another number of values.
  m = refusal(entry("shape_conserved", shape, shape, 3, 4));
  EXPECT_NE(m.find("conserved() reports 3 value(s), its shape declares 2"), std::string::npos) << m;
  // Layers that do not cover theta (dim 4).
  ModelShape short_layers = shape;
  short_layers.layers = {1, 2};
  m = refusal(entry("shape_layers", short_layers, short_layers, 2, 4));
  EXPECT_NE(m.find("its layers cover 3 parameter(s), its dim() is 4"), std::string::npos) << m;
  // A generator the shape declares that the model cannot apply.
  m = refusal(entry("shape_generators", shape, shape, 2, 3));
  EXPECT_NE(m.find("generator 3 of the 4 its shape declares does not apply"), std::string::npos)
      << m;
  // An empty block.
  ModelShape empty_block = shape;
  empty_block.symmetry_blocks = {2, 0};
  m = refusal(entry("shape_empty_block", empty_block, empty_block, 2, 3));
  EXPECT_NE(m.find("a symmetry block of size 0"), std::string::npos) << m;
}

// A shape that agrees at the defaults (so registration accepts it) but not at another point: that
// point fails, naming both shapes, and its neighbours run.
TEST(ModelShape, APointWhoseModelDisagreesWithItsEntryFailsWithTheReason) {
  ModelInfo info = entry("shape_drifts", {}, {}, 0, 0);
  info.shape = [](const ParamSet& p) { return ModelShape{0, {p.integer("model.dx")}, {1}}; };
  info.create = [](const ParamSet& p) -> std::unique_ptr<Model> {
    const Index d = p.integer("model.dx");
    return std::make_unique<Shaped>(d, ModelShape{0, {d}, {d == 4 ? 1 : 2}}, 0, 3);
  };
  if (find_model(info.name) == nullptr) register_model(info);
  const SweepSpec spec = parse_spec(
      "[model]\nname = shape_drifts\n[data]\nn = 8\n[optimizer]\nbatch = 2\nsteps = 5\n"
      "[axes]\nmodel.dx = 4, 5\n");
  const Grid grid(spec);
  const SweepFields fields(grid);
  const std::vector<PointResult> r = run_points(grid, fields, {0, 1});
  const FieldId status = fields.core().status;
  EXPECT_EQ(r[0].values.code(status), static_cast<std::uint8_t>(Status::done)) << r[0].error;
  EXPECT_EQ(r[1].values.code(status), static_cast<std::uint8_t>(Status::failed));
  EXPECT_NE(r[1].error.find("model 'shape_drifts': its registry entry declares conserved 0, "
                            "layers [5], symmetry blocks [1] for this point, its model reports "
                            "conserved 0, layers [5], symmetry blocks [2]"),
            std::string::npos)
      << r[1].error;
}

// The checks at a minimum are not made where the loss has a kink within their reach: the note
// says so, for the GD and the SGD checks, and every number is NaN; a step further away they are.
TEST(ModelShape, NoStabilityCheckIsMadeAcrossAKink) {
  Shaped model(3, ModelShape{}, 0, 0);
  model.kinked = true;
  const RowMatrix x = RowMatrix::Zero(4, 1), y = RowMatrix::Zero(4, 1);
  SampleSet set;
  set.x = x;
  set.y = y;
  const Vector at_kink = Vector::Ones(3);
  const MinimumCheck kink = check_minimum(model, set.batch(), at_kink, 0.5, 0);
  EXPECT_EQ(kink.note, StabilityNote::not_smooth);
  EXPECT_TRUE(std::isnan(kink.lambda_max) && std::isnan(kink.eta_gd) && std::isnan(kink.K));
  OptimizerSpec opt;
  opt.eta = 0.5;
  opt.batch = 2;
  const SgdCheck sgd =
      check_sgd(model, set, &at_kink, kink, opt, false, true, 1000, Stream(1, 0, Purpose::lanczos),
                Stream(1, 0, Purpose::worst_batch));
  EXPECT_EQ(sgd.note, SgdNote::not_smooth);
  EXPECT_TRUE(std::isnan(sgd.eta_ms) && std::isnan(sgd.eta_worst_batch));
  Vector away = at_kink;
  away[0] += 0.01;  // ten times the reach 1e-3 (1 + |x*|)
  const MinimumCheck smooth = check_minimum(model, set.batch(), away, 0.5, 0);
  EXPECT_NE(smooth.note, StabilityNote::not_smooth);
  EXPECT_DOUBLE_EQ(smooth.lambda_max, 1.0);  // H = I
  model.kinked = false;
  EXPECT_EQ(check_minimum(model, set.batch(), at_kink, 0.5, 0).note, smooth.note);
}

/// Every model of the registry, at its defaults and at the given overrides, reports the shape
/// its entry declares (built-in models are listed, not registered, so this is their check).
TEST(ModelShape, EveryBuiltInModelReportsItsDeclaredShape) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"linear2", {}},
      {"linear2", {"model.dx=3", "model.h=5", "model.dy=2"}},
      {"diaglinear", {"model.dx=7"}},
      {"scaleinv", {"model.dx=6"}},
      {"deeplinear", {}},
      {"deeplinear", {"model.depth=4", "model.widths=4, 2, 3", "model.dx=3", "model.dy=1"}},
      {"poly", {"data.n=1", "optimizer.batch=1"}},
      {"mlp2", {}},
      {"mlp2", {"model.activation=tanh", "model.bias=false", "model.dx=3", "model.h=5"}},
  };
  for (const auto& [name, overrides] : cases) {
    SCOPED_TRACE(name);
    const SweepSpec spec = parse_spec("[model]\nname = " + name + "\n", overrides);
    const Grid grid(spec);
    const ParamSet params = grid.params(0);
    const ModelInfo* info = find_model(name);
    ASSERT_NE(info, nullptr);
    std::unique_ptr<Model> model = info->create(params);
    Vector theta;
    Stream init(3, 0, Purpose::init);
    model->initialize(init, theta);
    EXPECT_NO_THROW(check_model_shape(name, *model, info->shape(params), theta));
  }
}

}  // namespace
}  // namespace symsweep
