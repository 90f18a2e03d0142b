// Adaptive sweeps: refine the grid only where the phase changes.
//
// A refined sweep ([refine] in the config) runs a subset of the grid of [axes]. The refined axes
// (refine.axes, two or more numeric axes of n_i = 2^k_i + 1 values) form the *fine grid*; the
// other axes (seeds, other keys) run whole at every fine-grid location, so a location stands for
// M points (M: the product of the other axes' lengths). With L = refine.levels and H = 2^L:
//
//   level 0     every location whose every refined index is a multiple of H: the coarse grid,
//               whose cells are the boxes [c, c + H] (c a multiple of H in every refined axis);
//   level l+1   after level l is done, every cell of size h = H / 2^l whose corners disagree
//               (refine.rule, cell_disagrees) is split into 2^k cells of size h / 2: the new
//               locations are the lattice points of step h / 2 inside it not computed yet.
//
// A location is a fine-grid point: its parameters come from its fine-grid index by the axis's
// own formula (Grid::params of its flat index), never as a midpoint of two values, so a refined
// sweep's point holds the same bits as the same point of the uniform sweep. The whole structure
// follows from the file alone: a cell was split exactly when its centre (c + h/2 in every refined
// axis) is a computed location, since no other cell has that point as a lattice point of its
// level or a coarser one. resume, inspect and the analysis read it back that way.
//
// A fine-grid point is *resolved* when it was computed or lies in a cell that was not split and
// whose corners all agree; elsewhere (a cell left unsplit by the budget, or with a corner that
// failed) it is not. Features smaller than a level-0 cell (a narrow window that no corner of the
// coarse grid falls into) can be missed: refinement sees only what the corners see.
//
// The rules (refine.rule), per pair of values at the same other-axis point of two corners:
//   equal       the values differ (NaN equals NaN): an enum such as outcome, or an integer field;
//   sign        their signs differ (classes: < 0, = 0, > 0, NaN);
//   threshold   (v > refine.threshold) differs (NaN a class of its own);
//   fraction    over the seeds (the sweep.seed axis, not refined), the fractions p_a, p_b of
//               seeds whose refine.field is refine.member: the two corners of a cell with the
//               largest and the smallest fraction differ when
//                   |p_a - p_b| > z sqrt(2 p (1 - p) / n),   p = (k_a + k_b) / (2 n),
//               the two-proportion z-test at z = refine.z with n seeds, so that a difference the
//               binomial noise of n seeds explains does not split. It can split only when a
//               difference of 1 can exceed that bound: n > z^2 / 2 (checked with the config).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "symsweep/grid.hpp"
#include "symsweep/schema.hpp"
#include "symsweep/spec.hpp"

namespace symsweep {

/// How a cell's corners are compared (the header comment states each rule).
enum class RefineRule { equal, sign, threshold, fraction };

/// The [refine] section, validated against the grid.
struct RefineSpec {
  std::vector<std::string> axes;  ///< the refined axes' keys, in [axes] order
  std::string field = "outcome";  ///< the /results field that decides
  RefineRule rule = RefineRule::equal;
  std::string member;        ///< fraction: the enum member counted
  double threshold = 0;      ///< threshold: the value compared with
  double z = 2;              ///< fraction: standard errors a difference must exceed
  int levels = 4;            ///< halvings from the coarse grid to the fine grid
  std::uint64_t budget = 0;  ///< most points run (rows of the file); resolved: never 0
  std::uint64_t seeds = 1;   ///< fraction: values of the sweep.seed axis
  /// The code of `member` in the field's enum (fraction); set by check_refine_field.
  double member_code = 0;
};

/// The [refine] section of `spec`, or nothing when refine.axes is empty (a plain sweep). Throws
/// ConfigError, naming the key, the value and the rule, for a refined axis that is not a numeric
/// axis of [axes] or is named twice, fewer than two of them, an axis whose length less one is
/// not a multiple of 2^refine.levels, a budget below the level-0 points or above the grid's,
/// and a fraction rule without a sweep.seed axis (not refined) of more than z^2 / 2 seeds.
std::optional<RefineSpec> refine_spec(const SweepSpec& spec);

/// Checks refine.field against the sweep's fields: a scalar field of /results, an enum for the
/// fraction rule (refine.member one of its members, whose code it records). Throws ConfigError.
void check_refine_field(RefineSpec& refine, const Schema& schema);

/// The two-proportion rule of `fraction`: k_a and k_b of n seeds; whether the fractions differ by
/// more than z binomial standard errors (header comment).
bool fractions_differ(std::uint64_t k_a, std::uint64_t k_b, std::uint64_t n, double z);

/// Whether a cell's corners disagree under `refine`'s rule. corners[c] points at corner c's M
/// values (refine.field at its M points, in RefineGeometry::flats order: groups of
/// `refine.seeds` consecutive seeds; enum codes as numbers).
bool cell_disagrees(const RefineSpec& refine, const std::vector<const double*>& corners,
                    std::size_t m);

/// The fine grid of a refined sweep: locations (row-major over the refined axes) and their
/// points in the whole grid.
class RefineGeometry {
 public:
  RefineGeometry(const Grid& grid, const RefineSpec& refine);
  std::size_t k() const { return dims_.size(); }  ///< refined axes
  /// Lengths of the refined axes.
  const std::vector<std::uint64_t>& lengths() const { return lengths_; }
  /// Points per location: the product of the other axes' lengths.
  std::uint64_t per_location() const { return m_; }
  /// Locations of the fine grid.
  std::uint64_t locations() const { return locations_; }
  /// The coarse step, 2^levels.
  std::uint64_t coarse_step() const { return step_; }
  int levels() const { return levels_; }
  /// Refined indices of location `loc`, and back.
  std::vector<std::uint64_t> coords(std::uint64_t loc) const;
  std::uint64_t location(const std::vector<std::uint64_t>& coords) const;
  /// The location of flat index p of the whole grid.
  std::uint64_t location_of(std::uint64_t p) const;
  /// The flat indices of location `loc`'s M points: the other axes row-major, with sweep.seed
  /// (when it is one of them) varying fastest.
  std::vector<std::uint64_t> flats(std::uint64_t loc) const;
  /// The level of a location: the first level whose lattice holds it (0: the coarse grid).
  int level_of(std::uint64_t loc) const;

 private:
  const Grid* grid_;
  std::vector<std::size_t> dims_;    // grid axis of each refined axis
  std::vector<std::size_t> others_;  // grid axes not refined, sweep.seed last
  std::vector<std::uint64_t> lengths_;
  std::uint64_t m_ = 1, locations_ = 1, step_ = 1;
  int levels_ = 0;
};

/// The locations of level 0, ascending.
std::vector<std::uint64_t> level0_locations(const RefineGeometry& geometry);

/// What is known of the locations in the file.
struct RefineTable {
  /// Every location with a row in the file (planned), whatever its points' status.
  std::unordered_set<std::uint64_t> present;
  /// refine.field at the M points of every location whose points are all done.
  std::unordered_map<std::uint64_t, std::vector<double>> values;
};

/// The next level: the locations to add (ascending), from the cells of every level, in order of
/// level and then of their first corner, whose corners disagree, that were not split yet, while
/// their new locations fit `room_points` (a cell that does not fit is left unsplit; later ones
/// may still fit). Empty when nothing is left to split. Deterministic: a function of the table.
/// `cut`, when given, says whether a cell was left unsplit for the budget.
std::vector<std::uint64_t> plan_next_level(const RefineGeometry& geometry, const RefineSpec& refine,
                                           const RefineTable& table, std::uint64_t room_points,
                                           bool* cut = nullptr);

/// For every location of the fine grid, the location whose values stand for it: itself when its
/// points are all done, else the nearest corner (the lower one at a tie, per axis) of a cell not
/// split whose corners all agree and are done; -1 where it is not resolved.
std::vector<std::int64_t> resolve(const RefineGeometry& geometry, const RefineSpec& refine,
                                  const RefineTable& table);

}  // namespace symsweep
