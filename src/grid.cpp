// Axis expressions and row-major grid indexing. See grid.hpp.
#include "symsweep/grid.hpp"

#include <algorithm>
#include <cmath>

#include "detmath.hpp"
#include "symsweep/error.hpp"
#include "text.hpp"

namespace symsweep {

namespace {

constexpr std::uint64_t kMaxPoints = std::uint64_t{1} << 40;
constexpr double kMaxAxisValues = 1e6;

struct Call {
  std::string_view fn;                 // "linspace", ... or "" for a list
  std::vector<std::string_view> args;  // trimmed
};

/// "linspace(0, 1, 5)" -> {"linspace", {"0", "1", "5"}}; "1, 2" -> {"", {"1", "2"}}.
Call split_call(std::string_view s) {
  s = text::trim(s);
  const auto open = s.find('(');
  if (open != std::string_view::npos && !s.empty() && s.back() == ')') {
    return {text::trim(s.substr(0, open)),
            text::split(s.substr(open + 1, s.size() - open - 2), ',')};
  }
  return {"", text::split(s, ',')};
}

}  // namespace

namespace {

/// An axis of Text, Choice, Vector or Matrix values: a list of values separated by ',' (words) or
/// '|' (vectors and matrices, whose literals contain ','), each parsed as a value of the key.
std::vector<Value> parse_value_axis(const ParamDef& def, std::string_view expr,
                                    const std::string& head) {
  const char sep = def.textual() ? ',' : '|';
  ParamDef as_axis = def;  // errors name the axis: "axes.<key> = '<value>': <rule>"
  as_axis.key = "axes." + def.key;
  std::vector<Value> values;
  for (std::string_view item : text::split(expr, sep)) {
    if (def.textual() && item.empty()) {
      throw ConfigError(head + "an empty item; values are separated by ','");
    }
    Value v = parse_value(as_axis, item);
    for (const Value& earlier : values) {
      if (earlier.text == v.text) {
        throw ConfigError(head + "value '" + v.text +
                          "' appears twice; axis values must be distinct");
      }
    }
    values.push_back(std::move(v));
  }
  if (static_cast<double>(values.size()) > kMaxAxisValues) {
    throw ConfigError(head + "more than " + text::format_double(kMaxAxisValues) + " values");
  }
  return values;
}

}  // namespace

std::vector<Value> parse_axis(const ParamDef& def, std::string_view expr) {
  const std::string key = "axes." + def.key;
  const std::string head = key + " = '" + std::string(expr) + "': ";
  if (text::trim(expr).empty()) throw ConfigError(head + "an axis needs at least one value");
  if (!def.numeric()) return parse_value_axis(def, expr, head);

  // Numbers inside an axis expression are parsed as reals, then checked against `def`.
  ParamDef as_real = def;
  as_real.key = key;
  as_real.kind = ParamKind::Real;
  const auto num = [&](std::string_view s) {
    try {
      return parse_number(as_real, s);
    } catch (const ConfigError&) {
      throw ConfigError(head + "'" + std::string(s) + "' is not a number");
    }
  };
  const auto count = [&](std::string_view s) -> std::size_t {
    const double n = num(s);
    if (n != std::floor(n) || n < 0 || n > kMaxAxisValues) {
      throw ConfigError(head + "the count " + std::string(s) + " must be a whole number in [0, " +
                        text::format_double(kMaxAxisValues) + "]");
    }
    return static_cast<std::size_t>(n);
  };

  const Call call = split_call(expr);
  std::vector<double> values;
  bool generated = true;
  if (call.fn.empty()) {
    generated = false;
    for (auto a : call.args) values.push_back(num(a));
  } else if (call.fn == "linspace" || call.fn == "logspace" || call.fn == "geomspace") {
    if (call.args.size() != 3) {
      throw ConfigError(head + std::string(call.fn) + " takes 3 arguments (start, stop, count)");
    }
    double a = num(call.args[0]);
    double b = num(call.args[1]);
    const std::size_t n = count(call.args[2]);
    if (call.fn == "geomspace") {
      if (!(a > 0 && b > 0)) throw ConfigError(head + "geomspace needs start > 0 and stop > 0");
      a = det::log10(a);
      b = det::log10(b);
    }
    for (std::size_t k = 0; k < n; ++k) {
      const double t = n == 1 ? 0.0 : static_cast<double>(k) / static_cast<double>(n - 1);
      double v = k + 1 == n && n > 1 ? b : a + (b - a) * t;
      if (call.fn != "linspace") v = det::pow10(v);  // the same bits on every CPU
      values.push_back(v);
    }
    if (call.fn == "geomspace" && n > 0) {  // endpoints exactly as written
      values.front() = num(call.args[0]);
      if (n > 1) values.back() = num(call.args[1]);
    }
  } else if (call.fn == "range") {
    if (call.args.size() != 2 && call.args.size() != 3) {
      throw ConfigError(head + "range takes 2 or 3 arguments (start, stop[, step])");
    }
    const double a = num(call.args[0]);
    const double b = num(call.args[1]);
    const double step = call.args.size() == 3 ? num(call.args[2]) : 1.0;
    if (step == 0) throw ConfigError(head + "the step of range must not be 0");
    const double span = (b - a) / step;
    const double n = span <= 0 ? 0 : std::ceil(span - 1e-9);
    if (n > kMaxAxisValues) {
      throw ConfigError(head + "range gives more than " + text::format_double(kMaxAxisValues) +
                        " values");
    }
    for (std::size_t k = 0; k < static_cast<std::size_t>(n); ++k) {
      values.push_back(a + static_cast<double>(k) * step);
    }
  } else {
    throw ConfigError(head + "unknown function '" + std::string(call.fn) +
                      "'; an axis is a list (1, 2, 4) or linspace(a, b, n), logspace(a, b, n), "
                      "geomspace(a, b, n), range(a, b[, step])");
  }

  if (values.empty()) throw ConfigError(head + "an axis needs at least one value");
  for (double& v : values) {
    if (!std::isfinite(v)) {
      throw ConfigError(head + "value " + text::format_double(v) + " is not a finite number");
    }
    if (def.kind == ParamKind::Integer) {
      const double r = std::round(v);
      if (generated && std::fabs(v - r) <= 1e-9 * std::max(1.0, std::fabs(r))) v = r;
      if (v != r) {
        throw ConfigError(head + "value " + text::format_double(v) + " " +
                          def.range.describe(def.kind));
      }
    }
    if (!def.range.contains(v)) {
      throw ConfigError(head + "value " + text::format_double(v) + " " +
                        def.range.describe(def.kind));
    }
  }
  std::vector<double> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  const auto dup = std::adjacent_find(sorted.begin(), sorted.end());
  if (dup != sorted.end()) {
    throw ConfigError(head + "value " + text::format_double(*dup) +
                      " appears twice; axis values must be distinct");
  }
  std::vector<Value> out(values.size());
  for (std::size_t k = 0; k < values.size(); ++k) {
    out[k].text = text::format_double(values[k]);
    out[k].numbers = {values[k]};
    out[k].rows = out[k].cols = 1;
  }
  return out;
}

Grid::Grid(const SweepSpec& spec) : spec_(&spec) {
  std::string shape_text;
  bool too_big = false;
  for (const auto& axis : spec.axes()) {
    shape_.push_back(axis.values.size());
    axis_param_.push_back(spec.find(axis.key));
    SYMSWEEP_VERIFY(axis_param_.back() >= 0, "axis " + axis.key + " is not in the schema");
    shape_text += (shape_text.empty() ? "" : " x ") + axis.key + "[" +
                  std::to_string(axis.values.size()) + "]";
    too_big = too_big || size_ > kMaxPoints / axis.values.size();
    if (!too_big) size_ *= axis.values.size();
  }
  if (too_big) {
    throw ConfigError("axes = " + shape_text + ": the grid must have at most 2^40 (" +
                      std::to_string(kMaxPoints) + ") points; split the sweep");
  }
  strides_.assign(shape_.size(), 1);
  for (std::size_t d = shape_.size(); d-- > 1;) strides_[d - 1] = strides_[d] * shape_[d];
}

std::vector<std::uint64_t> Grid::coords(std::uint64_t p) const {
  SYMSWEEP_VERIFY(p < size_, "point index out of range");
  std::vector<std::uint64_t> c(shape_.size());
  for (std::size_t d = 0; d < shape_.size(); ++d) {
    c[d] = p / strides_[d];
    p %= strides_[d];
  }
  return c;
}

std::uint64_t Grid::flat(const std::vector<std::uint64_t>& c) const {
  SYMSWEEP_VERIFY(c.size() == shape_.size(), "wrong number of coordinates");
  std::uint64_t p = 0;
  for (std::size_t d = 0; d < shape_.size(); ++d) {
    SYMSWEEP_VERIFY(c[d] < shape_[d], "coordinate out of range");
    p += c[d] * strides_[d];
  }
  return p;
}

std::vector<const Value*> Grid::base_values() const {
  std::vector<const Value*> values;
  values.reserve(spec_->base_values().size());
  for (const Value& v : spec_->base_values()) values.push_back(&v);
  return values;
}

ParamSet Grid::params(std::uint64_t p) const {
  std::vector<const Value*> values = base_values();
  const auto c = coords(p);
  for (std::size_t d = 0; d < c.size(); ++d) {
    values[static_cast<std::size_t>(axis_param_[d])] = &spec_->axes()[d].values[c[d]];
  }
  return ParamSet(*spec_, std::move(values));
}

void Grid::for_each_combination(const std::function<bool(const std::string&)>& select,
                                const std::function<void(const ParamSet&)>& fn) const {
  std::vector<std::size_t> chosen;
  for (std::size_t d = 0; d < shape_.size(); ++d) {
    if (select(spec_->axes()[d].key)) chosen.push_back(d);
  }
  std::vector<std::uint64_t> at(chosen.size(), 0);
  while (true) {
    std::vector<const Value*> values = base_values();
    for (std::size_t j = 0; j < chosen.size(); ++j) {
      values[static_cast<std::size_t>(axis_param_[chosen[j]])] =
          &spec_->axes()[chosen[j]].values[at[j]];
    }
    fn(ParamSet(*spec_, std::move(values)));
    // Odometer over the chosen axes, the last fastest.
    std::size_t j = chosen.size();
    while (j > 0 && ++at[j - 1] == shape_[chosen[j - 1]]) at[--j] = 0;
    if (j == 0) return;
  }
}

}  // namespace symsweep
