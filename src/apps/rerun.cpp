// `symsweep rerun OUT.h5 (--point KEY=VALUE,... | --index N) [--trace-every K -o POINT.h5]`: one
// point of a result file recomputed from the file's own config and compared with what the file
// stores, field by field and bit for bit; on request, a dense trace of that point in a new file.
//
//   symsweep rerun results/l_beta.h5 --point model.beta=0.3,optimizer.eta=2.02
//   symsweep rerun results/l_beta.h5 --index 17 --trace-every 10 -o point17.h5
//
// The point runs through the run loop's own path (simulate_point; a point that throws becomes
// failed_point, as in the run loop), on this process's thread: a point's numbers depend on its
// parameters alone, not on the ranks, threads or neighbours of the run that stored them. The
// comparison covers every field of /results and /traces (not /run: placement and timing), as raw
// bytes: NaN equals NaN only with the same bits, -0 differs from 0.
//
// A plain rerun needs no MPI (a plain process, like inspect: no MPI start-up). --trace-every writes
// its file through run_sweep, so then MPI is initialised first, before any HDF5 call (parallel
// HDF5 then closes its files before MPI_Finalize). Started on several ranks (mpirun -np R, R > 1)
// it refuses: one point is one process's work.
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

#include <hdf5_hl.h>
#include <boost/program_options.hpp>

#include "apps.hpp"
#include "command_line.hpp"
#include "h5.hpp"
#include "lock.hpp"
#include "symsweep/error.hpp"
#include "symsweep/grid.hpp"
#include "symsweep/schedule.hpp"
#include "symsweep/simulate.hpp"
#include "symsweep/spec.hpp"
#include "symsweep/store.hpp"
#include "symsweep/sweep.hpp"
#include "symsweep/version.hpp"
#include "text.hpp"

namespace symsweep::apps {

namespace rerun_cmd {

namespace po = boost::program_options;
namespace fs = std::filesystem;
using h5::Handle;

/// Numeric axis values match a given number within this relative distance (kZeroTolerance
/// absolute at a grid value of 0).
constexpr double kRelativeTolerance = 1e-9;
constexpr double kZeroTolerance = 1e-12;
/// The most a dense trace may hold: trace records per point (the config's own bound) and bytes of
/// the point's data in the new file (traces and results).
constexpr double kMaxDenseRecords = 1e6;
constexpr double kMaxDenseBytes = 1e9;

struct Options {
  std::string file;
  std::vector<std::string> points;  // --point, each KEY=VALUE[,KEY=VALUE...]
  std::string index;                // --index, checked against the grid
  std::string trace_every;          // --trace-every, checked below
  std::string output;               // -o
  bool strict = false;
  bool help = false;
};

po::options_description description(Options& o) {
  po::options_description desc("Options of `symsweep rerun OUT.h5`");
  desc.add_options()(
      "point", po::value(&o.points)->composing()->value_name("KEY=VALUE,..."),
      "the point by its axis values, e.g. --point optimizer.eta=0.5,sweep.seed=3: every axis "
      "with more than one value; numbers match the nearest grid value within relative 1e-9 "
      "(1e-12 at 0), text, choices, vectors ('0.3, 0') and matrices by their canonical text; "
      "may be repeated")("index", po::value(&o.index)->value_name("N"),
                         "the point by its flat index in the grid (row-major: the last axis "
                         "varies fastest), 0 <= N < the number of points")(
      "trace-every", po::value(&o.trace_every)->value_name("K"),
      "also write the point's dense trace into -o: the point alone, as a one-point result "
      "file, with record.every = K (every field of /traces at steps 0, K, 2K, ...)")(
      "output,o", po::value(&o.output)->value_name("POINT.h5"),
      "the new file of --trace-every (an existing file is never replaced)")(
      "strict", po::bool_switch(&o.strict),
      "refuse (exit 2) when the build that wrote OUT.h5 differs from this one in what changes "
      "the numbers; without it the difference is reported and the point recomputed anyway")(
      "help,h", po::bool_switch(&o.help), "show this help");
  return desc;
}

/// A whole number in [lo, hi] for a command-line option. Throws ConfigError.
std::int64_t parse_count(const std::string& option, const std::string& value, double lo, double hi,
                         const std::string& rule) {
  const std::string t(text::trim(value));
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (t.empty() || t.find_first_not_of("0123456789+-") != std::string::npos ||
      end != t.c_str() + t.size() || !(v >= lo && v <= hi)) {
    throw ConfigError("command line: " + option + " " + text::quote(value) + ": " + rule);
  }
  return static_cast<std::int64_t>(v);
}

Options parse_options(const std::vector<std::string>& args) {
  Options o;
  po::options_description desc = description(o);
  po::options_description hidden;
  hidden.add_options()("file", po::value(&o.file));
  po::positional_options_description positional;
  positional.add("file", 1);
  const po::variables_map vm = parse_command_line(args, desc, hidden, positional, "rerun");
  if (o.help) return o;
  if (o.file.empty()) {
    throw ConfigError(
        "command line: missing OUT.h5 (usage: symsweep rerun OUT.h5 --point KEY=VALUE,... | "
        "--index N)");
  }
  if (o.points.empty() == !vm.count("index")) {
    throw ConfigError(std::string("command line: ") +
                      (o.points.empty() ? "name the point: --point KEY=VALUE,... or --index N"
                                        : "--point and --index both given; name the point once"));
  }
  if (vm.count("trace-every") != vm.count("output")) {
    throw ConfigError(vm.count("output")
                          ? "command line: -o " + text::quote(o.output) +
                                " needs --trace-every K (the file holds the point's dense trace)"
                          : "command line: --trace-every needs -o POINT.h5 (the new file that "
                            "holds the dense trace)");
  }
  if (vm.count("output") && o.output.empty()) {
    throw ConfigError("command line: -o '': must name a file");
  }
  if (vm.count("trace-every")) {
    parse_count("--trace-every", o.trace_every, 1, 1e12, "must be a whole number of steps >= 1");
  }
  return o;
}

/// The ranks of the launch this process belongs to, and its own, as the launcher says in the
/// environment (Open MPI's mpirun, or a PMI launcher: MPICH's, SLURM's srun --mpi=pmi2); 1 and 0
/// for a plain process.
std::pair<long, long> launcher_ranks() {
  const auto read = [](const char* a, const char* b) -> long {
    for (const char* var : {a, b}) {
      if (const char* v = std::getenv(var)) return std::strtol(v, nullptr, 10);
    }
    return -1;
  };
  const long size = read("OMPI_COMM_WORLD_SIZE", "PMI_SIZE");
  const long rank = read("OMPI_COMM_WORLD_RANK", "PMI_RANK");
  return {std::max(size, 1L), std::max(rank, 0L)};
}

/// MPI for the dense trace's run (MPI_THREAD_FUNNELED, as `run`); finalised when it goes.
class MpiScope {
 public:
  MpiScope() {
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    if (provided < MPI_THREAD_FUNNELED) {
      MPI_Finalize();
      throw IoError("the MPI library does not provide MPI_THREAD_FUNNELED");
    }
  }
  ~MpiScope() { MPI_Finalize(); }
  MpiScope(const MpiScope&) = delete;
  MpiScope& operator=(const MpiScope&) = delete;
};

// ------------------------------------------------------------------------------ build signature
/// Where rerun compares the build that wrote the file with this one: it prints both, and their
/// differences in what changes the numbers: the numerics version and the build signature
/// (version.hpp: code-generation flags, the SIMD width Eigen compiled for, the Eigen version); a
/// compiler version alone is printed, not a difference. A reader's build usually differs from the
/// writer's, so a difference is reported and the point recomputed anyway; under --strict it is
/// refused (ConfigError: exit 2, before anything is computed).
void check_build(const FileInfo& info, const std::string& path, bool strict, std::ostream& out) {
  out << "file:  written by symsweep " << info.symsweep_version << " (" << info.git_commit
      << "), numerics version " << info.numerics_version;
  if (!info.compiler.empty()) out << ", " << info.compiler;
  out << "\nthis:  " << version_string() << ", numerics version " << kNumericsVersion << ", "
      << compiler() << "\n";
  std::vector<std::string> differences;
  if (info.numerics_version != kNumericsVersion) {
    differences.push_back("numerics version " + std::to_string(info.numerics_version) +
                          " in the file, " + std::to_string(kNumericsVersion) + " here");
  }
  if (info.build_signature.empty()) {
    out << "build: the file records no build signature (written before symsweep recorded it)\n";
  } else {
    const std::string diff = signature_difference(info.build_signature, build_signature());
    if (!diff.empty()) differences.push_back("build signature: " + diff);
  }
  if (differences.empty()) return;
  const std::string list = text::join(differences, "; ");
  if (strict) {
    throw ConfigError(text::quote(path) + ": written by a build that may compute other numbers (" +
                      list + "); --strict refuses to compare (leave it out to recompute anyway)");
  }
  out << "build: differs from the file's (" << list
      << "): the recomputed numbers may differ for that reason alone\n";
}

// ---------------------------------------------------------------------------- finding the point
std::string describe_values(const AxisSpec& axis, std::size_t shown = 8) {
  std::vector<std::string> texts;
  for (std::size_t i = 0; i < axis.values.size() && i < shown; ++i) {
    texts.push_back(axis.kind == ParamKind::Vector || axis.kind == ParamKind::Matrix
                        ? "'" + axis.values[i].text + "'"
                        : axis.values[i].text);
  }
  std::string out = text::join(texts, ", ");
  if (axis.values.size() > shown)
    out += ", ... (" + std::to_string(axis.values.size()) + " values)";
  return out;
}

/// Splits "k1=v1,k2=v2" at the commas that start another "section.key=", so that vector and
/// matrix values keep their own commas ("model.x0=0.3, 0,optimizer.eta=2").
std::vector<std::string> split_pairs(const std::string& arg) {
  std::vector<std::string> pairs;
  std::size_t start = 0;
  const auto starts_pair = [&](std::size_t at) {
    std::size_t i = at;
    while (i < arg.size() && (arg[i] == ' ' || arg[i] == '\t')) ++i;
    const std::size_t key_start = i;
    bool dot = false;
    while (i < arg.size() &&
           (std::isalnum(static_cast<unsigned char>(arg[i])) || arg[i] == '_' || arg[i] == '.')) {
      dot = dot || arg[i] == '.';
      ++i;
    }
    if (i == key_start || !dot) return false;
    while (i < arg.size() && (arg[i] == ' ' || arg[i] == '\t')) ++i;
    return i < arg.size() && arg[i] == '=';
  };
  for (std::size_t i = 0; i < arg.size(); ++i) {
    if (arg[i] == ',' && starts_pair(i + 1)) {
      pairs.push_back(arg.substr(start, i - start));
      start = i + 1;
    }
  }
  pairs.push_back(arg.substr(start));
  return pairs;
}

/// The position in `axis` of the value `given` for --point. Throws ConfigError naming the axis,
/// the value and the nearest grid values when there is not exactly one match.
std::size_t match_value(const ParamDef& def, const AxisSpec& axis, const std::string& given) {
  const std::string head = "--point " + text::setting(axis.key, given) + ": ";
  if (def.numeric()) {
    ParamDef as_real = def;
    as_real.key = "--point " + axis.key;
    as_real.kind = ParamKind::Real;
    const double x = parse_number(as_real, given);
    std::vector<std::size_t> hits;
    std::optional<std::size_t> below, above;  // the nearest grid values on either side
    for (std::size_t i = 0; i < axis.values.size(); ++i) {
      const double v = axis.values[i].numbers.at(0);
      const double tol = v == 0 ? kZeroTolerance : kRelativeTolerance * std::fabs(v);
      if (std::fabs(x - v) <= tol) hits.push_back(i);
      if (v <= x && (!below || v > axis.values[*below].numbers[0])) below = i;
      if (v >= x && (!above || v < axis.values[*above].numbers[0])) above = i;
    }
    if (hits.size() == 1) return hits[0];
    for (std::size_t i : hits) {  // grid values closer than the tolerance: the exact one wins
      if (axis.values[i].numbers[0] == x) return i;
    }
    if (hits.size() > 1) {
      std::vector<std::string> texts;
      for (std::size_t i : hits) texts.push_back(axis.values[i].text);
      throw ConfigError(head + "ambiguous: " + std::to_string(hits.size()) +
                        " grid values lie within relative 1e-9 of it (" + text::join(texts, ", ") +
                        "); give the value to more digits");
    }
    std::string nearest;
    if (below && above) {
      nearest = "between the grid values " + axis.values[*below].text + " and " +
                axis.values[*above].text;
    } else if (below) {
      nearest = "above the largest grid value " + axis.values[*below].text;
    } else {
      nearest = "below the smallest grid value " + axis.values[*above].text;
    }
    throw ConfigError(head + "not a grid value (none within relative 1e-9): it lies " + nearest +
                      " (the axis: " + axis.text + ")");
  }
  std::string canonical(text::trim(given));
  if (!def.textual()) {
    ParamDef as_point = def;
    as_point.key = "--point " + axis.key;
    canonical = parse_value(as_point, given).text;
  }
  for (std::size_t i = 0; i < axis.values.size(); ++i) {
    if (axis.values[i].text == canonical) return i;
  }
  throw ConfigError(head + "not a value of the axis" +
                    (canonical != given ? " (canonically '" + canonical + "')" : "") +
                    "; its values: " + describe_values(axis));
}

/// The flat index of the point --point names. Throws ConfigError.
std::uint64_t find_point(const SweepSpec& spec, const Grid& grid,
                         const std::vector<std::string>& args) {
  std::vector<std::pair<std::string, std::string>> given;
  for (const std::string& arg : args) {
    for (const std::string& pair : split_pairs(arg)) {
      const std::size_t eq = pair.find('=');
      const std::string key(text::trim(pair.substr(0, std::min(eq, pair.size()))));
      if (eq == std::string::npos || key.empty()) {
        throw ConfigError("--point " + text::quote(pair) +
                          ": expected KEY=VALUE, e.g. optimizer.eta=0.5");
      }
      for (const auto& [k, v] : given) {
        if (k == key) throw ConfigError("--point " + key + ": given twice");
      }
      given.emplace_back(key, std::string(text::trim(pair.substr(eq + 1))));
    }
  }
  std::vector<std::string> axis_keys;
  for (const AxisSpec& axis : grid.axes()) axis_keys.push_back(axis.key);
  const std::string axes_list = axis_keys.empty() ? "none" : text::join(axis_keys, ", ");
  std::vector<std::uint64_t> coords(grid.ndims(), 0);
  std::vector<bool> named(grid.ndims(), false);
  for (const auto& [key, value] : given) {
    const int param = spec.find(key);
    const auto axis_at = std::find(axis_keys.begin(), axis_keys.end(), key);
    if (axis_at == axis_keys.end()) {
      if (param < 0) {
        throw ConfigError("--point " + text::setting(key, value) +
                          ": not a key of this sweep; its axes: " + axes_list);
      }
      // A key the sweep fixes: accepted when it names the value every point has.
      AxisSpec fixed;
      fixed.key = key;
      fixed.kind = spec.schema()[static_cast<std::size_t>(param)].kind;
      fixed.values = {spec.value(key)};
      fixed.text = spec.value(key).text;
      try {
        match_value(spec.schema()[static_cast<std::size_t>(param)], fixed, value);
      } catch (const ConfigError&) {
        throw ConfigError("--point " + text::setting(key, value) +
                          ": not swept in this file, where every point has " + key + " = " +
                          text::quote(fixed.text) + "; its axes: " + axes_list);
      }
      continue;
    }
    const auto d = static_cast<std::size_t>(axis_at - axis_keys.begin());
    coords[d] = match_value(spec.schema()[static_cast<std::size_t>(param)], grid.axes()[d], value);
    named[d] = true;
  }
  std::vector<std::string> missing;
  for (std::size_t d = 0; d < grid.ndims(); ++d) {
    if (!named[d] && grid.axes()[d].values.size() > 1) {
      missing.push_back(grid.axes()[d].key + " (" + describe_values(grid.axes()[d], 4) + ")");
    }
  }
  if (!missing.empty()) {
    throw ConfigError("--point: missing " + text::join(missing, "; ") +
                      "; every axis with more than one value must be given");
  }
  return grid.flat(coords);
}

// ---------------------------------------------------------------------------- the point's values
/// One field's values at one point (stored or recomputed): its elements' bytes, as the Record
/// holds them (native types; enums as one-byte codes).
struct Slice {
  FieldId id = -1;                   // in the schema the values were read or computed with
  std::vector<unsigned char> bytes;  // count x element size; empty with a problem
  std::string problem;               // why the file holds no comparable values ("": none)
};

std::string path_of(const FieldDef& f) {
  return std::string(to_string(f.group)) + "/" + f.name;
}

Handle memory_type(const FieldDef& f, hid_t file_type) {
  switch (f.type) {
    case ElemType::f64:
      return h5::type_handle(H5Tcopy(H5T_NATIVE_DOUBLE), "type");
    case ElemType::i64:
      return h5::type_handle(H5Tcopy(H5T_NATIVE_INT64), "type");
    case ElemType::i32:
      return h5::type_handle(H5Tcopy(H5T_NATIVE_INT32), "type");
    case ElemType::enum8:
      return h5::type_handle(H5Tcopy(file_type), "type");  // the file's enum: codes as they are
  }
  return {};
}

/// Whether the file's element type is the one the schema declares (class and size; an enum's
/// members by code).
std::string type_problem(const FieldDef& f, hid_t dset, hid_t file_type) {
  const H5T_class_t cls = H5Tget_class(file_type);
  const std::size_t size = H5Tget_size(file_type);
  switch (f.type) {
    case ElemType::f64:
      return cls == H5T_FLOAT && size == 8 ? "" : "not float64 in the file";
    case ElemType::i64:
      return cls == H5T_INTEGER && size == 8 ? "" : "not int64 in the file";
    case ElemType::i32:
      return cls == H5T_INTEGER && size == 4 ? "" : "not int32 in the file";
    case ElemType::enum8:
      if (cls != H5T_ENUM || size != 1) return "not a one-byte enum in the file";
      // A file of an earlier build may lack members added since: its codes are this build's.
      if (!enum_members_extend(h5::enum_members(dset), f.members)) {
        return "its members in the file (" + text::join(h5::enum_members(dset), ", ") +
               ") are not the first of this build's (" + text::join(f.members, ", ") + ")";
      }
      return "";
  }
  return "";
}

/// The stored values of every field of `schema` in the groups `groups` accepts, at point `index`
/// of `grid`, read from the open file; and every dataset of those groups in the file that the
/// schema does not declare (as a slice with id -1 and a problem), keyed by "group/name".
template <class Accept>
std::map<std::string, Slice> read_stored(hid_t file, const Grid& grid, const Schema& schema,
                                         std::uint64_t index, Accept accept) {
  std::map<std::string, Slice> out;
  const std::vector<std::uint64_t> coords = grid.coords(index);
  for (FieldId id = 0; id < static_cast<FieldId>(schema.fields().size()); ++id) {
    const FieldDef& f = schema.field(id);
    if (!schema.present(id) || !accept(f.group)) continue;
    Slice& s = out[path_of(f)];
    s.id = id;
    if (H5Lexists(file, to_string(f.group), H5P_DEFAULT) <= 0 ||
        H5Lexists(file, path_of(f).c_str(), H5P_DEFAULT) <= 0) {
      s.problem = "not in the file";
      continue;
    }
    Handle dset =
        h5::dataset_handle(H5Dopen2(file, path_of(f).c_str(), H5P_DEFAULT), "open /" + path_of(f));
    Handle file_type = h5::type_handle(H5Dget_type(dset.get()), "type of /" + path_of(f));
    std::vector<hsize_t> want(grid.shape().begin(), grid.shape().end());
    for (std::size_t n : schema.tail_shape(id)) want.push_back(n);
    const std::vector<hsize_t> shape = h5::dataset_shape(dset.get());
    if (shape != want) {
      std::vector<std::string> have, expected;
      for (hsize_t n : shape) have.push_back(std::to_string(n));
      for (hsize_t n : want) expected.push_back(std::to_string(n));
      s.problem = "shape (" + text::join(have, ", ") + ") in the file, (" +
                  text::join(expected, ", ") + ") recomputed";
      continue;
    }
    s.problem = type_problem(f, dset.get(), file_type.get());
    if (!s.problem.empty()) continue;
    const std::size_t count = schema.count(id);
    s.bytes.assign(count * Schema::elem_size(f.type), 0);
    Handle mem = memory_type(f, file_type.get());
    if (shape.empty()) {  // a sweep without axes: scalar datasets
      h5::check_status(
          H5Dread(dset.get(), mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, s.bytes.data()),
          "read /" + path_of(f));
      continue;
    }
    std::vector<hsize_t> start(shape.size(), 0), counts(shape.begin(), shape.end());
    for (std::size_t d = 0; d < coords.size(); ++d) {
      start[d] = coords[d];
      counts[d] = 1;
    }
    Handle space = h5::space_handle(H5Dget_space(dset.get()), "space of /" + path_of(f));
    h5::check_status(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start.data(), nullptr,
                                         counts.data(), nullptr),
                     "select the point in /" + path_of(f));
    const hsize_t n = count;
    Handle mem_space = h5::space_handle(H5Screate_simple(1, &n, nullptr), "memory space");
    h5::check_status(
        H5Dread(dset.get(), mem.get(), mem_space.get(), space.get(), H5P_DEFAULT, s.bytes.data()),
        "read /" + path_of(f));
  }
  // What the file holds beyond the schema (another build's fields): never equal.
  for (const Group g : {Group::results, Group::traces}) {
    if (!accept(g) || H5Lexists(file, to_string(g), H5P_DEFAULT) <= 0) continue;
    Handle group = h5::group_handle(H5Gopen2(file, to_string(g), H5P_DEFAULT),
                                    std::string("open /") + to_string(g));
    for (const std::string& name : h5::link_names(group.get())) {
      const std::string path = std::string(to_string(g)) + "/" + name;
      if (out.count(path)) continue;
      Handle dset =
          h5::dataset_handle(H5Dopen2(group.get(), name.c_str(), H5P_DEFAULT), "open /" + path);
      if (H5DSis_scale(dset.get()) > 0) continue;  // a link to a coordinate
      out[path].problem = "in the file, not declared by this build";
    }
  }
  return out;
}

Slice recomputed_slice(const Record& record, FieldId id) {
  const Schema& schema = record.schema();
  Slice s;
  s.id = id;
  const unsigned char* p = record.data() + schema.offset(id);
  s.bytes.assign(p, p + schema.count(id) * Schema::elem_size(schema.field(id).type));
  return s;
}

// --------------------------------------------------------------------------------- the table
std::string element_text(const FieldDef& f, const unsigned char* p) {
  switch (f.type) {
    case ElemType::f64: {
      double v = 0;
      std::memcpy(&v, p, 8);
      return std::isnan(v) ? (std::signbit(v) ? "-nan" : "nan") : text::format_double(v);
    }
    case ElemType::i64: {
      std::int64_t v = 0;
      std::memcpy(&v, p, 8);
      return std::to_string(v);
    }
    case ElemType::i32: {
      std::int32_t v = 0;
      std::memcpy(&v, p, 4);
      return std::to_string(v);
    }
    case ElemType::enum8:
      return *p < f.members.size() ? f.members[*p] : "code " + std::to_string(*p);
  }
  return "";
}

std::string element_bits(const FieldDef& f, const unsigned char* p) {
  std::string hex = "0x";
  char buf[4];
  for (std::size_t b = Schema::elem_size(f.type); b-- > 0;) {  // little-endian: high byte last
    std::snprintf(buf, sizeof buf, "%02x", p[b]);
    hex += buf;
  }
  return hex;
}

/// "step=40, k=1": where element `i` of a field lies along its trailing dimensions.
std::string element_place(const Schema& schema, FieldId id, std::size_t i) {
  const FieldDef& f = schema.field(id);
  const std::vector<std::size_t> tail = schema.tail_shape(id);
  std::vector<std::string> parts(tail.size());
  for (std::size_t d = tail.size(); d-- > 0;) {
    const std::size_t at = i % tail[d];
    i /= tail[d];
    const DimDef* dim = schema.find_dim(f.dims[d]);
    const long long coord =
        dim && at < dim->coords.size() ? dim->coords[at] : static_cast<long long>(at);
    parts[d] = f.dims[d] + "=" + std::to_string(coord);
  }
  return text::join(parts, ", ");
}

struct Row {
  std::string field, stored, recomputed;
  bool equal = false;
  /// A field this build computes that the file's build (another commit) did not store: listed,
  /// not a difference (new fields come within a format and numerics version, README "Versions").
  bool added = false;
};

/// Compares one field, element by element, as bytes. `a` is read with `schema_a`, `b` with
/// `schema_b` (the same field: equal counts are checked).
Row compare(const std::string& path, const Schema& schema_a, const Slice& a, const Schema& schema_b,
            const Slice& b) {
  Row row;
  row.field = path;
  if (!a.problem.empty() || !b.problem.empty() || a.id < 0 || b.id < 0) {
    row.stored = a.problem.empty() ? (a.id < 0 ? "(none)" : "(read)") : "(" + a.problem + ")";
    row.recomputed = b.id < 0 ? "(none)" : b.problem.empty() ? "(computed)" : "(" + b.problem + ")";
    return row;
  }
  const FieldDef& f = schema_a.field(a.id);
  const std::size_t size = Schema::elem_size(f.type);
  const std::size_t n = a.bytes.size() / size;
  if (b.bytes.size() != a.bytes.size() || schema_b.field(b.id).type != f.type) {
    row.stored = std::to_string(n) + " value(s)";
    row.recomputed = std::to_string(b.bytes.size() / size) + " value(s)";
    return row;
  }
  std::size_t differ = 0, first = n;
  for (std::size_t i = 0; i < n; ++i) {
    if (std::memcmp(a.bytes.data() + i * size, b.bytes.data() + i * size, size) != 0) {
      if (differ++ == 0) first = i;
    }
  }
  row.equal = differ == 0;
  if (n > 1) {
    const auto tail = schema_a.tail_shape(a.id);
    std::vector<std::string> dims;
    for (std::size_t d = 0; d < tail.size(); ++d) {
      dims.push_back(f.dims[d] + " " + std::to_string(tail[d]));
    }
    row.field += " (" + text::join(dims, " x ") + ")";
  }
  const std::size_t show = differ == 0 ? 0 : first;
  const unsigned char* pa = a.bytes.data() + show * size;
  const unsigned char* pb = b.bytes.data() + show * size;
  std::string ta = element_text(f, pa), tb = element_text(f, pb);
  if (differ > 0 && ta == tb) {  // e.g. NaNs of other payloads: show the bits
    ta += " (" + element_bits(f, pa) + ")";
    tb += " (" + element_bits(f, pb) + ")";
  }
  if (n == 1) {
    row.stored = ta;
    row.recomputed = tb;
  } else if (differ == 0) {
    row.stored = row.recomputed = std::to_string(n) + " values";
  } else {
    const std::string place = "[" + element_place(schema_a, a.id, first) + "] ";
    row.stored = place + ta;
    row.recomputed = place + tb;
    row.field += ", " + std::to_string(differ) + " of " + std::to_string(n) + " differ";
  }
  return row;
}

/// Prints the table; returns the number of unequal rows.
std::size_t print_table(const std::vector<Row>& rows, std::ostream& out,
                        const char* stored_title = "stored",
                        const char* recomputed_title = "recomputed") {
  std::size_t wf = 5, ws = std::strlen(stored_title), wr = std::strlen(recomputed_title);
  for (const Row& r : rows) {
    wf = std::max(wf, r.field.size());
    ws = std::max(ws, r.stored.size());
    wr = std::max(wr, r.recomputed.size());
  }
  const auto pad = [](const std::string& s, std::size_t w) {
    return s + std::string(w > s.size() ? w - s.size() : 0, ' ');
  };
  out << "  " << pad("field", wf) << "  " << pad(stored_title, ws) << "  "
      << pad(recomputed_title, wr) << "  equal\n";
  std::size_t unequal = 0;
  for (const Row& r : rows) {
    const bool differs = !r.equal && !r.added;
    unequal += differs ? 1 : 0;
    out << (differs ? "! " : "  ") << pad(r.field, wf) << "  " << pad(r.stored, ws) << "  "
        << pad(r.recomputed, wr) << "  "
        << (r.equal   ? "yes"
            : r.added ? "new (not stored by the file's build)"
                      : "NO <<<")
        << "\n";
  }
  return unequal;
}

// ---------------------------------------------------------------------------- the dense trace
/// The new file's checks before anything is computed: a new file (never replaced), in a
/// directory that exists, that no other run holds (its lock, lock.hpp). Throws ConfigError.
/// run_sweep checks them again, and the rest, when it writes the file under its lock.
void check_new_output(const std::string& output) {
  std::error_code ec;
  if (fs::exists(output, ec) || fs::is_symlink(output, ec)) {
    throw ConfigError("-o " + text::quote(output) +
                      ": the file exists; rerun writes a new file only (remove it, or choose "
                      "another name)");
  }
  const fs::path p(output);
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec)) {
    throw ConfigError("-o " + text::quote(output) + ": the directory " + text::quote(dir.string()) +
                      " does not exist; create it first");
  }
  OutputLock(output).discard();  // another run writing it refuses now, not after the point
}

/// The config of the dense trace: the file's, with every axis fixed at the point's value and
/// record.every = K. Checked to give the point's parameters exactly. Throws ConfigError.
SweepSpec dense_spec(const std::string& config_text, const Grid& grid, std::uint64_t index,
                     std::int64_t every, const std::string& output, const std::string& path) {
  const ParamSet params = grid.params(index);
  const std::int64_t steps = params.integer("optimizer.steps");
  if (every > steps) {
    throw ConfigError("--trace-every " + std::to_string(every) +
                      ": must be at most the point's optimizer.steps (" + std::to_string(steps) +
                      ")");
  }
  const double records = std::floor(static_cast<double>(steps) / static_cast<double>(every)) + 1;
  if (records > kMaxDenseRecords) {
    throw ConfigError(
        "--trace-every " + std::to_string(every) + ": gives " + text::format_double(records) +
        " trace records (optimizer.steps = " + std::to_string(steps) + "); at most " +
        text::format_double(kMaxDenseRecords) + " are allowed: K >= " +
        text::format_double(std::floor(static_cast<double>(steps) / kMaxDenseRecords) + 1));
  }
  std::vector<std::string> overrides;
  for (const AxisSpec& axis : grid.axes()) {
    overrides.push_back(axis.key + "=" + params.value(axis.key).text);
  }
  overrides.push_back("record.every=" + std::to_string(every));
  overrides.push_back("sweep.output=" + output);
  SweepSpec spec = parse_spec(config_text, overrides, path + " (config_text, the point fixed)");
  // The fixed config must give the point's own parameters, bit for bit (record.every aside).
  const Grid one(spec);
  const ParamSet fixed = one.params(0);
  for (const ParamDef& def : spec.schema()) {
    if (def.key == "record.every" || def.key == "sweep.output") continue;
    const Value& a = params.value(def.key);
    const Value& b = fixed.value(def.key);
    if (a.text != b.text || a.numbers.size() != b.numbers.size() ||
        std::memcmp(a.numbers.data(), b.numbers.data(), a.numbers.size() * sizeof(double)) != 0) {
      throw Error("the dense trace's config gives " + def.key + " = " + text::quote(b.text) +
                  " where the point has " + text::quote(a.text));
    }
  }
  return spec;
}

/// The bytes of one element of `f` at its fill value.
std::vector<unsigned char> fill_bytes(const FieldDef& f) {
  std::vector<unsigned char> b(Schema::elem_size(f.type), 0);
  switch (f.type) {
    case ElemType::f64:
      std::memcpy(b.data(), &f.fill, 8);
      break;
    case ElemType::i64: {
      const auto v = static_cast<std::int64_t>(f.fill);
      std::memcpy(b.data(), &v, 8);
      break;
    }
    case ElemType::i32: {
      const auto v = static_cast<std::int32_t>(f.fill);
      std::memcpy(b.data(), &v, 4);
      break;
    }
    case ElemType::enum8:
      b[0] = static_cast<unsigned char>(f.fill);
      break;
  }
  return b;
}

/// The dense file's values of a field laid out as the stored ones, to compare them element by
/// element: `rows` pairs a stored row with a dense one (a trace's records at the steps both
/// files hold; a /results field is one row), copied where both tail shapes have the element and
/// set to the fill value where only the stored one has it (a trailing dimension is as long as the
/// largest point of its grid needs: the point alone may need less); rows not paired keep the
/// stored values. Null when the shapes cannot be paired (another rank of dimensions, or a
/// dense dimension longer than the stored one).
std::optional<Slice> as_stored(const Schema& a, const Slice& stored, const Schema& b,
                               const Slice& dense, bool by_step,
                               const std::vector<std::pair<std::size_t, std::size_t>>& rows) {
  std::vector<std::size_t> ta = a.tail_shape(stored.id), tb = b.tail_shape(dense.id);
  if (ta.size() != tb.size() || (by_step && ta.empty())) return std::nullopt;
  if (by_step) {
    ta.erase(ta.begin());
    tb.erase(tb.begin());
  }
  for (std::size_t d = 0; d < ta.size(); ++d) {
    if (tb[d] > ta[d]) return std::nullopt;
  }
  const FieldDef& f = a.field(stored.id);
  const std::size_t size = Schema::elem_size(f.type);
  std::size_t row_a = 1, row_b = 1;
  for (std::size_t n : ta) row_a *= n;
  for (std::size_t n : tb) row_b *= n;
  const std::vector<unsigned char> fill = fill_bytes(f);
  Slice out = stored;
  out.id = stored.id;
  for (const auto& [i, j] : rows) {
    for (std::size_t e = 0; e < row_a; ++e) {
      // e's multi-index in the stored row, and its flat index in the dense row when it has one.
      std::size_t rest = e, at_b = 0, stride_b = 1;
      bool inside = true;
      for (std::size_t d = ta.size(); d-- > 0;) {
        const std::size_t k = rest % ta[d];
        rest /= ta[d];
        inside = inside && k < tb[d];
        at_b += k * stride_b;
        stride_b *= tb[d];
      }
      const unsigned char* from =
          inside ? dense.bytes.data() + (j * row_b + at_b) * size : fill.data();
      std::memcpy(out.bytes.data() + (i * row_a + e) * size, from, size);
    }
  }
  return out;
}

struct DenseCheck {
  std::vector<Row> results;  // every /results field: the dense file's against the stored
  std::vector<Row> traces;   // every /traces field at the shared steps
  std::size_t shared_steps = 0;
};

/// The dense file's /results against the stored point's, and its /traces at the steps both
/// record.
DenseCheck check_dense(const std::string& output, const SweepSpec& spec,
                       const std::map<std::string, Slice>& stored, const SweepFields& fields) {
  const Grid one(spec);
  const SweepFields dense_fields(one);
  Handle file = h5::file_handle(H5Fopen(output.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT),
                                "open " + text::quote(output));
  const auto dense = read_stored(file.get(), one, dense_fields.schema(), 0,
                                 [](Group g) { return g != Group::run; });
  const Schema& a = fields.schema();
  const Schema& b = dense_fields.schema();
  // The steps both files recorded (as positions in each).
  const std::vector<std::int64_t>& steps_a = fields.record_steps();
  const std::vector<std::int64_t>& steps_b = dense_fields.record_steps();
  std::vector<std::pair<std::size_t, std::size_t>> shared;
  for (std::size_t i = 0, j = 0; i < steps_a.size() && j < steps_b.size();) {
    if (steps_a[i] == steps_b[j]) {
      shared.emplace_back(i++, j++);
    } else if (steps_a[i] < steps_b[j]) {
      ++i;
    } else {
      ++j;
    }
  }
  DenseCheck check;
  check.shared_steps = shared.size();
  for (const auto& [path, slice] : stored) {
    if (slice.id < 0 || !slice.problem.empty()) continue;
    const bool trace = path.rfind("traces/", 0) == 0;
    const auto it = dense.find(path);
    std::optional<Slice> laid_out;
    if (it != dense.end() && it->second.id >= 0 && it->second.problem.empty()) {
      const FieldDef& f = a.field(slice.id);
      const bool by_step = trace && !f.dims.empty() && f.dims.front() == "step";
      laid_out =
          as_stored(a, slice, b, it->second, by_step,
                    by_step ? shared : std::vector<std::pair<std::size_t, std::size_t>>{{0, 0}});
    }
    Row row;
    if (!laid_out && (it == dense.end() || it->second.id < 0) && !trace) {
      // The point alone does not declare this field (the sweep declares it for other points,
      // e.g. a periodic orbit for its full-batch ones): the stored values must be its fill.
      const std::vector<unsigned char> element = fill_bytes(a.field(slice.id));
      Slice filled;
      filled.id = slice.id;
      for (std::size_t k = 0; k < slice.bytes.size(); k += element.size()) {
        filled.bytes.insert(filled.bytes.end(), element.begin(), element.end());
      }
      row = compare(path, a, slice, a, filled);
      if (row.equal) row.recomputed += " (the fill: not declared for the point alone)";
    } else if (laid_out) {
      row = compare(path, a, slice, a, *laid_out);
    } else {
      row.field = path;
      row.stored = "(read)";
      row.recomputed = it == dense.end() || it->second.id < 0 ? "(not in the dense file)"
                       : it->second.problem.empty()           ? "(another shape)"
                                                              : "(" + it->second.problem + ")";
    }
    (trace ? check.traces : check.results).push_back(row);
  }
  return check;
}

// ------------------------------------------------------------------------------------ rerun
int rerun_point(const Options& opts, const std::string& command_line) {
  const std::string& path = opts.file;
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    throw ConfigError(text::quote(path) +
                      ": no such file (symsweep rerun recomputes a point of a result file)");
  }
  const FileInfo info = read_file_info(path);
  if (info.format == kShardFormat) {
    throw ConfigError(text::quote(path) + ": a shard file (part " +
                      std::to_string(info.shard_index) + " of " + std::to_string(info.shard_count) +
                      "); rerun a point of the merged file (symsweep merge OUT.h5 SHARD...)");
  }
  if (info.format == kRefineFormat) {
    throw ConfigError(text::quote(path) +
                      ": a refined sweep's point table (format symsweep-refine/1); rerun reads "
                      "whole-grid files only: rerun the point from its config with --set (its "
                      "values are in /refine and /point)");
  }
  std::ostringstream head;
  check_build(info, path, opts.strict, head);

  const SweepSpec spec =
      parse_spec(info.config_text, {"sweep.output=" + path}, path + " (config_text)");
  const Grid grid(spec);
  const SweepFields fields(grid);
  const std::uint64_t index =
      opts.index.empty()
          ? find_point(spec, grid, opts.points)
          : static_cast<std::uint64_t>(
                parse_count("--index", opts.index, 0, static_cast<double>(grid.size()) - 1,
                            "must be a point index in [0, " + std::to_string(grid.size()) +
                                ") (the file has " + std::to_string(grid.size()) + " point(s))"));

  // The stored values, and the point's status: a pending point has none to compare.
  const Schema& schema = fields.schema();
  const FieldId status = schema.status_field();
  std::map<std::string, Slice> stored;
  {
    Handle file = h5::file_handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT),
                                  "open " + text::quote(path));
    stored = read_stored(file.get(), grid, schema, index, [](Group g) { return g != Group::run; });
  }
  const Slice& stored_status = stored.at(path_of(schema.field(status)));
  if (!stored_status.problem.empty()) {
    throw ConfigError(text::quote(path) + ": its /" + path_of(schema.field(status)) + " is " +
                      stored_status.problem + "; not a file this build can compare with");
  }
  const std::string point_values = [&] {
    std::vector<std::string> parts;
    const ParamSet params = grid.params(index);
    for (const AxisSpec& axis : grid.axes()) {
      parts.push_back(axis.key + " = " + params.value(axis.key).text);
    }
    return parts.empty() ? std::string("the sweep has no axes") : text::join(parts, ", ");
  }();
  if (stored_status.bytes.at(0) == static_cast<std::uint8_t>(Status::pending)) {
    throw ConfigError(text::quote(path) + ": point " + std::to_string(index) + " (" + point_values +
                      ") is pending: the file holds no result of it to compare with (symsweep "
                      "resume " +
                      path + " computes it)");
  }

  // The dense trace's config, checked before anything is computed.
  std::optional<SweepSpec> dense;
  if (!opts.trace_every.empty()) {
    check_new_output(opts.output);
    const std::int64_t every =
        parse_count("--trace-every", opts.trace_every, 1, 1e12, "must be >= 1");
    dense.emplace(dense_spec(info.config_text, grid, index, every, opts.output, path));
    const Grid one(*dense);
    const SweepFields dense_fields(one);
    const double bytes = static_cast<double>(dense_fields.schema().record_bytes());
    if (bytes > kMaxDenseBytes) {
      throw ConfigError("--trace-every " + std::to_string(every) + ": the point's dense trace " +
                        "would hold " + text::format_bytes(bytes) + " (" +
                        std::to_string(dense_fields.record_steps().size()) + " records); at most " +
                        text::format_bytes(kMaxDenseBytes) + " are allowed: record less often");
    }
  }

  std::cout << "rerun " << path << ": point " << index << " of " << grid.size() << " ("
            << point_values << ")\n"
            << head.str() << std::flush;
  const auto t0 = std::chrono::steady_clock::now();
  PointResult recomputed;
  try {
    recomputed = simulate_point(grid, fields, index);
  } catch (...) {  // as the run loop records a point that throws
    recomputed = failed_point(fields, index, std::current_exception());
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const FieldId outcome = fields.core().outcome;
  const auto status_text = [&](const Record& r) -> std::string {
    const auto code = r.code(status);
    const bool done = code == static_cast<std::uint8_t>(Status::done);
    return std::string(to_string(static_cast<Status>(code))) +
           (done ? std::string(", outcome ") + to_string(static_cast<Outcome>(r.code(outcome)))
                 : "");
  };
  char took[48];
  std::snprintf(took, sizeof took, " in %.3f s", seconds);
  std::cout << "recomputed: " << status_text(recomputed.values) << took
            << (recomputed.error.empty() ? ""
                                         : " (" + text::quote(recomputed.error, false, 300) + ")")
            << "\n";

  // The table: every field of /results and /traces, in the schema's order, then the file's extras.
  std::vector<Row> rows;
  for (const Group group : {Group::results, Group::traces}) {
    for (FieldId id = 0; id < static_cast<FieldId>(schema.fields().size()); ++id) {
      const FieldDef& f = schema.field(id);
      if (!schema.present(id) || f.group != group) continue;
      rows.push_back(compare(path_of(f), schema, stored.at(path_of(f)), schema,
                             recomputed_slice(recomputed.values, id)));
    }
  }
  for (const auto& [name, slice] : stored) {
    if (slice.id < 0) rows.push_back(compare(name, schema, slice, schema, Slice{}));
  }
  // Fields this build declares that a file of another commit lacks were added since: listed as
  // new. With the same commit, a missing field is a difference (the file is not what it wrote).
  const bool other_commit = info.git_commit != git_commit();
  std::vector<std::string> added;
  for (Row& r : rows) {
    const auto it = stored.find(r.field.substr(0, r.field.find(' ')));
    if (other_commit && it != stored.end() && it->second.problem == "not in the file" &&
        it->second.id >= 0) {
      r.added = true;
      added.push_back(it->first);
    }
  }
  std::cout << "\n";
  const std::size_t unequal = print_table(rows, std::cout);
  std::vector<std::string> names;
  for (const Row& r : rows) {
    if (!r.equal && !r.added) names.push_back(r.field.substr(0, r.field.find(' ')));
  }
  if (!added.empty()) {
    std::cout << "\nnew: " << added.size() << " field(s) this build computes are not in the file "
              << "(its build, " << info.git_commit
              << ", did not store them): " << text::join(added, ", ") << "\n";
  }
  if (unequal == 0) {
    std::cout << "\nequal: all " << rows.size() - added.size()
              << " fields of /results and /traces of point " << index << " are the stored bits\n";
  } else {
    const std::size_t shown = 6;
    std::string list = text::join(
        std::vector<std::string>(names.begin(), names.begin() + std::min(names.size(), shown)),
        ", ");
    if (names.size() > shown) list += " and " + std::to_string(names.size() - shown) + " more";
    std::cout << "\nNOT EQUAL: " << unequal << " of " << rows.size() << " fields of point " << index
              << " differ from the stored ones: " << list << "\n";
  }
  std::cout << std::flush;
  int status_code = unequal == 0 ? kExitOk : kExitFailure;

  if (dense) {
    // The point alone, written as an ordinary one-point result file by the run loop.
    install_signal_handlers();
    SweepOptions options;
    options.command_line = command_line;
    const SweepSummary summary = run_sweep(*dense, MPI_COMM_WORLD, options);
    if (summary.interrupted()) return kExitInterrupted;
    const DenseCheck check = check_dense(opts.output, *dense, stored, fields);
    const Grid one(*dense);
    const SweepFields dense_fields(one);
    const auto& steps = dense_fields.record_steps();
    std::cout << "\ndense trace: wrote " << opts.output
              << " (the point alone, record.every = " << dense->value("record.every").text
              << "): " << steps.size() << " trace records"
              << (steps.empty() ? ""
                                : ", steps " + std::to_string(steps.front()) + " to " +
                                      std::to_string(steps.back()));
    // A run that ended early (converged, diverged) fills the records up to its last step only.
    const auto ran = recomputed.values.integer(fields.core().steps_run);
    const auto filled = std::count_if(steps.begin(), steps.end(), [&](auto step) {
      return static_cast<std::int64_t>(step) <= ran;
    });
    if (filled < static_cast<std::ptrdiff_t>(steps.size())) {
      std::cout << " (" << filled << " filled: the run ended at step " << ran << ")";
    }
    std::cout << "\n";
    const auto all_equal = [](const std::vector<Row>& r) {
      return std::all_of(r.begin(), r.end(), [](const Row& x) { return x.equal; });
    };
    const bool results_ok = all_equal(check.results);
    const bool traces_ok = all_equal(check.traces);
    std::cout << "  its /results equal the stored point's: "
              << (results_ok ? "yes (" + std::to_string(check.results.size()) + " fields)" : "NO")
              << "\n";
    if (!check.traces.empty()) {
      std::cout << "  its /traces at the " << check.shared_steps
                << " steps the file records too equal the stored ones: "
                << (traces_ok ? "yes (" + std::to_string(check.traces.size()) + " fields)" : "NO")
                << "\n";
    }
    if (!results_ok || !traces_ok) {
      std::vector<Row> bad;
      for (const auto* list : {&check.results, &check.traces}) {
        for (const Row& r : *list) {
          if (!r.equal) bad.push_back(r);
        }
      }
      print_table(bad, std::cout, "stored", "dense file");
      status_code = kExitFailure;
    }
  }
  return status_code;
}

void print_help() {
  Options scratch;
  std::cout
      << "Usage: symsweep rerun OUT.h5 (--point KEY=VALUE,... | --index N) [--trace-every K -o "
         "POINT.h5] [--strict]\n"
         "Recomputes one point of a result file from the config stored in it, with this build, "
         "and\n"
         "compares every field of /results and /traces (not /run: timing, placement) with the\n"
         "stored values bit for bit (NaN equals NaN only with the same bits). Prints a table\n"
         "(field, stored, recomputed, equal; numbers in the shortest text that reads back to the\n"
         "same double; an array field shows its first differing element; '!' and NO mark the\n"
         "fields that differ) and a summary line. A failed point is recomputed as the run did and\n"
         "compared too (status failed, every field at its fill value); a pending point has "
         "nothing\n"
         "to compare with (exit 2; symsweep resume computes it).\n"
         "One process (no mpirun, or mpirun -np 1); it refuses to start on more ranks.\n\n"
      << description(scratch) << "\n"
      << "--trace-every K -o POINT.h5 writes the point alone (the file's config, every axis fixed\n"
         "at the point's value, record.every = K) as an ordinary one-point result file, for\n"
         "symsweep inspect, symsweep_analysis trace and open_sweep; it then checks that its\n"
         "/results are the stored point's (record.every changes no other number) and its traces\n"
         "at the steps the file records too are the stored ones. At most 10^6 records and 1 GB\n"
         "of data per dense trace; an existing POINT.h5 is never replaced.\n\n"
         "Exit status: 0 every field equal; 1 a field differs (or a runtime failure); 2 bad input\n"
         "(a missing, ambiguous or off-grid --point value, an --index out of range, a pending\n"
         "point, an existing -o file; nothing was written); 3 interrupted while writing -o.\n";
}

}  // namespace rerun_cmd

int rerun(const std::vector<std::string>& args, const std::string& command_line) {
  using namespace rerun_cmd;
  const Options opts = parse_options(args);
  const auto [ranks, rank] = launcher_ranks();
  if (opts.help) {
    if (rank == 0) print_help();
    return kExitOk;
  }
  if (ranks > 1) {
    if (rank == 0) {
      text::write_stderr("symsweep: error: symsweep rerun runs as one process, started on " +
                         std::to_string(ranks) +
                         " ranks: run it without mpirun (or with mpirun -np 1)\n");
    }
    return kExitUsage;
  }
  if (opts.trace_every.empty()) return rerun_point(opts, command_line);
  const MpiScope mpi;
  try {
    return rerun_point(opts, command_line);
  } catch (const SharedError& e) {
    // The dense file may still be open in HDF5 after a failed write, and HDF5 would try to close
    // it inside MPI_Finalize: leave without closing anything (as `run` does).
    text::write_stderr(std::string("symsweep: error: ") + e.what() + "\n");
    std::cout.flush();
    std::fflush(nullptr);
    ::_exit(kExitFailure);
  }
}

}  // namespace symsweep::apps
