// "probe": a test model, registered through register_model (never shipped), that exercises every
// kind of config value and declares result fields of its own, so that tests can show that the
// spec, the schema and the store handle them without a line of library code naming them.
//
//   loss      l(theta) = 1/2 (theta - x0)^T A (theta - x0) for every sample (data are ignored),
//             so GD from theta = 0 converges to x0 when A is positive definite
//   keys      model.x0 (Vector, sweepable; its length is d), model.A (Matrix, d x d, default the
//             identity), model.variant (Choice: left, right; sweepable)
//   fields    /results/probe_x      the final theta, along the dimension "probe_j" (the longest
//                                   x0 of the grid; shorter points are NaN-padded)
//             /results/probe_trace_A  trace of A (scalar)
//             /results/probe_variant  index of model.variant (i64), 0 for left
//             /results/probe_side   enum none/negative/positive: the sign of the final theta_0
//             /results/probe_d      the point's d, the length of x0 (i64)
//             /traces/probe_norm    |theta| on the record schedule
#pragma once

#include <algorithm>
#include <cmath>
#include <optional>

#include "symsweep/grid.hpp"
#include "symsweep/model.hpp"

namespace symsweep::testing {

class ProbeModel final : public Model {
 public:
  ProbeModel(Vector x0, Matrix a, int variant)
      : Model(ModelShape{}), x0_(std::move(x0)), a_(std::move(a)), variant_(variant) {}

  Index dim() const override { return x0_.size(); }
  Index input_dim() const override { return 1; }
  Index output_dim() const override { return 1; }
  void reserve(Index) override {}
  double loss_grad(const Vector& theta, const Batch&, Vector& grad) override {
    grad.noalias() = a_ * (theta - x0_);
    return 0.5 * (theta - x0_).dot(grad);
  }
  double loss(const Vector& theta, const Batch&) override {
    return 0.5 * (theta - x0_).dot(a_ * (theta - x0_));
  }
  void hessian_vector(const Vector&, const Batch&, const Vector& v, Vector& out) override {
    out = a_ * v;
  }
  bool quadratic_in_data() const override { return true; }
  void initialize(NormalSource&, Vector& theta) const override { theta = Vector::Zero(dim()); }

  void bind_fields(const Schema& schema) override {
    x_ = schema.id(Group::results, "probe_x");
    trace_a_ = schema.id(Group::results, "probe_trace_A");
    variant_field_ = schema.id(Group::results, "probe_variant");
    side_ = schema.id(Group::results, "probe_side");
    d_ = schema.id(Group::results, "probe_d");
    norm_ = schema.id(Group::traces, "probe_norm");
  }
  void record_traces(const Vector& theta, Record& out, std::size_t slot) override {
    out.set(norm_, theta.norm(), slot);
  }
  void record_final(const Vector& theta, const Batch&, const EndMeasurements&,
                    Record& out) override {
    out.set_reals(x_, theta.data(), static_cast<std::size_t>(theta.size()));
    out.set(trace_a_, a_.trace());
    out.set_integer(variant_field_, variant_);
    out.set_code(side_, theta[0] < 0 ? 1 : 2);
    out.set_integer(d_, theta.size());
  }

  /// Declares the fields above for a sweep.
  static void declare(const Grid& grid, Schema& schema) {
    std::size_t longest = 0;
    grid.for_each_combination(
        [](const std::string& key) { return key == "model.x0"; },
        [&](const ParamSet& p) { longest = std::max(longest, p.vector("model.x0").size()); });
    std::vector<std::int64_t> j(longest);
    for (std::size_t i = 0; i < longest; ++i) j[i] = static_cast<std::int64_t>(i);
    schema.add_dim({"probe_j", "index of a coordinate of theta", j});
    schema.add(real_field(Group::results, "probe_x", "final theta",
                          "theta at the end (NaN-padded to the longest x0)", "", {"probe_j"}));
    schema.add(
        real_field(Group::results, "probe_trace_A", "trace of A", "trace of model.A", "a.u."));
    schema.add(integer_field(Group::results, "probe_variant", "variant",
                             "index of model.variant in (left, right)"));
    schema.add(enum_field(Group::results, "probe_side", "side of theta_0",
                          "sign of the final theta_0", {"none", "negative", "positive"}));
    schema.add(integer_field(Group::results, "probe_d", "d", "number of parameters"));
    schema.add(real_field(Group::traces, "probe_norm", "|theta|", "norm of theta at /traces/step",
                          "", {"step"}));
  }

  static ModelInfo info() {
    ModelInfo m;
    m.name = "probe";
    m.summary = "test model: l = 1/2 (theta - x0)^T A (theta - x0)";
    m.params = {
        ParamDef{"model.x0", ParamKind::Vector, "1", "minimum of the loss", Range::any(), {}, true},
        ParamDef{"model.A",
                 ParamKind::Matrix,
                 "",
                 "curvature (empty: the identity)",
                 Range::any(),
                 {},
                 false},
        ParamDef{
            "model.variant", ParamKind::Choice, "left", "a choice", {}, {"left", "right"}, true},
    };
    m.rules = {
        {{"model.x0", "model.A"},
         [](const ParamSet& p) -> std::optional<std::string> {
           const Value& a = p.value("model.A");
           const std::size_t d = p.vector("model.x0").size();
           if (d == 0) return "model.x0 = '': must have at least one element";
           if (a.numbers.empty() || (a.rows == d && a.cols == d)) return std::nullopt;
           return "model.A = '" + a.text + "': must be " + std::to_string(d) + " x " +
                  std::to_string(d) + " (the length of model.x0)";
         }},
    };
    m.shape = [](const ParamSet&) { return ModelShape{}; };
    m.create = [](const ParamSet& p) -> std::unique_ptr<Model> {
      const auto& x = p.vector("model.x0");
      const Vector x0 = Eigen::Map<const Vector>(x.data(), static_cast<Index>(x.size()));
      const Value& av = p.value("model.A");
      Matrix a = Matrix::Identity(x0.size(), x0.size());
      if (!av.numbers.empty()) {
        a = Eigen::Map<const RowMatrix>(av.numbers.data(), static_cast<Index>(av.rows),
                                        static_cast<Index>(av.cols));
      }
      return std::make_unique<ProbeModel>(x0, a, p.text("model.variant") == "left" ? 0 : 1);
    };
    m.declare_fields = &ProbeModel::declare;
    return m;
  }

  /// Registers the model once per process.
  static void ensure_registered() {
    if (find_model("probe") == nullptr) register_model(info());
  }

 private:
  Vector x0_;
  Matrix a_;
  int variant_;
  FieldId x_ = -1, trace_a_ = -1, variant_field_ = -1, side_ = -1, norm_ = -1, d_ = -1;
};

}  // namespace symsweep::testing
