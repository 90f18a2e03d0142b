// The axis grammar and row-major grid indexing.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "symsweep/error.hpp"
#include "symsweep/grid.hpp"

namespace symsweep {
namespace {

ParamDef real_param() {
  return ParamDef{"optimizer.eta", ParamKind::Real, "1", "", Range::above(0), {}, true};
}
ParamDef any_real() {
  return ParamDef{"data.teacher_scale", ParamKind::Real, "1", "", {}, {}, true};
}
ParamDef int_param() {
  return ParamDef{"optimizer.batch", ParamKind::Integer, "1", "", Range::at_least(1), {}, true};
}

using V = std::vector<double>;

/// The numbers of a numeric axis.
V numbers_of(const ParamDef& def, std::string_view text) {
  V out;
  for (const Value& v : parse_axis(def, text)) out.push_back(v.numbers.at(0));
  return out;
}

TEST(Axis, List) {
  EXPECT_EQ(numbers_of(real_param(), "1, 2,4"), (V{1, 2, 4}));
  EXPECT_EQ(numbers_of(real_param(), "0.5"), (V{0.5}));
  EXPECT_EQ(numbers_of(any_real(), "3, -1, 2"), (V{3, -1, 2}));  // order kept
}

TEST(Axis, Linspace) {
  EXPECT_EQ(numbers_of(any_real(), "linspace(0, 1, 5)"), (V{0, 0.25, 0.5, 0.75, 1}));
  EXPECT_EQ(numbers_of(any_real(), "linspace(2, 3, 1)"), (V{2}));
  const V v = numbers_of(any_real(), "linspace(0, 0.3, 4)");
  EXPECT_EQ(v.back(), 0.3);  // the endpoint is exact
}

TEST(Axis, LogspaceAndGeomspace) {
  const V v = numbers_of(real_param(), "logspace(-2, 0, 3)");
  ASSERT_EQ(v.size(), 3u);
  EXPECT_DOUBLE_EQ(v[0], 0.01);
  EXPECT_DOUBLE_EQ(v[1], 0.1);
  EXPECT_EQ(v[2], 1.0);
  EXPECT_EQ(numbers_of(int_param(), "geomspace(1, 64, 7)"), (V{1, 2, 4, 8, 16, 32, 64}));
  EXPECT_EQ(numbers_of(int_param(), "logspace(0, 3, 4)"), (V{1, 10, 100, 1000}));
  const V g = numbers_of(real_param(), "geomspace(0.3, 0.03, 2)");
  EXPECT_EQ(g, (V{0.3, 0.03}));  // endpoints as written
  EXPECT_EQ(numbers_of(real_param(), "geomspace(0.01, 0.1, 1)"), (V{0.01}));  // the start
}

TEST(Axis, RangeIsHalfOpenAndDoesNotDrift) {
  EXPECT_EQ(numbers_of(int_param(), "range(1, 5)"), (V{1, 2, 3, 4}));
  EXPECT_EQ(numbers_of(int_param(), "range(2, 9, 3)"), (V{2, 5, 8}));
  EXPECT_EQ(numbers_of(any_real(), "range(3, 0, -1)"), (V{3, 2, 1}));
  const V v = numbers_of(any_real(), "range(0, 1, 0.1)");
  ASSERT_EQ(v.size(), 10u);
  for (std::size_t k = 0; k < v.size(); ++k) EXPECT_EQ(v[k], 0.1 * static_cast<double>(k));
  EXPECT_EQ(numbers_of(any_real(), "range(0, 0.3, 0.1)").size(), 3u);
}

TEST(Axis, Errors) {
  const auto throws = [](const ParamDef& def, const char* text, const char* part) {
    try {
      numbers_of(def, text);
      ADD_FAILURE() << "no error for '" << text << "'";
    } catch (const ConfigError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("axes." + def.key), std::string::npos) << msg;
      EXPECT_NE(msg.find(std::string("'") + text + "'"), std::string::npos) << msg;
      EXPECT_NE(msg.find(part), std::string::npos) << msg;
    }
  };
  throws(real_param(), "", "at least one value");
  throws(real_param(), "   ", "at least one value");
  throws(real_param(), "linspace(1, 2, 0)", "at least one value");
  throws(real_param(), "linspace(1, 2)", "takes 3 arguments");
  throws(real_param(), "linspace(1, 2, 2.5)", "whole number");
  throws(real_param(), "range(1, 2, 0)", "must not be 0");
  throws(real_param(), "range(2, 1)", "at least one value");
  throws(real_param(), "range(1)", "takes 2 or 3 arguments");
  throws(real_param(), "geomspace(0, 1, 3)", "start > 0");
  throws(real_param(), "foo(1, 2, 3)", "unknown function 'foo'");
  throws(real_param(), "1, , 2", "'' is not a number");
  throws(real_param(), "1, 2x", "'2x' is not a number");
  throws(real_param(), "0.1, 0", "value 0 must be > 0");
  throws(int_param(), "1, 1.5", "value 1.5 must be an integer >= 1");
  throws(int_param(), "linspace(1, 2, 3)", "value 1.5 must be an integer");
  throws(int_param(), "2, 2", "value 2 appears twice");
}

const char* const kIni = R"(
[model]
name = linear2
[data]
n = 64
[axes]
optimizer.eta = 0.1, 0.2, 0.3
optimizer.batch = 1, 2
sweep.seed = range(0, 4)
)";

TEST(Grid, ShapeAndRowMajorOrder) {
  const SweepSpec spec = parse_spec(kIni);
  const Grid grid(spec);
  EXPECT_EQ(grid.size(), 24u);
  EXPECT_EQ(grid.shape(), (std::vector<std::uint64_t>{3, 2, 4}));
  // The last axis varies fastest.
  EXPECT_EQ(grid.coords(0), (std::vector<std::uint64_t>{0, 0, 0}));
  EXPECT_EQ(grid.coords(1), (std::vector<std::uint64_t>{0, 0, 1}));
  EXPECT_EQ(grid.coords(4), (std::vector<std::uint64_t>{0, 1, 0}));
  EXPECT_EQ(grid.coords(8), (std::vector<std::uint64_t>{1, 0, 0}));
  EXPECT_EQ(grid.coords(23), (std::vector<std::uint64_t>{2, 1, 3}));
}

TEST(Grid, FlatAndCoordsAreInverse) {
  const SweepSpec spec = parse_spec(kIni);
  const Grid grid(spec);
  for (std::uint64_t p = 0; p < grid.size(); ++p) EXPECT_EQ(grid.flat(grid.coords(p)), p);
  std::set<std::uint64_t> seen;
  for (std::uint64_t i = 0; i < 3; ++i)
    for (std::uint64_t j = 0; j < 2; ++j)
      for (std::uint64_t k = 0; k < 4; ++k) seen.insert(grid.flat({i, j, k}));
  EXPECT_EQ(seen.size(), grid.size());
  EXPECT_THROW(grid.flat({3, 0, 0}), Error);
  EXPECT_THROW(grid.coords(24), Error);
}

TEST(Grid, ParamsOfAPoint) {
  const SweepSpec spec = parse_spec(kIni);
  const Grid grid(spec);
  const ParamSet p = grid.params(grid.flat({2, 1, 3}));
  EXPECT_EQ(p.number("optimizer.eta"), 0.3);
  EXPECT_EQ(p.integer("optimizer.batch"), 2);
  EXPECT_EQ(p.integer("sweep.seed"), 3);
  EXPECT_EQ(p.integer("data.n"), 64);  // unswept keys keep their value
  EXPECT_EQ(p.text("model.name"), "linear2");
}

TEST(Grid, NoAxesIsOnePoint) {
  const SweepSpec spec = parse_spec("[model]\nname = linear2\n");
  const Grid grid(spec);
  EXPECT_EQ(grid.size(), 1u);
  EXPECT_EQ(grid.ndims(), 0u);
  EXPECT_TRUE(grid.coords(0).empty());
  EXPECT_EQ(grid.params(0).number("optimizer.eta"), 0.01);
}

}  // namespace
}  // namespace symsweep
