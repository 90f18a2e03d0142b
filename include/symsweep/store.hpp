// The result file: one HDF5 file per sweep, written by all ranks through MPI-IO.
//
// Format "symsweep/1" (README.md, "The result file"). The store knows the layout, not what a
// point means: it writes whatever Schema it is given (schema.hpp), and readers take field names,
// enum members, descriptions and units from the file.
//
//   /                     attributes: format, numerics_version, symsweep_version, git_commit,
//                         git_dirty, created_utc, config_text (resolved INI), config_sha256,
//                         command_line, mpi_ranks, omp_threads, hosts, host_cpus, seed, name,
//                         model, n_points, and the build's (version.hpp, build_provenance():
//                         compiler, build flags, build_signature, library versions)
//   /provenance/runs      the runs that wrote the file (the creating run, then each resume with
//                         points to run), kRunsCapacity compound slots (RunRecord), preallocated
//   /provenance/run_count int64 scalar: how many runs began (past the capacity the last slot is
//                         overwritten by each later run, and the count goes on)
//   /<key>                one dimension scale per swept parameter, in [axes] order (numbers as
//                         int64 or float64; text, choices, vectors and matrices as fixed-length
//                         UTF-8 strings of their canonical text, with _Encoding = "utf-8")
//   /<dim>                one dimension scale per trailing dimension of the schema (e.g. step, k)
//   /axes/<key>           hard links to the axis scales
//   /<group>/<field>      one dataset per present field, in the group it names (results, traces,
//                         run); shape = axis lengths + its trailing dimensions; every dimension
//                         has its scale attached and a label; attributes long_name, description,
//                         units (when it has any); enums are HDF5 enums with CF flag_values and
//                         flag_meanings
//   /<group>/<key|dim>    hard links to the scales its fields use: netCDF readers (xarray with
//                         h5netcdf) see a coordinate only in the group where the scale is found
//
// Parallel HDF5 decides the shape of this code: every structural call is collective with
// identical arguments, so all datasets are created at full size when the file is created, and
// rank 0 reserves its disk blocks (posix_fallocate; nothing is written, so a 10^8-point grid's
// file is made in seconds). After that only raw data changes: the metadata is final at creation,
// so a kill at any moment cannot tear it, and a checkpoint cannot run out of disk space where the
// reservation worked. A point's fields are meaningful once its status is done: slots never
// written read as zeros (for status: pending; for every enum: its member 0), a failed point holds
// the fill values. Every step that can fail on some ranks only is agreed
// on by all ranks before the next collective call (src/collective.hpp): errors never hang. write()
// is collective: every rank passes its own finished points (possibly none); their Records are
// routed (MPI_Alltoallv) to the rank that owns their contiguous block of flat indices, so each rank
// writes a few large hyperslabs whatever the distribution of the computation; every field but the
// schema's status field is written with collective MPI-IO, the file is flushed, then the points'
// status is written and flushed, so a point reads `done` only once its data is on disk.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <mpi.h>

#include "symsweep/grid.hpp"
#include "symsweep/schema.hpp"
#include "symsweep/simulate.hpp"

namespace symsweep {

/// Provenance recorded in the root attributes. Identical on every rank.
struct Provenance {
  std::string command_line;
  std::string hosts;        ///< comma-separated host names of the ranks
  std::string created_utc;  ///< ISO 8601
  /// The CPU of every host: one line per distinct (model, flags), "<hosts>: <model>; flags
  /// <flags>" (/proc/cpuinfo)
  std::string host_cpus;
  /// The same, short: "<model> [<its SIMD flags>]" per distinct CPU, for the runs list
  std::string cpus;
  int mpi_ranks = 1;
  int omp_threads = 1;
};

/// One run that wrote a result file: a slot of /provenance/runs. Text longer than its slot's
/// width (kRunTextWidths) is cut, ending in "...".
struct RunRecord {
  std::string kind;       ///< "run" or "resume"
  std::string start_utc;  ///< ISO 8601
  std::string end_utc;    ///< "" until it ends (stays "": killed, or stopped by an error)
  std::string ended;      ///< "complete", "interrupted by SIGTERM", "3 point(s) failed"; ""
  long long mpi_ranks = 0;
  long long omp_threads = 0;
  long long points_done_before = 0;  ///< points done when it began
  long long points_finished = -1;    ///< points it saved (failed ones included); -1 until it ends
  std::string hosts;
  std::string cpus;  ///< Provenance::cpus
  std::string symsweep_version;
  std::string git_commit;
  std::string compiler;
  std::string build_signature;
  long long allow_build_change = 0;  ///< 1: resumed with --allow-build-change
  /// How this run's build differs from the file's (signature_difference, or the compiler
  /// alone); "" for the same build
  std::string build_change;
  std::string command_line;
};

/// Slots of /provenance/runs in a new file. Past them the count goes on and the last slot holds
/// the latest run: the first kRunsCapacity - 1 runs and the latest are kept.
inline constexpr int kRunsCapacity = 32;
/// Bytes of one slot (the compound type's size).
std::size_t run_record_bytes();

/// The file format this build writes: the layout above. It changes only when something a reader
/// of the documented layout relies on moves or changes meaning (README.md, "Versions").
inline constexpr const char* kFormat = "symsweep/1";
/// The format of a shard file (`symsweep run --shard i/N`): one contiguous range [first, end) of
/// the grid's flat point indices, every field of shape (end - first, trailing dimensions...) along
/// a dimension `point` whose scale holds the flat indices; the axis scales are the whole grid's,
/// not attached (flat index p is row-major over them, in the order of /point's `axes`). Root
/// attributes shard_index, shard_count, shard_first, shard_end, and n_points (the whole grid's).
/// Everything else as in kFormat. `symsweep merge` makes a kFormat file of the shards.
inline constexpr const char* kShardFormat = "symsweep-shard/1";

/// The format of a refined sweep's file ([refine], refine.hpp): a point table of a fixed number
/// of rows (refine.budget), filled level by level. Every field has shape (rows, trailing
/// dimensions...) along the dimension `point`, whose scale /point holds each row's flat index in
/// the whole grid (-1 for a row not planned yet); /refine/level (int32) its level (-1 likewise),
/// /refine/<key> its value of each refined axis (NaN likewise), /refine/rows (int64 scalar) how
/// many rows are planned: rows below it hold their flat index, level and coordinates, and are
/// run (status) or pending. Root attributes refine_rows (the rows), refine_axes (the refined
/// keys, space-separated), and n_points (the whole grid's). The rest as in kShardFormat.
inline constexpr const char* kRefineFormat = "symsweep-refine/1";

/// Part `index` (0-based) of `count` near-equal contiguous parts of [0, points): [first, end).
/// Parts differ in size by at most one point, the larger first; they cover [0, points) once.
std::pair<std::uint64_t, std::uint64_t> shard_range(std::uint64_t points, std::uint64_t index,
                                                    std::uint64_t count);

/// How the file is written. The defaults are the measured choice (tests/bench/bench_store.cpp).
struct StoreOptions {
  /// true: create with H5F_ACC_TRUNC; false: the file must not exist (H5F_ACC_EXCL).
  bool truncate = false;
  /// Raw-data transfers through collective MPI-IO (false: independent).
  bool collective = true;
  /// Store /traces chunked, one chunk per point (false: contiguous, like /results).
  bool chunk_traces = false;
  /// More text attributes (name, value) of the root, written at creation with the provenance
  /// (create only): e.g. replicate_of. A name the store writes itself is an Error.
  std::vector<std::pair<std::string, std::string>> root_attributes;
  /// A shard file (kShardFormat) of points [shard_first, shard_end), part shard_index of
  /// shard_count (create only; 0: the whole grid, kFormat).
  std::uint64_t shard_index = 0, shard_count = 0, shard_first = 0, shard_end = 0;
  /// A refined sweep's point table (kRefineFormat) of this many rows (create only; 0: not one),
  /// with a coordinate array for each of `table_axes` (the refined keys).
  std::uint64_t table_rows = 0;
  std::vector<std::string> table_axes;
  /// The kind of the creating run in the runs list ("run"; "merge" for `symsweep merge`).
  std::string run_kind = "run";
  /// open only: a field this schema writes that a file of another commit (its git_commit
  /// attribute) lacks is one added since that build (README "Versions": new fields come within
  /// a format): it is neither required nor written (skipped_fields() lists it), so the file
  /// keeps its layout and every point the same fields. A file of this commit must have them all.
  bool skip_fields_added_since = false;
};

/// Whether `members` (this build's, by code) extends `older` (a file's): the same names at the
/// same codes, members added at the end only (README "Versions": new members come within a
/// format). A file whose enum extends this way is resumed through its own type, and `rerun`
/// compares its codes.
bool enum_members_extend(const std::vector<std::string>& older,
                         const std::vector<std::string>& members);

class ResultStore {
 public:
  /// Creates `path` collectively over `comm` (every rank, identical arguments).
  /// `schema` must outlive the store and hold a status field.
  static ResultStore create(const std::string& path, MPI_Comm comm, const Grid& grid,
                            const Schema& schema, const Provenance& provenance,
                            const StoreOptions& options = {});

  ResultStore(ResultStore&&) noexcept;
  ResultStore& operator=(ResultStore&&) noexcept;
  ~ResultStore();

  /// Opens an existing result file of this grid and schema for writing, collectively (to resume
  /// it). Throws ConfigError on every rank when a field this schema writes is missing (unless
  /// StoreOptions::skip_fields_added_since applies) or has another shape or type (a file of
  /// another layout), IoError when HDF5 cannot open it.
  static ResultStore open(const std::string& path, MPI_Comm comm, const Grid& grid,
                          const Schema& schema, const StoreOptions& options = {});

  /// Every point's status code (Status), in flat index order from range().first, read by every
  /// rank. Collective.
  std::vector<std::uint8_t> read_status();
  /// The flat indices this file holds, [first, end): the whole grid, or a shard's part; for a
  /// point table, its rows [0, rows).
  std::pair<std::uint64_t, std::uint64_t> range() const;

  /// A point table (kRefineFormat): whether this file is one.
  bool is_table() const;
  /// The planned rows of a point table, in row order: their flat indices; read by every rank
  /// (after a flush, so that every rank's earlier writes are seen). Collective.
  std::vector<std::uint64_t> read_table();
  /// Appends rows to a point table: their flat indices (points of the grid not in it yet) and
  /// levels; written from rank 0 (the index, level and coordinates, a flush, then the count of
  /// rows, a flush: a kill between leaves the rows unplanned). Collective, identical arguments.
  void append_rows(const std::vector<std::uint64_t>& flats, const std::vector<int>& levels);
  /// A scalar field's values at every row of a point table (range()), as numbers (enum codes,
  /// integers), read by every rank. Collective.
  std::vector<double> read_scalar(FieldId id);
  /// The fields ("results/name") open() skipped: added since the file's build.
  const std::vector<std::string>& skipped_fields() const;

  /// Records `run` (identical on every rank) in the next slot of /provenance/runs and counts it,
  /// flushed. Returns its run number (1 for the creating run), or 0 for a file made before the
  /// runs list (nothing is recorded: its metadata stays as it was). Collective. create() records
  /// the creating run itself.
  long long begin_run(const RunRecord& run);
  /// Completes the record of the run begun by create() or begin_run(): its end, how it ended,
  /// and the points it saved. Collective; nothing for a file without the runs list.
  void end_run(const std::string& end_utc, const std::string& ended, long long points_finished);

  /// Writes this rank's finished points (any subset of the grid, possibly empty; their Records
  /// made from this store's schema). Collective.
  void write(const std::vector<PointResult>& points);
  /// Closes the file collectively; throws IoError if HDF5 reports an error.
  void close();

  /// Raw-data writes so far, and how many of them MPI-IO did not perform collectively (as
  /// H5Pget_mpio_actual_io_mode reports): the test of the collective-I/O design.
  struct IoStats {
    long writes = 0;
    long not_collective = 0;
    /// Wall seconds this rank spent in the store's calls (HDF5, MPI-IO and the agreements
    /// between their steps): creating or opening the file, the checkpoints' writes (the records'
    /// routing to their writers included), and the close.
    double open_seconds = 0, write_seconds = 0, close_seconds = 0;
  };
  IoStats io_stats() const;

 private:
  struct Impl;
  explicit ResultStore(std::unique_ptr<Impl> impl);
  static std::unique_ptr<Impl> create_structure(const std::string& path, MPI_Comm comm,
                                                const Grid& grid, const Schema& schema,
                                                const Provenance& provenance,
                                                const StoreOptions& options);
  std::unique_ptr<Impl> impl_;
};

/// The root attributes resume needs, read serially.
struct FileInfo {
  std::string config_text;
  std::string symsweep_version;
  std::string git_commit;
  long long numerics_version = 1;  ///< files of numerics version 1 have no such attribute
  std::string build_signature;     ///< "" in files made before it was recorded
  std::string compiler;            ///< "" in files made before it was recorded
  std::string config_sha256;
  std::string format;      ///< kFormat or kShardFormat
  long long n_points = 0;  ///< points of the whole grid
  /// A shard's part (kShardFormat): shard_index of shard_count, points [shard_first, shard_end);
  /// shard_count 0 for a whole-grid file.
  long long shard_index = 0, shard_count = 0, shard_first = 0, shard_end = 0;
  /// A refined sweep's point table (kRefineFormat): its rows; 0 for other files.
  long long refine_rows = 0;
};
/// Reads them. A file that is not a symsweep result file of this format (or a shard file) is a
/// ConfigError.
FileInfo read_file_info(const std::string& path);

/// The runs list of a result file (/provenance/runs, the slots in use, in order) and how many
/// runs began (more than the slots once past the capacity). Empty and 0 for a file made before
/// the runs list. Serial.
std::vector<RunRecord> read_runs(const std::string& path, long long* count = nullptr);

/// A human-readable summary of a result file (provenance, axes, the counts of every enum field and
/// a summary of every scalar real field of /results, read from the file itself), as printed by
/// `symsweep inspect`. Opens the file read-only, serially. A file that is not an HDF5 file, cannot
/// be opened, or is not of format symsweep/1 is a ConfigError (bad input), naming why.
std::string describe_file(const std::string& path);

}  // namespace symsweep
