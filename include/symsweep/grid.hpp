// The sweep grid: the Cartesian product of the axes, flattened row-major (the last axis varies
// fastest), so that flat index p, coordinates (i_0, ..., i_{k-1}) and the parameter set of a point
// convert into one another. The flat index is also the order of elements in every N-D dataset of
// the result file.
//
// Axis grammar for numeric keys (one axis per key in [axes]):
//     1, 2, 4              explicit list
//     linspace(a, b, n)    n values from a to b inclusive, evenly spaced
//     logspace(a, b, n)    10^linspace(a, b, n)
//     geomspace(a, b, n)   n values from a to b inclusive, evenly spaced in log (a, b > 0)
//     range(a, b[, step])  a, a+step, ... while < b (> b for a negative step); step defaults to 1
// Values are computed as a + k*step (never accumulated), so they do not drift.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "symsweep/spec.hpp"

namespace symsweep {

/// Expands one axis expression for `def`. Numeric keys take the grammar above; Text and Choice
/// keys a list of words separated by ','; Vector and Matrix keys a list of literals separated by
/// '|' (e.g. "0.3, 0 | -0.3, 0"). Checks every value against the parameter's kind and rule, and
/// that values are distinct; Integer values from linspace/logspace/geomspace are rounded when
/// within 1e-9 of an integer. Throws ConfigError naming "axes.<key>", the text and the rule.
std::vector<Value> parse_axis(const ParamDef& def, std::string_view text);

class Grid {
 public:
  explicit Grid(const SweepSpec& spec);

  /// Number of points (1 for a sweep without axes).
  std::uint64_t size() const { return size_; }
  /// Number of axes.
  std::size_t ndims() const { return shape_.size(); }
  /// Length of every axis, in [axes] order.
  const std::vector<std::uint64_t>& shape() const { return shape_; }
  const std::vector<AxisSpec>& axes() const { return spec_->axes(); }
  const SweepSpec& spec() const { return *spec_; }

  /// Coordinates of flat index p (row-major).
  std::vector<std::uint64_t> coords(std::uint64_t p) const;
  /// Flat index of coordinates; throws Error when a coordinate is out of range.
  std::uint64_t flat(const std::vector<std::uint64_t>& coords) const;
  /// The full parameter set of point p.
  ParamSet params(std::uint64_t p) const;

  /// Calls `fn` with the parameter set of every combination of the values of the axes whose key
  /// `select` accepts, every other key at its base value: the sub-grid a rule or a size depends on
  /// (one call when no axis is selected).
  void for_each_combination(const std::function<bool(const std::string&)>& select,
                            const std::function<void(const ParamSet&)>& fn) const;

 private:
  std::vector<const Value*> base_values() const;
  const SweepSpec* spec_;
  std::vector<std::uint64_t> shape_;
  std::vector<std::uint64_t> strides_;  // row-major strides in points
  std::vector<int> axis_param_;         // schema index of every axis
  std::uint64_t size_ = 1;
};

}  // namespace symsweep
