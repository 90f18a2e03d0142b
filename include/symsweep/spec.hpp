// The sweep specification: an INI file (read by Boost.Program_options) plus `--set key=value`
// overrides, turned into one validated SweepSpec.
//
// Every parameter is declared once, in a schema (ParamDef): its key `section.name`, kind, default,
// rule and help. The schema drives parsing, validation, `symsweep --help` and the resolved config
// text stored in every result file, so those four can never disagree. Common sections are declared
// in spec.cpp; each model declares its own `model.*` parameters in its registry entry (model.hpp).
//
// A numeric parameter becomes an axis of the sweep when `[axes]` names it:
//
//     [axes]
//     optimizer.eta   = logspace(-2, 0, 9)
//     optimizer.batch = 1, 2, 4, 8
//
// Validation lives here and only here. Every error is a ConfigError whose message names the key,
// the value and the rule it breaks.
#pragma once

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
  bool sweepable = true;             ///< may be an axis (Integer and Real only)

  std::string section() const;  ///< "optimizer"
  std::string name() const;     ///< "eta"
  bool numeric() const { return kind == ParamKind::Integer || kind == ParamKind::Real; }
};

class ParamSet;

/// A rule that ties several parameters together (e.g. batch <= n). `check` returns an error
/// message naming the key, the value and the rule, or nothing when the point is valid.
struct CrossRule {
  std::vector<std::string> keys;  ///< every key the rule reads
  std::function<std::optional<std::string>(const ParamSet&)> check;
};

/// Parameters common to every sweep ([sweep], [data], [optimizer], [record]), in --help order.
const std::vector<ParamDef>& common_params();
/// Cross-parameter rules of the common sections.
const std::vector<CrossRule>& common_rules();

/// One swept parameter: its key, the text the user wrote and the values it expands to.
struct AxisSpec {
  std::string key;   ///< e.g. "optimizer.eta"
  std::string text;  ///< e.g. "logspace(-2, 0, 9)", kept verbatim for provenance
  std::vector<double> values;
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
  /// Value of a text or choice key; throws for unknown or numeric keys.
  const std::string& text(std::string_view key) const;
  /// True when `key` is one of the axes.
  bool is_axis(std::string_view key) const;

  /// Canonical INI text of the resolved configuration: every key with its value (defaults
  /// included), axes verbatim, except sweep.output (where the results go is not part of what
  /// they are, so the same sweep written to two files has one config_sha256). Parsing it again
  /// gives an identical SweepSpec up to the output path.
  std::string config_text() const;

  /// Numeric base values per schema entry (NaN for Text and Choice keys).
  const std::vector<double>& base_numbers() const { return numbers_; }
  /// Cross rules in force (common + model).
  const std::vector<CrossRule>& rules() const { return rules_; }

 private:
  friend SweepSpec parse_spec(std::string_view, const std::vector<std::string>&);
  std::vector<ParamDef> schema_;
  std::vector<std::string> texts_;  // per schema entry
  std::vector<double> numbers_;     // per schema entry; NaN for Text / Choice
  std::vector<AxisSpec> axes_;
  std::vector<CrossRule> rules_;
};

/// The values of every parameter at one grid point: base values with the axes' values applied.
class ParamSet {
 public:
  ParamSet(const SweepSpec& spec, std::vector<double> numbers)
      : spec_(&spec), numbers_(std::move(numbers)) {}
  double number(std::string_view key) const;
  /// number(key) checked to be integral and converted.
  std::int64_t integer(std::string_view key) const;
  const std::string& text(std::string_view key) const { return spec_->text(key); }
  const SweepSpec& spec() const { return *spec_; }
  const std::vector<double>& numbers() const { return numbers_; }

 private:
  const SweepSpec* spec_;
  std::vector<double> numbers_;  // per schema entry
};

/// Parses INI text and `section.key=value` overrides (applied in order, after the file) into a
/// validated SweepSpec. A `--set` of a key that is swept fixes it (the axis is dropped); a key
/// given both in its section and in [axes] of the file is an error.
/// Throws ConfigError naming the key, the value and the rule.
SweepSpec parse_spec(std::string_view ini_text, const std::vector<std::string>& overrides = {});

/// Reads `path` and calls parse_spec. An unreadable file is a ConfigError naming the path.
std::string read_config_file(const std::string& path);

/// Parses one number for `key` strictly: the whole text must be a finite number (and integral for
/// Integer keys). Throws ConfigError "key = 'text': not a number" otherwise.
double parse_number(const ParamDef& def, std::string_view text);

}  // namespace symsweep
