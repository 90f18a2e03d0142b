// One point (point 0) of a config parsed in the test, and its stored values by field name: the
// unit tests' view of what simulate_point (or a PointRun) wrote for it; or any point of it, run
// by index.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "symsweep/error.hpp"
#include "symsweep/grid.hpp"
#include "symsweep/simulate.hpp"
#include "symsweep/spec.hpp"

namespace symsweep::testing {

/// The parsed spec, its grid and fields, and `result` as the test fills it.
struct PointValues {
  PointValues(const std::string& ini, const std::vector<std::string>& sets)
      : spec(parse_spec(ini, sets)), grid(spec), fields(grid) {}
  double real(const char* name, std::size_t i = 0) const {
    return result.values.real(fields.schema().id(Group::results, name), i);
  }
  double trace(const char* name, std::size_t i) const {
    return result.values.real(fields.schema().id(Group::traces, name), i);
  }
  std::int64_t integer(const char* name) const {
    return result.values.integer(fields.schema().id(Group::results, name));
  }
  std::string member(const char* name) const {
    const FieldId id = fields.schema().id(Group::results, name);
    return fields.schema().field(id).members[result.values.code(id)];
  }
  SweepSpec spec;
  Grid grid;
  SweepFields fields;
  PointResult result;
};

/// Point 0 run by simulate_point.
struct SimulatedPoint : PointValues {
  SimulatedPoint(const std::string& ini, const std::vector<std::string>& sets)
      : PointValues(ini, sets) {
    result = simulate_point(grid, fields, 0);
  }
};

/// The parsed spec, its grid and fields; any of its points run by simulate_point, and read.
struct SweepPoints {
  SweepPoints(const std::string& ini, const std::vector<std::string>& sets)
      : spec(parse_spec(ini, sets)), grid(spec), fields(grid) {}
  PointResult point(std::uint64_t i) const { return simulate_point(grid, fields, i); }
  double get(const PointResult& p, Group g, const char* name, std::size_t i = 0) const {
    return p.values.real(fields.schema().id(g, name), i);
  }
  SweepSpec spec;
  Grid grid;
  SweepFields fields;
};

/// The message of the ConfigError that parsing `ini` with `sets` throws; empty when it parses.
inline std::string config_error(const std::string& ini, const std::vector<std::string>& sets) {
  try {
    parse_spec(ini, sets);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace symsweep::testing
