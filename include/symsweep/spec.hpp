// The sweep specification: an INI file plus `--set key=value` overrides, turned into one validated
// SweepSpec. (The INI reader is symsweep's own, not Boost.Program_options', so that every message
// can name the file and line.)
//
// Every parameter is declared once, in a schema (ParamDef): its key `section.name`, kind, default,
// rule and help. The schema drives parsing, validation, `symsweep --help` and the resolved config
// text stored in every result file, so those four can never disagree. Common sections are declared
// in spec.cpp; each model declares its own `model.*` parameters in its registry entry (model.hpp).
//
// Values have one grammar for every key, by kind:
//
//     Integer, Real   one number                     eta = 0.01
//     Text            free text                      name = edge_of_stability
//     Choice          one word of a fixed list       mode = online
//     Vector          reals separated by ','         x0 = 0.01, 0
//     Matrix          rows separated by ';'          teacher = 1, 0.5, 0; 0, 1, -0.5
//
// A Vector or Matrix may be empty (nothing after '='); the code that reads it says whether that is
// allowed. Ranges apply to every element. The resolved config text stores scalars and text as
// written (trimmed) and vectors and matrices in canonical form: every number in its shortest
// round-trip form, ", " between values, "; " between rows.
//
// A parameter marked sweepable (any kind) becomes an axis of the sweep when `[axes]` names it:
//
//     [axes]
//     optimizer.eta   = logspace(-2, 0, 9)     # numbers: a list or a generator (grid.hpp)
//     optimizer.batch = 1, 2, 4, 8
//     data.mode       = finite, online         # choices and text: words separated by ','
//     model.x0        = 0.3 | -0.3 | 1         # vectors and matrices: values separated by '|'
//
// Validation lives here and only here. Every error is a ConfigError whose message names where the
// value came from, the key, the value and the rule it breaks (README.md, "Messages"):
//     sweep.ini:12: optimizer.eta = '-1': must be > 0
//     --set optimizer.eta = '-1': must be > 0
// Values are quoted with text::quote: cut after 120 bytes, non-printable bytes escaped.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace symsweep {

enum class ParamKind {
  Integer,  ///< whole number (stored as double, exact below 2^53)
  Real,     ///< finite real number
  Text,     ///< free text (names, paths)
  Choice,   ///< one of a fixed list of words
  Vector,   ///< finite reals "a, b, c" (possibly none)
  Matrix,   ///< rows of finite reals "a, b; c, d", every row the same length (possibly none)
};

/// "an integer", "a real number", "text", "one of ...", "a vector", "a matrix": for messages.
const char* to_string(ParamKind kind);

/// One parameter value of any kind.
struct Value {
  /// Canonical text: scalars and text as written (trimmed); vectors and matrices rebuilt from
  /// their numbers (see the header comment). Parsing it again gives the same Value.
  std::string text;
  /// Integer, Real: one number; Vector: its elements; Matrix: its elements row by row;
  /// Text, Choice: none.
  std::vector<double> numbers;
  std::size_t rows = 0;  ///< Matrix: rows; Vector: elements; scalars: 1; Text, Choice: 0
  std::size_t cols = 0;  ///< Matrix: columns; Vector and scalars: 1; Text, Choice: 0
};

/// The allowed interval of a numeric parameter.
struct Range {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false;  ///< true: value > lo; false: value >= lo
  bool hi_open = false;  ///< true: value < hi; false: value <= hi

  bool contains(double v) const;
  /// "must be > 0", "must be an integer >= 1", "must be in [0, 1)"...
  std::string describe(ParamKind kind) const;

  static Range at_least(double lo) { return Range{lo, std::numeric_limits<double>::infinity()}; }
  static Range above(double lo) {
    return Range{lo, std::numeric_limits<double>::infinity(), true, false};
  }
  static Range any() { return Range{}; }
};

/// One configuration key.
struct ParamDef {
  std::string key;  ///< "section.name", e.g. "optimizer.eta"
  ParamKind kind = ParamKind::Real;
  std::string default_text;          ///< used when the key is absent
  std::string help;                  ///< one line for --help and the docs
  Range range;                       ///< Integer and Real only
  std::vector<std::string> choices;  ///< Choice only
  bool sweepable = true;             ///< may be an axis in [axes]
  /// Its value changes the simulated path, so it keys the random streams (rng.hpp); false for
  /// keys that only say how long to run or what to observe.
  bool enters_streams = true;

  std::string section() const;  ///< "optimizer"
  std::string name() const;     ///< "eta"
  /// A scalar number (Integer or Real).
  bool numeric() const { return kind == ParamKind::Integer || kind == ParamKind::Real; }
  /// Text or Choice.
  bool textual() const { return kind == ParamKind::Text || kind == ParamKind::Choice; }
  /// The rule a value must follow, e.g. "must be > 0", "must be one of finite, online",
  /// "must be a matrix of finite numbers >= 0".
  std::string rule() const;
};

class ParamSet;

/// A rule that ties several parameters together (e.g. batch <= n). `check` returns an error
/// message naming the key, the value and the rule, or nothing when the point is valid.
struct CrossRule {
  std::vector<std::string> keys;  ///< every key the rule reads
  std::function<std::optional<std::string>(const ParamSet&)> check;
};

/// What a point measures along the run and at the end (record.diagnostics; README, "What a point
/// computes"). Each diagnostic has a field in /traces (measured at every trace record), in
/// /results (measured once, at the end), or both; a diagnostic not asked for is neither measured
/// nor declared in the file. A value is `default` (every diagnostic: the fields the model has),
/// `none`, or a comma-separated list of names, each meaning both of its fields, or one of them
/// with `results.` or `traces.` before it: `loss, C, results.sharpness`.
struct Diagnostics {
  enum Name : int {
    loss,           ///< /traces/loss (the final loss is always measured)
    C,              ///< /traces/C and /results/C_final: the conserved spectrum
    theta_norm,     ///< |theta|
    hessian_trace,  ///< Tr H
    sharpness,      ///< lambda_max: dense on traces (d <= 64), Lanczos at the end above
    grad_noise,     ///< Tr Sigma_l per layer (per-sample gradients)
    noether_flow,   ///< Tr[A_k Sigma] per generator (per-sample gradients)
    dist_to_min,    ///< /traces/dist_to_min
    model,          ///< the model's own traces (linear2: eq_gap)
    count
  };
  std::array<bool, count> at_end{};     ///< measured at the end (its /results field)
  std::array<bool, count> on_traces{};  ///< measured at every trace record (its /traces field)

  bool end(Name n) const { return at_end[n]; }
  bool traced(Name n) const { return on_traces[n]; }
  /// Whether the diagnostic has a /results field, a /traces field.
  static bool has_end(Name n);
  static bool has_traces(Name n);
  /// The name in a config value, e.g. "grad_noise".
  static const char* name(Name n);
  /// Every diagnostic wherever it has a field (the value `default`).
  static Diagnostics all();
};

/// Parses a value of record.diagnostics. Throws ConfigError naming the key, the value and the
/// rule for an unknown name, an empty item, a scope the diagnostic has no field in, or
/// `default`/`none` beside other names.
Diagnostics parse_diagnostics(std::string_view value);

/// Parameters common to every sweep ([sweep], [data], [optimizer], [record]), in --help order.
std::vector<ParamDef> common_params();
/// Cross-parameter rules of the common sections.
const std::vector<CrossRule>& common_rules();

/// One swept parameter: its key, the text the user wrote and the values it expands to.
struct AxisSpec {
  std::string key;   ///< e.g. "optimizer.eta"
  std::string text;  ///< e.g. "logspace(-2, 0, 9)", kept verbatim for provenance
  ParamKind kind = ParamKind::Real;
  std::vector<Value> values;
  /// The values of a numeric axis (Integer or Real) as numbers; throws for other kinds.
  std::vector<double> numbers() const;
};

/// The validated description of a whole sweep.
class SweepSpec {
 public:
  /// Sweep name ([sweep] name).
  const std::string& name() const { return text("sweep.name"); }
  /// Output path ([sweep] output, or -o on the command line).
  const std::string& output() const { return text("sweep.output"); }
  /// The model's registry name ([model] name).
  const std::string& model() const { return text("model.name"); }

  /// Schema of this sweep: common parameters followed by the model's own.
  const std::vector<ParamDef>& schema() const { return schema_; }
  /// Swept parameters in the order `[axes]` lists them (row-major: the last varies fastest).
  const std::vector<AxisSpec>& axes() const { return axes_; }

  /// Position of `key` in schema(), or -1.
  int find(std::string_view key) const;
  /// Base (unswept) value of a numeric key; throws for unknown or non-numeric keys.
  double number(std::string_view key) const;
  /// Base value of a text or choice key; throws for unknown keys or keys of other kinds.
  const std::string& text(std::string_view key) const;
  /// Base value of any key; throws for unknown keys.
  const Value& value(std::string_view key) const;
  /// True when `key` is one of the axes.
  bool is_axis(std::string_view key) const;

  /// Canonical INI text of the resolved configuration: every key with its value (defaults
  /// included), axes verbatim, except sweep.output (where the results go is not part of what
  /// they are, so the same sweep written to two files has one config_sha256). Parsing it again
  /// gives an identical SweepSpec up to the output path.
  std::string config_text() const;

  /// Base values per schema entry.
  const std::vector<Value>& base_values() const { return values_; }
  /// Cross rules in force (common + model).
  const std::vector<CrossRule>& rules() const { return rules_; }

 private:
  friend SweepSpec parse_spec(std::string_view, const std::vector<std::string>&,
                              const std::string&);
  std::vector<ParamDef> schema_;
  std::vector<Value> values_;  // per schema entry
  std::vector<AxisSpec> axes_;
  std::vector<CrossRule> rules_;
};

/// The values of every parameter at one grid point: base values with the axes' values applied.
/// Refers to the SweepSpec's values, which must outlive it.
class ParamSet {
 public:
  /// values: one per schema entry of `spec`.
  ParamSet(const SweepSpec& spec, std::vector<const Value*> values)
      : spec_(&spec), values_(std::move(values)) {}
  /// A numeric key's value; throws for other kinds.
  double number(std::string_view key) const;
  /// number(key) checked to be integral and converted.
  std::int64_t integer(std::string_view key) const;
  /// A text or choice key's value; throws for other kinds.
  const std::string& text(std::string_view key) const;
  /// A vector key's elements; throws for other kinds.
  const std::vector<double>& vector(std::string_view key) const;
  /// Any key's value.
  const Value& value(std::string_view key) const;
  const SweepSpec& spec() const { return *spec_; }

 private:
  const Value& checked(std::string_view key, bool (*kind_ok)(ParamKind), const char* what) const;
  const SweepSpec* spec_;
  std::vector<const Value*> values_;  // per schema entry
};

/// Parses INI text and `section.key=value` overrides (applied in order, after the file) into a
/// validated SweepSpec. A `--set` of a key that is swept fixes it (the axis is dropped); a key
/// given both in its section and in [axes] of the file is an error. `source` names the text in
/// messages ("sweep.ini:12: ..."). Throws ConfigError naming the place, the key, the value and
/// the rule.
SweepSpec parse_spec(std::string_view ini_text, const std::vector<std::string>& overrides = {},
                     const std::string& source = "config");

/// The contents of a config file. A directory or an unreadable file is a ConfigError naming the
/// path.
std::string read_config_file(const std::string& path);

/// Parses one number for `key` strictly: the whole text must be a finite number (and integral for
/// Integer keys). Throws ConfigError "key = 'text': not a number" otherwise.
double parse_number(const ParamDef& def, std::string_view text);

/// Parses and validates one value of `def`'s kind (range, choices, matrix shape). Throws
/// ConfigError naming the key, the value and the rule.
Value parse_value(const ParamDef& def, std::string_view text);

}  // namespace symsweep
