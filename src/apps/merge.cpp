// symsweep merge OUT.h5 SHARD... — the whole grid's result file from the shard files of
// `symsweep run --shard i/N`.
//
// The shards must be of one sweep (the same config_sha256), of this build's numerics version and
// build signature (unless --allow-build-change), cover the grid exactly once, and hold every one
// of their points done. OUT.h5 is then created like a run's file (the same layout, types,
// attributes) under OUT.h5.merging, filled shard by shard and field by field in blocks of points
// (memory bounded by the block, never by the grid) through the store's own checkpoint write (data,
// flush, then the status), and renamed to OUT.h5 once complete: its /results and /traces equal a
// single run's bit for bit. One process (the store's MPI-IO driver on MPI_COMM_SELF).
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <optional>
#include <sstream>

#include <boost/program_options.hpp>

#include "apps.hpp"
#include "command_line.hpp"
#include "h5.hpp"
#include "lock.hpp"
#include "symsweep/error.hpp"
#include "symsweep/grid.hpp"
#include "symsweep/simulate.hpp"
#include "symsweep/spec.hpp"
#include "symsweep/store.hpp"
#include "symsweep/version.hpp"
#include "text.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace symsweep::apps {

namespace {

struct MergeOptions {
  std::string out;
  std::vector<std::string> shards;
  bool allow_build_change = false;
  bool quiet = false;
  bool help = false;
};

po::options_description merge_options_description(MergeOptions& o) {
  po::options_description desc("Options of `symsweep merge OUT.h5 SHARD.h5...`");
  desc.add_options()("allow-build-change", po::bool_switch(&o.allow_build_change),
                     "merge shards computed by builds of another signature than this one's (or "
                     "than each other's), which is refused otherwise")(
      "quiet,q", po::bool_switch(&o.quiet), "print only errors")("help,h", po::bool_switch(&o.help),
                                                                 "show this help");
  return desc;
}

MergeOptions parse_merge_options(const std::vector<std::string>& args) {
  MergeOptions o;
  po::options_description desc = merge_options_description(o);
  po::options_description hidden;
  hidden.add_options()("files", po::value<std::vector<std::string>>());
  po::positional_options_description positional;
  positional.add("files", -1);
  const po::variables_map vm = parse_command_line(args, desc, hidden, positional, "merge");
  if (o.help) return o;
  std::vector<std::string> files;
  if (vm.count("files")) files = vm["files"].as<std::vector<std::string>>();
  if (files.size() < 2) {
    throw ConfigError(
        "command line: missing " + std::string(files.empty() ? "OUT.h5 and " : "") +
        "the shard files (usage: symsweep merge OUT.h5 SHARD.h5... : OUT.h5 is the file to "
        "write, the shards are those of symsweep run --shard i/N)");
  }
  o.out = files.front();
  o.shards.assign(files.begin() + 1, files.end());
  return o;
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string host_name() {
  char name[256] = {0};
  ::gethostname(name, sizeof name - 1);
  return name;
}

struct Shard {
  std::string path;
  FileInfo info;
  std::vector<RunRecord> runs;
};

/// Every shard's root attributes, checked against each other and this build. Throws ConfigError.
std::vector<Shard> read_shards(const MergeOptions& o) {
  std::vector<Shard> shards;
  for (const std::string& path : o.shards) {
    std::error_code ec;
    if (!fs::exists(path, ec)) throw ConfigError(text::quote(path) + ": no such shard file");
    Shard s{path, read_file_info(path), read_runs(path)};
    if (s.info.format != kShardFormat) {
      throw ConfigError(text::quote(path) + ": a result file of the whole grid (format " +
                        text::quote(s.info.format) + "), not a shard (format " + kShardFormat +
                        ", written by symsweep run --shard i/N)");
    }
    shards.push_back(std::move(s));
  }
  const Shard& a = shards.front();
  for (const Shard& s : shards) {
    if (s.info.config_sha256 != a.info.config_sha256) {
      throw ConfigError(text::quote(s.path) + " and " + text::quote(a.path) +
                        " are shards of different sweeps (config_sha256 " +
                        s.info.config_sha256.substr(0, 12) + "... and " +
                        a.info.config_sha256.substr(0, 12) +
                        "...): merge shards run from one config (symsweep inspect shows it)");
    }
    if (s.info.numerics_version != kNumericsVersion) {
      throw ConfigError(text::quote(s.path) + ": its points were computed with numerics version " +
                        std::to_string(s.info.numerics_version) +
                        ", this symsweep writes version " + std::to_string(kNumericsVersion) +
                        ": merge it with the symsweep that "
                        "wrote it (" +
                        s.info.symsweep_version + ", " + s.info.git_commit + ")");
    }
    const std::string diff = signature_difference(s.info.build_signature, build_signature());
    if (!diff.empty() && !o.allow_build_change) {
      throw ConfigError(text::quote(s.path) +
                        ": computed by a build of another signature (the shard's -> this "
                        "build's: " +
                        diff +
                        "): merge with that build, or pass --allow-build-change to mix builds");
    }
  }
  // Exactly once: sorted by first point, each range must begin where the last ended.
  std::sort(shards.begin(), shards.end(),
            [](const Shard& x, const Shard& y) { return x.info.shard_first < y.info.shard_first; });
  const long long n = a.info.n_points;
  std::vector<std::string> gaps, overlaps;
  long long covered = 0;
  const std::string* last = nullptr;
  for (const Shard& s : shards) {
    if (s.info.shard_first > covered) {
      gaps.push_back("[" + std::to_string(covered) + ", " + std::to_string(s.info.shard_first) +
                     ")");
    } else if (s.info.shard_first < covered) {
      overlaps.push_back("[" + std::to_string(s.info.shard_first) + ", " +
                         std::to_string(std::min(covered, s.info.shard_end)) + ") in " +
                         text::quote(*last) + " and " + text::quote(s.path));
    }
    if (s.info.shard_end > covered) {
      covered = s.info.shard_end;
      last = &s.path;
    }
  }
  if (covered < n) gaps.push_back("[" + std::to_string(covered) + ", " + std::to_string(n) + ")");
  if (!overlaps.empty()) {
    throw ConfigError("the shards overlap: points " + text::join(overlaps, "; ") +
                      " (each part of the grid must be given once)");
  }
  if (!gaps.empty()) {
    throw ConfigError(
        "the shards do not cover the grid of " + std::to_string(n) + " point(s): points " +
        text::join(gaps, ", ") +
        " are in none of them (missing shard file(s): " + std::to_string(a.info.shard_count) +
        " were made, " + std::to_string(shards.size()) + " given)");
  }
  return shards;
}

/// The status codes of a shard's points, read serially.
std::vector<std::uint8_t> read_shard_status(hid_t file, const std::string& status_path) {
  h5::Handle dset =
      h5::dataset_handle(H5Dopen2(file, status_path.c_str(), H5P_DEFAULT), "open /" + status_path);
  const auto shape = h5::dataset_shape(dset.get());
  std::vector<std::uint8_t> status(shape.empty() ? 0 : static_cast<std::size_t>(shape[0]));
  h5::Handle type = h5::type_handle(H5Dget_type(dset.get()), "status type");
  if (!status.empty()) {
    h5::check_status(H5Dread(dset.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, status.data()),
                     "read /" + status_path);
  }
  return status;
}

/// One line of provenance per shard: its path, part, range and the runs that wrote it.
std::string shard_provenance(const Shard& s) {
  std::ostringstream line;
  line << fs::absolute(s.path).string() << ": shard " << s.info.shard_index << " of "
       << s.info.shard_count << ", points [" << s.info.shard_first << ", " << s.info.shard_end
       << "), build " << signature_hash(s.info.build_signature) << "; runs:";
  for (const RunRecord& r : s.runs) {
    line << " " << r.kind << " " << r.start_utc << " .. " << r.end_utc << " " << r.ended << " ("
         << r.mpi_ranks << " x " << r.omp_threads << " on " << r.hosts << ");";
  }
  return line.str();
}

int merge_files(const MergeOptions& o, const std::string& command_line) {
  const std::string out = o.out;
  std::error_code ec;
  if (fs::exists(out, ec)) {
    throw ConfigError(text::quote(out) +
                      ": exists; symsweep merge never replaces a file (remove it, or merge into "
                      "another name)");
  }
  OutputLock lock(out);  // one merge (or run) per output
  std::vector<Shard> shards;
  std::vector<OutputLock> shard_locks;  // no run or resume may write a shard being merged
  std::optional<SweepSpec> spec;
  try {
    shards = read_shards(o);
    for (const Shard& s : shards) shard_locks.emplace_back(s.path);
    spec.emplace(parse_spec(shards.front().info.config_text, {"sweep.output=" + out},
                            shards.front().path + " (config_text)"));
  } catch (const ConfigError&) {
    lock.discard();
    throw;
  }
  const Grid grid(*spec);
  const SweepFields fields(grid);
  const Schema& schema = fields.schema();
  const FieldId status_id = schema.status_field();
  const std::string status_path =
      std::string(to_string(schema.field(status_id).group)) + "/" + schema.field(status_id).name;

  // Every point of every shard done; the shards' fields of this build's layout.
  for (const Shard& s : shards) {
    h5::Handle file = h5::file_handle(H5Fopen(s.path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT),
                                      "open " + text::quote(s.path));
    const std::vector<std::uint8_t> status = read_shard_status(file.get(), status_path);
    const auto points = static_cast<std::size_t>(s.info.shard_end - s.info.shard_first);
    if (status.size() != points) {
      lock.discard();
      throw ConfigError(text::quote(s.path) + ": /" + status_path + " holds " +
                        std::to_string(status.size()) + " point(s), its range " +
                        std::to_string(points) + ": a damaged shard file");
    }
    const auto not_done =
        static_cast<long long>(std::count_if(status.begin(), status.end(), [](std::uint8_t c) {
          return c != static_cast<std::uint8_t>(Status::done);
        }));
    if (not_done > 0) {
      lock.discard();
      throw ConfigError(text::quote(s.path) + ": " + std::to_string(not_done) + " of " +
                        std::to_string(points) +
                        " point(s) not done (pending or failed): finish it first with symsweep "
                        "resume " +
                        s.path);
    }
  }

  // The output, as a run creates it, under a name of its own until complete.
  const std::string partial = out + ".merging";
  Provenance prov;
  prov.command_line = command_line;
  prov.hosts = host_name();
  prov.created_utc = utc_now();
  StoreOptions store_options;
  store_options.truncate = true;  // a stale .merging of an earlier merge (we hold the lock)
  store_options.run_kind = "merge";
  std::string merged_from;
  for (const Shard& s : shards) merged_from += shard_provenance(s) + "\n";
  store_options.root_attributes = {{"merged_from", merged_from}};
  if (!o.quiet) {
    std::cout << version_string() << "\nmerging " << shards.size() << " shard(s) of sweep '"
              << spec->name() << "' (" << grid.size() << " point(s)) into " << out << std::endl;
  }
  long long written = 0;
  try {
    ResultStore store =
        ResultStore::create(partial, MPI_COMM_SELF, grid, schema, prov, store_options);
    const std::size_t block = std::max<std::size_t>(
        1, (std::size_t{64} << 20) / std::max<std::size_t>(schema.record_bytes(), 1));
    for (const Shard& s : shards) {
      h5::Handle file = h5::file_handle(H5Fopen(s.path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT),
                                        "open " + text::quote(s.path));
      std::vector<h5::Handle> dsets(schema.fields().size());
      for (FieldId id = 0; id < static_cast<FieldId>(schema.fields().size()); ++id) {
        if (!schema.present(id)) continue;
        const FieldDef& f = schema.field(id);
        const std::string path = std::string(to_string(f.group)) + "/" + f.name;
        if (H5Lexists(file.get(), to_string(f.group), H5P_DEFAULT) <= 0 ||
            H5Lexists(file.get(), path.c_str(), H5P_DEFAULT) <= 0) {
          throw ConfigError(text::quote(s.path) + ": has no /" + path +
                            ", which this symsweep writes: a shard of another layout");
        }
        dsets[static_cast<std::size_t>(id)] =
            h5::dataset_handle(H5Dopen2(file.get(), path.c_str(), H5P_DEFAULT), "open /" + path);
        const auto shape = h5::dataset_shape(dsets[static_cast<std::size_t>(id)].get());
        std::size_t elems = 1;
        for (std::size_t d = 1; d < shape.size(); ++d) elems *= shape[d];
        if (shape.empty() ||
            shape[0] != static_cast<hsize_t>(s.info.shard_end - s.info.shard_first) ||
            elems != schema.count(id)) {
          throw ConfigError(text::quote(s.path) + ": /" + path +
                            " has another shape than this symsweep writes: a shard of another "
                            "layout");
        }
      }
      const auto first = static_cast<std::uint64_t>(s.info.shard_first);
      const auto end = static_cast<std::uint64_t>(s.info.shard_end);
      for (std::uint64_t a = first; a < end; a += block) {
        const std::uint64_t b = std::min<std::uint64_t>(end, a + block);
        const auto n = static_cast<std::size_t>(b - a);
        std::vector<PointResult> points(n);
        for (std::size_t k = 0; k < n; ++k) {
          points[k].index = a + k;
          points[k].values = Record(schema);
        }
        for (FieldId id = 0; id < static_cast<FieldId>(schema.fields().size()); ++id) {
          if (!schema.present(id)) continue;
          const FieldDef& f = schema.field(id);
          const hid_t dset = dsets[static_cast<std::size_t>(id)].get();
          const std::size_t count = schema.count(id);
          // The block's rows [a - first, b - first) with their whole trailing dimensions.
          h5::Handle space = h5::space_handle(H5Dget_space(dset), "dataspace");
          const int ndims = H5Sget_simple_extent_ndims(space.get());
          std::vector<hsize_t> start(static_cast<std::size_t>(ndims), 0),
              rows(h5::dataset_shape(dset));
          start[0] = a - first;
          rows[0] = n;
          h5::check_status(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start.data(), nullptr,
                                               rows.data(), nullptr),
                           "select a block");
          const hsize_t total = n * count;
          h5::Handle mem = h5::space_handle(H5Screate_simple(1, &total, nullptr), "memory space");
          const std::string what = "read /" + std::string(to_string(f.group)) + "/" + f.name +
                                   " of " + text::quote(s.path);
          if (f.type == ElemType::f64) {
            std::vector<double> v(total);
            h5::check_status(
                H5Dread(dset, H5T_NATIVE_DOUBLE, mem.get(), space.get(), H5P_DEFAULT, v.data()),
                what);
            for (std::size_t k = 0; k < n; ++k) {
              points[k].values.set_reals(id, v.data() + k * count, count);
            }
          } else if (f.type == ElemType::enum8) {  // the codes, as bytes (like the status)
            h5::Handle type = h5::type_handle(H5Dget_type(dset), "enum type");
            std::vector<std::uint8_t> v(total);
            h5::check_status(
                H5Dread(dset, type.get(), mem.get(), space.get(), H5P_DEFAULT, v.data()), what);
            for (std::size_t k = 0; k < n; ++k) points[k].values.set_code(id, v[k]);
          } else {  // i64, i32: read as int64 (exact for both)
            std::vector<std::int64_t> v(total);
            h5::check_status(
                H5Dread(dset, H5T_NATIVE_INT64, mem.get(), space.get(), H5P_DEFAULT, v.data()),
                what);
            for (std::size_t k = 0; k < n; ++k) {
              for (std::size_t i = 0; i < count; ++i) {
                points[k].values.set_integer(id, v[k * count + i], i);
              }
            }
          }
        }
        store.write(points);
        written += static_cast<long long>(n);
      }
    }
    store.end_run(utc_now(), "complete", written);
    store.close();
  } catch (...) {
    fs::remove(partial, ec);
    throw;
  }
  if (fs::exists(out, ec)) {  // cannot happen while we hold the lock, unless written around it
    fs::remove(partial, ec);
    throw ConfigError(text::quote(out) + ": appeared while merging; left untouched");
  }
  fs::rename(partial, out, ec);
  if (ec) {
    throw IoError("cannot rename " + text::quote(partial) + " to " + text::quote(out) + ": " +
                  ec.message());
  }
  if (!o.quiet) {
    std::cout << "done: " << written << " point(s) from " << shards.size() << " shard(s); wrote "
              << out << std::endl;
  }
  return kExitOk;
}

}  // namespace

int merge(const std::vector<std::string>& args, const std::string& command_line) {
  int ranks = 1, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  try {
    const MergeOptions o = parse_merge_options(args);
    if (o.help) {
      if (rank != 0) return kExitOk;
      MergeOptions scratch;
      std::cout << "Usage: symsweep merge OUT.h5 SHARD.h5... [options]\n"
                   "Joins the shard files of `symsweep run CONFIG --shard i/N` (i = 0..N-1) into "
                   "OUT.h5, the file a single run of the whole grid writes: /results and /traces "
                   "equal bit for bit. Refused (exit 2, nothing written) unless the shards come "
                   "from one config, this build's numerics version and build signature, cover "
                   "the grid exactly once, and every point in them is done (resume a shard that "
                   "is not). OUT.h5 must not exist; it appears only once complete (written as "
                   "OUT.h5.merging). One process.\n\n"
                << merge_options_description(scratch) << "\n";
      return kExitOk;
    }
    if (ranks != 1) {
      throw ConfigError("symsweep merge runs on one process (started on " + std::to_string(ranks) +
                        " ranks): run it without mpirun, or with -np 1");
    }
    return merge_files(o, command_line);
  } catch (const ConfigError& e) {
    if (rank == 0) text::write_stderr(std::string("symsweep: error: ") + e.what() + "\n");
    return kExitUsage;
  }
}

}  // namespace symsweep::apps
