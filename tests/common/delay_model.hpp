// "delay": a test model, registered through register_model (never shipped), whose set-up, SGD
// steps and final measurements take as long as the config says, and which fails on demand. The
// run loop's tests use it to send signals while a point is being built, stepped or finished
// (tests/e2e/test_interrupt.py, through the test driver symsweep_test_driver), and to fail a
// worker at a moment drawn per trial (tests/mpi/test_faults_mpi.cpp).
//
//   loss      l(theta) = 1/2 |theta - c|^2 for every sample (data are ignored), c = (1, -2),
//             theta drawn from the point's init stream (points differ by their seed)
//   keys      model.build_seconds   time spent in construction (the factory)
//             model.step_seconds    time spent in each gradient (each SGD step)
//             model.finish_seconds  time spent in the final measurements (record_final)
//             model.sleep           pieces: in 2 ms pieces with a cancellation point between
//                                   (as the library's long loops do); block: one uncancellable
//                                   piece (as one call into a dense eigensolver)
//             SYMSWEEP_TEST_DELAY_SCALE=S in the environment multiplies every delay (0: none),
//             so that a reference run and a resume of the same config (a resume runs the
//             file's own) are quick; the numbers never depend on the delays
//   markers   with SYMSWEEP_TEST_MARKERS=DIR in the environment, the model creates DIR/build,
//             DIR/sgd and DIR/finish when a point enters that phase (a test sends its signal
//             then)
//   faults    fault_plan() (process-global, set by a test between runs): the point whose
//             sweep.seed is `seed` throws, or raises a signal, at `moment`
#pragma once

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "symsweep/cancel.hpp"
#include "symsweep/model.hpp"
#include "symsweep/rng.hpp"
#include "symsweep/sweep.hpp"

namespace symsweep::testing {

/// Where and how a point fails (tests/mpi/test_faults_mpi.cpp).
struct FaultPlan {
  enum class Moment { build, step, finish };
  /// error: a std::exception (the point is failed); foreign: an exception of no std type (the
  /// point is failed too); signal: request_interrupt(SIGTERM) on this rank only, then carry on.
  enum class Action { error, foreign, signal };
  long long seed = -1;  ///< the failing point's sweep.seed; -1: none fails
  Moment moment = Moment::build;
  long long step = 0;  ///< Moment::step: at this gradient of the point
  double wait = 0;     ///< seconds the point waits (cancellably) at the moment before it fails
  Action action = Action::error;
};

inline FaultPlan& fault_plan() {
  static FaultPlan plan;
  return plan;
}

class DelayModel final : public Model {
 public:
  struct Options {
    double build = 0, step = 0, finish = 0;
    bool block = false;
    long long seed = 0;
  };
  explicit DelayModel(const Options& o) : Model(ModelShape{}), o_(o) {}

  // A point's set-up (the "build" phase): here, not in the constructor, since register_model
  // builds the model once at its defaults to check its shape, outside any point.
  void prepare_diagnostics(const Batch&) override {
    mark("build");
    maybe_fail(FaultPlan::Moment::build);
    pause(o_.build);
  }

  Index dim() const override { return 2; }
  Index input_dim() const override { return 1; }
  Index output_dim() const override { return 1; }
  void reserve(Index) override {}
  double loss_grad(const Vector& theta, const Batch&, Vector& grad) override {
    if (gradients_ == 0) mark("sgd");
    if (plan_applies(FaultPlan::Moment::step) && gradients_ == fault_plan().step) {
      fail("step " + std::to_string(gradients_));
    }
    ++gradients_;
    pause(o_.step);
    grad = theta - centre();
    return 0.5 * grad.squaredNorm();
  }
  double loss(const Vector& theta, const Batch&) override {
    return 0.5 * (theta - centre()).squaredNorm();
  }
  void hessian_vector(const Vector&, const Batch&, const Vector& v, Vector& out) override {
    out = v;
  }
  bool quadratic_in_data() const override { return true; }
  void initialize(NormalSource& normal, Vector& theta) const override {
    theta.resize(2);
    theta[0] = normal.normal();
    theta[1] = normal.normal();
  }
  void record_final(const Vector&, const Batch&, const EndMeasurements&, Record&) override {
    mark("finish");
    maybe_fail(FaultPlan::Moment::finish);
    pause(o_.finish);
  }

  static ModelInfo info() {
    ModelInfo m;
    m.name = "delay";
    m.summary = "test model: l = 1/2 |theta - c|^2, with set-up, step and finish delays";
    const auto seconds = [](const char* key, const char* help) {
      return ParamDef{key, ParamKind::Real, "0", help, Range::at_least(0), {}, false, false};
    };
    m.params = {
        seconds("model.build_seconds", "time spent building a point"),
        seconds("model.step_seconds", "time spent in each SGD step"),
        seconds("model.finish_seconds", "time spent in the final measurements"),
        ParamDef{"model.sleep",
                 ParamKind::Choice,
                 "pieces",
                 "pieces: cancellable 2 ms pieces; block: one uncancellable piece",
                 {},
                 {"pieces", "block"},
                 false,
                 false},
    };
    m.shape = [](const ParamSet&) { return ModelShape{}; };
    m.create = [](const ParamSet& p) -> std::unique_ptr<Model> {
      Options o;
      o.build = p.number("model.build_seconds");
      o.step = p.number("model.step_seconds");
      o.finish = p.number("model.finish_seconds");
      o.block = p.text("model.sleep") == "block";
      o.seed = p.integer("sweep.seed");
      return std::make_unique<DelayModel>(o);
    };
    return m;
  }

  /// Registers the model once per process.
  static void ensure_registered() {
    if (find_model("delay") == nullptr) register_model(info());
  }

 private:
  static Vector centre() {
    Vector c(2);
    c << 1.0, -2.0;
    return c;
  }

  void pause(double seconds) const {
    if (seconds <= 0) return;
    if (const char* scale = std::getenv("SYMSWEEP_TEST_DELAY_SCALE")) seconds *= std::atof(scale);
    if (seconds <= 0) return;
    const auto length = std::chrono::duration<double>(seconds);
    if (o_.block) {
      std::this_thread::sleep_for(length);
      return;
    }
    const auto end = std::chrono::steady_clock::now() + length;
    while (std::chrono::steady_clock::now() < end) {
      cancellation_point();
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }

  static void mark(const char* phase) {
    const char* dir = std::getenv("SYMSWEEP_TEST_MARKERS");
    if (dir != nullptr) std::ofstream(std::string(dir) + "/" + phase) << "1\n";
  }

  bool plan_applies(FaultPlan::Moment moment) const {
    return fault_plan().seed == o_.seed && fault_plan().moment == moment;
  }

  void maybe_fail(FaultPlan::Moment moment) {
    if (plan_applies(moment)) fail(moment == FaultPlan::Moment::build ? "set-up" : "finish");
  }

  void fail(const std::string& where) {
    const auto end = std::chrono::steady_clock::now() +
                     std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                         std::chrono::duration<double>(fault_plan().wait));
    while (std::chrono::steady_clock::now() < end) {
      cancellation_point();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    switch (fault_plan().action) {
      case FaultPlan::Action::error:
        throw std::runtime_error("injected failure of the point with seed " +
                                 std::to_string(o_.seed) + " in its " + where);
      case FaultPlan::Action::foreign:
        throw 7;  // not a std::exception
      case FaultPlan::Action::signal:
        request_interrupt(SIGTERM);
        return;
    }
  }

  Options o_;
  long long gradients_ = 0;
};

}  // namespace symsweep::testing
