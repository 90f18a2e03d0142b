#include "symsweep/simulate.hpp"

#include <algorithm>
#include <cfenv>
#include <chrono>
#include <cmath>
#include <limits>
#include <mutex>

#include <Eigen/Eigenvalues>

#include "symsweep/data.hpp"
#include "symsweep/error.hpp"
#include "symsweep/model.hpp"
#include "symsweep/optimizer.hpp"
#include "symsweep/rng.hpp"

namespace symsweep {

const char* to_string(Status s) {
  switch (s) {
    case Status::pending:
      return "pending";
    case Status::done:
      return "done";
    case Status::failed:
      return "failed";
  }
  return "?";
}

const char* to_string(Outcome o) {
  switch (o) {
    case Outcome::unknown:
      return "unknown";
    case Outcome::converged:
      return "converged";
    case Outcome::diverged:
      return "diverged";
    case Outcome::moving:
      return "moving";
  }
  return "?";
}

namespace {

/// Largest eigenvalue of a symmetric matrix.
double lambda_max(const Matrix& h) {
  const Eigen::SelfAdjointEigenSolver<Matrix> eig(h, Eigen::EigenvaluesOnly);
  return eig.eigenvalues()[eig.eigenvalues().size() - 1];
}

const ModelInfo& model_info(const SweepSpec& spec) {
  const ModelInfo* info = find_model(spec.model());
  SYMSWEEP_VERIFY(info != nullptr, "unknown model " + spec.model());
  return *info;
}

/// Sizes the model's scratch for batches of up to n samples.
Model& reserved(Model& model, Index n) {
  model.reserve(n);
  return model;
}

}  // namespace

SweepFields::SweepFields(const Grid& grid) {
  const SweepSpec& spec = grid.spec();
  const ModelInfo& info = model_info(spec);
  Core& c = core_;

  // Trailing dimensions: the record schedule up to the longest run of the grid, and the longest
  // conserved spectrum (it depends on model parameters only: visit the sub-grid of model axes).
  double max_steps = spec.number("optimizer.steps");
  for (const AxisSpec& axis : spec.axes()) {
    if (axis.key == "optimizer.steps") {
      const auto steps = axis.numbers();
      max_steps = *std::max_element(steps.begin(), steps.end());
    }
  }
  const auto every = static_cast<std::int64_t>(spec.number("record.every"));
  if (every > 0) {
    for (std::int64_t t = 0; t <= static_cast<std::int64_t>(max_steps); t += every) {
      record_steps_.push_back(t);
    }
  }
  schema_.add_dim(
      {"step", "SGD step of every trace record (before that step's update)", record_steps_});
  Index n_conserved = 0;
  grid.for_each_combination([](const std::string& key) { return key.rfind("model.", 0) == 0; },
                            [&](const ParamSet& params) {
                              n_conserved = std::max(n_conserved, info.conserved_size(params));
                            });
  std::vector<std::int64_t> k(static_cast<std::size_t>(n_conserved));
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::int64_t>(i);
  schema_.add_dim({"k", "index into a conserved spectrum (descending order)", std::move(k)});

  // The core run's fields, in the order the file lists them.
  std::vector<std::string> statuses, outcomes;
  for (Status st : {Status::pending, Status::done, Status::failed})
    statuses.push_back(to_string(st));
  for (Outcome o : {Outcome::unknown, Outcome::converged, Outcome::diverged, Outcome::moving}) {
    outcomes.push_back(to_string(o));
  }
  const Group R = Group::results;
  c.status = schema_.add(enum_field(
      R, "status", "status",
      "pending: not yet run; done: results written; failed: the point raised an error", statuses));
  schema_.set_status_field(c.status);
  c.outcome = schema_.add(enum_field(
      R, "outcome", "outcome",
      "converged: full-batch gradient norm <= optimizer.tol; diverged: |theta| > "
      "optimizer.divergence_bound or non-finite loss; moving: neither within optimizer.steps",
      outcomes));
  c.steps_run = schema_.add(
      integer_field(R, "steps_run", "SGD updates applied", "SGD updates applied", "steps"));
  c.diverged_at =
      schema_.add(integer_field(R, "diverged_at", "divergence step",
                                "the update after which divergence was seen; -1 if none", "steps"));
  c.final_loss = schema_.add(
      real_field(R, "final_loss", "final loss",
                 "full-batch loss at the end (population loss in online mode); NaN if diverged"));
  c.grad_norm = schema_.add(
      real_field(R, "grad_norm", "final gradient norm",
                 "full-batch gradient norm of the objective with weight decay, at the end"));
  c.sharpness = schema_.add(real_field(
      R, "sharpness", "sharpness (lambda_max)",
      "largest eigenvalue of the full-batch Hessian of L at the end (weight decay excluded)"));
  c.conserved = schema_.add(real_field(
      R, "C_final", "conserved spectrum at the end",
      "conserved quantity of gradient flow at the end, as a spectrum in descending order "
      "(linear2: eigenvalues of D = U^T U - W W^T); NaN-padded",
      "", {"k"}));
  c.trace_loss = schema_.add(
      real_field(Group::traces, "loss", "full-batch loss",
                 "full-batch loss at /traces/step; NaN after the run stopped", "", {"step"}));
  c.trace_conserved = schema_.add(
      real_field(Group::traces, "C", "conserved spectrum",
                 "conserved spectrum (as C_final) at /traces/step; NaN after the run stopped", "",
                 {"step", "k"}));
  c.seconds = schema_.add(real_field(Group::run, "seconds", "wall time of the point",
                                     "wall time of the point (not deterministic)", "s"));
  c.rank = schema_.add(int32_field(Group::run, "rank", "MPI rank",
                                   "MPI rank that ran the point (not deterministic)"));

  if (info.declare_fields) info.declare_fields(grid, schema_);
}

PointResult failed_point(const SweepFields& fields, std::uint64_t index, std::string error) {
  PointResult r;
  r.index = index;
  r.values = Record(fields.schema());
  r.values.set_code(fields.core().status, static_cast<std::uint8_t>(Status::failed));
  r.error = std::move(error);
  return r;
}

struct PointRun::State {
  State(const Grid& grid, const SweepFields& fields_in, std::uint64_t index)
      : fields(fields_in),
        core(fields_in.core()),
        params(grid.params(index)),
        info(&model_info(grid.spec())),
        seed(static_cast<std::uint64_t>(params.integer("sweep.seed"))),
        key(stream_key(params)),
        model(info->create(params)),
        data_spec(DataSpec::from(params, model->input_dim(), model->output_dim())),
        teacher(data_spec),
        opt(OptimizerSpec::from(params)),
        full(make_full()),
        batches(data_spec.online
                    ? BatchSource(teacher, opt.batch, Stream(seed, key, Purpose::batches))
                    : BatchSource(full, opt.batch, Stream(seed, key, Purpose::batches))),
        sgd(reserved(*model, std::max(opt.batch, full.size())), batches, opt),
        full_grad(model->dim()),
        spectrum(model->conserved_size()) {
    res.index = index;
    res.values = Record(fields.schema());
    model->bind_fields(fields.schema());
    Stream init_stream(seed, key, Purpose::init);
    model->initialize(init_stream, theta);
  }

  /// The full objective: the dataset (drawn from the point's data stream), or the population's
  /// moment-matched reference set in online mode.
  SampleSet make_full() const {
    SYMSWEEP_VERIFY(!data_spec.online || model->quadratic_in_data(),
                    "online mode needs a model whose loss is quadratic in the data");
    if (data_spec.online) return teacher.reference_set();
    Stream data_stream(seed, key, Purpose::data);
    return teacher.sample(data_stream, data_spec.n);
  }

  /// Full-batch gradient norm of the objective with weight decay.
  double objective_grad_norm() {
    model->loss_grad(theta, full.batch(), full_grad);
    if (opt.weight_decay != 0.0) full_grad += opt.weight_decay * theta;
    return full_grad.norm();
  }

  const SweepFields& fields;
  const SweepFields::Core& core;
  const ParamSet params;
  const ModelInfo* info;
  const std::uint64_t seed;
  const std::uint64_t key;  // the point's stream key (rng.hpp)
  std::unique_ptr<Model> model;
  const DataSpec data_spec;
  const Teacher teacher;
  const OptimizerSpec opt;
  const SampleSet full;
  BatchSource batches;
  Sgd sgd;
  Vector theta, full_grad, spectrum;
  PointResult res;
  std::size_t next_record = 0;
  std::int64_t t = 0;             // updates applied so far
  std::int64_t diverged_at = -1;  // see the diverged_at field
  bool ended = false, converged = false;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
};

namespace {
/// Eigen splits the inner dimension of large matrix products into blocks sized from the CPU's
/// cache sizes, read at run time; the block size decides the order of the sums. Fixed sizes keep
/// a point's numbers the same on every node of a heterogeneous cluster.
void fix_eigen_blocking() {
  static std::once_flag once;
  std::call_once(once, [] { Eigen::setCpuCacheSizes(32 * 1024, 512 * 1024, 8 * 1024 * 1024); });
}
}  // namespace

PointRun::PointRun(const Grid& grid, const SweepFields& fields, std::uint64_t index)
    : s_((fix_eigen_blocking(), std::make_unique<State>(grid, fields, index))) {}
PointRun::~PointRun() = default;

bool PointRun::advance(std::int64_t max_updates) {
  State& s = *s_;
  const std::vector<std::int64_t>& steps = s.fields.record_steps();
  const std::size_t nc = s.fields.schema().find_dim("k")->coords.size();
  Record& out = s.res.values;
  for (std::int64_t done = 0; !s.ended && done < max_updates; ++done) {
    // theta is theta_t here: record, stop, or take update t + 1.
    if (s.next_record < steps.size() && steps[s.next_record] == s.t) {
      const std::size_t slot = s.next_record++;
      out.set(s.core.trace_loss, s.model->loss(s.theta, s.full.batch()), slot);
      s.model->conserved(s.theta, s.spectrum);
      out.set_reals(s.core.trace_conserved, s.spectrum.data(),
                    static_cast<std::size_t>(s.spectrum.size()), slot * nc);
      s.model->record_traces(s.theta, out, slot);
    }
    if (s.t == s.opt.steps) {
      s.ended = true;
      break;
    }
    if (s.opt.tol > 0 && s.t > 0 && s.t % s.opt.check_every == 0 &&
        s.objective_grad_norm() <= s.opt.tol) {
      s.ended = s.converged = true;
      break;
    }
    const double batch_loss = s.sgd.step(s.theta);
    if (!std::isfinite(batch_loss)) {  // the loss at theta_t is not finite: no update applied
      s.diverged_at = s.t;
      s.ended = true;
      break;
    }
    ++s.t;
    if (!(s.theta.norm() <= s.opt.divergence_bound)) {  // also catches NaN
      s.diverged_at = s.t;
      s.ended = true;
    }
  }
  return s.ended;
}

PointResult PointRun::finish() {
  State& s = *s_;
  SYMSWEEP_VERIFY(s.ended, "finish() before the run ended");
  SYMSWEEP_VERIFY(!s.res.values.empty(), "finish() called twice");
  const SweepFields::Core& c = s.core;
  Record& out = s.res.values;
  const bool diverged = s.diverged_at >= 0;
  out.set_integer(c.steps_run, diverged ? s.diverged_at : s.t);
  out.set_integer(c.diverged_at, s.diverged_at);
  if (diverged) {
    out.set_code(c.outcome, static_cast<std::uint8_t>(Outcome::diverged));
  } else {  // diverged points keep NaN in every measurement of the final state
    out.set(c.final_loss, s.model->loss(s.theta, s.full.batch()));
    const double grad_norm = s.objective_grad_norm();
    out.set(c.grad_norm, grad_norm);
    const bool converged = s.converged || (s.opt.tol > 0 && grad_norm <= s.opt.tol);
    out.set_code(c.outcome,
                 static_cast<std::uint8_t>(converged ? Outcome::converged : Outcome::moving));
    Matrix hess;
    s.model->hessian(s.theta, s.full.batch(), hess);
    out.set(c.sharpness, lambda_max(hess));
    s.model->conserved(s.theta, s.spectrum);
    out.set_reals(c.conserved, s.spectrum.data(), static_cast<std::size_t>(s.spectrum.size()));
    s.model->record_final(s.theta, s.full.batch(), out);
  }
  out.set_code(c.status, static_cast<std::uint8_t>(Status::done));
  out.set(c.seconds,
          std::chrono::duration<double>(std::chrono::steady_clock::now() - s.start).count());
  return std::move(s.res);
}

namespace {
/// Saves the floating-point environment (rounding mode, exception flags) and restores it when it
/// goes out of scope, so that nothing a point (or a model) does to it reaches the next point.
class FloatingPointGuard {
 public:
  FloatingPointGuard() { std::fegetenv(&saved_); }
  ~FloatingPointGuard() { std::fesetenv(&saved_); }
  FloatingPointGuard(const FloatingPointGuard&) = delete;
  FloatingPointGuard& operator=(const FloatingPointGuard&) = delete;

 private:
  std::fenv_t saved_;
};
}  // namespace

PointResult simulate_point(const Grid& grid, const SweepFields& fields, std::uint64_t index) {
  const FloatingPointGuard guard;
  PointRun run(grid, fields, index);
  run.advance(std::numeric_limits<std::int64_t>::max());
  return run.finish();
}

}  // namespace symsweep
