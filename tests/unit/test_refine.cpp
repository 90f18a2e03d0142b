// Adaptive refinement (refine.hpp): the [refine] section's rules, the split rules, the fine
// grid's geometry, and whole refinements of synthetic phase diagrams run in memory.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "symsweep/error.hpp"
#include "symsweep/grid.hpp"
#include "symsweep/refine.hpp"
#include "symsweep/spec.hpp"

namespace symsweep {
namespace refine_tests {  // named: the unity build joins this file with others
namespace {

std::string config(const std::string& axes, const std::string& refine) {
  return "[model]\nname = poly\npreset = L_beta\nx0 = 0.01, 0\n[data]\nn = 1\n[optimizer]\nbatch = "
         "1\n[axes]\n" +
         axes + "\n[refine]\n" + refine + "\n";
}

const std::string kAxes =
    "model.beta = linspace(-0.5, 0.5, 17)\noptimizer.eta = linspace(1, 2, 9)\n"
    "sweep.seed = range(0, 3)";

/// The message of the ConfigError that parsing `text` throws ("" when none).
std::string error_of(const std::string& text) {
  try {
    parse_spec(text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(RefineSpec, BadValuesNameTheKeyTheValueAndTheRule) {
  struct Case {
    std::string axes, refine, key, value;
  };
  const std::vector<Case> cases = {
      {kAxes, "axes = model.beta", "refine.axes", "model.beta"},
      {kAxes, "axes = model.beta, optimizer.steps", "refine.axes", "optimizer.steps"},
      {kAxes, "axes = model.beta, model.beta", "refine.axes", "model.beta"},
      {kAxes, "axes = model.beta, sweep.seed", "refine.axes", "sweep.seed"},
      {kAxes, "axes = model.beta, optimizer.eta\nlevels = 4", "axes.optimizer.eta", "9"},
      {kAxes, "axes = model.beta, optimizer.eta\nlevels = 0", "refine.levels", "0"},
      {kAxes, "axes = model.beta, optimizer.eta\nlevels = 2\nbudget = 10", "refine.budget", "10"},
      {kAxes, "axes = model.beta, optimizer.eta\nlevels = 2\nbudget = 100000", "refine.budget",
       "100000"},
      {kAxes, "axes = model.beta, optimizer.eta\nlevels = 3\nrule = fraction\nz = 3", "refine.z",
       "3"},
      {"model.beta = linspace(-0.5, 0.5, 17)\noptimizer.eta = linspace(1, 2, 9)",
       "axes = model.beta, optimizer.eta\nlevels = 3\nrule = fraction", "refine.rule", "fraction"},
      {kAxes, "axes = model.beta, optimizer.eta\nrule = most", "refine.rule", "most"},
  };
  for (const Case& c : cases) {
    const std::string message = error_of(config(c.axes, c.refine));
    EXPECT_NE(message.find(c.key), std::string::npos) << c.refine << ": " << message;
    EXPECT_NE(message.find(c.value), std::string::npos) << c.refine << ": " << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  // The refine keys are not sweepable.
  EXPECT_NE(error_of(config(kAxes + "\nrefine.levels = 1, 2", "")).find("refine.levels"),
            std::string::npos);
}

TEST(RefineSpec, APlainSweepsConfigTextHasNoRefineSectionARefinedOneRoundTrips) {
  const SweepSpec plain = parse_spec(config(kAxes, ""));
  EXPECT_EQ(plain.config_text().find("[refine]"), std::string::npos);
  EXPECT_FALSE(refine_spec(plain).has_value());
  const SweepSpec refined =
      parse_spec(config(kAxes, "axes = optimizer.eta, model.beta\nlevels = 3\nbudget = 300"));
  const std::string text = refined.config_text();
  EXPECT_NE(text.find("[refine]"), std::string::npos);
  EXPECT_EQ(parse_spec(text).config_text(), text);
  const auto r = refine_spec(refined);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->axes, (std::vector<std::string>{"model.beta", "optimizer.eta"}));  // [axes] order
  EXPECT_EQ(r->budget, 300u);
  EXPECT_EQ(refine_spec(parse_spec(config(kAxes, "axes = optimizer.eta, model.beta\nlevels = 3")))
                ->budget,
            Grid(refined).size());
}

TEST(FractionsDiffer, SymmetricNeverForEqualCountsMonotoneInTheDistance) {
  for (double z : {1.0, 2.0, 3.0}) {
    for (std::uint64_t n = 1; n <= 40; ++n) {
      bool any = false;
      for (std::uint64_t a = 0; a <= n; ++a) {
        EXPECT_FALSE(fractions_differ(a, a, n, z));
        for (std::uint64_t b = 0; b <= n; ++b) {
          const bool d = fractions_differ(a, b, n, z);
          EXPECT_EQ(d, fractions_differ(b, a, n, z));
          any = any || d;
          // Moving b further from a keeps a split a split.
          if (d && b > a && b < n) {
            EXPECT_TRUE(fractions_differ(a, b + 1, n, z));
          }
          if (d && b < a && b > 0) {
            EXPECT_TRUE(fractions_differ(a, b - 1, n, z));
          }
        }
      }
      // A split is possible exactly when n > z^2 / 2 (0 of n against n of n).
      EXPECT_EQ(any, static_cast<double>(n) > z * z / 2) << "n = " << n << ", z = " << z;
      EXPECT_EQ(fractions_differ(0, n, n, z), static_cast<double>(n) > z * z / 2);
    }
  }
}

TEST(CellDisagrees, EqualSignThresholdCompareValuesAtTheSamePoint) {
  RefineSpec r;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::mt19937_64 gen(7);
  std::uniform_real_distribution<double> u(-1, 1);
  for (int trial = 0; trial < 200; ++trial) {
    const std::size_t m = 1 + trial % 5, ncorners = 4;
    std::vector<std::vector<double>> values(ncorners, std::vector<double>(m));
    for (std::size_t i = 0; i < m; ++i) {
      const double v = trial % 7 == 0 ? nan : u(gen);
      for (auto& c : values) c[i] = v;
    }
    std::vector<const double*> corners;
    for (const auto& c : values) corners.push_back(c.data());
    for (RefineRule rule : {RefineRule::equal, RefineRule::sign, RefineRule::threshold}) {
      r.rule = rule;
      r.threshold = 0.25;
      EXPECT_FALSE(cell_disagrees(r, corners, m));  // equal values agree under every rule (NaN too)
    }
    // One value changed at one corner: equal sees it; sign only when the sign changes.
    const std::size_t at = static_cast<std::size_t>(trial) % m, corner = trial % ncorners;
    const double old = values[corner][at];
    values[corner][at] = std::isnan(old) ? 0.5 : old * 0.5;
    r.rule = RefineRule::equal;
    EXPECT_EQ(cell_disagrees(r, corners, m), values[corner][at] != old);
    r.rule = RefineRule::sign;
    EXPECT_EQ(cell_disagrees(r, corners, m), std::isnan(old));
    values[corner][at] = -old;
    EXPECT_EQ(cell_disagrees(r, corners, m), !std::isnan(old) && old != 0);
  }
}

TEST(CellDisagrees, FractionSplitsOnlyBeyondTheBinomialNoise) {
  RefineSpec r;
  r.rule = RefineRule::fraction;
  r.seeds = 8;
  r.z = 2;
  r.member_code = 2;
  // Two groups of 8 seeds each; corner c has k_c seeds "diverged" (code 2) in group 1.
  for (std::uint64_t ka = 0; ka <= 8; ++ka) {
    for (std::uint64_t kb = 0; kb <= 8; ++kb) {
      std::vector<std::vector<double>> values(4, std::vector<double>(16, 1));
      for (std::uint64_t s = 0; s < ka; ++s) values[0][8 + s] = 2;
      for (std::uint64_t s = 0; s < kb; ++s) values[3][8 + s] = 2;
      for (std::uint64_t s = 0; s < (ka + kb) / 2; ++s) values[1][8 + s] = 2;
      values[2] = values[1];
      std::vector<const double*> corners;
      for (const auto& c : values) corners.push_back(c.data());
      const std::uint64_t mid = (ka + kb) / 2;
      const bool expect = fractions_differ(std::max({ka, kb, mid}), std::min({ka, kb, mid}), 8, 2);
      EXPECT_EQ(cell_disagrees(r, corners, 16), expect) << ka << " vs " << kb;
    }
  }
}

/// A refinement run in memory: `value(coords)` is the field at every point of a location.
struct Simulated {
  RefineTable table;
  std::uint64_t points = 0;  // points run
  int rounds = 0;
};

Simulated refine_in_memory(const RefineGeometry& g, const RefineSpec& r,
                           const std::function<double(const std::vector<std::uint64_t>&)>& value,
                           std::uint64_t budget) {
  Simulated s;
  const auto add = [&](const std::vector<std::uint64_t>& locs) {
    for (std::uint64_t loc : locs) {
      EXPECT_EQ(s.table.present.count(loc), 0u) << "location planned twice";
      s.table.present.insert(loc);
      s.table.values[loc].assign(g.per_location(), value(g.coords(loc)));
      s.points += g.per_location();
    }
  };
  add(level0_locations(g));
  for (;;) {
    const auto next = plan_next_level(g, r, s.table, budget - s.points);
    if (next.empty()) break;
    for (std::uint64_t loc : next) EXPECT_LE(g.level_of(loc), s.rounds + 1);
    add(next);
    ++s.rounds;
  }
  return s;
}

TEST(Refinement, EveryResolvedPointOfAHalfSpaceBoundaryIsRight) {
  // A half-space's boundary has no feature smaller than a cell: a cell whose corners lie on one
  // side lies on it whole (both are convex), so every resolved point must carry its true value.
  std::mt19937_64 gen(11);
  std::uniform_real_distribution<double> u(-1, 1);
  for (const std::string& axes :
       {std::string("model.beta = linspace(-1, 1, 65)\noptimizer.eta = linspace(1, 2, 33)"),
        std::string("model.beta = linspace(-1, 1, 17)\noptimizer.eta = linspace(1, 2, 9)\n"
                    "optimizer.weight_decay = linspace(0, 0.8, 9)")}) {
    const bool three = axes.find("weight_decay") != std::string::npos;
    const SweepSpec spec =
        parse_spec(config(axes + "\nsweep.seed = range(0, 2)",
                          std::string("axes = model.beta, optimizer.eta") +
                              (three ? ", optimizer.weight_decay" : "") + "\nlevels = 3"));
    const Grid grid(spec);
    const RefineSpec r = *refine_spec(spec);
    const RefineGeometry g(grid, r);
    for (int trial = 0; trial < 12; ++trial) {
      std::vector<double> normal(g.k());
      for (auto& x : normal) x = u(gen);
      const double offset = u(gen) * 0.5;
      const auto truth = [&](const std::vector<std::uint64_t>& c) {
        double s = 0;
        for (std::size_t d = 0; d < c.size(); ++d) {
          s += normal[d] *
               (static_cast<double>(c[d]) / static_cast<double>(g.lengths()[d] - 1) - 0.5);
        }
        return s > offset ? 2.0 : 1.0;
      };
      const Simulated s = refine_in_memory(g, r, truth, r.budget);
      const auto source = resolve(g, r, s.table);
      std::uint64_t resolved = 0;
      for (std::uint64_t loc = 0; loc < g.locations(); ++loc) {
        if (source[loc] < 0) continue;
        ++resolved;
        EXPECT_EQ(s.table.values.at(static_cast<std::uint64_t>(source[loc]))[0],
                  truth(g.coords(loc)))
            << "trial " << trial << ", location " << loc;
      }
      // With no budget limit every point is resolved, in fewer points than the grid's.
      EXPECT_EQ(resolved, g.locations());
      EXPECT_LT(s.points, grid.size());
      EXPECT_LE(s.rounds, r.levels);
    }
  }
}

TEST(Refinement, TheBudgetBoundsThePointsAndLeavesCellsUnresolved) {
  const SweepSpec spec =
      parse_spec(config("model.beta = linspace(-1, 1, 33)\noptimizer.eta = linspace(1, 2, 33)",
                        "axes = model.beta, optimizer.eta\nlevels = 4"));
  const Grid grid(spec);
  const RefineSpec r = *refine_spec(spec);
  const RefineGeometry g(grid, r);
  // A circle: its boundary crosses many cells.
  const auto truth = [&](const std::vector<std::uint64_t>& c) {
    const double x = static_cast<double>(c[0]) / 32 - 0.5, y = static_cast<double>(c[1]) / 32 - 0.5;
    return x * x + y * y < 0.1 ? 1.0 : 0.0;
  };
  const std::uint64_t full = refine_in_memory(g, r, truth, grid.size()).points;
  for (std::uint64_t budget = level0_locations(g).size(); budget < full; budget += 7) {
    const Simulated s = refine_in_memory(g, r, truth, budget);
    EXPECT_LE(s.points, budget);
    const auto source = resolve(g, r, s.table);
    std::uint64_t unresolved = 0;
    for (std::int64_t x : source) unresolved += x < 0 ? 1 : 0;
    EXPECT_GT(unresolved, 0u) << "budget " << budget;
  }
}

TEST(RefineGeometry, LocationsPartitionTheGridAndLevelZeroIsTheCoarseGrid) {
  const SweepSpec spec = parse_spec(config(
      "sweep.seed = range(0, 3)\nmodel.beta = linspace(-1, 1, 9)\noptimizer.weight_decay = 0, 0.1\n"
      "optimizer.eta = linspace(1, 2, 5)",
      "axes = model.beta, optimizer.eta\nlevels = 2"));
  const Grid grid(spec);
  const RefineGeometry g(grid, *refine_spec(spec));
  EXPECT_EQ(g.per_location(), 6u);
  std::vector<int> seen(grid.size(), 0);
  for (std::uint64_t loc = 0; loc < g.locations(); ++loc) {
    const auto flats = g.flats(loc);
    ASSERT_EQ(flats.size(), 6u);
    for (std::size_t i = 0; i < flats.size(); ++i) {
      ++seen[flats[i]];
      EXPECT_EQ(g.location_of(flats[i]), loc);
      // sweep.seed varies fastest within a location's points.
      EXPECT_EQ(grid.params(flats[i]).integer("sweep.seed"), static_cast<std::int64_t>(i % 3));
    }
  }
  for (int n : seen) EXPECT_EQ(n, 1);
  const auto level0 = level0_locations(g);
  EXPECT_EQ(level0.size(), 3u * 2u);
  for (std::uint64_t loc = 0; loc < g.locations(); ++loc) {
    const auto c = g.coords(loc);
    const bool coarse = c[0] % 4 == 0 && c[1] % 4 == 0;
    EXPECT_EQ(g.level_of(loc) == 0, coarse);
    EXPECT_EQ(std::count(level0.begin(), level0.end(), loc), coarse ? 1 : 0);
  }
}

}  // namespace
}  // namespace refine_tests
}  // namespace symsweep
