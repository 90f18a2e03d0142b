// Parsing and validation of sweep specifications. See spec.hpp for the rules.
#include "symsweep/spec.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "symsweep/data.hpp"
#include "symsweep/error.hpp"
#include "symsweep/grid.hpp"
#include "symsweep/model.hpp"
#include "symsweep/refine.hpp"
#include "symsweep/sgd_stability.hpp"
#include "text.hpp"

namespace symsweep {

// ------------------------------------------------------------------------------------------ Range
bool Range::contains(double v) const {
  const bool lo_ok = lo_open ? v > lo : v >= lo;
  const bool hi_ok = hi_open ? v < hi : v <= hi;
  return lo_ok && hi_ok;
}

std::string Range::describe(ParamKind kind) const {
  const std::string what = kind == ParamKind::Integer ? "an integer " : "";
  const bool has_lo = std::isfinite(lo);
  const bool has_hi = std::isfinite(hi);
  const auto num = [](double v) { return text::format_double(v); };
  if (has_lo && has_hi) {
    return "must be " + what + "in " + (lo_open ? "(" : "[") + num(lo) + ", " + num(hi) +
           (hi_open ? ")" : "]");
  }
  if (has_lo) return "must be " + what + (lo_open ? "> " : ">= ") + num(lo);
  if (has_hi) return "must be " + what + (hi_open ? "< " : "<= ") + num(hi);
  return kind == ParamKind::Integer ? "must be an integer" : "must be a finite number";
}

const char* to_string(ParamKind kind) {
  switch (kind) {
    case ParamKind::Integer:
      return "an integer";
    case ParamKind::Real:
      return "a real number";
    case ParamKind::Text:
      return "text";
    case ParamKind::Choice:
      return "a choice";
    case ParamKind::Vector:
      return "a vector";
    case ParamKind::Matrix:
      return "a matrix";
  }
  return "?";
}

// --------------------------------------------------------------------------------------- ParamDef
std::string ParamDef::section() const {
  return key.substr(0, key.find('.'));
}
std::string ParamDef::name() const {
  return key.substr(key.find('.') + 1);
}

std::string ParamDef::rule() const {
  switch (kind) {
    case ParamKind::Integer:
    case ParamKind::Real:
      return range.describe(kind);
    case ParamKind::Choice:
      return "must be one of " + text::join(choices, ", ");
    case ParamKind::Text:
      return "must be text";
    case ParamKind::Vector:
    case ParamKind::Matrix: {
      // "must be a vector of numbers > 0" from the element rule "must be > 0".
      const std::string element = range.describe(ParamKind::Real).substr(8);
      const std::string of =
          element == "a finite number" ? "finite numbers" : "finite numbers " + element;
      return std::string("must be ") + to_string(kind) + " of " + of +
             (kind == ParamKind::Matrix ? " (rows separated by ';', values by ',')"
                                        : " (values separated by ',')");
    }
  }
  return "";
}

// -------------------------------------------------------------------------------------- AxisSpec
std::vector<double> AxisSpec::numbers() const {
  SYMSWEEP_VERIFY(kind == ParamKind::Integer || kind == ParamKind::Real,
                  "axis " + key + " is not numeric");
  std::vector<double> out;
  out.reserve(values.size());
  for (const Value& v : values) out.push_back(v.numbers.front());
  return out;
}

namespace {

constexpr double kMaxInteger = 9007199254740992.0;  // 2^53: doubles are exact below
constexpr double kMaxRecords = 1e6;                 // trace records per point

ParamDef integer(std::string key, std::string def, Range range, std::string help,
                 bool sweepable = true) {
  return ParamDef{std::move(key), ParamKind::Integer, std::move(def), std::move(help), range, {},
                  sweepable};
}
/// A key that says how long to run or what to observe: it does not key the random streams.
ParamDef observation(ParamDef def) {
  def.enters_streams = false;
  return def;
}
/// A key that cannot be swept.
ParamDef fixed(ParamDef def) {
  def.sweepable = false;
  return def;
}
ParamDef real(std::string key, std::string def, Range range, std::string help) {
  return ParamDef{
      std::move(key), ParamKind::Real, std::move(def), std::move(help), range, {}, true};
}
ParamDef words(std::string key, std::string def, std::vector<std::string> choices, std::string help,
               bool sweepable) {
  return ParamDef{std::move(key),     ParamKind::Choice, std::move(def), std::move(help), {},
                  std::move(choices), sweepable};
}
ParamDef matrix(std::string key, std::string help) {
  return ParamDef{std::move(key), ParamKind::Matrix, "", std::move(help), Range::any(), {}, true};
}
ParamDef free_text(std::string key, std::string def, std::string help) {
  return ParamDef{std::move(key), ParamKind::Text, std::move(def), std::move(help), {}, {}, false,
                  false};
}

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const auto& m : model_registry()) names.push_back(m.name);
  return names;
}

}  // namespace

std::vector<ParamDef> common_params() {
  // Built on every call: model.name's choices include models registered since.
  return {
      free_text("sweep.name", "sweep", "short name of the sweep, stored in the file"),
      free_text("sweep.output", "",
                "HDF5 file to write (default <name>.h5, relative to the working directory; "
                "-o overrides)"),
      observation(integer("sweep.seed", "0", Range{0, kMaxInteger},
                          "seed of every random stream; streams are keyed by (seed, the point's "
                          "parameter values, purpose). Sweep it ([axes] sweep.seed = range(0, 8)) "
                          "for independent repeats")),
      free_text("sweep.common_random", "",
                "keys along which points share their random numbers (data, initialisation, "
                "batches), e.g. 'optimizer.eta, optimizer.batch': common random numbers, so that "
                "neighbouring points of a phase diagram differ only by those keys; empty: every "
                "point has its own"),
      words("model.name", "", model_names(), "which model to train (see Models below)", false),
      words("data.mode", "finite", {"finite", "online"},
            "finite: n samples drawn once, batches drawn from them; online: fresh samples every "
            "step (population SGD)",
            true),
      integer("data.n", "256", Range::at_least(1), "samples in the finite dataset"),
      real("data.x_var", "1", Range::above(0),
           "input covariance Sigma_x = x_var * diag(1, x_decay, x_decay^2, ...)"),
      real("data.x_decay", "1", Range::above(0), "ratio of consecutive input variances"),
      real("data.teacher_scale", "1", Range::any(),
           "teacher V = teacher_scale * diag(1, teacher_decay, ...) (dy x dx, zero elsewhere)"),
      real("data.teacher_decay", "1", Range::at_least(0),
           "ratio of consecutive teacher singular values"),
      real("data.noise_var", "0", Range::at_least(0),
           "label noise covariance Sigma_eps = noise_var * diag(1, noise_decay, ...)"),
      real("data.noise_decay", "1", Range::above(0), "ratio of consecutive label-noise variances"),
      matrix("data.x_cov",
             "input covariance Sigma_x given explicitly (replaces x_var, x_decay): dx "
             "eigenvalues '1, 0.5' (diagonal), or a symmetric positive semidefinite dx x dx "
             "matrix '1, 0.5; 0.5, 2'; empty: the geometric diagonal"),
      matrix("data.noise_cov",
             "label-noise covariance Sigma_eps given explicitly (replaces noise_var, "
             "noise_decay): dy eigenvalues, or a symmetric positive semidefinite dy x dy matrix; "
             "empty: the geometric diagonal"),
      matrix("data.teacher",
             "teacher V given explicitly (replaces teacher_scale, teacher_decay): any dy x dx "
             "matrix, rows separated by ';'; empty: the geometric diagonal"),
      real("optimizer.eta", "0.01", Range::above(0), "step size (the base of optimizer.schedule)"),
      integer("optimizer.batch", "16", Range::at_least(1),
              "batch size S: S distinct samples drawn uniformly each step; S = n is full-batch GD"),
      words("optimizer.method", "sgd", {"sgd", "gd"},
            "sgd: minibatches of optimizer.batch; gd: the exact full-batch gradient every step "
            "(online: the population gradient, exact for models quadratic in the data); "
            "optimizer.batch and optimizer.sampling are then unused",
            true),
      words("optimizer.sampling", "iid", {"iid", "reshuffle"},
            "iid: every batch drawn afresh; reshuffle: a random permutation of the n samples "
            "every epoch, cut into consecutive batches (the last one holds n mod S when S does "
            "not divide n); finite mode only",
            true),
      words("optimizer.schedule", "constant", {"constant", "warmup", "step"},
            "step size of update k = 0, 1, ...: constant eta; warmup eta min(1, (k + 1) / "
            "warmup_steps); step eta decay_factor^floor(k / decay_every)",
            true),
      integer("optimizer.warmup_steps", "100", Range::at_least(1),
              "updates of the linear warmup (schedule = warmup)"),
      integer("optimizer.decay_every", "1000", Range::at_least(1),
              "updates between step decays (schedule = step)"),
      real("optimizer.decay_factor", "0.1", Range::above(0),
           "factor of each step decay (schedule = step)"),
      observation(
          integer("optimizer.steps", "1000", Range{1, 1e12}, "maximum number of SGD steps")),
      real("optimizer.weight_decay", "0", Range::at_least(0),
           "weight decay gamma: theta <- theta - eta (g + gamma theta)"),
      observation(real("optimizer.tol", "1e-10", Range::at_least(0),
                       "converged once the full-batch gradient norm (with weight decay) is <= "
                       "tol; 0 never stops early")),
      observation(integer("optimizer.check_every", "100", Range::at_least(1),
                          "steps between convergence checks (each costs one full-batch gradient)",
                          false)),
      observation(real("optimizer.divergence_bound", "1e8", Range::above(0),
                       "diverged once |theta| exceeds this or the loss is not finite")),
      observation(ParamDef{"stability.x_star",
                           ParamKind::Vector,
                           "",
                           "the reference minimum x* of the stability checks (length d); empty: "
                           "found by Newton's method from the start where the model has exact "
                           "derivatives, else the final point of a converged run",
                           Range::any(),
                           {},
                           true}),
      observation(real("stability.period_tol", "1e-9", Range::above(0),
                       "a deterministic run is periodic with period k when its last iterates "
                       "repeat every k steps to this relative tolerance")),
      observation(words("stability.sgd_checks", "true", {"true", "false"},
                        "true: the SGD checks at x* (eta_ms, eta_worst_batch, and the exact "
                        "enumeration when stability.exact_steps > 0); false: skip them "
                        "(sgd_note = off)",
                        false)),
      observation(integer("stability.batch_limit", "100000", Range{1, 1e12},
                          "eta_worst_batch looks at every batch of S samples when there are at "
                          "most this many, else at this many drawn at random (an upper bound of "
                          "the threshold, sgd_note = worst_batch_sampled)",
                          false)),
      observation(integer("stability.exact_steps", "0", Range{0, 1e12},
                          "T > 0: E|x_t - x*|, E|x_t - x*|^2 and P(|x_t - x*| > "
                          "divergence_bound) for t <= T by exact enumeration of every batch "
                          "sequence from the start (C(n, S)^T <= 2^25 of them; finite data, iid "
                          "batches); 0: none",
                          false)),
      observation(integer("record.every", "0", Range{0, 1e12},
                          "record traces every k steps (step 0 included); 0 records no traces",
                          false)),
      observation(integer("record.final_window", "0", Range{0, 1e12},
                          "the last k steps of optimizer.steps over which models time-average "
                          "their equilibrium diagnostics (SGD fluctuates around an equilibrium); "
                          "0: the final state alone",
                          false)),
      observation(integer("record.noise_batch", "1024", Range{2, 1e9},
                          "online mode: fresh samples (their own stream) over which the gradient "
                          "noise Sigma is measured at each record and at the end; finite mode "
                          "uses the dataset",
                          false)),
      free_text("record.diagnostics", "default",
                "what is measured: default (every diagnostic the model has), none, or a list of "
                "loss, C, theta_norm, hessian_trace, sharpness, grad_noise, noether_flow, "
                "dist_to_min, model (its own traces); each at the end and on every trace record, "
                "or only one of them as results.NAME or traces.NAME; what is not measured is not "
                "in the file"),
      // Adaptive refinement (refine.hpp). Written to the resolved config only when refine.axes
      // is set, so a plain sweep's config text, and its config_sha256, are those of before.
      free_text("refine.axes", "",
                "the axes to refine, comma-separated: two or more numeric axes of [axes], each of "
                "2^k + 1 values (k >= refine.levels); level 0 runs every 2^levels-th value of "
                "them, then only the cells whose corners disagree are halved; the other axes "
                "(seeds, other keys) run whole at every point; empty: a plain sweep of every "
                "grid point"),
      free_text("refine.field", "outcome",
                "the scalar /results field whose values at a cell's corners decide whether it "
                "is split: an enum (outcome, ...) or a real or integer field (K, ...)"),
      words("refine.rule", "equal", {"equal", "sign", "threshold", "fraction"},
            "when corners disagree: equal: some point (same other-axis values) differs in "
            "refine.field; sign: in the sign of refine.field (negative, zero, positive, NaN); "
            "threshold: in whether refine.field > refine.threshold (NaN its own class); "
            "fraction: the fraction of seeds whose refine.field is refine.member differs by more "
            "than refine.z binomial standard errors between two corners",
            false),
      free_text("refine.member", "diverged",
                "refine.rule = fraction: the member of the enum refine.field that is counted"),
      fixed(observation(real("refine.threshold", "0", Range::any(),
                             "refine.rule = threshold: the value refine.field is compared with"))),
      fixed(observation(real("refine.z", "2", Range::above(0),
                             "refine.rule = fraction: corners differ when |p_a - p_b| > z sqrt(2 "
                             "p (1 - p) / n) (p: their pooled fraction, n: seeds)"))),
      observation(integer("refine.levels", "4", Range{1, 30},
                          "halvings from the coarse grid (every 2^levels-th value) to the full "
                          "grid of the refined axes",
                          false)),
      observation(integer("refine.budget", "0", Range{0, kMaxInteger},
                          "most points the refined sweep runs (its file holds this many); a level "
                          "that does not fit splits the cells that fit, in order; 0: the grid's "
                          "points",
                          false)),
  };
}

// ---------------------------------------------------------------------------------- Diagnostics
namespace {
constexpr const char* kDiagnosticNames[Diagnostics::count] = {
    "loss",         "C",           "theta_norm", "hessian_trace", "sharpness", "grad_noise",
    "noether_flow", "dist_to_min", "model"};
}  // namespace

const char* Diagnostics::name(Name n) {
  return kDiagnosticNames[n];
}
bool Diagnostics::has_end(Name n) {
  return n != loss && n != dist_to_min && n != model;
}
bool Diagnostics::has_traces(Name /*n*/) {
  return true;
}
Diagnostics Diagnostics::all() {
  Diagnostics d;
  for (int i = 0; i < count; ++i) {
    d.at_end[i] = has_end(static_cast<Name>(i));
    d.on_traces[i] = has_traces(static_cast<Name>(i));
  }
  return d;
}

Diagnostics parse_diagnostics(std::string_view value) {
  const std::string head = text::setting("record.diagnostics", value) + ": ";
  const std::string rule =
      "must be default, none, or a list of " +
      text::join(std::vector<std::string>(std::begin(kDiagnosticNames), std::end(kDiagnosticNames)),
                 ", ") +
      " separated by ',' (each one at the end and on every trace record, or only one of them "
      "as results.NAME or traces.NAME)";
  const std::string_view all = text::trim(value);
  if (all == "default") return Diagnostics::all();
  Diagnostics d;
  if (all == "none") return d;
  if (all.empty()) throw ConfigError(head + "empty; " + rule + " (none measures nothing)");
  std::size_t start = 0;
  for (int item = 1;; ++item) {
    const std::size_t comma = all.find(',', start);
    const std::string_view word =
        text::trim(all.substr(start, comma == std::string_view::npos ? all.npos : comma - start));
    const std::string where = "item " + std::to_string(item);
    if (word.empty()) throw ConfigError(head + where + " is empty; " + rule);
    if (word == "default" || word == "none") {
      throw ConfigError(head + std::string(word) + " must stand alone; " + rule);
    }
    std::string_view bare = word;
    bool end = true, traces = true;
    if (bare.rfind("results.", 0) == 0) {
      bare.remove_prefix(8);
      traces = false;
    } else if (bare.rfind("traces.", 0) == 0) {
      bare.remove_prefix(7);
      end = false;
    }
    const auto* found = std::find(std::begin(kDiagnosticNames), std::end(kDiagnosticNames), bare);
    if (found == std::end(kDiagnosticNames)) {
      throw ConfigError(head + "unknown diagnostic " + text::quote(word) + "; " + rule);
    }
    const auto n = static_cast<Diagnostics::Name>(found - std::begin(kDiagnosticNames));
    if (!traces && !Diagnostics::has_end(n)) {
      throw ConfigError(head + text::quote(word) + ": " + std::string(bare) +
                        " is measured on the trace records only (no /results field); write " +
                        std::string(bare) + " or traces." + std::string(bare));
    }
    d.at_end[n] = d.at_end[n] || (end && Diagnostics::has_end(n));
    d.on_traces[n] = d.on_traces[n] || traces;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return d;
}

namespace {

/// True when a key has its default value at this point.
bool at_default(const ParamSet& p, const std::string& key) {
  const SweepSpec& spec = p.spec();
  const ParamDef& def = spec.schema()[static_cast<std::size_t>(spec.find(key))];
  return p.value(key).numbers == parse_value(def, def.default_text).numbers;
}

/// An explicit data matrix replaces the keys of its geometric construction: setting both is an
/// error rather than one of them silently unused.
CrossRule replaces(std::string key, std::vector<std::string> scalars) {
  std::vector<std::string> keys = scalars;
  keys.insert(keys.begin(), key);
  return {keys, [key, scalars](const ParamSet& p) -> std::optional<std::string> {
            const Value& v = p.value(key);
            if (v.numbers.empty()) return std::nullopt;
            for (const std::string& other : scalars) {
              if (at_default(p, other)) continue;
              return text::setting(key, v.text) + ": replaces " + text::join(scalars, " and ") +
                     ", so " + other + " (" + p.value(other).text +
                     ") must stay at its default; set one or the other";
            }
            return std::nullopt;
          }};
}

/// A covariance value on its own: square (or one row), symmetric, positive semidefinite.
CrossRule covariance_rule(std::string key) {
  return {{key}, [key](const ParamSet& p) -> std::optional<std::string> {
            const Value& v = p.value(key);
            if (auto problem = covariance_problem(matrix_value(v))) {
              return text::setting(key, v.text) + ": " + *problem;
            }
            return std::nullopt;
          }};
}

const char* const kDataMatrices[] = {"data.x_cov", "data.noise_cov", "data.teacher"};

/// The explicit data matrices against the dimensions of the model each point builds (dx, dy):
/// the model decides them, so it is built once per combination of its own axes and the
/// matrices'. Only added when some matrix is given.
CrossRule data_shape_rule(const std::vector<ParamDef>& schema) {
  std::vector<std::string> keys(std::begin(kDataMatrices), std::end(kDataMatrices));
  for (const ParamDef& def : schema) {
    if (def.section() == "model") keys.push_back(def.key);
  }
  return {
      keys, [](const ParamSet& p) -> std::optional<std::string> {
        const ModelInfo* info = find_model(p.text("model.name"));
        if (info == nullptr) return std::nullopt;
        std::unique_ptr<Model> model;
        try {
          model = info->create(p);
        } catch (const std::exception&) {
          return std::nullopt;  // bad model parameters: the point reports them
        }
        RowMatrix own_x, own_y;
        const bool own = model->own_data(own_x, own_y);
        const Index dx = model->input_dim(), dy = model->output_dim();
        const std::string model_dims = " (model " + info->name + " has dx = " + std::to_string(dx) +
                                       ", dy = " + std::to_string(dy) + ")";
        for (const char* key : kDataMatrices) {
          const Value& v = p.value(key);
          if (v.numbers.empty()) continue;
          const std::string head = text::setting(key, v.text) + ": ";
          if (own) {
            return head + "model " + info->name +
                   " trains on its own samples, not on the teacher's data; leave " + key + " empty";
          }
          const Matrix m = matrix_value(v);
          if (std::string(key) == "data.teacher") {
            if (m.rows() != dy || m.cols() != dx) {
              return head + "is " + std::to_string(m.rows()) + " x " + std::to_string(m.cols()) +
                     " but the teacher must be dy x dx = " + std::to_string(dy) + " x " +
                     std::to_string(dx) + model_dims;
            }
          } else if (auto problem =
                         covariance_problem(m, std::string(key) == "data.x_cov" ? dx : dy)) {
            return head + *problem + model_dims;
          }
        }
        return std::nullopt;
      }};
}

}  // namespace

const std::vector<CrossRule>& common_rules() {
  static const std::vector<CrossRule> rules = {
      covariance_rule("data.x_cov"),
      covariance_rule("data.noise_cov"),
      replaces("data.x_cov", {"data.x_var", "data.x_decay"}),
      replaces("data.noise_cov", {"data.noise_var", "data.noise_decay"}),
      replaces("data.teacher", {"data.teacher_scale", "data.teacher_decay"}),
      {{"optimizer.sampling", "data.mode", "optimizer.method"},
       [](const ParamSet& p) -> std::optional<std::string> {
         if (p.text("optimizer.sampling") != "reshuffle" || p.text("data.mode") == "finite" ||
             p.text("optimizer.method") == "gd") {
           return std::nullopt;
         }
         return "optimizer.sampling = reshuffle: needs data.mode = finite (online batches are "
                "fresh samples; there is no dataset to reshuffle)";
       }},
      {{"optimizer.batch", "data.n", "data.mode"},
       [](const ParamSet& p) -> std::optional<std::string> {
         if (p.text("data.mode") != "finite") return std::nullopt;
         const double batch = p.number("optimizer.batch");
         const double n = p.number("data.n");
         if (batch <= n) return std::nullopt;
         return "optimizer.batch = " + text::format_double(batch) + ": must be <= data.n (" +
                text::format_double(n) + ") in finite mode";
       }},
      {{"optimizer.steps", "record.every"},
       [](const ParamSet& p) -> std::optional<std::string> {
         const double every = p.number("record.every");
         if (every == 0) return std::nullopt;
         const double records = std::floor(p.number("optimizer.steps") / every) + 1;
         if (records <= kMaxRecords) return std::nullopt;
         return "record.every = " + text::format_double(every) + ": gives " +
                text::format_double(records) + " trace records per point (optimizer.steps = " +
                text::format_double(p.number("optimizer.steps")) + "); at most " +
                text::format_double(kMaxRecords) + " are allowed, record less often";
       }},
      // A trace schedule or a final window longer than the run is a mistake, not a request:
      // the traces would hold step 0 only, the window would be the whole run. Swept steps: the
      // rule runs at every value, so the smallest is the one that fails.
      {{"optimizer.steps", "record.every"},
       [](const ParamSet& p) -> std::optional<std::string> {
         const std::int64_t every = p.integer("record.every");
         const std::int64_t steps = p.integer("optimizer.steps");
         if (every <= steps) return std::nullopt;
         return "record.every = " + std::to_string(every) + ": must be <= optimizer.steps (" +
                std::to_string(steps) +
                "); a trace record every k steps needs a run of at least k steps";
       }},
      // The exact enumeration (sgd_stability.hpp) walks every batch sequence of the run's first
      // exact_steps updates: it needs a finite set of iid batches, and a tree it can walk.
      {{"stability.exact_steps", "optimizer.steps", "data.n", "optimizer.batch", "optimizer.method",
        "data.mode", "optimizer.sampling", "stability.sgd_checks"},
       [](const ParamSet& p) -> std::optional<std::string> {
         const std::int64_t t = p.integer("stability.exact_steps");
         if (t == 0) return std::nullopt;
         const std::string head = "stability.exact_steps = " + std::to_string(t) + ": ";
         const std::int64_t steps = p.integer("optimizer.steps");
         if (t > steps) {
           return head + "must be <= optimizer.steps (" + std::to_string(steps) +
                  "); the enumeration follows the run's own updates";
         }
         if (p.integer("record.every") == 0) {
           return head +
                  "needs record.every > 0 (the expectations are traces on the record "
                  "schedule)";
         }
         if (p.text("stability.sgd_checks") != "true") {
           return head +
                  "needs stability.sgd_checks = true (false turns the SGD checks, the "
                  "enumeration among them, off)";
         }
         if (p.text("data.mode") != "finite") {
           return head +
                  "needs data.mode = finite (online batches are fresh samples: there is "
                  "no finite set of batch sequences to enumerate)";
         }
         const bool gd = p.text("optimizer.method") == "gd";
         if (!gd && p.text("optimizer.sampling") != "iid") {
           return head +
                  "needs optimizer.sampling = iid (reshuffled batches are not drawn "
                  "independently at every step)";
         }
         const std::int64_t n = p.integer("data.n");
         const std::int64_t s = gd ? n : std::min(p.integer("optimizer.batch"), n);
         const double m = binomial(static_cast<Index>(n), static_cast<Index>(s));
         const double paths = std::pow(m, static_cast<double>(t));
         if (paths <= kMaxExactPaths) return std::nullopt;
         return head + "enumerates C(data.n, optimizer.batch)^" + std::to_string(t) + " = C(" +
                std::to_string(n) + ", " + std::to_string(s) + ")^" + std::to_string(t) + " = " +
                text::format_double(paths) +
                " batch sequences; at most 2^25 = 33554432 are allowed (fewer steps, or fewer "
                "batches)";
       }},
      {{"record.diagnostics"},
       [](const ParamSet& p) -> std::optional<std::string> {
         try {
           parse_diagnostics(p.text("record.diagnostics"));
         } catch (const ConfigError& e) {
           return std::string(e.what());
         }
         return std::nullopt;
       }},
      {{"optimizer.steps", "record.final_window"},
       [](const ParamSet& p) -> std::optional<std::string> {
         const std::int64_t window = p.integer("record.final_window");
         const std::int64_t steps = p.integer("optimizer.steps");
         if (window <= steps) return std::nullopt;
         return "record.final_window = " + std::to_string(window) +
                ": must be <= optimizer.steps (" + std::to_string(steps) +
                "); the window is the last k steps of the run";
       }},
  };
  return rules;
}

// -------------------------------------------------------------------------------------- numbers
double parse_number(const ParamDef& def, std::string_view raw) {
  const std::string s(text::trim(raw));
  const auto fail = [&](const std::string& why) -> double {
    throw ConfigError(text::setting(def.key, raw) + ": " + why);
  };
  if (s.empty()) fail("empty; expected a number");
  // inf, infinity and nan (any case, any sign) are numbers to strtod, but no setting takes them:
  // the same words as a literal past the range of a double (1e400).
  std::string word = s.substr(
      s.find_first_not_of("+-") == std::string::npos ? s.size() : s.find_first_not_of("+-"));
  for (char& c : word) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (word == "inf" || word == "infinity" || word == "nan") {
    fail("not a finite number; settings take finite numbers only");
  }
  if (s.find_first_not_of("0123456789+-.eE") != std::string::npos) fail("not a number");
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) fail("not a number");
  if (!std::isfinite(v)) fail("not a finite number; settings take finite numbers only");
  if (def.kind == ParamKind::Integer) {
    if (std::fabs(v) > kMaxInteger) {
      fail("too large; integers must be at most 2^53 = 9007199254740992 in magnitude");
    }
    if (v != std::floor(v)) fail(def.range.describe(def.kind));
  }
  return v;
}

namespace {

/// The numbers of a vector ("a, b") or matrix ("a, b; c, d") literal, checked element by element.
Value parse_array(const ParamDef& def, std::string_view raw) {
  const std::string_view s = text::trim(raw);
  const std::string head = text::setting(def.key, raw) + ": ";
  Value v;
  if (s.empty()) return v;  // an empty vector or matrix
  const auto rows = text::split(s, ';');
  if (def.kind == ParamKind::Vector && rows.size() > 1) {
    throw ConfigError(head +
                      "a vector has one row (values separated by ','); ';' separates the "
                      "rows of a matrix");
  }
  std::vector<std::string> row_texts;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const auto items = text::split(rows[r], ',');
    if (r > 0 && items.size() != v.cols) {
      throw ConfigError(head + "row " + std::to_string(r + 1) + " has " +
                        std::to_string(items.size()) + " value(s) but row 1 has " +
                        std::to_string(v.cols) + "; every row must have the same length");
    }
    v.cols = items.size();
    std::vector<std::string> item_texts;
    for (std::size_t c = 0; c < items.size(); ++c) {
      const std::string where =
          def.kind == ParamKind::Matrix
              ? "element (" + std::to_string(r + 1) + ", " + std::to_string(c + 1) + ")"
              : "element " + std::to_string(c + 1);
      if (items[c].empty()) throw ConfigError(head + where + " is empty; " + def.rule());
      ParamDef element = def;
      element.kind = ParamKind::Real;
      double x = 0;
      try {
        x = parse_number(element, items[c]);
      } catch (const ConfigError&) {
        throw ConfigError(head + where + " '" + std::string(items[c]) +
                          "' is not a finite number; " + def.rule());
      }
      if (!def.range.contains(x)) {
        throw ConfigError(head + where + " (" + std::string(items[c]) +
                          ") breaks the rule: " + def.rule());
      }
      v.numbers.push_back(x);
      item_texts.push_back(text::format_double(x));
    }
    row_texts.push_back(text::join(item_texts, ", "));
  }
  v.rows = def.kind == ParamKind::Matrix ? rows.size() : v.numbers.size();
  if (def.kind == ParamKind::Vector) v.cols = 1;
  v.text = text::join(row_texts, "; ");
  return v;
}

}  // namespace

Value parse_value(const ParamDef& def, std::string_view raw) {
  Value v;
  switch (def.kind) {
    case ParamKind::Integer:
    case ParamKind::Real: {
      const double x = parse_number(def, raw);
      if (!def.range.contains(x)) {
        throw ConfigError(text::setting(def.key, raw) + ": " + def.rule());
      }
      v.text = std::string(text::trim(raw));
      v.numbers = {x};
      v.rows = v.cols = 1;
      return v;
    }
    case ParamKind::Choice:
    case ParamKind::Text:
      v.text = std::string(text::trim(raw));
      if (def.kind == ParamKind::Choice &&
          std::find(def.choices.begin(), def.choices.end(), v.text) == def.choices.end()) {
        throw ConfigError(text::setting(def.key, v.text) + ": " + def.rule());
      }
      return v;
    case ParamKind::Vector:
    case ParamKind::Matrix:
      return parse_array(def, raw);
  }
  return v;
}

// ------------------------------------------------------------------------------------- SweepSpec
int SweepSpec::find(std::string_view key) const {
  for (std::size_t i = 0; i < schema_.size(); ++i) {
    if (schema_[i].key == key) return static_cast<int>(i);
  }
  return -1;
}

double SweepSpec::number(std::string_view key) const {
  const int i = find(key);
  SYMSWEEP_VERIFY(i >= 0 && schema_[static_cast<std::size_t>(i)].numeric(),
                  "no numeric key '" + std::string(key) + "'");
  return values_[static_cast<std::size_t>(i)].numbers.front();
}

const std::string& SweepSpec::text(std::string_view key) const {
  const int i = find(key);
  SYMSWEEP_VERIFY(i >= 0 && schema_[static_cast<std::size_t>(i)].textual(),
                  "no text key '" + std::string(key) + "'");
  return values_[static_cast<std::size_t>(i)].text;
}

const Value& SweepSpec::value(std::string_view key) const {
  const int i = find(key);
  SYMSWEEP_VERIFY(i >= 0, "no key '" + std::string(key) + "'");
  return values_[static_cast<std::size_t>(i)];
}

bool SweepSpec::is_axis(std::string_view key) const {
  return std::any_of(axes_.begin(), axes_.end(), [&](const AxisSpec& a) { return a.key == key; });
}

std::string SweepSpec::config_text() const {
  std::ostringstream out;
  std::string section;
  for (std::size_t i = 0; i < schema_.size(); ++i) {
    const ParamDef& def = schema_[i];
    // A plain sweep's config text lists no [refine] keys (they were added later: an older
    // file's config_text must resolve to the same text).
    if (def.section() == "refine" && text("refine.axes").empty()) continue;
    if (def.section() != section) {
      section = def.section();
      out << (i == 0 ? "" : "\n") << '[' << section << "]\n";
    }
    if (is_axis(def.key)) continue;           // its values are in [axes]
    if (def.key == "sweep.output") continue;  // where results go is not part of what they are
    out << def.name() << " = " << values_[i].text << '\n';
  }
  if (!axes_.empty()) {
    out << "\n[axes]\n";
    for (const auto& axis : axes_) out << axis.key << " = " << axis.text << '\n';
  }
  return out.str();
}

// -------------------------------------------------------------------------------------- ParamSet
const Value& ParamSet::checked(std::string_view key, bool (*kind_ok)(ParamKind),
                               const char* what) const {
  const int i = spec_->find(key);
  SYMSWEEP_VERIFY(i >= 0 && kind_ok(spec_->schema()[static_cast<std::size_t>(i)].kind),
                  "no " + std::string(what) + " key '" + std::string(key) + "'");
  return *values_[static_cast<std::size_t>(i)];
}

double ParamSet::number(std::string_view key) const {
  return checked(
             key, [](ParamKind k) { return k == ParamKind::Integer || k == ParamKind::Real; },
             "numeric")
      .numbers.front();
}

const std::string& ParamSet::text(std::string_view key) const {
  return checked(
             key, [](ParamKind k) { return k == ParamKind::Text || k == ParamKind::Choice; },
             "text")
      .text;
}

const std::vector<double>& ParamSet::vector(std::string_view key) const {
  return checked(
             key, [](ParamKind k) { return k == ParamKind::Vector; }, "vector")
      .numbers;
}

const Value& ParamSet::value(std::string_view key) const {
  return checked(
      key, [](ParamKind) { return true; }, "any");
}

std::int64_t ParamSet::integer(std::string_view key) const {
  const double v = number(key);
  SYMSWEEP_VERIFY(v == std::floor(v) && std::fabs(v) <= kMaxInteger,
                  std::string(key) + " is not an integer below 2^53");
  return static_cast<std::int64_t>(v);
}

// --------------------------------------------------------------------------------------- parsing
namespace {

struct Entry {
  std::string key;  // "optimizer.eta" or "axes.optimizer.eta"
  std::string value;
  std::string where;  // "sweep.ini:12: " or "--set " (the prefix of its messages)
};

const char* const kSections[] = {"sweep",  "model",     "data",   "optimizer",
                                 "record", "stability", "refine", "axes"};

/// Reads INI text line by line: "[section]", "key = value", blank lines; '#' starts a comment
/// anywhere on a line. Keys come back as "section.key" in file order, each with its file:line.
/// (Boost.Program_options' reader gives no line numbers, hence this one.)
std::vector<Entry> read_ini(std::string_view ini_text, const std::string& source) {
  // A UTF-8 byte-order mark (some Windows editors write one) is not part of the first line.
  constexpr std::string_view kBom = "\xEF\xBB\xBF";
  if (ini_text.substr(0, kBom.size()) == kBom) ini_text.remove_prefix(kBom.size());
  std::vector<Entry> entries;
  std::string section;
  std::size_t line_no = 0;
  for (std::size_t at = 0; at <= ini_text.size();) {
    const std::size_t end = std::min(ini_text.find('\n', at), ini_text.size());
    const std::string_view raw = ini_text.substr(at, end - at);
    at = end + 1;
    ++line_no;
    const std::string where = source + ":" + std::to_string(line_no) + ": ";
    std::string_view line = raw.substr(0, std::min(raw.find('#'), raw.size()));
    line = text::trim(line);
    if (line.empty()) continue;
    if (line.front() == '[') {
      if (line.back() != ']') {
        throw ConfigError(where + text::quote(raw) + ": a section line is '[name]'");
      }
      section = std::string(text::trim(line.substr(1, line.size() - 2)));
      const auto known = std::find(std::begin(kSections), std::end(kSections), section);
      if (known == std::end(kSections)) {
        std::string lower = section;
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        const bool other_case =
            std::find(std::begin(kSections), std::end(kSections), lower) != std::end(kSections);
        throw ConfigError(where + "[" + text::quote(section, false) + "]: unknown section" +
                          (other_case ? "; section names are lower case: [" + lower + "]"
                                      : "; sections are " + text::join(kSections, ", ")));
      }
      continue;
    }
    const std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      throw ConfigError(where + text::quote(raw) + ": expected '[section]' or 'key = value'");
    }
    const std::string name(text::trim(line.substr(0, eq)));
    const std::string value(text::trim(line.substr(eq + 1)));
    if (name.empty() || name.find_first_of(" \t") != std::string::npos) {
      throw ConfigError(where + text::quote(raw) + ": a key is one word before '='");
    }
    if (section.empty()) {
      throw ConfigError(where + text::setting(name, value) +
                        ": every key must be inside a [section] (" + text::join(kSections, ", ") +
                        ")");
    }
    const std::string key = section + "." + name;
    for (const auto& e : entries) {
      if (e.key == key) {
        throw ConfigError(where + text::setting(key, value) + ": given twice (first at " +
                          e.where.substr(0, e.where.size() - 2) + "); a key may appear once");
      }
    }
    entries.push_back({key, value, where});
  }
  return entries;
}

Entry parse_override(const std::string& item) {
  const auto eq = item.find('=');
  if (eq == std::string::npos) {
    throw ConfigError("--set " + text::quote(item) + ": expected section.key=value");
  }
  std::string key(text::trim(std::string_view(item).substr(0, eq)));
  std::string value(text::trim(std::string_view(item).substr(eq + 1)));
  if (key.find('.') == std::string::npos || key.front() == '.' || key.back() == '.') {
    throw ConfigError("--set " + text::quote(item) +
                      ": the key must be section.key (e.g. optimizer.eta=0.1)");
  }
  return {std::move(key), std::move(value), "--set "};
}

/// Applies --set overrides: a later value replaces an earlier one. Setting a plain key drops its
/// axis (the key is fixed); setting an axis drops the plain key.
void apply_override(std::vector<Entry>& entries, Entry e) {
  const std::string axis_prefix = "axes.";
  const bool is_axis = e.key.rfind(axis_prefix, 0) == 0;
  const std::string twin = is_axis ? e.key.substr(axis_prefix.size()) : axis_prefix + e.key;
  entries.erase(
      std::remove_if(entries.begin(), entries.end(), [&](const Entry& x) { return x.key == twin; }),
      entries.end());
  for (auto& x : entries) {
    if (x.key == e.key) {
      x = std::move(e);
      return;
    }
  }
  entries.push_back(std::move(e));
}

std::string known_keys_of(const std::vector<ParamDef>& schema, const std::string& section) {
  std::vector<std::string> names;
  for (const auto& def : schema) {
    if (def.section() == section) names.push_back(def.name());
  }
  return text::join(names, ", ");
}

std::string sweepable_keys(const std::vector<ParamDef>& schema) {
  std::vector<std::string> keys;
  for (const auto& def : schema) {
    if (def.sweepable) keys.push_back(def.key);
  }
  return text::join(keys, ", ");
}

[[noreturn]] void unknown_key(const Entry& e, const std::vector<ParamDef>& schema,
                              const std::string& model) {
  const std::string section = e.key.substr(0, e.key.find('.'));
  const std::string head = e.where + text::setting(e.key, e.value) + ": ";
  if (section == "axes") {
    throw ConfigError(
        head + "not a parameter that can be swept; sweepable keys: " + sweepable_keys(schema));
  }
  const std::string known = known_keys_of(schema, section);
  if (known.empty()) {
    throw ConfigError(head + "unknown section [" + section + "]; sections are " +
                      text::join(kSections, ", "));
  }
  throw ConfigError(head + "unknown key in [" + section + "]" +
                    (section == "model" ? " for model '" + model + "'" : std::string()) +
                    "; known keys: " + known);
}

/// Runs `fn`; a ConfigError it throws gets `where` ("sweep.ini:12: ", "--set ") in front.
template <class Fn>
auto located(const std::string& where, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const ConfigError& e) {
    throw ConfigError(where + e.what());
  }
}

/// sweep.common_random: a list of distinct keys that enter the random streams.
void check_common_random(const SweepSpec& spec) {
  const std::string& list = spec.text("sweep.common_random");
  if (text::trim(list).empty()) return;
  std::vector<std::string> keys, seen;
  for (const ParamDef& def : spec.schema()) {
    if (def.enters_streams) keys.push_back(def.key);
  }
  for (std::string_view item : text::split(list, ',')) {
    const std::string key(item);
    const std::string head = "sweep.common_random = '" + list + "': ";
    if (key == "sweep.seed") {
      throw ConfigError(head +
                        "sweep.seed cannot be common: the seed is what makes repeats "
                        "independent");
    }
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      throw ConfigError(head + "'" + key + "' is not a key whose value keys the random streams; " +
                        "such keys: " + text::join(keys, ", "));
    }
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
      throw ConfigError(head + "'" + key + "' is named twice");
    }
    seen.push_back(key);
  }
}

/// Runs every cross rule over every combination of the axes it reads (usually a tiny product).
/// Building the grid also checks its size.
void check_rules(const SweepSpec& spec) {
  const Grid grid(spec);
  for (const auto& rule : spec.rules()) {
    const auto reads = [&](const std::string& key) {
      return std::find(rule.keys.begin(), rule.keys.end(), key) != rule.keys.end();
    };
    grid.for_each_combination(reads, [&](const ParamSet& params) {
      if (auto err = rule.check(params)) {
        std::string where;
        for (const auto& axis : spec.axes()) {
          if (!reads(axis.key)) continue;
          where += (where.empty() ? "" : ", ") + axis.key + " = " + params.value(axis.key).text;
        }
        throw ConfigError(*err + (where.empty() ? "" : " (at grid points with " + where + ")"));
      }
    });
  }
}

}  // namespace

SweepSpec parse_spec(std::string_view ini_text, const std::vector<std::string>& overrides,
                     const std::string& source) {
  std::vector<Entry> entries = read_ini(ini_text, source);
  for (const std::string& item : overrides) apply_override(entries, parse_override(item));

  // The model decides which model.* keys exist.
  const auto model_entry = std::find_if(entries.begin(), entries.end(),
                                        [](const Entry& e) { return e.key == "model.name"; });
  const std::string known_models = text::join(model_names(), ", ");
  if (model_entry == entries.end()) {
    throw ConfigError(
        source + ": model.name: missing; set it in [model] (known models: " + known_models + ")");
  }
  const ModelInfo* model = find_model(model_entry->value);
  if (model == nullptr) {
    throw ConfigError(model_entry->where + text::setting("model.name", model_entry->value) +
                      ": unknown model; known models: " + known_models);
  }

  SweepSpec spec;
  spec.schema_ = common_params();
  // Model parameters go right after model.name, so [model] stays one block.
  const auto after_name = std::find_if(spec.schema_.begin(), spec.schema_.end(),
                                       [](const ParamDef& d) { return d.key == "model.name"; }) +
                          1;
  spec.schema_.insert(after_name, model->params.begin(), model->params.end());
  spec.rules_ = common_rules();
  spec.rules_.insert(spec.rules_.end(), model->rules.begin(), model->rules.end());

  const std::size_t nparams = spec.schema_.size();
  std::vector<std::string> texts(nparams);
  std::vector<std::string> where(nparams);  // message prefix of a given key
  spec.values_.resize(nparams);
  std::vector<bool> given(nparams, false);

  // Plain keys first, then axes (both in the order given).
  std::vector<const Entry*> axis_entries;
  for (const Entry& e : entries) {
    if (e.key.rfind("axes.", 0) == 0) {
      axis_entries.push_back(&e);
      continue;
    }
    const int i = spec.find(e.key);
    if (i < 0) unknown_key(e, spec.schema_, model->name);
    given[static_cast<std::size_t>(i)] = true;
    texts[static_cast<std::size_t>(i)] = std::string(text::trim(e.value));
    where[static_cast<std::size_t>(i)] = e.where;
  }
  for (std::size_t i = 0; i < nparams; ++i) {
    const ParamDef& def = spec.schema_[i];
    if (!given[i]) texts[i] = def.default_text;
    if (def.key == "sweep.output" && texts[i].empty()) texts[i] = spec.text("sweep.name") + ".h5";
    if (def.kind == ParamKind::Text && texts[i].empty() && !def.default_text.empty()) {
      throw ConfigError(where[i] + def.key + " = '': must not be empty");
    }
    spec.values_[i] = located(where[i], [&] { return parse_value(def, texts[i]); });
  }
  const std::string& name = spec.text("sweep.name");
  if (name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") !=
      std::string::npos) {
    throw ConfigError(where[static_cast<std::size_t>(spec.find("sweep.name"))] +
                      text::setting("sweep.name", name) +
                      ": may contain only letters, digits, '_', '.' and '-'");
  }

  for (const Entry* e : axis_entries) {
    const std::string key = e->key.substr(5);
    const int i = spec.find(key);
    if (i < 0 || !spec.schema_[static_cast<std::size_t>(i)].sweepable) {
      unknown_key(*e, spec.schema_, model->name);
    }
    if (given[static_cast<std::size_t>(i)]) {
      throw ConfigError(e->where + text::setting(e->key, e->value) + ": " + key +
                        " is also set in its section (" + where[static_cast<std::size_t>(i)] +
                        text::quote(texts[static_cast<std::size_t>(i)]) +
                        "); a key is either fixed or swept, not both");
    }
    AxisSpec axis;
    axis.key = key;
    axis.text = std::string(text::trim(e->value));
    axis.kind = spec.schema_[static_cast<std::size_t>(i)].kind;
    axis.values = located(
        e->where, [&] { return parse_axis(spec.schema_[static_cast<std::size_t>(i)], axis.text); });
    spec.axes_.push_back(std::move(axis));
  }

  // Explicit data matrices must fit the model: checked only when one is given (it builds models).
  const bool matrices =
      std::any_of(std::begin(kDataMatrices), std::end(kDataMatrices), [&](const char* key) {
        if (!spec.value(key).numbers.empty()) return true;
        for (const AxisSpec& axis : spec.axes()) {
          if (axis.key != key) continue;
          for (const Value& v : axis.values) {
            if (!v.numbers.empty()) return true;
          }
        }
        return false;
      });
  if (matrices) spec.rules_.push_back(data_shape_rule(spec.schema_));

  check_common_random(spec);
  check_rules(spec);
  refine_spec(spec);  // [refine] against the grid (its field is checked with the sweep's fields)
  return spec;
}

std::string read_config_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw ConfigError("config file " + text::quote(path) + ": is a directory; name an INI file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("config file " + text::quote(path) + ": cannot be opened for reading");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace symsweep
