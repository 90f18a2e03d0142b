#include "symsweep/simulate.hpp"

#include <algorithm>
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

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

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

/// Copies `v` into out[offset, offset + v.size()); the rest of the row stays NaN.
void put(std::vector<double>& out, std::size_t offset, const Vector& v) {
  std::copy(v.data(), v.data() + v.size(), out.begin() + static_cast<std::ptrdiff_t>(offset));
}

}  // namespace

SweepLayout make_layout(const Grid& grid) {
  const SweepSpec& spec = grid.spec();
  const ModelInfo& info = model_info(spec);
  SweepLayout layout;
  // The conserved size depends on model parameters only: visit the sub-grid of model axes.
  grid.for_each_combination([](const std::string& key) { return key.rfind("model.", 0) == 0; },
                            [&](const ParamSet& params) {
                              layout.n_conserved =
                                  std::max(layout.n_conserved, info.conserved_size(params));
                            });
  double max_steps = spec.number("optimizer.steps");
  for (const AxisSpec& axis : spec.axes()) {
    if (axis.key == "optimizer.steps") {
      max_steps = *std::max_element(axis.values.begin(), axis.values.end());
    }
  }
  const auto every = static_cast<std::int64_t>(spec.number("record.every"));
  if (every > 0) {
    for (std::int64_t t = 0; t <= static_cast<std::int64_t>(max_steps); t += every) {
      layout.record_steps.push_back(t);
    }
  }
  return layout;
}

struct PointRun::State {
  State(const Grid& grid, const SweepLayout& layout_in, std::uint64_t index)
      : layout(layout_in),
        params(grid.params(index)),
        info(&model_info(grid.spec())),
        seed(static_cast<std::uint64_t>(params.integer("sweep.seed"))),
        model(info->create(params)),
        data_spec(DataSpec::from(params, model->input_dim(), model->output_dim())),
        teacher(data_spec),
        opt(OptimizerSpec::from(params)),
        full(make_full(index)),
        batches(data_spec.online
                    ? BatchSource(teacher, opt.batch, Stream(seed, index, Purpose::batches))
                    : BatchSource(full, opt.batch, Stream(seed, index, Purpose::batches))),
        sgd(reserved(*model, std::max(opt.batch, full.size())), batches, opt),
        full_grad(model->dim()),
        spectrum(model->conserved_size()) {
    res.index = index;
    const auto nc = static_cast<std::size_t>(layout.n_conserved);
    const auto nrec = static_cast<std::size_t>(layout.n_records());
    res.conserved.assign(nc, kNaN);
    res.trace_loss.assign(nrec, kNaN);
    res.trace_conserved.assign(nrec * nc, kNaN);
    Stream init_stream(seed, index, Purpose::init);
    model->initialize(init_stream, theta);
  }

  /// The full objective: the dataset (drawn from the point's data stream), or the population's
  /// moment-matched reference set in online mode.
  SampleSet make_full(std::uint64_t index) const {
    SYMSWEEP_VERIFY(!data_spec.online || model->quadratic_in_data(),
                    "online mode needs a model whose loss is quadratic in the data");
    if (data_spec.online) return teacher.reference_set();
    Stream data_stream(seed, index, Purpose::data);
    return teacher.sample(data_stream, data_spec.n);
  }

  /// Full-batch gradient norm of the objective with weight decay.
  double objective_grad_norm() {
    model->loss_grad(theta, full.batch(), full_grad);
    if (opt.weight_decay != 0.0) full_grad += opt.weight_decay * theta;
    return full_grad.norm();
  }

  const SweepLayout& layout;
  const ParamSet params;
  const ModelInfo* info;
  const std::uint64_t seed;
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
  std::int64_t t = 0;  // updates applied so far
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

PointRun::PointRun(const Grid& grid, const SweepLayout& layout, std::uint64_t index)
    : s_((fix_eigen_blocking(), std::make_unique<State>(grid, layout, index))) {}
PointRun::~PointRun() = default;

bool PointRun::advance(std::int64_t max_updates) {
  State& s = *s_;
  const auto nc = static_cast<std::size_t>(s.layout.n_conserved);
  const auto nrec = static_cast<std::size_t>(s.layout.n_records());
  for (std::int64_t done = 0; !s.ended && done < max_updates; ++done) {
    // theta is theta_t here: record, stop, or take update t + 1.
    if (s.next_record < nrec && s.layout.record_steps[s.next_record] == s.t) {
      s.res.trace_loss[s.next_record] = s.model->loss(s.theta, s.full.batch());
      s.model->conserved(s.theta, s.spectrum);
      put(s.res.trace_conserved, s.next_record * nc, s.spectrum);
      ++s.next_record;
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
      s.res.diverged_at = s.t;
      s.ended = true;
      break;
    }
    ++s.t;
    if (!(s.theta.norm() <= s.opt.divergence_bound)) {  // also catches NaN
      s.res.diverged_at = s.t;
      s.ended = true;
    }
  }
  return s.ended;
}

PointResult PointRun::finish() {
  State& s = *s_;
  SYMSWEEP_VERIFY(s.ended, "finish() before the run ended");
  PointResult& res = s.res;
  res.steps_run = res.diverged_at >= 0 ? res.diverged_at : s.t;
  if (res.diverged_at >= 0) {
    res.outcome = Outcome::diverged;
    res.final_loss = res.grad_norm = res.sharpness = kNaN;
  } else {
    res.final_loss = s.model->loss(s.theta, s.full.batch());
    res.grad_norm = s.objective_grad_norm();
    const bool converged = s.converged || (s.opt.tol > 0 && res.grad_norm <= s.opt.tol);
    res.outcome = converged ? Outcome::converged : Outcome::moving;
    Matrix hess;
    s.model->hessian(s.theta, s.full.batch(), hess);
    res.sharpness = lambda_max(hess);
    s.model->conserved(s.theta, s.spectrum);
    put(res.conserved, 0, s.spectrum);
  }
  res.status = Status::done;
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - s.start).count();
  return std::move(res);
}

PointResult simulate_point(const Grid& grid, const SweepLayout& layout, std::uint64_t index) {
  PointRun run(grid, layout, index);
  run.advance(std::numeric_limits<std::int64_t>::max());
  return run.finish();
}

}  // namespace symsweep
