#include "symsweep/simulate.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include <Eigen/Eigenvalues>

#include "symsweep/data.hpp"
#include "symsweep/error.hpp"
#include "symsweep/model.hpp"
#include "symsweep/optimizer.hpp"
#include "symsweep/rng.hpp"

namespace symsweep {

const char* to_string(Status s) {
  switch (s) {
    case Status::pending: return "pending";
    case Status::done: return "done";
    case Status::failed: return "failed";
  }
  return "?";
}

const char* to_string(Outcome o) {
  switch (o) {
    case Outcome::unknown: return "unknown";
    case Outcome::converged: return "converged";
    case Outcome::diverged: return "diverged";
    case Outcome::moving: return "moving";
  }
  return "?";
}

SweepLayout make_layout(const Grid& grid) {
  const SweepSpec& spec = grid.spec();
  const ModelInfo* info = find_model(spec.model());
  SYMSWEEP_VERIFY(info != nullptr, "unknown model " + spec.model());
  SweepLayout layout;
  double max_steps = 0;
  for (std::uint64_t p = 0; p < grid.size(); ++p) {
    const ParamSet params = grid.params(p);
    layout.n_conserved = std::max(layout.n_conserved, info->conserved_size(params));
    max_steps = std::max(max_steps, params.number("optimizer.steps"));
  }
  const auto every = static_cast<std::int64_t>(spec.number("record.every"));
  if (every > 0) {
    for (std::int64_t t = 0; t <= static_cast<std::int64_t>(max_steps); t += every) {
      layout.record_steps.push_back(t);
    }
  }
  return layout;
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// Largest eigenvalue of a symmetric matrix.
double lambda_max(const Matrix& h) {
  const Eigen::SelfAdjointEigenSolver<Matrix> eig(h, Eigen::EigenvaluesOnly);
  return eig.eigenvalues()[eig.eigenvalues().size() - 1];
}

/// Copies `v` into out[offset, offset + v.size()); the rest of the row stays NaN.
void put(std::vector<double>& out, std::size_t offset, const Vector& v) {
  std::copy(v.data(), v.data() + v.size(), out.begin() + static_cast<std::ptrdiff_t>(offset));
}

}  // namespace

PointResult simulate_point(const Grid& grid, const SweepLayout& layout, std::uint64_t index) {
  const auto start = std::chrono::steady_clock::now();
  const ParamSet params = grid.params(index);
  const ModelInfo* info = find_model(grid.spec().model());
  SYMSWEEP_VERIFY(info != nullptr, "unknown model");

  PointResult res;
  res.index = index;
  const auto nc = static_cast<std::size_t>(layout.n_conserved);
  const auto nrec = static_cast<std::size_t>(layout.n_records());
  res.conserved.assign(nc, kNaN);
  res.trace_loss.assign(nrec, kNaN);
  res.trace_conserved.assign(nrec * nc, kNaN);

  // 1. The point's model, data and streams: a pure function of (seed, index).
  const auto seed = static_cast<std::uint64_t>(params.integer("sweep.seed"));
  std::unique_ptr<Model> model = info->create(params);
  const DataSpec data_spec = DataSpec::from(params, model->input_dim(), model->output_dim());
  const Teacher teacher(data_spec);
  const OptimizerSpec opt = OptimizerSpec::from(params);
  Stream data_stream(seed, index, Purpose::data);
  Stream init_stream(seed, index, Purpose::init);
  Stream batch_stream(seed, index, Purpose::batches);

  // The full objective: the dataset, or the population's moment-matched reference set.
  SYMSWEEP_VERIFY(!data_spec.online || model->quadratic_in_data(),
                  "online mode needs a model whose loss is quadratic in the data");
  const SampleSet full =
      data_spec.online ? teacher.reference_set() : teacher.sample(data_stream, data_spec.n);
  BatchSource batches = data_spec.online ? BatchSource(teacher, opt.batch, batch_stream)
                                         : BatchSource(full, opt.batch, batch_stream);
  model->reserve(std::max(opt.batch, full.size()));

  Vector theta;
  model->initialize(init_stream, theta);
  Vector full_grad(model->dim());
  Vector spectrum(model->conserved_size());
  Sgd sgd(*model, batches, opt);

  // Full-batch gradient norm of the objective with weight decay.
  const auto objective_grad_norm = [&]() {
    model->loss_grad(theta, full.batch(), full_grad);
    if (opt.weight_decay != 0.0) full_grad += opt.weight_decay * theta;
    return full_grad.norm();
  };

  // 2. The run.
  std::size_t next_record = 0;
  std::int64_t t = 0;
  bool converged = false;
  for (;; ++t) {
    if (next_record < nrec && layout.record_steps[next_record] == t) {
      res.trace_loss[next_record] = model->loss(theta, full.batch());
      model->conserved(theta, spectrum);
      put(res.trace_conserved, next_record * nc, spectrum);
      ++next_record;
    }
    if (t == opt.steps) break;
    if (opt.tol > 0 && t > 0 && t % opt.check_every == 0 && objective_grad_norm() <= opt.tol) {
      converged = true;
      break;
    }
    const double batch_loss = sgd.step(theta);
    if (!std::isfinite(batch_loss)) {
      res.diverged_at = t;
      break;
    }
    const double norm = theta.norm();
    if (!(norm <= opt.divergence_bound)) {  // also catches NaN
      res.diverged_at = t + 1;
      break;
    }
  }
  res.steps_run = res.diverged_at >= 0 ? res.diverged_at : t;

  // 3. The final state.
  if (res.diverged_at >= 0) {
    res.outcome = Outcome::diverged;
    res.final_loss = res.grad_norm = res.sharpness = kNaN;
  } else {
    res.final_loss = model->loss(theta, full.batch());
    res.grad_norm = objective_grad_norm();
    converged = converged || (opt.tol > 0 && res.grad_norm <= opt.tol);
    res.outcome = converged ? Outcome::converged : Outcome::moving;
    Matrix hess;
    model->hessian(theta, full.batch(), hess);
    res.sharpness = lambda_max(hess);
    model->conserved(theta, spectrum);
    put(res.conserved, 0, spectrum);
  }
  res.status = Status::done;
  res.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return res;
}

}  // namespace symsweep
