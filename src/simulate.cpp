#include "symsweep/simulate.hpp"

#include <algorithm>
#include <cfenv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

#include "clock.hpp"
#include "symsweep/cancel.hpp"
#include "symsweep/data.hpp"
#include "symsweep/eigen_solvers.hpp"
#include "symsweep/error.hpp"
#include "symsweep/model.hpp"
#include "symsweep/optimizer.hpp"
#include "symsweep/rng.hpp"
#include "symsweep/sgd_stability.hpp"
#include "symsweep/stability.hpp"

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
    case Outcome::periodic:
      return "periodic";
    case Outcome::aperiodic:
      return "aperiodic";
  }
  return "?";
}

namespace {

constexpr Index kCoords = 8;            // coordinates of theta stored per vector field
constexpr std::size_t kMaxPeriod = 16;  // the longest period looked for
static_assert(EndWatch::kOrbit == static_cast<Index>(kMaxPeriod), "the orbit ring holds a period");
constexpr Index kDenseCurvature = 64;  // trace records: lambda_max from the dense Hessian up to d
// The per-generator Noether flows are stored whole for a model with at most this many generators,
// and not at all (NaN) for one with more (the per-block summaries always are).
constexpr Index kMaxGenerators = 64;
constexpr Index kGradientChunk = 1 << 18;  // per-sample gradient rows x d held at once

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

/// The stream keys of one grid's points. A point's key depends on the values of the keys that
/// enter the random streams (ParamDef::enters_streams) alone, and a point's values differ from
/// the base values only along the axes: every point with the same coordinates along the axes
/// whose keys enter the streams has the same key. Those combinations are numbered row-major;
/// a key is computed (stream_key: a SHA-256 of the canonical values, about 15 us) the first time
/// a point of its combination asks, and remembered.
class SweepFields::StreamKeys {
 public:
  static constexpr std::uint64_t kMaxRemembered = std::uint64_t{1} << 16;

  explicit StreamKeys(const Grid& grid) : shape_(grid.shape()) {
    const SweepSpec& spec = grid.spec();
    for (std::size_t d = 0; d < shape_.size(); ++d) {
      const ParamDef& def = spec.schema()[static_cast<std::size_t>(spec.find(grid.axes()[d].key))];
      if (!def.enters_streams) continue;
      entering_.push_back(d);
      combinations_ = shape_[d] > kMaxRemembered / combinations_ ? kMaxRemembered + 1
                                                                 : combinations_ * shape_[d];
    }
    if (combinations_ <= kMaxRemembered) {
      keys_.resize(combinations_);
      known_.assign(combinations_, 0);
    }
  }

  std::uint64_t key(std::uint64_t index, const ParamSet& params) {
    if (keys_.empty()) return symsweep::stream_key(params);
    // The combination of point `index`: its coordinates along the entering axes, row-major.
    std::vector<std::uint64_t> coords(shape_.size());
    for (std::size_t d = shape_.size(); d-- > 0;) {
      coords[d] = index % shape_[d];
      index /= shape_[d];
    }
    std::uint64_t c = 0;
    for (std::size_t d : entering_) c = c * shape_[d] + coords[d];
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (known_[c]) return keys_[c];
    }
    const std::uint64_t k = symsweep::stream_key(params);  // outside the lock: workers overlap
    const std::lock_guard<std::mutex> lock(mutex_);
    keys_[c] = k;
    known_[c] = 1;
    return k;
  }

 private:
  std::vector<std::uint64_t> shape_;
  std::vector<std::size_t> entering_;  // axes whose keys enter the streams
  std::uint64_t combinations_ = 1;     // kMaxRemembered + 1: more than are remembered
  std::mutex mutex_;                   // guards keys_ and known_
  std::vector<std::uint64_t> keys_;    // by combination; empty: none remembered
  std::vector<std::uint8_t> known_;
};

SweepFields::~SweepFields() = default;

std::uint64_t SweepFields::stream_key(std::uint64_t index, const ParamSet& params) const {
  return keys_->key(index, params);
}

SweepFields::SweepFields(const Grid& grid) : keys_(std::make_unique<StreamKeys>(grid)) {
  const SweepSpec& spec = grid.spec();
  const ModelInfo& info = model_info(spec);
  Core& c = core_;
  diagnostics_ = parse_diagnostics(spec.text("record.diagnostics"));
  const Diagnostics& want = diagnostics_;
  using D = Diagnostics;

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
                              n_conserved = std::max(n_conserved, info.shape(params).conserved);
                            });
  std::vector<std::int64_t> k(static_cast<std::size_t>(n_conserved));
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::int64_t>(i);
  schema_.add_dim({"k", "index into a conserved spectrum (descending order)", std::move(k)});

  // The core run's fields, in the order the file lists them.
  std::vector<std::string> statuses, outcomes;
  for (Status st : {Status::pending, Status::done, Status::failed})
    statuses.push_back(to_string(st));
  for (Outcome o : {Outcome::unknown, Outcome::converged, Outcome::diverged, Outcome::moving,
                    Outcome::periodic, Outcome::aperiodic}) {
    outcomes.push_back(to_string(o));
  }
  const Group R = Group::results;
  c.status = schema_.add(enum_field(
      R, "status", "status",
      "pending: not yet run; done: results written; failed: the point raised an error", statuses));
  schema_.set_status_field(c.status);
  c.outcome = schema_.add(enum_field(
      R, "outcome", "outcome",
      "converged: full-batch gradient norm <= optimizer.tol (or GD's iterates stopped moving); "
      "diverged: |theta| > optimizer.divergence_bound or non-finite loss; moving: a run that "
      "did neither within optimizer.steps (stochastic, or a deterministic one converging "
      "slowly); periodic: a deterministic (full-batch) run whose last iterates repeat with a "
      "period of 2 to 16 (see period); aperiodic: a deterministic run, bounded, with no such "
      "period, a Lyapunov exponent above 10 / (measured steps) and steps that do not decay",
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
  if (want.end(D::sharpness)) {
    c.sharpness = schema_.add(real_field(
        R, "sharpness", "sharpness (lambda_max)",
        "largest eigenvalue of the full-batch Hessian of L at the end (weight decay excluded); "
        "NaN where Lanczos (d > 64) did not converge"));
  }
  if (want.end(D::C)) {
    c.conserved = schema_.add(real_field(
        R, "C_final", "conserved spectrum at the end",
        "conserved quantity of gradient flow at the end, as a spectrum in descending order "
        "(linear2: eigenvalues of D = U^T U - W W^T); NaN-padded",
        "", {"k"}));
  }
  if (want.traced(D::loss)) {
    c.trace_loss = schema_.add(
        real_field(Group::traces, "loss", "full-batch loss",
                   "full-batch loss at /traces/step; NaN after the run stopped", "", {"step"}));
  }
  if (want.traced(D::C)) {
    c.trace_conserved = schema_.add(
        real_field(Group::traces, "C", "conserved spectrum",
                   "conserved spectrum (as C_final) at /traces/step; NaN after the run stopped", "",
                   {"step", "k"}));
  }
  c.seconds = schema_.add(real_field(Group::run, "seconds", "wall time of the point",
                                     "wall time of the point (not deterministic)", "s"));
  c.rank = schema_.add(int32_field(Group::run, "rank", "MPI rank",
                                   "MPI rank that ran the point (not deterministic)"));

  // The stability checks (stability.hpp): vectors along "coord", the first kCoords coordinates
  // (models with fewer leave the rest NaN).
  std::vector<std::int64_t> coords(static_cast<std::size_t>(kCoords));
  for (std::size_t i = 0; i < coords.size(); ++i) coords[i] = static_cast<std::int64_t>(i);
  schema_.add_dim({"coord", "a coordinate of theta (d > 8: 0 is the projection on v)", coords});
  // The orbit of a deterministic run (full-batch GD: optimizer.method = gd, or a finite set
  // with batch = n) takes most of a point's bytes: declared only for grids that have such runs.
  bool any_deterministic = false;
  grid.for_each_combination(
      [](const std::string& key) {
        return key == "optimizer.method" || key == "optimizer.batch" || key == "data.n" ||
               key == "data.mode";
      },
      [&](const ParamSet& p) {
        any_deterministic = any_deterministic || p.text("optimizer.method") == "gd" ||
                            (p.text("data.mode") == "finite" &&
                             p.integer("optimizer.batch") >= p.integer("data.n"));
      });
  std::vector<std::int64_t> orbit_points(any_deterministic ? kMaxPeriod : 0);
  for (std::size_t i = 0; i < orbit_points.size(); ++i) {
    orbit_points[i] = static_cast<std::int64_t>(i);
  }
  schema_.add_dim(
      {"orbit_point", "a point of a periodic orbit, in the order GD visits them", orbit_points});
  std::vector<std::string> notes;
  for (StabilityNote n :
       {StabilityNote::not_checked, StabilityNote::ok, StabilityNote::no_reference,
        StabilityNote::not_positive_definite, StabilityNote::no_derivatives,
        StabilityNote::too_large, StabilityNote::degenerate_top, StabilityNote::not_smooth}) {
    notes.push_back(to_string(n));
  }
  c.x_star = schema_.add(real_field(
      R, "x_star", "reference minimum x*",
      "the minimum the stability checks are made at: stability.x_star, Newton's method from the "
      "start, or a converged run's final point",
      "", {"coord"}));
  c.lambda_max = schema_.add(real_field(
      R, "lambda_max", "lambda_max at x*",
      "largest eigenvalue of the objective's Hessian at x* (weight decay included): a property "
      "of the loss at x*, for any optimizer"));
  c.eta_gd = schema_.add(real_field(R, "eta_gd", "linear GD threshold 2 / lambda_max",
                                    "GD is linearly stable at x* for eta < eta_gd: a property of "
                                    "the loss at x*, for any optimizer"));
  std::vector<std::string> sgd_notes;
  for (SgdNote n : all_sgd_notes()) sgd_notes.push_back(to_string(n));
  c.eta_ms = schema_.add(real_field(
      R, "eta_ms", "linear mean-square SGD threshold",
      "the largest eta at which the second moment of SGD linearised at x* does not grow: "
      "rho(I - eta (H (x) I + I (x) H) + eta^2 E[H_B (x) H_B]) <= 1, H_i the per-sample Hessians "
      "plus weight decay, iid batches of optimizer.batch distinct samples; <= eta_gd, equal to it "
      "for full-batch GD; NaN where sgd_note is not ok, worst_batch_sampled or full_batch"));
  c.eta_worst_batch = schema_.add(real_field(
      R, "eta_worst_batch", "worst-batch threshold",
      "min over batches B of optimizer.batch distinct samples of 2 / lambda_max(H_B + gamma) at "
      "x* (below it SGD is stable in expectation near an interpolating minimum); over every "
      "batch when there are at most stability.batch_limit, else over that many drawn ones (an "
      "upper bound of the true value, sgd_note = worst_batch_sampled); NaN where sgd_note is not "
      "ok, worst_batch_sampled or full_batch"));
  c.sgd_note = schema_.add(enum_field(
      R, "sgd_note", "SGD checks",
      "why eta_ms and eta_worst_batch are, or are not, numbers: off (stability.sgd_checks = "
      "false), no_reference (no x*), not_positive_definite (H at x* singular: no threshold), "
      "full_batch, online and reshuffle (no finite set of iid batches), too_large (d > 64), "
      "not_smooth (a kink within reach of x*: stability_note)",
      sgd_notes));
  c.K = schema_.add(real_field(
      R, "K", "nonlinear coefficient K",
      "K = 3 g^T H^-1 g - Q[v,v,v,v], g = T[v,v]: a stable 2-cycle appears past eta_gd iff K > 0; "
      "a property of the loss at x*, for any optimizer; NaN where lambda_max is repeated "
      "(stability_note = degenerate_top)"));
  const std::string assumes =
      " Assumes full-batch GD at the step size of the last update; NaN for stochastic runs and "
      "where lambda_max is repeated (stability_note = degenerate_top).";
  c.amplitude_predicted = schema_.add(real_field(
      R, "amplitude_predicted", "predicted 2-cycle amplitude",
      "A = sqrt((eta lambda_max - 2) / c), c = (eta/6) K: the half-width along v of the stable "
      "2-cycle past eta_gd, to leading order; NaN where there is none (eta <= eta_gd, or K <= 0)." +
          assumes));
  c.basin_radius_predicted = schema_.add(real_field(
      R, "basin_radius_predicted", "predicted basin radius along v",
      "A = sqrt((eta lambda_max - 2) / c), c = (eta/6) K, below eta_gd with K < 0: the half-width "
      "of the unstable 2-cycle along v that bounds the basin of x*, to leading order; NaN "
      "elsewhere (eta >= eta_gd, or K >= 0)." +
          assumes));
  c.centre_shift = schema_.add(real_field(
      R, "centre_shift_predicted", "predicted shift of the 2-cycle's centre",
      "delta = -1/2 H^-1 g A^2: the stable 2-cycle's centre minus x*, to leading order; NaN "
      "where amplitude_predicted is." +
          assumes,
      "", {"coord"}));
  c.note = schema_.add(enum_field(R, "stability_note", "stability checks",
                                  "why the checks at x* are, or are not, numbers", notes));
  c.period = schema_.add(integer_field(
      R, "period", "period", "the period of a periodic run (2 to 16); -1 otherwise", "steps"));
  c.amplitude = schema_.add(
      real_field(R, "amplitude", "measured amplitude along v",
                 "half the spread of (theta - x*) . v over a periodic run's orbit (d <= 4096)"));
  c.orbit = schema_.add(real_field(
      R, "orbit", "orbit points",
      "the points of a periodic run's orbit (NaN past its period), or the last 16 iterates of an "
      "aperiodic run (coordinates as x_star; d <= 4096, NaN above)",
      "", {"orbit_point", "coord"}));
  c.lyapunov = schema_.add(real_field(
      R, "lyapunov", "Lyapunov exponent",
      "mean log growth per step of a tangent vector (Hessian-vector products, any d) over the "
      "last min(steps, 1280) updates less their first fifth, of a deterministic run that "
      "neither converged nor diverged; NaN once its iterates stopped moving"));

  // Symmetry and noise diagnostics (README, The science §2, 4): per layer and per generator, sized
  // for the largest model of the grid (model keys only, as the conserved spectrum).
  Index n_layers = 0, n_generators = 0, n_blocks = 0, n_block_size = 0;
  grid.for_each_combination([](const std::string& key) { return key.rfind("model.", 0) == 0; },
                            [&](const ParamSet& params) {
                              const ModelShape shape = info.shape(params);
                              n_layers = std::max(n_layers, shape.layer_count());
                              // Whole lists only: models above kMaxGenerators store none.
                              if (shape.generator_count() <= kMaxGenerators) {
                                n_generators = std::max(n_generators, shape.generator_count());
                              }
                              n_blocks = std::max(n_blocks,
                                                  static_cast<Index>(shape.symmetry_blocks.size()));
                              n_block_size = std::max(n_block_size, shape.largest_block());
                            });
  // A point's list does not depend on the other points: sized for the largest model that has
  // one, declared where any has.
  const bool per_generator = n_generators > 0;
  // Dimensions no measured field uses stay empty (as for a model without layers or generators).
  if (!want.end(D::grad_noise) && !want.traced(D::grad_noise)) n_layers = 0;
  if (!want.end(D::noether_flow) && !want.traced(D::noether_flow)) {
    n_generators = n_blocks = n_block_size = 0;
  }
  const auto range = [](Index n) {
    std::vector<std::int64_t> v(static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::int64_t>(i);
    return v;
  };
  schema_.add_dim(
      {"layer", "a parameter block of the model (its order in theta)", range(n_layers)});
  schema_.add_dim({"generator",
                   "a symmetry generator A_k of the model (every one, for models with at most 64; "
                   "see symmetry for the per-block flows of every model)",
                   range(n_generators)});
  schema_.add_dim({"symmetry",
                   "a block of the model's symmetry generators: the generators A_M of one "
                   "symmetric m x m matrix M (a hidden layer of a linear net: m = its width; a "
                   "rescaled coordinate pair or the whole theta: m = 1)",
                   range(n_blocks)});
  schema_.add_dim({"flow_eig", "index into a block's flow-matrix spectrum (descending order)",
                   range(n_block_size)});
  const std::string noise_where =
      " over the dataset (finite mode) or over record.noise_batch fresh samples of their own "
      "stream (online mode)";
  const Group T = Group::traces;
  if (want.end(D::theta_norm)) {
    c.theta_norm = schema_.add(real_field(R, "theta_norm", "|theta| at the end",
                                          "Euclidean norm of theta at the end; NaN if diverged"));
  }
  if (want.end(D::hessian_trace)) {
    c.hessian_trace =
        schema_.add(real_field(R, "hessian_trace", "Tr H at the end",
                               "trace of the full-batch Hessian of L at the end (weight decay "
                               "excluded); NaN if diverged"));
  }
  if (want.end(D::grad_noise)) {
    c.grad_noise = schema_.add(real_field(
        R, "grad_noise", "gradient-noise variance per layer at the end",
        "Tr Sigma_l: the per-sample gradient variance of layer l, mean_i |g_i,l - mean g_l|^2," +
            noise_where + "; at the end, NaN if diverged",
        "", {"layer"}));
  }
  const std::string flow_matrix =
      "F_b, the symmetric m x m flow matrix of symmetry block b: Tr[A_M Sigma] = Tr[M F_b] for "
      "every symmetric M of the block (F_b = mean_i F(g_i - mean g), F_ii the flow of E_ii, F_ij "
      "half that of E_ij + E_ji; two-layer linear net: F = E[dU^T dU - dW dW^T] over the "
      "per-sample gradient deviations (dU, dW))";
  if (want.end(D::noether_flow)) {
    if (per_generator) {
      c.noether_flow = schema_.add(real_field(
          R, "noether_flow", "Tr[A_k Sigma] at the end",
          "Tr[A_k Sigma] = mean_i (g_i - mean g)^T A_k (g_i - mean g), the Noether flow of C_k "
          "= theta^T A_k theta (dC_k/dt = eta/S Tr[A_k Sigma]; zero at the noise equilibrium)," +
              noise_where +
              "; at the end. Every generator, in the model's order (symmetry block by block), "
              "for a model with at most 64 generators; NaN for one with more (noether_flow_trace "
              "and noether_flow_spectrum hold every model's flows per block)",
          "", {"generator"}));
    }
    c.noether_flow_trace = schema_.add(real_field(
        R, "noether_flow_trace", "Tr F_b at the end",
        "Tr F_b, the Noether flow of theta^T A_I theta (M = I of block b: Tr D of a hidden "
        "layer's D = W_{l+1}^T W_{l+1} - W_l W_l^T), where " +
            flow_matrix + "," + noise_where + "; at the end; NaN past the model's blocks",
        "", {"symmetry"}));
    c.noether_flow_spectrum = schema_.add(
        real_field(R, "noether_flow_spectrum", "eigenvalues of F_b at the end",
                   "eigenvalues of " + flow_matrix + ", descending," + noise_where +
                       "; zero at the noise equilibrium; at the end; NaN past the block's size",
                   "", {"symmetry", "flow_eig"}));
  }
  if (want.traced(D::theta_norm)) {
    c.trace_theta_norm = schema_.add(
        real_field(T, "theta_norm", "|theta|", "norm of theta at /traces/step", "", {"step"}));
  }
  if (want.traced(D::hessian_trace)) {
    c.trace_hessian_trace = schema_.add(
        real_field(T, "hessian_trace", "Tr H",
                   "trace of the full-batch Hessian of L at /traces/step", "", {"step"}));
  }
  if (want.traced(D::sharpness)) {
    c.trace_sharpness = schema_.add(real_field(
        T, "sharpness", "lambda_max",
        "largest eigenvalue of the full-batch Hessian of L at /traces/step (dense, d <= 64; NaN "
        "above)",
        "", {"step"}));
  }
  if (want.traced(D::grad_noise)) {
    c.trace_grad_noise = schema_.add(
        real_field(T, "grad_noise", "gradient-noise variance per layer",
                   "Tr Sigma_l (as /results/grad_noise) at /traces/step", "", {"step", "layer"}));
  }
  if (want.traced(D::noether_flow)) {
    if (per_generator) {
      c.trace_noether_flow = schema_.add(real_field(
          T, "noether_flow", "Tr[A_k Sigma]",
          "Tr[A_k Sigma] (as /results/noether_flow) at /traces/step", "", {"step", "generator"}));
    }
    c.trace_noether_flow_trace = schema_.add(real_field(
        T, "noether_flow_trace", "Tr F_b",
        "Tr F_b (as /results/noether_flow_trace) at /traces/step", "", {"step", "symmetry"}));
    c.trace_noether_flow_spectrum = schema_.add(
        real_field(T, "noether_flow_spectrum", "eigenvalues of F_b",
                   "eigenvalues of F_b (as /results/noether_flow_spectrum) at /traces/step", "",
                   {"step", "symmetry", "flow_eig"}));
  }
  if (want.traced(D::dist_to_min)) {
    c.trace_dist_to_min = schema_.add(real_field(
        T, "dist_to_min", "|theta - x*|",
        "distance of theta to x* at /traces/step, where x* is known before the run "
        "(stability.x_star, or Newton's method from the start); NaN otherwise and after the run "
        "stopped",
        "", {"step"}));
  }
  if (spec.number("stability.exact_steps") > 0) {  // the exact enumeration's traces
    const std::string exact =
        " over every sequence of batches from the start (each of probability C(n, S)^-t), "
        "the run's eta_t and weight decay, no divergence bound; for /traces/step <= "
        "stability.exact_steps, NaN after and where sgd_note is no_reference or off";
    c.trace_exact_mean_dist = schema_.add(
        real_field(T, "exact_mean_dist", "E|x_t - x*| (exact)",
                   "E|x_t - x*|" + exact + "; +inf as soon as one path overflowed", "", {"step"}));
    c.trace_exact_mean_sq_dist = schema_.add(real_field(
        T, "exact_mean_sq_dist", "E|x_t - x*|^2 (exact)",
        "E|x_t - x*|^2" + exact + "; +inf as soon as one path overflowed", "", {"step"}));
    c.trace_exact_p_beyond = schema_.add(real_field(
        T, "exact_p_beyond", "P(|x_t - x*| > bound) (exact)",
        "P(|x_t - x*| > optimizer.divergence_bound)" + exact + "; overflowed paths count", "",
        {"step"}));
  }

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
        key(fields_in.stream_key(index, params)),
        model(info->create(params)),
        data_spec(DataSpec::from(params, model->input_dim(), model->output_dim())),
        teacher(data_spec),
        opt(OptimizerSpec::from(params)),
        full(make_full()),
        batches(make_batches()),
        sgd(reserved(*model, std::max({opt.batch, full.size(), noise_rows()})), batches, opt),
        full_grad(model->dim()),
        spectrum(model->conserved_size()),
        final_window(params.integer("record.final_window")) {
    cancellation_point();
    res.index = index;
    res.values = Record(fields.schema());
    model->bind_fields(fields.schema());
    model->prepare_diagnostics(full.batch());
    cancellation_point();
    size_diagnostics();
    Stream init_stream(seed, key, Purpose::init);
    model->initialize(init_stream, theta);
    theta0 = theta;
    model->start(theta0);
    cancellation_point();
    x_star_before = reference_before_run();
    model->hessian_trace(theta, full.batch());  // sizes any scratch it has before the loop
    // The last steps of a deterministic run, seen online (any d; stability.hpp).
    if (deterministic)
      end_watch.emplace(model->dim(), opt.steps, Stream(seed, key, Purpose::tangent));
  }

  /// The full objective: the model's own samples, the dataset (drawn from the point's data
  /// stream), or the population's moment-matched reference set in online mode.
  SampleSet make_full() const {
    SampleSet own;
    if (model->own_data(own.x, own.y)) return own;  // e.g. poly: its samples are its potentials
    SYMSWEEP_VERIFY(!data_spec.online || model->quadratic_in_data(),
                    opt.method == OptimizerSpec::Method::gd
                        ? "optimizer.method = gd in online mode needs a model whose loss is "
                          "quadratic in the data (its population gradient is exact only then)"
                        : "online mode needs a model whose loss is quadratic in the data");
    if (data_spec.online) return teacher.reference_set();
    Stream data_stream(seed, key, Purpose::data);
    return teacher.sample(data_stream, data_spec.n);
  }

  /// x* where it is known before the run: stability.x_star, or Newton's method from the start
  /// for models with exact derivatives (it depends on theta0 only).
  std::optional<Vector> reference_before_run() {
    const std::vector<double>& given = params.vector("stability.x_star");
    if (!given.empty()) {
      SYMSWEEP_VERIFY(static_cast<Index>(given.size()) == model->dim(),
                      "stability.x_star has " + std::to_string(given.size()) +
                          " value(s) but the model has d = " + std::to_string(model->dim()));
      return Vector(Eigen::Map<const Vector>(given.data(), static_cast<Index>(given.size())));
    }
    if (model->exact_derivatives())
      return newton_minimum(*model, full.batch(), theta0, opt.weight_decay);
    return std::nullopt;
  }

  /// Minibatches, fresh online samples, or (method gd) the full objective every step.
  BatchSource make_batches() const {
    const Stream stream(seed, key, Purpose::batches);
    if (opt.method == OptimizerSpec::Method::gd) return BatchSource(full, full.size(), stream);
    if (data_spec.online) return BatchSource(teacher, opt.batch, stream);
    return BatchSource(full, opt.batch, stream, opt.sampling);
  }

  /// The step size of the last update (the base eta before any): the one the checks at the end
  /// use.
  double last_eta() const { return opt.eta_at(std::max<std::int64_t>(t - 1, 0)); }

  /// Rows of the gradient-noise set: record.noise_batch fresh samples online, else the dataset.
  Index noise_rows() const {
    return data_spec.online ? static_cast<Index>(params.integer("record.noise_batch"))
                            : full.size();
  }

  /// Every buffer of the diagnostics, so that measuring them in the SGD loop allocates nothing.
  void size_diagnostics() {
    const Index d = model->dim();
    const Schema& schema = fields.schema();
    // The model against its registry entry (the file's dimensions were sized from the entry):
    // a disagreement is an error, never a truncation.
    const ModelShape declared = info->shape(params);
    if (model->shape() != declared) {
      throw Error("model '" + info->name + "': its registry entry declares " + declared.describe() +
                  " for this point, its model reports " + model->shape().describe());
    }
    // Each dimension is empty where its fields are not measured, else sized for the largest
    // model of the grid.
    const auto dim_size = [&](const char* name) {
      return static_cast<Index>(schema.find_dim(name)->coords.size());
    };
    n_layers = std::min<Index>(model->layer_count(), dim_size("layer"));
    n_generators = model->generator_count() <= kMaxGenerators
                       ? std::min<Index>(model->generator_count(), dim_size("generator"))
                       : 0;
    n_blocks = std::min<Index>(static_cast<Index>(declared.symmetry_blocks.size()),
                               dim_size("flow_eig") > 0 ? dim_size("symmetry") : 0);
    flow_blocks.clear();
    flow_eigen.clear();
    flow_eigen.reserve(static_cast<std::size_t>(n_blocks));  // never relocated (copied)
    for (Index b = 0; b < n_blocks; ++b) {
      const Index m = declared.symmetry_blocks[static_cast<std::size_t>(b)];
      flow_blocks.push_back(Matrix::Zero(m, m));
      flow_eigen.emplace_back(m);
    }
    flow_trace = Vector::Zero(n_blocks);
    flow_spectrum =
        Matrix::Constant(dim_size("flow_eig"), n_blocks, std::numeric_limits<double>::quiet_NaN());
    if (data_spec.online) {
      noise_set.x.resize(noise_rows(), data_spec.dx);
      noise_set.y.resize(noise_rows(), data_spec.dy);
    }
    const Index chunk = std::clamp<Index>(kGradientChunk / std::max<Index>(d, 1), 1, noise_rows());
    sample_grads.resize(chunk, d);
    grad_scratch.resize(d);
    mean_grad.resize(d);
    diff.resize(d);
    a_diff.resize(d);
    layer_noise = Vector::Zero(n_layers);
    flow = Vector::Zero(n_generators);
    if (d <= kDenseCurvature && core.trace_sharpness >= 0) {
      hess.resize(d, d);
      hess_eigen.emplace(d);  // (assigning a solver would copy its uninitialised info)
      unit = Vector::Zero(d);
      hess_col.resize(d);
    }
  }

  /// Tr Sigma per layer (layers) and, with flows, Tr[A_k Sigma] per generator and each symmetry
  /// block's flow matrix at theta_t (layer_noise, flow, flow_blocks; then flow_trace and
  /// flow_spectrum, column b for block b): two passes, the mean gradient, then the per-sample
  /// deviations from it. Online, the samples are substream t of the noise stream: a
  /// measurement's draws belong to its step, so how many were made before, or whether both sums
  /// are asked for, changes neither sum. Allocation-free.
  void measure_noise(bool layers, bool flows) {
    const Index nl = layers ? n_layers : 0, ng = flows ? n_generators : 0;
    const Index nb = flows ? n_blocks : 0;
    if (nl == 0 && ng == 0 && nb == 0) return;
    if (data_spec.online) {
      Stream noise(seed, key, Purpose::noise, static_cast<std::uint64_t>(t));
      teacher.sample(noise, noise_set.x, noise_set.y);
    }
    const Batch set = data_spec.online ? noise_set.batch() : full.batch();
    const Index n = set.size();
    model->loss_grad(theta, set, mean_grad);
    layer_noise.setZero();
    flow.setZero();
    // The flow matrices over the whole set where the model has a closed form for them, else
    // accumulated over the per-sample deviations below.
    const bool bulk = nb > 0 && model->flow_matrices(theta, set, flow_blocks);
    const Index nb_samples = bulk ? 0 : nb;
    for (Index b = 0; b < nb_samples; ++b) flow_blocks[static_cast<std::size_t>(b)].setZero();
    if (nl == 0 && ng == 0 && nb_samples == 0) {
      finish_flows(nb, 1);
      return;
    }
    for (Index first = 0; first < n; first += sample_grads.rows()) {
      cancellation_point();
      const Index rows = std::min(sample_grads.rows(), n - first);
      model->sample_gradients(theta,
                              Batch{set.x.middleRows(first, rows), set.y.middleRows(first, rows)},
                              sample_grads, grad_scratch);
      for (Index r = 0; r < rows; ++r) {
        diff = sample_grads.row(r).transpose() - mean_grad;
        for (Index l = 0; l < nl; ++l) {
          Index begin = 0, size = 0;
          model->layer(l, begin, size);
          layer_noise[l] += diff.segment(begin, size).squaredNorm();
        }
        for (Index k = 0; k < ng; ++k) flow[k] += model->generator_quadratic(k, diff, a_diff);
        for (Index b = 0; b < nb_samples; ++b) {
          model->accumulate_flow_matrix(b, diff, flow_blocks[static_cast<std::size_t>(b)], a_diff);
        }
      }
    }
    layer_noise /= static_cast<double>(n);
    flow /= static_cast<double>(n);
    finish_flows(nb, bulk ? 1 : n);
  }

  /// Divides the first nb flow matrices by `n` (their samples, or 1 when already means), then
  /// their traces and spectra into flow_trace and flow_spectrum. Allocation-free.
  void finish_flows(Index nb, Index n) {
    for (Index b = 0; b < nb; ++b) {
      const auto i = static_cast<std::size_t>(b);
      Matrix& f = flow_blocks[i];
      if (n != 1) f /= static_cast<double>(n);
      flow_trace[b] = f.trace();
      flow_eigen[i].compute(f, Eigen::EigenvaluesOnly);  // reads the lower triangle
      const Index m = f.rows();
      for (Index e = 0; e < m; ++e) {  // descending
        flow_spectrum(e, b) = flow_eigen[i].info() == Eigen::Success
                                  ? flow_eigen[i].eigenvalues()[m - 1 - e]
                                  : std::numeric_limits<double>::quiet_NaN();
      }
    }
  }

  /// lambda_max of the full-batch Hessian from its dense form (d <= kDenseCurvature; else NaN).
  /// Allocation-free when the model's hessian_vector is.
  double dense_sharpness() {
    if (hess.rows() == 0) return std::numeric_limits<double>::quiet_NaN();
    const Batch all = full.batch();
    for (Index j = 0; j < unit.size(); ++j) {
      cancellation_point();
      unit[j] = 1.0;
      model->hessian_vector(theta, all, unit, hess_col);
      hess.col(j) = hess_col;
      unit[j] = 0.0;
    }
    hess_eigen->compute(hess, Eigen::EigenvaluesOnly);  // reads the lower triangle
    return hess_eigen->info() == Eigen::Success ? hess_eigen->eigenvalues().maxCoeff()
                                                : std::numeric_limits<double>::quiet_NaN();
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
  Vector theta0;                        // the start (Newton's method looks for x* from there)
  std::optional<Vector> x_star_before;  // x* known before the run (reference_before_run)
  // Diagnostics (size_diagnostics): the gradient-noise set online, per-sample gradients in
  // chunks, per-layer and per-generator sums, the dense Hessian of the trace records.
  const std::int64_t final_window;  // record.final_window
  SampleSet noise_set;
  RowMatrix sample_grads;
  Vector grad_scratch, mean_grad, diff, a_diff, layer_noise, flow;
  Index n_layers = 0, n_generators = 0, n_blocks = 0;
  std::vector<Matrix> flow_blocks;  // F_b per symmetry block (measure_noise)
  std::vector<Eigen::SelfAdjointEigenSolver<Matrix>> flow_eigen;  // sized for each block
  Vector flow_trace;                                              // Tr F_b
  Matrix flow_spectrum;  // flow_eig x blocks: column b is F_b's eigenvalues, NaN past its size
  Matrix hess;
  std::optional<Eigen::SelfAdjointEigenSolver<Matrix>> hess_eigen;
  Vector unit, hess_col;
  // Full-batch GD on a finite set: its end can be periodic or aperiodic (stability.hpp), seen
  // by an EndWatch over its last steps; stochastic runs have none.
  const bool deterministic =
      opt.method == OptimizerSpec::Method::gd || (!data_spec.online && opt.batch == full.size());
  std::optional<EndWatch> end_watch;
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

std::size_t PointRun::classification_bytes() const {
  return s_->end_watch ? s_->end_watch->bytes() : 0;
}

bool PointRun::advance(std::int64_t max_updates) {
  State& s = *s_;
  const std::vector<std::int64_t>& steps = s.fields.record_steps();
  const std::size_t nc = s.fields.schema().find_dim("k")->coords.size();
  const std::size_t n_layer_dim = s.fields.schema().find_dim("layer")->coords.size();
  const std::size_t n_generator_dim = s.fields.schema().find_dim("generator")->coords.size();
  const std::size_t n_block_dim = s.fields.schema().find_dim("symmetry")->coords.size();
  const std::size_t n_eig_dim = s.fields.schema().find_dim("flow_eig")->coords.size();
  Record& out = s.res.values;
  for (std::int64_t done = 0; !s.ended && done < max_updates; ++done) {
    // theta is theta_t here: record, stop, or take update t + 1.
    if (s.next_record < steps.size() && steps[s.next_record] == s.t) {
      // Only what record.diagnostics asks for (a field id is -1 when it is not measured).
      const std::size_t slot = s.next_record++;
      const SweepFields::Core& c = s.core;
      if (c.trace_loss >= 0) out.set(c.trace_loss, s.model->loss(s.theta, s.full.batch()), slot);
      if (c.trace_conserved >= 0) {
        s.model->conserved(s.theta, s.spectrum);
        out.set_reals(c.trace_conserved, s.spectrum.data(),
                      static_cast<std::size_t>(s.spectrum.size()), slot * nc);
      }
      if (c.trace_theta_norm >= 0) out.set(c.trace_theta_norm, s.theta.norm(), slot);
      if (c.trace_hessian_trace >= 0) {
        out.set(c.trace_hessian_trace, s.model->hessian_trace(s.theta, s.full.batch()), slot);
      }
      if (c.trace_sharpness >= 0) out.set(c.trace_sharpness, s.dense_sharpness(), slot);
      s.measure_noise(c.trace_grad_noise >= 0, c.trace_noether_flow_trace >= 0);
      if (c.trace_grad_noise >= 0) {
        out.set_reals(c.trace_grad_noise, s.layer_noise.data(),
                      static_cast<std::size_t>(s.n_layers), slot * n_layer_dim);
      }
      if (c.trace_noether_flow >= 0) {
        out.set_reals(c.trace_noether_flow, s.flow.data(), static_cast<std::size_t>(s.n_generators),
                      slot * n_generator_dim);
      }
      if (c.trace_noether_flow_trace >= 0) {
        out.set_reals(c.trace_noether_flow_trace, s.flow_trace.data(),
                      static_cast<std::size_t>(s.n_blocks), slot * n_block_dim);
        out.set_reals(c.trace_noether_flow_spectrum, s.flow_spectrum.data(),
                      static_cast<std::size_t>(s.flow_spectrum.size()),
                      slot * n_block_dim * n_eig_dim);
      }
      if (s.x_star_before && c.trace_dist_to_min >= 0)
        out.set(c.trace_dist_to_min, (s.theta - *s.x_star_before).norm(), slot);
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
    if (s.end_watch) {
      s.end_watch->before_update(s.t, *s.model, s.full.batch(), s.theta, s.opt.eta_at(s.t),
                                 s.opt.weight_decay);
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
    } else if (s.final_window > 0 && s.t > s.opt.steps - s.final_window) {
      s.model->accumulate_window(s.theta);
    }
    if (s.end_watch && s.diverged_at < 0) s.end_watch->after_update(s.t - 1, s.theta);
  }
  return s.ended;
}

namespace {

/// Stores a vector along "coord": its first coordinates, or (longer than the dimension) its
/// projection on v in coordinate 0 (NaN without v).
void put_coords(Record& out, FieldId id, const Vector& x, const Vector& v, std::size_t slot) {
  const std::size_t n = out.schema().find_dim("coord")->coords.size();
  if (static_cast<std::size_t>(x.size()) <= n) {
    out.set_reals(id, x.data(), static_cast<std::size_t>(x.size()), slot * n);
  } else if (v.size() == x.size() && n > 0) {
    out.set(id, x.dot(v), slot * n);
  }
}

}  // namespace

PointResult PointRun::finish() {
  State& s = *s_;
  SYMSWEEP_VERIFY(s.ended, "finish() before the run ended");
  SYMSWEEP_VERIFY(!s.res.values.empty(), "finish() called twice");
  const SweepFields::Core& c = s.core;
  Record& out = s.res.values;
  const bool diverged = s.diverged_at >= 0;
  out.set_integer(c.steps_run, diverged ? s.diverged_at : s.t);
  out.set_integer(c.diverged_at, s.diverged_at);
  bool converged = false;
  int period = 0;
  RowMatrix iterates;  // a deterministic run's last iterates, oldest first (orbit)
  if (diverged) {
    out.set_code(c.outcome, static_cast<std::uint8_t>(Outcome::diverged));
  } else {  // diverged points keep NaN in every measurement of the final state
    out.set(c.final_loss, s.model->loss(s.theta, s.full.batch()));
    const double grad_norm = s.objective_grad_norm();
    out.set(c.grad_norm, grad_norm);
    converged = s.converged || (s.opt.tol > 0 && grad_norm <= s.opt.tol);
    Outcome outcome = converged ? Outcome::converged : Outcome::moving;
    if (!converged && s.end_watch && s.t == s.opt.steps) {
      const EndClass end = s.end_watch->classify(s.params.number("stability.period_tol"));
      period = end.period;
      out.set(c.lyapunov, end.lyapunov);  // NaN for period 1
      if (period == 1) {
        outcome = Outcome::converged;  // the iterates stopped moving
        converged = true;
      } else if (period >= 2) {
        outcome = Outcome::periodic;
      } else if (end.aperiodic) {
        outcome = Outcome::aperiodic;  // clearly positive exponent, not approaching a point
      }
      const Index kept = s.end_watch->iterates_kept();
      if (period != 1 && kept >= static_cast<Index>(kMaxPeriod)) {
        iterates = s.end_watch->last_iterates(kept);
      }
    }
    out.set_code(c.outcome, static_cast<std::uint8_t>(outcome));
    // The diagnostics at the end: only those record.diagnostics asks for (ids -1 otherwise).
    const Batch all = s.full.batch();
    if (c.sharpness >= 0) {
      Stream lanczos_start(s.seed, s.key, Purpose::lanczos);
      // One operator for every product (theta and the batch fixed): the model computes what
      // does not depend on the vector once.
      const TopEigen top = top_eigenvalue(s.model->hessian_operator(s.theta, all), s.model->dim(),
                                          lanczos_start, kSharpnessTolerance);
      out.set(c.sharpness, top.converged ? top.value : std::numeric_limits<double>::quiet_NaN());
    }
    if (c.conserved >= 0) {
      s.model->conserved(s.theta, s.spectrum);
      out.set_reals(c.conserved, s.spectrum.data(), static_cast<std::size_t>(s.spectrum.size()));
    }
    if (c.theta_norm >= 0) out.set(c.theta_norm, s.theta.norm());
    if (c.hessian_trace >= 0) out.set(c.hessian_trace, s.model->hessian_trace(s.theta, all));
    s.measure_noise(c.grad_noise >= 0, c.noether_flow_trace >= 0);
    if (c.grad_noise >= 0) {
      out.set_reals(c.grad_noise, s.layer_noise.data(), static_cast<std::size_t>(s.n_layers));
    }
    if (c.noether_flow >= 0) {
      out.set_reals(c.noether_flow, s.flow.data(), static_cast<std::size_t>(s.n_generators));
    }
    if (c.noether_flow_trace >= 0) {
      out.set_reals(c.noether_flow_trace, s.flow_trace.data(),
                    static_cast<std::size_t>(s.n_blocks));
      out.set_reals(c.noether_flow_spectrum, s.flow_spectrum.data(),
                    static_cast<std::size_t>(s.flow_spectrum.size()));
    }
    // The model's own fields last, given what the core measured (e.g. Tr Sigma at the end).
    EndMeasurements measured;
    if (c.grad_noise >= 0) measured.layer_noise = s.layer_noise;
    s.model->record_final(s.theta, s.full.batch(), measured, out);
  }

  // The checks at the reference minimum: given, found by Newton's method from the start where the
  // model has exact derivatives, or the final point of a converged run.
  std::optional<Vector> x_star = s.x_star_before;
  if (!x_star && converged) x_star = s.theta;
  MinimumCheck check;
  check.note = StabilityNote::no_reference;
  if (x_star) {
    check = check_minimum(*s.model, s.full.batch(), *x_star, s.last_eta(), s.opt.weight_decay);
    put_coords(out, c.x_star, *x_star, check.v, 0);
  }
  out.set_code(c.note, static_cast<std::uint8_t>(check.note));
  out.set(c.lambda_max, check.lambda_max);
  out.set(c.eta_gd, check.eta_gd);
  out.set(c.K, check.K);
  // The SGD checks there (sgd_stability.hpp), and the exact expectation over every batch
  // sequence of the run's first stability.exact_steps updates.
  const bool sgd_checks = s.params.text("stability.sgd_checks") == "true";
  const SgdCheck sgd = check_sgd(
      *s.model, s.full, x_star ? &*x_star : nullptr, check, s.opt, s.data_spec.online, sgd_checks,
      s.params.integer("stability.batch_limit"), Stream(s.seed, s.key, Purpose::lanczos),
      Stream(s.seed, s.key, Purpose::worst_batch));
  out.set_code(c.sgd_note, static_cast<std::uint8_t>(sgd.note));
  out.set(c.eta_ms, sgd.eta_ms);
  out.set(c.eta_worst_batch, sgd.eta_worst_batch);
  const std::int64_t exact_steps = s.params.integer("stability.exact_steps");
  if (exact_steps > 0 && sgd_checks && x_star && c.trace_exact_mean_dist >= 0) {
    const std::vector<std::int64_t>& steps = s.fields.record_steps();
    const ExactExpectation e = exact_expectation(*s.model, s.full, s.opt, s.theta0, *x_star,
                                                 exact_steps, steps, s.opt.divergence_bound);
    for (std::size_t k = 0; k < steps.size() && steps[k] <= exact_steps; ++k) {
      out.set(c.trace_exact_mean_dist, e.mean_dist[k], k);
      out.set(c.trace_exact_mean_sq_dist, e.mean_sq_dist[k], k);
      out.set(c.trace_exact_p_beyond, e.p_beyond[k], k);
    }
  }
  if (s.deterministic) {  // the predictions assume full-batch GD (NaN for stochastic runs)
    out.set(c.amplitude_predicted, check.amplitude);
    out.set(c.basin_radius_predicted, check.basin_radius);
    if (check.centre_shift.size() > 0)
      put_coords(out, c.centre_shift, check.centre_shift, check.v, 0);
  }

  // A periodic run's orbit: its last `period` iterates, and its half-width along v; an aperiodic
  // run's last kMaxPeriod iterates (for bifurcation diagrams).
  const bool aperiodic = out.code(c.outcome) == static_cast<std::uint8_t>(Outcome::aperiodic);
  if (period >= 2) out.set_integer(c.period, period);
  if ((period >= 2 || aperiodic) && iterates.rows() >= static_cast<Index>(kMaxPeriod) &&
      out.schema().present(c.orbit)) {
    const int shown = period >= 2 ? period : static_cast<int>(kMaxPeriod);
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (int k = 0; k < shown; ++k) {
      const Vector point = iterates.row(iterates.rows() - shown + k).transpose();
      put_coords(out, c.orbit, point, check.v, static_cast<std::size_t>(k));
      if (x_star && check.v.size() == point.size()) {
        const double along = (point - *x_star).dot(check.v);
        lo = std::min(lo, along);
        hi = std::max(hi, along);
      }
    }
    if (hi >= lo && period >= 2) out.set(c.amplitude, 0.5 * (hi - lo));
  }
  out.set_code(c.status, static_cast<std::uint8_t>(Status::done));
  out.set(c.seconds, seconds_since(s.start));
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

/// Test hook, beside the run loop's and the store's (sweep.cpp, store.cpp): with
/// SYMSWEEP_INJECT_FAULT=point:<index> in the environment, point <index> of the grid throws as it
/// starts, as a point whose set-up raised an error does. A run records it as failed, and
/// `symsweep rerun` under the same environment recomputes it as failed (tests/e2e/test_rerun.py).
void maybe_inject_point_fault(std::uint64_t index) {
  const char* spec = std::getenv("SYMSWEEP_INJECT_FAULT");
  if (spec != nullptr && std::string(spec) == "point:" + std::to_string(index)) {
    throw std::runtime_error(std::string("injected fault (SYMSWEEP_INJECT_FAULT=") + spec + ")");
  }
}
}  // namespace

PointResult simulate_point(const Grid& grid, const SweepFields& fields, std::uint64_t index) {
  maybe_inject_point_fault(index);
  const FloatingPointGuard guard;
  PointRun run(grid, fields, index);
  run.advance(std::numeric_limits<std::int64_t>::max());
  return run.finish();
}

bool simulate_point(const Grid& grid, const SweepFields& fields, std::uint64_t index,
                    const std::function<bool()>& keep_going, PointResult& out,
                    const std::function<void(std::int64_t, double)>& sliced) {
  maybe_inject_point_fault(index);
  const FloatingPointGuard guard;
  PointRun run(grid, fields, index);
  // Slices of about 10 ms: short enough that a stop is seen promptly, long enough that the
  // checks between them cost nothing. Slicing changes no number (advance is resumable).
  std::int64_t slice = 16;
  std::int64_t updates = 0;
  double seconds = 0;
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
    if (run.advance(slice)) break;
    updates += slice;
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (sliced) sliced(updates, seconds);
    if (!keep_going()) return false;
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (ms < 5 && slice < (std::int64_t{1} << 40)) slice *= 2;
    if (ms > 40 && slice > 1) slice /= 2;
  }
  out = run.finish();
  return true;
}

double point_memory_bound(const ParamSet& params, std::size_t record_bytes) {
  // The bounded Lanczos of stability.cpp keeps at most 24 basis vectors plus 4 work vectors.
  constexpr double kLanczosVectors = 28;
  const ModelInfo* info = find_model(params.text("model.name"));
  if (info == nullptr || !info->footprint) return -1;
  const bool online = params.text("data.mode") == "online";
  const bool gd = params.text("optimizer.method") == "gd";
  const Index n = static_cast<Index>(params.integer("data.n"));
  const Index batch = static_cast<Index>(params.integer("optimizer.batch"));
  // A first look at the sample sizes (the model's own data, e.g. poly's, has rows = data.n).
  const ModelFootprint probe = info->footprint(params, 1);
  const Index dx = probe.input_dim, dy = probe.output_dim;
  const Index full_rows = online ? dx + dy : n;  // the dataset, or the reference set online
  const Index noise_rows = online ? static_cast<Index>(params.integer("record.noise_batch")) : n;
  const Index batch_rows = gd ? full_rows : batch;
  const ModelFootprint m = info->footprint(params, std::max({batch_rows, full_rows, noise_rows}));
  const double d = static_cast<double>(m.dim);
  const double sample = static_cast<double>(dx + dy);
  const bool deterministic = gd || (!online && batch == n);

  double doubles = 0;
  // Data: the full set, the batch buffers, online the gradient-noise set; the teacher (input and
  // noise covariances with their factors, built through an LDLT, and the teacher matrix, also in
  // the DataSpec).
  doubles += static_cast<double>(full_rows) * sample + static_cast<double>(batch_rows) * sample;
  if (online) doubles += static_cast<double>(noise_rows) * sample;
  doubles += static_cast<double>(n);  // the reshuffling permutation (Index = 8 bytes)
  const double ddx = static_cast<double>(dx), ddy = static_cast<double>(dy);
  doubles += 6 * ddx * ddx + 6 * ddy * ddy + 3 * ddx * ddy;
  // Vectors of d: theta, its start, gradients, the noise measurement's, the optimizer's, the
  // Hessian trace's and the stability checks' work vectors.
  doubles += 24 * d;
  // Per-sample gradients, in chunks of kGradientChunk / d rows (at least one).
  const double chunk =
      std::clamp<double>(std::floor(static_cast<double>(kGradientChunk) / std::max(d, 1.0)), 1,
                         static_cast<double>(std::max<Index>(noise_rows, 1)));
  doubles += chunk * d;
  if (m.dim <= kDenseCurvature) doubles += 4 * d * d;  // the trace records' Hessian + solver
  // The Noether flows: each symmetry block's flow matrix and its eigensolver (the matrix, its
  // eigenvectors' workspace and a few vectors: 4 m^2 + 8 m, plus the solver object), and the
  // spectra of every block padded to the largest.
  const ModelShape shape = info->shape(params);
  for (Index b : shape.symmetry_blocks) {
    const double mb = static_cast<double>(b);
    doubles += 4 * mb * mb + 8 * mb + 16;
  }
  doubles += static_cast<double>(shape.symmetry_blocks.size()) *
             (1 + static_cast<double>(shape.largest_block()));
  if (deterministic) {
    // The EndWatch (stability.hpp): its window of 1024 x 64 signatures and a copy of it while
    // classifying, the tangent vector and its product, the projection weights, and for
    // d <= 4096 the ring of the last 16 iterates and their copy in finish().
    doubles += 2 * 65536.0 + 3 * d + (m.dim <= 4096 ? 32 * d : 0);
  }
  doubles += m.dim <= 4096 ? 5 * d * d : kLanczosVectors * d;
  // The SGD checks (sgd_stability.hpp, d <= kMaxSgdDim): the second-moment map's d x d scratch
  // and H's eigenvectors, its eigenproblem on D = d (d + 1) / 2 numbers (dense up to 64, else a
  // Lanczos basis), a batch's Hessian and the gathered rows; the exact enumeration's T + 1
  // iterates and T batches of indices.
  if (m.dim <= kMaxSgdDim && params.text("stability.sgd_checks") == "true") {
    const double dd = d * (d + 1) / 2;
    doubles += 16 * d * d + (dd <= 64 ? 3 * dd * dd : kLanczosVectors * dd) +
               static_cast<double>(batch) * sample;
    const auto t = static_cast<double>(params.integer("stability.exact_steps"));
    doubles += (t + 1) * d + t * static_cast<double>(batch);
  }
  const double bytes = 8 * doubles + m.bytes + 2.0 * static_cast<double>(record_bytes);
  return 1.25 * bytes + (1 << 20);
}

}  // namespace symsweep
