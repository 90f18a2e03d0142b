// Adaptive sweeps. See include/symsweep/refine.hpp.
#include "symsweep/refine.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "symsweep/error.hpp"
#include "text.hpp"

namespace symsweep {

namespace {

int axis_position(const SweepSpec& spec, const std::string& key) {
  const auto& axes = spec.axes();
  for (std::size_t i = 0; i < axes.size(); ++i) {
    if (axes[i].key == key) return static_cast<int>(i);
  }
  return -1;
}

std::string format_count(std::uint64_t n) {
  return std::to_string(n);
}

}  // namespace

std::optional<RefineSpec> refine_spec(const SweepSpec& spec) {
  const std::string& list = spec.text("refine.axes");
  if (text::trim(list).empty()) return std::nullopt;
  RefineSpec r;
  const std::string head = text::setting("refine.axes", list) + ": ";
  std::vector<int> positions;
  for (std::string_view item : text::split(list, ',')) {
    const std::string key(item);
    const int at = axis_position(spec, key);
    if (at < 0) {
      std::vector<std::string> keys;
      for (const AxisSpec& a : spec.axes()) keys.push_back(a.key);
      throw ConfigError(head + "'" + key + "' is not an axis of [axes] (axes: " +
                        (keys.empty() ? std::string("none") : text::join(keys, ", ")) + ")");
    }
    const AxisSpec& axis = spec.axes()[static_cast<std::size_t>(at)];
    if (axis.kind != ParamKind::Integer && axis.kind != ParamKind::Real) {
      throw ConfigError(head + "'" + key + "' is not a numeric axis (a refined axis has values " +
                        "between which cells are halved)");
    }
    if (key == "sweep.seed") {
      throw ConfigError(head + "sweep.seed cannot be refined: seeds are repeats, not a parameter " +
                        "whose phase changes");
    }
    if (std::find(positions.begin(), positions.end(), at) != positions.end()) {
      throw ConfigError(head + "'" + key + "' is named twice");
    }
    positions.push_back(at);
  }
  if (positions.size() < 2) {
    throw ConfigError(head + "must name two or more axes (a cell has 2^k corners in k axes)");
  }
  std::sort(positions.begin(), positions.end());
  for (int at : positions) r.axes.push_back(spec.axes()[static_cast<std::size_t>(at)].key);
  r.levels = static_cast<int>(spec.number("refine.levels"));
  const std::uint64_t step = std::uint64_t{1} << r.levels;
  for (int at : positions) {
    const AxisSpec& axis = spec.axes()[static_cast<std::size_t>(at)];
    const std::uint64_t n = axis.values.size();
    if (n < 2 || (n - 1) % step != 0) {
      throw ConfigError("axes." + axis.key + " = " + text::quote(axis.text) + ": has " +
                        format_count(n) + " value(s); a refined axis needs 2^k + 1 of them with " +
                        "k >= refine.levels = " + std::to_string(r.levels) +
                        " (its length less one a multiple of " + format_count(step) +
                        "), so that halving the coarse cells reaches every value");
    }
  }
  r.field = std::string(text::trim(spec.text("refine.field")));
  const std::string& rule = spec.text("refine.rule");
  r.rule = rule == "sign"        ? RefineRule::sign
           : rule == "threshold" ? RefineRule::threshold
           : rule == "fraction"  ? RefineRule::fraction
                                 : RefineRule::equal;
  r.member = std::string(text::trim(spec.text("refine.member")));
  r.threshold = spec.number("refine.threshold");
  r.z = spec.number("refine.z");
  if (r.rule == RefineRule::fraction) {
    const int seed = axis_position(spec, "sweep.seed");
    if (seed < 0) {
      throw ConfigError(
          "refine.rule = 'fraction': needs a sweep.seed axis (the fraction is "
          "taken over the seeds at each point)");
    }
    r.seeds = spec.axes()[static_cast<std::size_t>(seed)].values.size();
    if (static_cast<double>(r.seeds) <= r.z * r.z / 2) {
      throw ConfigError(text::setting("refine.z", spec.value("refine.z").text) + ": with " +
                        format_count(r.seeds) +
                        " seed(s) no difference of fractions exceeds z sqrt(2 p (1 - p) / n) " +
                        "(at most 1 when n <= z^2 / 2): need more than " +
                        text::format_double(r.z * r.z / 2) + " seeds, or a smaller refine.z");
    }
  }
  // The budget: the level-0 points at least, the grid's at most.
  const Grid grid(spec);
  std::uint64_t level0 = 1;
  for (int at : positions) {
    level0 *= (spec.axes()[static_cast<std::size_t>(at)].values.size() - 1) / step + 1;
  }
  std::uint64_t refined = 1;
  for (int at : positions) refined *= spec.axes()[static_cast<std::size_t>(at)].values.size();
  const std::uint64_t m = grid.size() / refined;
  const double budget = spec.number("refine.budget");
  r.budget = budget == 0 ? grid.size() : static_cast<std::uint64_t>(budget);
  if (r.budget < level0 * m || r.budget > grid.size()) {
    throw ConfigError(text::setting("refine.budget", spec.value("refine.budget").text) +
                      ": must be 0 or in [" + format_count(level0 * m) + ", " +
                      format_count(grid.size()) + "]: at least the " + format_count(level0) +
                      " coarse location(s) x " + format_count(m) +
                      " point(s) each of level 0, at most the grid's points");
  }
  return r;
}

void check_refine_field(RefineSpec& refine, const Schema& schema) {
  const FieldId id = schema.find(Group::results, refine.field);
  const std::string head = text::setting("refine.field", refine.field) + ": ";
  if (id < 0 || !schema.present(id) || schema.count(id) != 1 || id == schema.status_field()) {
    std::vector<std::string> names;
    for (FieldId f = 0; f < static_cast<FieldId>(schema.fields().size()); ++f) {
      const FieldDef& def = schema.field(f);
      if (def.group == Group::results && schema.present(f) && schema.count(f) == 1 &&
          f != schema.status_field()) {
        names.push_back(def.name);
      }
    }
    throw ConfigError(head + "must be a scalar field of /results in this sweep (" +
                      text::join(names, ", ") + ")");
  }
  const FieldDef& def = schema.field(id);
  if (refine.rule == RefineRule::fraction) {
    if (def.type != ElemType::enum8) {
      throw ConfigError(head + "refine.rule = fraction counts the seeds whose field is one " +
                        "member of an enum; this field is not an enum");
    }
    const auto at = std::find(def.members.begin(), def.members.end(), refine.member);
    if (at == def.members.end()) {
      throw ConfigError(text::setting("refine.member", refine.member) + ": must be a member of " +
                        refine.field + " (" + text::join(def.members, ", ") + ")");
    }
    refine.member_code = static_cast<double>(at - def.members.begin());
  }
  if ((refine.rule == RefineRule::sign || refine.rule == RefineRule::threshold) &&
      def.type == ElemType::enum8) {
    throw ConfigError(
        text::setting("refine.rule", refine.rule == RefineRule::sign ? "sign" : "threshold") +
        ": " + refine.field + " is an enum (use equal or fraction)");
  }
}

bool fractions_differ(std::uint64_t k_a, std::uint64_t k_b, std::uint64_t n, double z) {
  if (n == 0) return false;
  const double nn = static_cast<double>(n);
  const double pa = static_cast<double>(k_a) / nn, pb = static_cast<double>(k_b) / nn;
  const double p = static_cast<double>(k_a + k_b) / (2 * nn);
  return std::fabs(pa - pb) > z * std::sqrt(2 * p * (1 - p) / nn);
}

namespace {

/// The class of a value under the rules that compare classes.
int value_class(const RefineSpec& r, double v) {
  if (std::isnan(v)) return 3;
  if (r.rule == RefineRule::sign) return v < 0 ? 0 : (v > 0 ? 2 : 1);
  return v > r.threshold ? 1 : 0;
}

bool same_value(double a, double b) {
  return a == b || (std::isnan(a) && std::isnan(b));
}

}  // namespace

bool cell_disagrees(const RefineSpec& r, const std::vector<const double*>& corners, std::size_t m) {
  if (corners.size() < 2) return false;
  if (r.rule == RefineRule::fraction) {
    const std::size_t n = static_cast<std::size_t>(r.seeds);
    for (std::size_t g = 0; g + n <= m; g += n) {
      std::uint64_t lo = n, hi = 0;
      for (const double* c : corners) {
        std::uint64_t k = 0;
        for (std::size_t s = 0; s < n; ++s) k += c[g + s] == r.member_code ? 1 : 0;
        lo = std::min(lo, k);
        hi = std::max(hi, k);
      }
      if (fractions_differ(hi, lo, n, r.z)) return true;
    }
    return false;
  }
  for (std::size_t i = 0; i < m; ++i) {
    const double first = corners[0][i];
    for (std::size_t c = 1; c < corners.size(); ++c) {
      const double v = corners[c][i];
      const bool same = r.rule == RefineRule::equal ? same_value(first, v)
                                                    : value_class(r, first) == value_class(r, v);
      if (!same) return true;
    }
  }
  return false;
}

// ------------------------------------------------------------------------------------ geometry
RefineGeometry::RefineGeometry(const Grid& grid, const RefineSpec& refine)
    : grid_(&grid), levels_(refine.levels) {
  const auto& axes = grid.axes();
  int seed = -1;
  for (std::size_t i = 0; i < axes.size(); ++i) {
    if (std::find(refine.axes.begin(), refine.axes.end(), axes[i].key) != refine.axes.end()) {
      dims_.push_back(i);
      lengths_.push_back(grid.shape()[i]);
      locations_ *= grid.shape()[i];
    } else if (axes[i].key == "sweep.seed") {
      seed = static_cast<int>(i);
    } else {
      others_.push_back(i);
    }
    if (std::find(refine.axes.begin(), refine.axes.end(), axes[i].key) == refine.axes.end()) {
      m_ *= grid.shape()[i];
    }
  }
  if (seed >= 0) others_.push_back(static_cast<std::size_t>(seed));
  SYMSWEEP_VERIFY(dims_.size() == refine.axes.size() && dims_.size() >= 2,
                  "the refined axes are not axes of the grid");
  step_ = std::uint64_t{1} << levels_;
}

std::vector<std::uint64_t> RefineGeometry::coords(std::uint64_t loc) const {
  std::vector<std::uint64_t> c(lengths_.size());
  for (std::size_t d = lengths_.size(); d-- > 0;) {
    c[d] = loc % lengths_[d];
    loc /= lengths_[d];
  }
  return c;
}

std::uint64_t RefineGeometry::location(const std::vector<std::uint64_t>& coords) const {
  std::uint64_t loc = 0;
  for (std::size_t d = 0; d < lengths_.size(); ++d) loc = loc * lengths_[d] + coords[d];
  return loc;
}

std::uint64_t RefineGeometry::location_of(std::uint64_t p) const {
  const auto c = grid_->coords(p);
  std::vector<std::uint64_t> r(dims_.size());
  for (std::size_t d = 0; d < dims_.size(); ++d) r[d] = c[dims_[d]];
  return location(r);
}

std::vector<std::uint64_t> RefineGeometry::flats(std::uint64_t loc) const {
  std::vector<std::uint64_t> c(grid_->ndims(), 0);
  const auto r = coords(loc);
  for (std::size_t d = 0; d < dims_.size(); ++d) c[dims_[d]] = r[d];
  std::vector<std::uint64_t> out;
  out.reserve(m_);
  for (std::uint64_t k = 0; k < m_; ++k) {
    std::uint64_t rest = k;
    for (std::size_t o = others_.size(); o-- > 0;) {
      const std::uint64_t n = grid_->shape()[others_[o]];
      c[others_[o]] = rest % n;
      rest /= n;
    }
    out.push_back(grid_->flat(c));
  }
  return out;
}

int RefineGeometry::level_of(std::uint64_t loc) const {
  int level = 0;
  for (std::uint64_t c : coords(loc)) {
    if (c == 0) continue;
    const int zeros = std::min(__builtin_ctzll(c), levels_);
    level = std::max(level, levels_ - zeros);
  }
  return level;
}

std::vector<std::uint64_t> level0_locations(const RefineGeometry& g) {
  std::vector<std::uint64_t> out;
  const std::size_t k = g.k();
  std::vector<std::uint64_t> c(k, 0);
  for (;;) {
    out.push_back(g.location(c));
    std::size_t d = k;
    while (d-- > 0) {
      c[d] += g.coarse_step();
      if (c[d] < g.lengths()[d]) break;
      c[d] = 0;
    }
    if (d == static_cast<std::size_t>(-1)) break;
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

/// Calls fn(point) for every lattice point of step `step` in the box [origin, origin + size].
template <class Fn>
void for_each_lattice(const std::vector<std::uint64_t>& origin, std::uint64_t size,
                      std::uint64_t step, Fn&& fn) {
  const std::size_t k = origin.size();
  std::vector<std::uint64_t> c = origin;
  for (;;) {
    fn(c);
    std::size_t d = k;
    while (d-- > 0) {
      c[d] += step;
      if (c[d] <= origin[d] + size) break;
      c[d] = origin[d];
    }
    if (d == static_cast<std::size_t>(-1)) return;
  }
}

}  // namespace

namespace {

/// Visits every cell of every level, coarse first (within a level by first corner):
/// fn(origin, size, split), split saying whether its centre is in the table (its children are
/// then the cells of the next level).
template <class Fn>
void walk_cells(const RefineGeometry& g, const RefineTable& table, Fn&& fn) {
  const std::size_t k = g.k();
  std::vector<std::uint64_t> cells;  // this level's cells' first corners
  for (std::uint64_t loc : level0_locations(g)) {
    const auto c = g.coords(loc);
    bool inside = true;
    for (std::size_t d = 0; d < k; ++d) inside = inside && c[d] + g.coarse_step() < g.lengths()[d];
    if (inside) cells.push_back(loc);
  }
  for (std::uint64_t size = g.coarse_step(); !cells.empty() && size >= 1; size /= 2) {
    std::vector<std::uint64_t> next;
    for (std::uint64_t origin_loc : cells) {
      const auto origin = g.coords(origin_loc);
      bool split = false;
      if (size >= 2) {
        std::vector<std::uint64_t> centre = origin;
        for (auto& x : centre) x += size / 2;
        split = table.present.count(g.location(centre)) > 0;
      }
      fn(origin, size, split);
      if (split) {
        for_each_lattice(origin, size / 2, size / 2, [&](const std::vector<std::uint64_t>& c) {
          next.push_back(g.location(c));
        });
      }
    }
    std::sort(next.begin(), next.end());
    next.erase(std::unique(next.begin(), next.end()), next.end());
    cells = std::move(next);
  }
}

/// The corners' values of a cell, or false when one is not known (not done).
bool corner_values(const RefineGeometry& g, const RefineTable& table,
                   const std::vector<std::uint64_t>& origin, std::uint64_t size,
                   std::vector<const double*>& corners) {
  corners.clear();
  bool known = true;
  for_each_lattice(origin, size, size, [&](const std::vector<std::uint64_t>& c) {
    const auto v = table.values.find(g.location(c));
    if (v == table.values.end()) {
      known = false;
    } else {
      corners.push_back(v->second.data());
    }
  });
  return known;
}

}  // namespace

std::vector<std::uint64_t> plan_next_level(const RefineGeometry& g, const RefineSpec& refine,
                                           const RefineTable& table, std::uint64_t room_points,
                                           bool* cut) {
  if (cut) *cut = false;
  const std::uint64_t m = g.per_location();
  std::set<std::uint64_t> added;
  std::vector<std::uint64_t> out;
  std::vector<const double*> corners;
  walk_cells(g, table,
             [&](const std::vector<std::uint64_t>& origin, std::uint64_t size, bool split) {
               // A cell not split yet is split when its corners (all done) disagree and its new
               // points fit.
               if (split || size < 2) return;
               if (!corner_values(g, table, origin, size, corners) ||
                   !cell_disagrees(refine, corners, static_cast<std::size_t>(m))) {
                 return;
               }
               std::vector<std::uint64_t> fresh;
               for_each_lattice(origin, size, size / 2, [&](const std::vector<std::uint64_t>& c) {
                 const std::uint64_t loc = g.location(c);
                 if (table.present.count(loc) == 0 && added.count(loc) == 0) fresh.push_back(loc);
               });
               if ((out.size() + fresh.size()) * m > room_points) {
                 if (cut) *cut = true;
                 return;
               }
               for (std::uint64_t loc : fresh) {
                 added.insert(loc);
                 out.push_back(loc);
               }
             });
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::int64_t> resolve(const RefineGeometry& g, const RefineSpec& refine,
                                  const RefineTable& table) {
  std::vector<std::int64_t> source(g.locations(), -1);
  const std::uint64_t m = g.per_location();
  std::vector<const double*> corners;
  walk_cells(g, table,
             [&](const std::vector<std::uint64_t>& origin, std::uint64_t size, bool split) {
               if (split || !corner_values(g, table, origin, size, corners) ||
                   cell_disagrees(refine, corners, static_cast<std::size_t>(m))) {
                 return;
               }
               // Every point of the cell stands for its nearest corner (the lower one at a tie).
               for_each_lattice(origin, size, 1, [&](const std::vector<std::uint64_t>& c) {
                 std::vector<std::uint64_t> near(c.size());
                 for (std::size_t d = 0; d < c.size(); ++d) {
                   near[d] = c[d] - origin[d] <= size / 2 ? origin[d] : origin[d] + size;
                 }
                 auto& s = source[g.location(c)];
                 if (s < 0) s = static_cast<std::int64_t>(g.location(near));
               });
             });
  for (const auto& [loc, values] : table.values) source[loc] = static_cast<std::int64_t>(loc);
  return source;
}

}  // namespace symsweep
