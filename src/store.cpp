// The parallel HDF5 result file. Layout and protocol: include/symsweep/store.hpp.
#include "symsweep/store.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <thread>
#include <unordered_map>

#include <fcntl.h>
#include <hdf5_hl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.hpp"
#include "collective.hpp"
#include "h5.hpp"
#include "io_hints.hpp"
#include "sha256.hpp"
#include "symsweep/error.hpp"
#include "symsweep/refine.hpp"
#include "symsweep/version.hpp"
#include "text.hpp"

namespace symsweep {

namespace {

using h5::check_id;
using h5::check_status;
using h5::Handle;

Handle enum_type(const FieldDef& f) {
  Handle t = h5::type_handle(H5Tenum_create(H5T_NATIVE_UINT8), "create enum type");
  for (std::size_t code = 0; code < f.members.size(); ++code) {
    const auto v = static_cast<std::uint8_t>(code);
    check_status(H5Tenum_insert(t.get(), f.members[code].c_str(), &v),
                 "enum member " + f.members[code]);
  }
  return t;
}

/// The HDF5 type of a field's elements: native in memory, little-endian in the file (enums are one
/// byte, the same in both).
Handle elem_type(const FieldDef& f, bool in_file) {
  switch (f.type) {
    case ElemType::f64:
      return h5::type_handle(H5Tcopy(in_file ? H5T_IEEE_F64LE : H5T_NATIVE_DOUBLE), "type");
    case ElemType::i64:
      return h5::type_handle(H5Tcopy(in_file ? H5T_STD_I64LE : H5T_NATIVE_INT64), "type");
    case ElemType::i32:
      return h5::type_handle(H5Tcopy(in_file ? H5T_STD_I32LE : H5T_NATIVE_INT32), "type");
    case ElemType::enum8:
      return enum_type(f);
  }
  return {};
}

std::string path_of(const FieldDef& f) {
  return std::string(to_string(f.group)) + "/" + f.name;
}

/// The fill value of a field in its memory type.
struct Fill {
  double f64;
  std::int64_t i64;
  std::int32_t i32;
  std::uint8_t code;
  explicit Fill(const FieldDef& f)
      : f64(f.fill),
        i64(static_cast<std::int64_t>(f.type == ElemType::f64 ? 0 : f.fill)),
        i32(static_cast<std::int32_t>(i64)),
        code(static_cast<std::uint8_t>(i64)) {}
  const void* of(ElemType t) const {
    switch (t) {
      case ElemType::f64:
        return &f64;
      case ElemType::i64:
        return &i64;
      case ElemType::i32:
        return &i32;
      case ElemType::enum8:
        return &code;
    }
    return nullptr;
  }
};

/// File access through MPI-IO over `comm`, with metadata reads and writes collective.
Handle mpio_access(MPI_Comm comm) {
  Handle fapl = h5::plist_handle(H5Pcreate(H5P_FILE_ACCESS), "file access list");
  // With the hints of SYMSWEEP_MPIIO_HINTS (io_hints.hpp), checked when the run started.
  check_status(set_fapl_mpio_with_hints(fapl.get(), comm), "set MPI-IO driver");
  check_status(H5Pset_all_coll_metadata_ops(fapl.get(), true), "collective metadata reads");
  check_status(H5Pset_coll_metadata_write(fapl.get(), true), "collective metadata writes");
  return fapl;
}

/// A transfer list for raw data: collective or independent MPI-IO.
Handle mpio_transfer(bool collective) {
  Handle dxpl = h5::plist_handle(H5Pcreate(H5P_DATASET_XFER), "transfer list");
  check_status(
      H5Pset_dxpl_mpio(dxpl.get(), collective ? H5FD_MPIO_COLLECTIVE : H5FD_MPIO_INDEPENDENT),
      "transfer mode");
  return dxpl;
}

// ------------------------------------------------------------------------------- runs list
/// The members of a /provenance/runs slot, in order: text of a fixed width (bytes, NUL-padded
/// UTF-8) or int64. `visit_run(record, text, integer)` calls text(name, width, field) and
/// integer(name, field) for each, so that the type, the packing and the reading cannot disagree.
template <class Record, class Text, class Integer>
void visit_run(Record& r, Text&& text, Integer&& integer) {
  text("kind", 8, r.kind);
  text("start_utc", 24, r.start_utc);
  text("end_utc", 24, r.end_utc);
  text("ended", 64, r.ended);
  integer("mpi_ranks", r.mpi_ranks);
  integer("omp_threads", r.omp_threads);
  integer("points_done_before", r.points_done_before);
  integer("points_finished", r.points_finished);
  text("hosts", 512, r.hosts);
  text("cpus", 256, r.cpus);
  text("symsweep_version", 16, r.symsweep_version);
  text("git_commit", 64, r.git_commit);
  text("compiler", 64, r.compiler);
  text("build_signature", 512, r.build_signature);
  integer("allow_build_change", r.allow_build_change);
  text("build_change", 384, r.build_change);
  text("command_line", 512, r.command_line);
}

/// The compound type of a slot: native integers in memory, little-endian in the file.
Handle run_type(bool in_file) {
  Handle t = h5::type_handle(H5Tcreate(H5T_COMPOUND, run_record_bytes()), "runs type");
  std::size_t at = 0;
  RunRecord dummy;
  visit_run(
      dummy,
      [&](const char* name, std::size_t width, std::string&) {
        Handle s = h5::type_handle(H5Tcopy(H5T_C_S1), "string type");
        check_status(H5Tset_size(s.get(), width), "string size");
        check_status(H5Tset_strpad(s.get(), H5T_STR_NULLPAD), "string padding");
        check_status(H5Tset_cset(s.get(), H5T_CSET_UTF8), "string charset");
        check_status(H5Tinsert(t.get(), name, at, s.get()), std::string("runs member ") + name);
        at += width;
      },
      [&](const char* name, long long&) {
        check_status(H5Tinsert(t.get(), name, at, in_file ? H5T_STD_I64LE : H5T_NATIVE_INT64),
                     std::string("runs member ") + name);
        at += sizeof(std::int64_t);
      });
  return t;
}

/// A slot's bytes (memory layout of run_type(false)); text cut to its width, ending in "...".
std::vector<unsigned char> pack_run(const RunRecord& r) {
  std::vector<unsigned char> out(run_record_bytes(), 0);
  std::size_t at = 0;
  visit_run(
      r,
      [&](const char*, std::size_t width, const std::string& v) {
        std::size_t n = v.size();
        if (n > width) {  // cut at a character boundary, then "..."
          n = width - 3;
          while (n > 0 && (static_cast<unsigned char>(v[n]) & 0xC0) == 0x80) --n;
          std::memcpy(out.data() + at + n, "...", 3);
        }
        std::memcpy(out.data() + at, v.data(), n);
        at += width;
      },
      [&](const char*, const long long& v) {
        const std::int64_t x = v;
        std::memcpy(out.data() + at, &x, sizeof x);
        at += sizeof x;
      });
  return out;
}

RunRecord unpack_run(const unsigned char* p) {
  RunRecord r;
  std::size_t at = 0;
  visit_run(
      r,
      [&](const char*, std::size_t width, std::string& v) {
        const char* c = reinterpret_cast<const char*>(p + at);
        v.assign(c, strnlen(c, width));
        at += width;
      },
      [&](const char*, long long& v) {
        std::int64_t x = 0;
        std::memcpy(&x, p + at, sizeof x);
        v = x;
        at += sizeof x;
      });
  return r;
}

/// Slots of the runs list of a new file: kRunsCapacity, or (tests only) the number in
/// SYMSWEEP_TEST_RUNS_CAPACITY, so that the overflow can be tested with a few runs.
hsize_t runs_capacity() {
  if (const char* v = std::getenv("SYMSWEEP_TEST_RUNS_CAPACITY")) {
    const long n = std::strtol(v, nullptr, 10);
    if (n >= 1) return static_cast<hsize_t>(n);
  }
  return kRunsCapacity;
}

}  // namespace

bool enum_members_extend(const std::vector<std::string>& older,
                         const std::vector<std::string>& members) {
  return !older.empty() && older.size() <= members.size() &&
         std::equal(older.begin(), older.end(), members.begin());
}

std::size_t run_record_bytes() {
  std::size_t bytes = 0;
  RunRecord dummy;
  visit_run(
      dummy, [&](const char*, std::size_t width, std::string&) { bytes += width; },
      [&](const char*, long long&) { bytes += sizeof(std::int64_t); });
  return bytes;
}

// ---------------------------------------------------------------------------------------- Impl
struct ResultStore::Impl {
  MPI_Comm comm = MPI_COMM_NULL;
  const Grid* grid = nullptr;
  const Schema* schema = nullptr;
  Handle file;
  Handle dxpl;                       // raw-data transfer (collective unless told otherwise)
  std::vector<std::string> skipped;  // open(): fields added since the file's build
  std::vector<Handle> datasets;      // per field; invalid when absent
  // open(): per enum field of a file made by an earlier build whose members are a prefix of this
  // build's, the file's own enum type (written through as it is) and its member count; the
  // codes past it (members added since) cannot be stored there. Invalid / 0 otherwise.
  std::vector<Handle> file_enum_types;
  std::vector<std::size_t> file_enum_members;
  Handle runs_list, run_count;  // /provenance/runs and run_count; invalid in older files
  RunRecord run;                // this run's record, in slot run_slot (-1: none)
  long long run_slot = -1;
  ResultStore::IoStats stats;
  bool collective = true;
  std::size_t record_size = 0;  // bytes: the point index, then the Record
  long writes = 0;              // write() calls (checkpoints) so far
  long writes_with_points = 0;  // write() calls in which this rank wrote points (fault injection)
  // The flat indices the file holds, [first, end); a shard file (kShardFormat) stores them along
  // one dimension `point`, a whole-grid file along the grid's axes.
  std::uint64_t point_first = 0, point_end = 0;
  bool shard = false;
  // A point table (kRefineFormat; laid out as a shard of rows [0, capacity)): the row of every
  // planned flat index, the rows planned, and the table's own datasets.
  bool table = false;
  std::unordered_map<std::uint64_t, std::uint64_t> row_of;
  std::uint64_t rows_used = 0;
  Handle table_point, table_level, table_rows;
  std::vector<Handle> table_coords;     // per refined axis
  std::vector<std::size_t> table_axis;  // its position in the grid's axes

  /// The row of point p: p itself, or its row in a point table.
  std::uint64_t row(std::uint64_t p) const {
    if (!table) return p;
    const auto at = row_of.find(p);
    SYMSWEEP_VERIFY(at != row_of.end(), "a point that is not in the table");
    return at->second;
  }

  Impl(MPI_Comm c, const Grid& g, const Schema& s, bool coll)
      : comm(c),
        grid(&g),
        schema(&s),
        dxpl(mpio_transfer(coll)),
        collective(coll),
        record_size(sizeof(std::uint64_t) + s.record_bytes()),
        point_end(g.size()) {}
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    // Closing a parallel file is collective. When an exception unwinds through here, the other
    // ranks are not closing it (or agree() made every rank throw after a failed HDF5 call, after
    // which HDF5's state is not to be trusted), so a close could hang: leave the ids instead.
    if (std::uncaught_exceptions() > 0) {
      for (auto& dset : datasets) dset.abandon();
      for (auto& dset : table_coords) dset.abandon();
      table_point.abandon();
      table_level.abandon();
      table_rows.abandon();
      runs_list.abandon();
      run_count.abandon();
      dxpl.abandon();
      file.abandon();
    }
  }

  std::vector<hsize_t> full_dims(FieldId id) const {
    std::vector<hsize_t> dims(grid->shape().begin(), grid->shape().end());
    if (shard) dims.assign(1, point_end - point_first);
    for (std::size_t n : schema->tail_shape(id)) dims.push_back(n);
    return dims;
  }

  /// The rank that writes point p: ranks own contiguous, near-equal blocks of flat indices.
  int owner(std::uint64_t p, int ranks) const {
    __extension__ typedef unsigned __int128 u128;
    return static_cast<int>(static_cast<u128>(p - point_first) * static_cast<unsigned>(ranks) /
                            (point_end - point_first));
  }

  /// File selection of the points in `indices` (sorted ascending) with their whole trailing
  /// blocks, in a dataset of shape `dims`. A run of consecutive flat indices becomes at most
  /// 2 x ndims hyperslabs (HDF5 1.10 takes superlinear time to OR many small hyperslabs, so runs
  /// are what keeps this fast).
  Handle select(const std::vector<hsize_t>& dims, const std::vector<std::uint64_t>& indices) const {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> runs;
    for (std::size_t i = 0; i < indices.size();) {
      std::size_t j = i + 1;  // [indices[i], indices[j - 1]] is a run
      while (j < indices.size() && indices[j] == indices[j - 1] + 1) ++j;
      runs.emplace_back(indices[i], indices[j - 1] + 1);
      i = j;
    }
    return select_runs(dims, runs);
  }

  /// File selection of the flat index ranges [a, b) in `runs` (ascending, disjoint).
  Handle select_runs(const std::vector<hsize_t>& dims,
                     const std::vector<std::pair<std::uint64_t, std::uint64_t>>& runs) const {
    const int rank = static_cast<int>(dims.size());
    Handle space = h5::space_handle(
        rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, dims.data(), nullptr),
        "file dataspace");
    if (runs.empty()) {
      check_status(H5Sselect_none(space.get()), "select none");
      return space;
    }
    if (shard) {  // one dimension of points from `first`, whole trailing blocks
      std::vector<hsize_t> start(dims.size(), 0), count(dims.size(), 1), block(dims);
      bool first_run = true;
      for (const auto& [a, b] : runs) {
        start[0] = a - point_first;
        block[0] = b - a;
        check_status(H5Sselect_hyperslab(space.get(), first_run ? H5S_SELECT_SET : H5S_SELECT_OR,
                                         start.data(), nullptr, count.data(), block.data()),
                     "select hyperslab");
        first_run = false;
      }
      return space;
    }
    const std::size_t ng = grid->ndims();
    if (ng == 0) {
      check_status(H5Sselect_all(space.get()), "select all");
      return space;
    }
    const auto& shape = grid->shape();
    std::vector<std::uint64_t> stride(ng, 1);  // points per step along each grid axis
    for (std::size_t d = ng - 1; d > 0; --d) stride[d - 1] = stride[d] * shape[d];
    std::vector<hsize_t> start(dims.size(), 0), count(dims.size(), 1), block(dims);
    bool first = true;
    for (const auto& [run_start, run_end] : runs) {
      for (std::uint64_t a = run_start, b = run_end; a < b;) {
        // The largest aligned block at a: along the outermost axis d where a is a multiple of
        // stride[d] and at least one stride fits.
        std::size_t d = 0;
        while (a % stride[d] != 0 || a + stride[d] > b) ++d;
        const auto c = grid->coords(a);
        const std::uint64_t m = std::min((b - a) / stride[d], shape[d] - c[d]);
        for (std::size_t e = 0; e < ng; ++e) {
          start[e] = e <= d ? c[e] : 0;
          block[e] = e < d ? 1 : (e == d ? m : shape[e]);
        }
        check_status(H5Sselect_hyperslab(space.get(), first ? H5S_SELECT_SET : H5S_SELECT_OR,
                                         start.data(), nullptr, count.data(), block.data()),
                     "select hyperslab");
        first = false;
        a += m * stride[d];
      }
    }
    return space;
  }

  /// Collective write of field `id` for the records in `records` (sorted by index). Selections
  /// are shared between fields of the same shape.
  void write_field(FieldId id, const std::vector<const unsigned char*>& records,
                   const std::vector<std::uint64_t>& indices,
                   std::map<std::vector<hsize_t>, Handle>& selections) {
    const FieldDef& f = schema->field(id);
    const std::size_t count = schema->count(id);
    const std::size_t bytes = count * Schema::elem_size(f.type);
    const std::size_t at = sizeof(std::uint64_t) + schema->offset(id);
    std::vector<unsigned char> buf(std::max<std::size_t>(1, records.size() * bytes));
    for (std::size_t k = 0; k < records.size(); ++k) {
      std::memcpy(buf.data() + k * bytes, records[k] + at, bytes);
    }
    const auto dims = full_dims(id);
    auto sel = selections.find(dims);
    if (sel == selections.end()) sel = selections.emplace(dims, select(dims, indices)).first;
    const hsize_t n = std::max<hsize_t>(1, records.size() * count);
    Handle mem_space = h5::space_handle(H5Screate_simple(1, &n, nullptr), "memory dataspace");
    if (records.empty()) check_status(H5Sselect_none(mem_space.get()), "select none");
    // An enum of a file of an earlier build: through the file's own type (open()).
    const bool older =
        !file_enum_types.empty() && file_enum_types[static_cast<std::size_t>(id)].valid();
    Handle type = older ? Handle{} : elem_type(f, false);
    const hid_t mem_type = older ? file_enum_types[static_cast<std::size_t>(id)].get() : type.get();
    check_status(H5Dwrite(datasets[static_cast<std::size_t>(id)].get(), mem_type, mem_space.get(),
                          sel->second.get(), dxpl.get(), buf.data()),
                 "write /" + path_of(f));
    H5D_mpio_actual_io_mode_t mode = H5D_MPIO_NO_COLLECTIVE;
    check_status(H5Pget_mpio_actual_io_mode(dxpl.get(), &mode), "query the I/O mode");
    ++stats.writes;
    if (collective && mode == H5D_MPIO_NO_COLLECTIVE) ++stats.not_collective;
  }

  /// The end of the last dataset's storage in the file (every dataset is allocated when it is
  /// created): the file's size but for a little metadata, which HDF5 places in blocks of a few
  /// kB among the datasets and after them.
  std::uint64_t allocated_end() const {
    std::uint64_t end = 0;
    std::vector<const Handle*> all;
    for (const Handle& dset : datasets) all.push_back(&dset);
    all.push_back(&runs_list);
    all.push_back(&run_count);
    all.push_back(&table_point);
    all.push_back(&table_level);
    all.push_back(&table_rows);
    for (const Handle& dset : table_coords) all.push_back(&dset);
    for (const Handle* d : all) {
      const Handle& dset = *d;
      if (!dset.valid()) continue;
      const haddr_t at = H5Dget_offset(dset.get());
      if (at == HADDR_UNDEF) continue;  // chunked traces: storage in chunks
      end = std::max<std::uint64_t>(end, at + H5Dget_storage_size(dset.get()));
    }
    return end;
  }

  void flush(const std::string& why) {
    check_status(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), "flush (" + why + ")");
  }

  /// Writes `run` into slot `slot` of /provenance/runs from rank 0. Collective.
  void write_run(const RunRecord& record, long long slot) {
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    const std::vector<unsigned char> bytes = pack_run(record);
    Handle file_space = h5::space_handle(H5Dget_space(runs_list.get()), "runs dataspace");
    const hsize_t start = static_cast<hsize_t>(slot), one = 1;
    Handle mem_space = h5::space_handle(H5Screate_simple(1, &one, nullptr), "memory dataspace");
    if (rank == 0) {
      check_status(
          H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, &start, nullptr, &one, nullptr),
          "select a run's slot");
    } else {
      check_status(H5Sselect_none(file_space.get()), "select none");
      check_status(H5Sselect_none(mem_space.get()), "select none");
    }
    Handle type = run_type(false);
    check_status(H5Dwrite(runs_list.get(), type.get(), mem_space.get(), file_space.get(),
                          dxpl.get(), bytes.data()),
                 "write /provenance/runs");
  }

  /// The runs list of a new file, once its blocks are reserved: every slot written once (zeros
  /// but the creating run's, in slot 0), so that no slot reads what the disk held, and run_count
  /// 1. Collective.
  void write_new_runs_list();

  /// Writes the number of runs from rank 0. Collective.
  void write_run_count(long long count) {
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    const std::int64_t n = count;
    Handle file_space = h5::space_handle(H5Dget_space(run_count.get()), "run_count dataspace");
    Handle mem_space = h5::space_handle(H5Screate(H5S_SCALAR), "memory dataspace");
    if (rank != 0) {
      check_status(H5Sselect_none(file_space.get()), "select none");
      check_status(H5Sselect_none(mem_space.get()), "select none");
    }
    check_status(H5Dwrite(run_count.get(), H5T_NATIVE_INT64, mem_space.get(), file_space.get(),
                          dxpl.get(), &n),
                 "write /provenance/run_count");
  }
};

ResultStore::ResultStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ResultStore::ResultStore(ResultStore&&) noexcept = default;
ResultStore& ResultStore::operator=(ResultStore&&) noexcept = default;
ResultStore::~ResultStore() = default;

// -------------------------------------------------------------------------------------- create
namespace {

/// Writes `values` (already in memory type `type`) from rank 0 only, collectively.
void write_from_root(hid_t dset, hid_t type, const void* values, hsize_t n, int rank, hid_t dxpl) {
  Handle file_space = h5::space_handle(H5Dget_space(dset), "dataspace");
  const hsize_t one = std::max<hsize_t>(n, 1);
  Handle mem_space = h5::space_handle(H5Screate_simple(1, &one, nullptr), "memory dataspace");
  if (rank != 0) {
    check_status(H5Sselect_none(file_space.get()), "select none");
    check_status(H5Sselect_none(mem_space.get()), "select none");
  }
  check_status(H5Dwrite(dset, type, mem_space.get(), file_space.get(), dxpl, values),
               "write from rank 0");
}

/// A 1-D dataset `name` at the root holding `values` (n of them, in memory type `mem`), written
/// from rank 0, made a dimension scale of the same name, with a description. Collective.
Handle create_scale(hid_t file, const std::string& name, hid_t file_type, hid_t mem,
                    const void* values, hsize_t n, const std::string& description, int rank,
                    hid_t dxpl) {
  Handle space = h5::space_handle(H5Screate_simple(1, &n, nullptr), "dataspace of " + name);
  Handle dset = h5::dataset_handle(
      H5Dcreate2(file, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
      "create " + name);
  write_from_root(dset.get(), mem, values, n, rank, dxpl);
  check_status(H5DSset_scale(dset.get(), name.c_str()), "make " + name + " a scale");
  h5::write_attribute(dset.get(), "description", description);
  return dset;
}

/// The scale of one axis: int64 for Integer keys, float64 for Real keys, fixed-length UTF-8
/// strings (the values' canonical text) for every other kind. Variable-length strings cannot be
/// written through parallel HDF5.
Handle create_axis_scale(hid_t file, const AxisSpec& axis, const ParamDef& def, int rank,
                         hid_t dxpl) {
  const hsize_t n = axis.values.size();
  if (def.kind == ParamKind::Integer) {
    std::vector<std::int64_t> v;
    for (double x : axis.numbers()) v.push_back(static_cast<std::int64_t>(x));
    return create_scale(file, axis.key, H5T_STD_I64LE, H5T_NATIVE_INT64, v.data(), n, def.help,
                        rank, dxpl);
  }
  if (def.kind == ParamKind::Real) {
    const std::vector<double> v = axis.numbers();
    return create_scale(file, axis.key, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, v.data(), n, def.help,
                        rank, dxpl);
  }
  std::size_t width = 1;
  for (const Value& v : axis.values) width = std::max(width, v.text.size());
  std::vector<char> buf(width * axis.values.size(), '\0');
  for (std::size_t i = 0; i < axis.values.size(); ++i) {
    std::memcpy(buf.data() + i * width, axis.values[i].text.data(), axis.values[i].text.size());
  }
  Handle type = h5::type_handle(H5Tcopy(H5T_C_S1), "string type");
  check_status(H5Tset_size(type.get(), width), "string size");
  check_status(H5Tset_strpad(type.get(), H5T_STR_NULLPAD), "string padding");
  check_status(H5Tset_cset(type.get(), H5T_CSET_UTF8), "string charset");
  Handle dset =
      create_scale(file, axis.key, type.get(), type.get(), buf.data(), n, def.help, rank, dxpl);
  h5::write_attribute(dset.get(), "_Encoding", std::string("utf-8"));  // xarray decodes to str
  return dset;
}

Handle create_group(hid_t parent, const char* name) {
  return h5::group_handle(H5Gcreate2(parent, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                          std::string("create group ") + name);
}

/// A hard link `group`/`name` to the root object `name`.
void link_root(hid_t file, hid_t group, const std::string& name, const std::string& what) {
  check_status(H5Lcreate_hard(file, name.c_str(), group, name.c_str(), H5P_DEFAULT, H5P_DEFAULT),
               "link " + what + "/" + name);
}

}  // namespace

namespace {

/// Allocates the disk blocks of the first `bytes` of the file `path` (the whole file: its size is
/// final once its datasets exist) with posix_fallocate, without writing them: instant on file
/// systems that support it (ext4, XFS, tmpfs, Lustre >= 2.14, NFS 4.2), skipped where it is not
/// supported. Throws IoError (a full disk, a quota).
void reserve_space(const std::string& path, off_t bytes) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) throw IoError("cannot open " + text::quote(path) + ": " + std::strerror(errno));
  int rc = ::posix_fallocate(fd, 0, bytes);
  ::close(fd);
  if (rc == EOPNOTSUPP || rc == ENOSYS || rc == EINVAL) rc = 0;  // not supported here
  if (rc != 0) {
    throw IoError("cannot reserve the " + text::format_bytes(static_cast<double>(bytes)) + " of " +
                  text::quote(path) + ": " + std::strerror(rc));
  }
}

/// Fault injection for the tests of the error paths (tests/e2e/test_interrupt.py): with
/// SYMSWEEP_INJECT_FAULT=<where>:<rank>[:<n>] in the environment, rank <rank> fails with an
/// IoError at <where> ("create": after creating the datasets; "checkpoint": in the <n>-th write
/// in which <rank> writes points, after the data and before the status). Counting only the writes
/// with points of that rank makes the fault independent of timing: with n >= 2 the rank's earlier
/// points are saved, and the points of the failing write are not. Real disk-full failures are
/// tested too, on a small tmpfs; they can only arise at creation, since the file is fully written
/// then.
void maybe_inject(const char* where, int rank, long n) {
  const char* spec = std::getenv("SYMSWEEP_INJECT_FAULT");
  if (spec == nullptr) return;
  const std::string s = spec;
  const std::string head = std::string(where) + ":" + std::to_string(rank);
  if (s == head || s == head + ":" + std::to_string(n)) {
    throw IoError(std::string("injected fault (SYMSWEEP_INJECT_FAULT=") + spec + ")");
  }
}

/// The watchdog's test (tests/e2e/test_status.py): with SYMSWEEP_INJECT_FAULT=hang:<rank>:<n>,
/// rank <rank> never returns from the n-th checkpoint in which it writes points (counted as for
/// "checkpoint"), inside the collective step after the data.
void maybe_hang(int rank, long n) {
  const char* spec = std::getenv("SYMSWEEP_INJECT_FAULT");
  if (spec == nullptr ||
      std::string(spec) != "hang:" + std::to_string(rank) + ":" + std::to_string(n)) {
    return;
  }
  for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
}

}  // namespace

void ResultStore::Impl::write_new_runs_list() {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  const hsize_t capacity = h5::dataset_shape(runs_list.get()).at(0);
  std::vector<unsigned char> all(static_cast<std::size_t>(capacity) * run_record_bytes(), 0);
  const std::vector<unsigned char> first = pack_run(run);
  std::memcpy(all.data(), first.data(), first.size());
  Handle mtype = run_type(false);
  write_from_root(runs_list.get(), mtype.get(), all.data(), capacity, rank, dxpl.get());
  run_slot = 0;
  write_run_count(1);
}

ResultStore ResultStore::create(const std::string& path, MPI_Comm comm, const Grid& grid,
                                const Schema& schema, const Provenance& prov,
                                const StoreOptions& options) {
  // Three steps, each agreed on by every rank (collective.hpp): a failure on any rank (a full
  // disk, a quota) stops every rank before its next collective call, and no rank hangs.
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<Impl> impl;
  agree("creating the file", comm,
        [&] { impl = create_structure(path, comm, grid, schema, prov, options); });
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  // Rank 0 reserves the file's blocks before anything is flushed into them, so that no write,
  // the metadata's included, can run out of disk space afterwards: a full disk shows here, in
  // one call on one rank, and not inside a collective HDF5 flush (where ranks that see different
  // errors can part ways inside HDF5 and wait for each other forever).
  agree(comm, [&] {
    if (rank == 0) reserve_space(path, static_cast<off_t>(impl->allocated_end() + (64 << 10)));
    maybe_inject("create", rank, 0);
  });
  agree("writing the runs list", comm, [&] { impl->write_new_runs_list(); });
  agree("flushing the new file", comm, [&] { impl->flush("after creation"); });
  impl->stats.open_seconds = seconds_since(t0);
  return ResultStore(std::move(impl));
}

std::unique_ptr<ResultStore::Impl> ResultStore::create_structure(const std::string& path,
                                                                 MPI_Comm comm, const Grid& grid,
                                                                 const Schema& schema,
                                                                 const Provenance& prov,
                                                                 const StoreOptions& options) {
  h5::init();
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  SYMSWEEP_VERIFY(schema.status_field() >= 0, "the schema has no status field");
  auto impl = std::make_unique<Impl>(comm, grid, schema, options.collective);
  if (options.shard_count > 0) {
    SYMSWEEP_VERIFY(options.shard_first < options.shard_end && options.shard_end <= grid.size() &&
                        options.shard_index < options.shard_count,
                    "a shard's range is not a part of the grid");
    impl->shard = true;
    impl->point_first = options.shard_first;
    impl->point_end = options.shard_end;
  }
  if (options.table_rows > 0) {  // a point table: laid out along its rows, like a shard's points
    SYMSWEEP_VERIFY(options.shard_count == 0 && options.table_rows <= grid.size(),
                    "a point table is larger than its grid, or a shard");
    impl->shard = true;
    impl->table = true;
    impl->point_first = 0;
    impl->point_end = options.table_rows;
  }
  const bool shard = impl->shard;
  const bool table = impl->table;
  SYMSWEEP_VERIFY(!shard || schema.find_dim("point") == nullptr,
                  "a shard's point dimension is also a trailing dimension's name");
  const SweepSpec& spec = grid.spec();
  const auto nfields = schema.fields().size();

  // Names at the root and in the groups must not collide: axis keys contain '.', dimension and
  // field names may not (Schema checks), and a group holds a field and the scales it links.
  for (const FieldDef& f : schema.fields()) {
    SYMSWEEP_VERIFY(schema.find_dim(f.name) == nullptr,
                    "field name '" + f.name + "' is also a dimension's");
  }

  // 1. File access through MPI-IO; metadata reads and writes collective.
  impl->file =
      h5::file_handle(H5Fcreate(path.c_str(), options.truncate ? H5F_ACC_TRUNC : H5F_ACC_EXCL,
                                H5P_DEFAULT, mpio_access(comm).get()),
                      "create '" + path + "'");
  const hid_t file = impl->file.get();
  const hid_t dxpl = impl->dxpl.get();

  // 2. Provenance.
  const std::string config = spec.config_text();
  h5::write_attribute(file, "format",
                      std::string(table ? kRefineFormat : (shard ? kShardFormat : kFormat)));
  if (table) {
    h5::write_attribute(file, "refine_rows", static_cast<std::int64_t>(options.table_rows));
    h5::write_attribute(file, "refine_axes", text::join(options.table_axes, " "));
  } else if (shard) {
    h5::write_attribute(file, "shard_index", static_cast<std::int64_t>(options.shard_index));
    h5::write_attribute(file, "shard_count", static_cast<std::int64_t>(options.shard_count));
    h5::write_attribute(file, "shard_first", static_cast<std::int64_t>(impl->point_first));
    h5::write_attribute(file, "shard_end", static_cast<std::int64_t>(impl->point_end));
  }
  h5::write_attribute(file, "symsweep_version", std::string(version()));
  h5::write_attribute(file, "git_commit", std::string(git_commit()));
  h5::write_attribute(file, "created_utc", prov.created_utc);
  h5::write_attribute(file, "config_text", config);
  h5::write_attribute(file, "config_sha256", sha256_hex(config));
  h5::write_attribute(file, "command_line", prov.command_line);
  h5::write_attribute(file, "mpi_ranks", static_cast<std::int64_t>(prov.mpi_ranks));
  h5::write_attribute(file, "omp_threads", static_cast<std::int64_t>(prov.omp_threads));
  h5::write_attribute(file, "hosts", prov.hosts);
  h5::write_attribute(file, "seed", static_cast<std::int64_t>(spec.number("sweep.seed")));
  h5::write_attribute(file, "name", spec.name());
  h5::write_attribute(file, "model", spec.model());
  h5::write_attribute(file, "n_points", static_cast<std::int64_t>(grid.size()));
  h5::write_attribute(file, "numerics_version", static_cast<std::int64_t>(kNumericsVersion));
  const std::string commit = git_commit();
  const std::string dirty_suffix = "-dirty";
  const bool dirty =
      commit.size() > dirty_suffix.size() &&
      commit.compare(commit.size() - dirty_suffix.size(), dirty_suffix.size(), dirty_suffix) == 0;
  h5::write_attribute(file, "git_dirty", static_cast<std::int64_t>(dirty ? 1 : 0));
  h5::write_attribute(file, "host_cpus", prov.host_cpus);
  for (const auto& [name, value] : build_provenance()) h5::write_attribute(file, name, value);
  // The caller's own attributes last, so that a name the store writes is refused, not clashed.
  for (const auto& [name, value] : options.root_attributes) {
    SYMSWEEP_VERIFY(!h5::has_attribute(file, name), "root attribute '" + name + "' given twice");
    h5::write_attribute(file, name, value);
  }

  // 2b. The runs list, preallocated (metadata final at creation): the creating run in slot 0.
  {
    Handle group = create_group(file, "provenance");
    const hsize_t capacity = runs_capacity();
    Handle space = h5::space_handle(H5Screate_simple(1, &capacity, nullptr), "runs dataspace");
    Handle dcpl = h5::plist_handle(H5Pcreate(H5P_DATASET_CREATE), "creation list");
    check_status(H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY), "early allocation");
    Handle ftype = run_type(true);
    impl->runs_list = h5::dataset_handle(H5Dcreate2(group.get(), "runs", ftype.get(), space.get(),
                                                    H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                                         "create /provenance/runs");
    h5::write_attribute(impl->runs_list.get(), "description",
                        "the runs that wrote this file: the run that created it, then each "
                        "resume that had points to run, in order (run_count says how many); " +
                            std::to_string(capacity) +
                            " slots, fixed at creation: past them the last slot holds the "
                            "latest run and run_count goes on");
    Handle scalar = h5::space_handle(H5Screate(H5S_SCALAR), "run_count dataspace");
    impl->run_count =
        h5::dataset_handle(H5Dcreate2(group.get(), "run_count", H5T_STD_I64LE, scalar.get(),
                                      H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                           "create /provenance/run_count");
    h5::write_attribute(impl->run_count.get(), "description",
                        "how many runs began writing this file (slots of /provenance/runs in "
                        "use: the smaller of this and its length)");
    RunRecord& run = impl->run;
    run.kind = options.run_kind;
    run.start_utc = prov.created_utc;
    run.mpi_ranks = prov.mpi_ranks;
    run.omp_threads = prov.omp_threads;
    run.hosts = prov.hosts;
    run.cpus = prov.cpus;
    run.symsweep_version = version();
    run.git_commit = commit;
    run.compiler = compiler();
    run.build_signature = build_signature();
    run.command_line = prov.command_line;
    // Written by create(), once the file's blocks are reserved (write_new_runs_list).
  }

  // 3. Scales at the root (netCDF readers see a dimension in its own group and below): one per
  //    axis, linked under /axes, and one per non-empty trailing dimension.
  Handle axes_group = create_group(file, "axes");
  std::map<std::string, Handle> scales;
  for (const AxisSpec& axis : grid.axes()) {
    const ParamDef& def = spec.schema()[static_cast<std::size_t>(spec.find(axis.key))];
    Handle dset = create_axis_scale(file, axis, def, rank, dxpl);
    link_root(file, axes_group.get(), axis.key, "/axes");
    h5::write_attribute(dset.get(), "expression", axis.text);
    scales.emplace(axis.key, std::move(dset));
  }
  if (table) {  // the rows' flat indices, levels and coordinates: -1 / NaN until planned
    const std::vector<std::int64_t> none(impl->point_end, -1);
    Handle point =
        create_scale(file, "point", H5T_STD_I64LE, H5T_NATIVE_INT64, none.data(), none.size(),
                     "the flat index in the whole grid of the point each row holds "
                     "(row-major over the axes, in the order of the attribute axes); "
                     "-1: a row not planned yet (rows from /refine/rows on)",
                     rank, dxpl);
    std::vector<std::string> keys;
    for (const AxisSpec& axis : grid.axes()) keys.push_back(axis.key);
    h5::write_attribute(point.get(), "axes", text::join(keys, " "));
    impl->table_point = h5::dataset_handle(H5Dopen2(file, "point", H5P_DEFAULT), "open /point");
    scales.emplace("point", std::move(point));
    Handle group = create_group(file, "refine");
    const hsize_t n = impl->point_end;
    Handle space = h5::space_handle(H5Screate_simple(1, &n, nullptr), "table dataspace");
    impl->table_level =
        h5::dataset_handle(H5Dcreate2(group.get(), "level", H5T_STD_I32LE, space.get(), H5P_DEFAULT,
                                      H5P_DEFAULT, H5P_DEFAULT),
                           "create /refine/level");
    const std::vector<std::int32_t> no_level(impl->point_end, -1);
    write_from_root(impl->table_level.get(), H5T_NATIVE_INT32, no_level.data(), n, rank, dxpl);
    h5::write_attribute(impl->table_level.get(), "description",
                        std::string("the level of each row's point: 0 for the coarse grid (every "
                                    "2^levels-th value of the refined axes), l for a point first "
                                    "on the lattice of cells halved l times; -1: not planned"));
    const std::vector<double> no_coord(impl->point_end, std::nan(""));
    for (const std::string& key : options.table_axes) {
      std::size_t at = 0;
      while (at < grid.axes().size() && grid.axes()[at].key != key) ++at;
      SYMSWEEP_VERIFY(at < grid.axes().size(), "a refined axis that is not an axis");
      Handle dset =
          h5::dataset_handle(H5Dcreate2(group.get(), key.c_str(), H5T_IEEE_F64LE, space.get(),
                                        H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                             "create /refine/" + key);
      write_from_root(dset.get(), H5T_NATIVE_DOUBLE, no_coord.data(), n, rank, dxpl);
      h5::write_attribute(dset.get(), "description",
                          "the value of " + key + " at each row's point (its axis value, /" + key +
                              "[index]); NaN: not planned");
      impl->table_coords.push_back(std::move(dset));
      impl->table_axis.push_back(at);
    }
    Handle scalar = h5::space_handle(H5Screate(H5S_SCALAR), "rows dataspace");
    impl->table_rows =
        h5::dataset_handle(H5Dcreate2(group.get(), "rows", H5T_STD_I64LE, scalar.get(), H5P_DEFAULT,
                                      H5P_DEFAULT, H5P_DEFAULT),
                           "create /refine/rows");
    const std::int64_t zero = 0;
    write_from_root(impl->table_rows.get(), H5T_NATIVE_INT64, &zero, 1, rank, dxpl);
    h5::write_attribute(impl->table_rows.get(), "description",
                        std::string("how many rows are planned (written after their index, "
                                    "level and coordinates): rows below it hold a point of the "
                                    "grid, run (status done or failed) or pending"));
  } else if (shard) {  // the points' own dimension: their flat indices
    std::vector<std::int64_t> index(impl->point_end - impl->point_first);
    for (std::size_t k = 0; k < index.size(); ++k) {
      index[k] = static_cast<std::int64_t>(impl->point_first + k);
    }
    Handle point =
        create_scale(file, "point", H5T_STD_I64LE, H5T_NATIVE_INT64, index.data(), index.size(),
                     "the flat index of each point of this shard in the whole grid "
                     "(row-major over the axes, in the order of the attribute axes)",
                     rank, dxpl);
    std::vector<std::string> keys;
    for (const AxisSpec& axis : grid.axes()) keys.push_back(axis.key);
    h5::write_attribute(point.get(), "axes", text::join(keys, " "));
    scales.emplace("point", std::move(point));
  }
  for (const DimDef& d : schema.dims()) {
    if (d.coords.empty()) continue;
    scales.emplace(d.name,
                   create_scale(file, d.name, H5T_STD_I64LE, H5T_NATIVE_INT64, d.coords.data(),
                                d.coords.size(), d.description, rank, dxpl));
  }

  // 4. Groups with at least one present field, each with links to the scales its fields use.
  std::map<Group, Handle> group_handles;
  for (FieldId id = 0; id < static_cast<FieldId>(nfields); ++id) {
    const FieldDef& f = schema.field(id);
    if (!schema.present(id)) continue;
    auto g = group_handles.find(f.group);
    if (g == group_handles.end()) {
      g = group_handles.emplace(f.group, create_group(file, to_string(f.group))).first;
      if (shard) link_root(file, g->second.get(), "point", to_string(f.group));
      for (const AxisSpec& axis : grid.axes()) {
        if (!shard) link_root(file, g->second.get(), axis.key, to_string(f.group));
      }
    }
  }
  std::map<Group, std::vector<std::string>> dims_linked;
  for (FieldId id = 0; id < static_cast<FieldId>(nfields); ++id) {
    const FieldDef& f = schema.field(id);
    if (!schema.present(id)) continue;
    for (const std::string& d : f.dims) {
      auto& linked = dims_linked[f.group];
      if (std::find(linked.begin(), linked.end(), d) != linked.end()) continue;
      link_root(file, group_handles.at(f.group).get(), d, to_string(f.group));
      linked.push_back(d);
    }
  }

  // 5. Every present field at full size, filled with its "not yet run" value.
  impl->datasets.resize(nfields);
  for (FieldId id = 0; id < static_cast<FieldId>(nfields); ++id) {
    const FieldDef& f = schema.field(id);
    if (!schema.present(id)) continue;
    const std::string fpath = path_of(f);
    const auto dims = impl->full_dims(id);
    const int ndims = static_cast<int>(dims.size());
    Handle space = h5::space_handle(
        ndims == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(ndims, dims.data(), nullptr),
        "dataspace of /" + fpath);
    Handle dcpl = h5::plist_handle(H5Pcreate(H5P_DATASET_CREATE), "creation list");
    check_status(H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY), "early allocation");
    if (options.chunk_traces && f.group == Group::traces && ndims > 0) {
      std::vector<hsize_t> chunk(dims.size(), 1);  // one point's whole trace
      for (std::size_t d = shard ? 1 : grid.ndims(); d < dims.size(); ++d) chunk[d] = dims[d];
      check_status(H5Pset_chunk(dcpl.get(), ndims, chunk.data()), "chunk /" + fpath);
    }
    // No fill at creation: writing it would cost a write of the whole file (32 GB for a
    // 10^8-point grid: minutes), and a point's fields mean something only once its status is
    // done anyway (data, flush, then status). Never-written slots read as zeros, which is the
    // fill value of status (pending) and of every enum; a failed point's Record carries the fill
    // values, written like any other. (Parallel HDF5 1.10 allocates every dataset early, so
    // HDF5's own "fill on read of unallocated chunks" is not available.)
    check_status(H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER), "fill time");
    Handle mtype = elem_type(f, false);
    const Fill fill(f);
    check_status(H5Pset_fill_value(dcpl.get(), mtype.get(), fill.of(f.type)),
                 "fill value of /" + fpath);
    Handle ftype = elem_type(f, true);
    Handle dset = h5::dataset_handle(H5Dcreate2(file, fpath.c_str(), ftype.get(), space.get(),
                                                H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                                     "create /" + fpath);
    h5::write_attribute(dset.get(), "description", f.description);
    h5::write_attribute(dset.get(), "long_name", f.long_name);
    if (!f.units.empty()) h5::write_attribute(dset.get(), "units", f.units);
    if (f.type == ElemType::enum8) {  // CF conventions for categorical data
      std::vector<std::uint8_t> codes(f.members.size());
      for (std::size_t c = 0; c < codes.size(); ++c) codes[c] = static_cast<std::uint8_t>(c);
      h5::write_attribute(dset.get(), "flag_values", codes);
      h5::write_attribute(dset.get(), "flag_meanings", text::join(f.members, " "));
    }
    std::vector<std::string> labels;
    if (shard) labels.push_back("point");
    for (const AxisSpec& axis : grid.axes()) {
      if (!shard) labels.push_back(axis.key);
    }
    labels.insert(labels.end(), f.dims.begin(), f.dims.end());
    for (std::size_t d = 0; d < labels.size(); ++d) {
      check_status(
          H5DSattach_scale(dset.get(), scales.at(labels[d]).get(), static_cast<unsigned>(d)),
          "attach " + labels[d] + " to /" + fpath);
      check_status(H5DSset_label(dset.get(), static_cast<unsigned>(d), labels[d].c_str()),
                   "label /" + fpath);
    }
    impl->datasets[static_cast<std::size_t>(id)] = std::move(dset);
  }
  return impl;
}

// ---------------------------------------------------------------------------------------- open
ResultStore ResultStore::open(const std::string& path, MPI_Comm comm, const Grid& grid,
                              const Schema& schema, const StoreOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<Impl> impl;
  agree("opening the file", comm, [&] {
    h5::init();
    SYMSWEEP_VERIFY(schema.status_field() >= 0, "the schema has no status field");
    auto im = std::make_unique<Impl>(comm, grid, schema, options.collective);
    im->file = h5::file_handle(H5Fopen(path.c_str(), H5F_ACC_RDWR, mpio_access(comm).get()),
                               "open '" + path + "' for writing");
    // A shard file holds its part of the grid along one dimension of points.
    if (h5::has_attribute(im->file.get(), "format") &&
        h5::read_string_attribute(im->file.get(), "format") == kShardFormat) {
      const auto first = h5::read_int_attribute(im->file.get(), "shard_first");
      const auto end = h5::read_int_attribute(im->file.get(), "shard_end");
      if (first < 0 || end <= first || static_cast<std::uint64_t>(end) > grid.size()) {
        throw ConfigError(text::quote(path) + ": a shard file whose range [" +
                          std::to_string(first) + ", " + std::to_string(end) +
                          ") is not a part of its grid of " + std::to_string(grid.size()) +
                          " point(s)");
      }
      im->shard = true;
      im->point_first = static_cast<std::uint64_t>(first);
      im->point_end = static_cast<std::uint64_t>(end);
    }
    // A point table: its rows along one dimension, and the table's own datasets.
    if (h5::has_attribute(im->file.get(), "format") &&
        h5::read_string_attribute(im->file.get(), "format") == kRefineFormat) {
      const auto rows = h5::read_int_attribute(im->file.get(), "refine_rows");
      if (rows <= 0 || static_cast<std::uint64_t>(rows) > grid.size()) {
        throw ConfigError(text::quote(path) + ": a point table of " + std::to_string(rows) +
                          " row(s), not a part of its grid of " + std::to_string(grid.size()) +
                          " point(s)");
      }
      im->shard = true;
      im->table = true;
      im->point_first = 0;
      im->point_end = static_cast<std::uint64_t>(rows);
      const hid_t f = im->file.get();
      im->table_point = h5::dataset_handle(H5Dopen2(f, "point", H5P_DEFAULT), "open /point");
      im->table_level =
          h5::dataset_handle(H5Dopen2(f, "refine/level", H5P_DEFAULT), "open /refine/level");
      im->table_rows =
          h5::dataset_handle(H5Dopen2(f, "refine/rows", H5P_DEFAULT), "open /refine/rows");
      std::istringstream words(h5::read_string_attribute(f, "refine_axes"));
      for (std::string key; words >> key;) {
        std::size_t at = 0;
        while (at < grid.axes().size() && grid.axes()[at].key != key) ++at;
        if (at == grid.axes().size()) {
          throw ConfigError(text::quote(path) + ": its refined axis " + key +
                            " is not an axis of its config");
        }
        im->table_coords.push_back(h5::dataset_handle(
            H5Dopen2(f, ("refine/" + key).c_str(), H5P_DEFAULT), "open /refine/" + key));
        im->table_axis.push_back(at);
      }
    }
    // Every field this build would write must be there with the shape and element class it
    // would give it: otherwise the file was made by another layout. A file of another commit
    // may lack fields added since (when the caller allows it): those are skipped.
    const bool other_commit =
        options.skip_fields_added_since &&
        (!h5::has_attribute(im->file.get(), "git_commit") ||
         h5::read_string_attribute(im->file.get(), "git_commit") != git_commit());
    const auto nfields = schema.fields().size();
    im->datasets.resize(nfields);
    for (FieldId id = 0; id < static_cast<FieldId>(nfields); ++id) {
      const FieldDef& f = schema.field(id);
      if (!schema.present(id)) continue;
      const std::string fpath = path_of(f);
      if (H5Lexists(im->file.get(), to_string(f.group), H5P_DEFAULT) <= 0 ||
          H5Lexists(im->file.get(), fpath.c_str(), H5P_DEFAULT) <= 0) {
        if (other_commit) {
          im->skipped.push_back(fpath);
          continue;
        }
        throw ConfigError(text::quote(path) + ": has no /" + fpath +
                          ", which this symsweep writes: the file was made by a symsweep of "
                          "another layout; resume it with that build (symsweep_version and "
                          "git_commit in its attributes)");
      }
      Handle dset = h5::dataset_handle(H5Dopen2(im->file.get(), fpath.c_str(), H5P_DEFAULT),
                                       "open /" + fpath);
      const auto shape = h5::dataset_shape(dset.get());
      Handle ftype = h5::type_handle(H5Dget_type(dset.get()), "type of /" + fpath);
      Handle want = elem_type(f, true);
      if (shape != im->full_dims(id) || H5Tget_class(ftype.get()) != H5Tget_class(want.get()) ||
          H5Tget_size(ftype.get()) != H5Tget_size(want.get())) {
        throw ConfigError(text::quote(path) + ": /" + fpath +
                          " has another shape or type than this symsweep writes: the file was "
                          "made by a symsweep of another layout");
      }
      if (f.type == ElemType::enum8) {
        // New members come within a format (README "Versions"): a file of an earlier build whose
        // members are the first of this build's, code for code, is written through its own type.
        const std::vector<std::string> members = h5::enum_members(dset.get());
        if (members != f.members) {
          if (!enum_members_extend(members, f.members)) {
            throw ConfigError(text::quote(path) + ": /" + fpath + " has the members " +
                              text::join(members, ", ") +
                              ", which are not the first of this "
                              "symsweep's (" +
                              text::join(f.members, ", ") +
                              "): the file was made by a symsweep of another layout");
          }
          im->file_enum_types.resize(nfields);
          im->file_enum_members.resize(nfields, 0);
          im->file_enum_types[static_cast<std::size_t>(id)] = std::move(ftype);
          im->file_enum_members[static_cast<std::size_t>(id)] = members.size();
        }
      }
      im->datasets[static_cast<std::size_t>(id)] = std::move(dset);
    }
    // And nothing more: a field the file holds that this build does not write would be left at
    // its fill by the points resumed here, beside the values of those done before.
    for (const Group g : {Group::results, Group::traces}) {
      const std::string group = to_string(g);
      if (H5Lexists(im->file.get(), group.c_str(), H5P_DEFAULT) <= 0) continue;
      std::vector<std::string> names;
      check_status(H5Literate_by_name(
                       im->file.get(), group.c_str(), H5_INDEX_NAME, H5_ITER_NATIVE, nullptr,
                       [](hid_t, const char* name, const H5L_info_t* info, void* data) -> herr_t {
                         // Hard links only: the links to the axes and scales are soft.
                         if (info->type == H5L_TYPE_HARD) {
                           static_cast<std::vector<std::string>*>(data)->push_back(name);
                         }
                         return 0;
                       },
                       &names, H5P_DEFAULT),
                   "list /" + group);
      for (const std::string& name : names) {
        const std::string fpath = group + "/" + name;
        const FieldId id = schema.find(g, name);
        if (id >= 0 && schema.present(id)) continue;
        Handle obj = h5::dataset_handle(H5Oopen(im->file.get(), fpath.c_str(), H5P_DEFAULT),
                                        "open /" + fpath);
        if (h5::has_attribute(obj.get(), "CLASS")) continue;  // a dimension scale's link
        throw ConfigError(text::quote(path) + ": holds /" + fpath +
                          ", which this symsweep does not write (the points resumed here would "
                          "leave it unfilled): the file was made by a symsweep of another layout; "
                          "resume it with that build (symsweep_version and git_commit in its "
                          "attributes)");
      }
    }
    // The runs list, in files made since it exists.
    if (H5Lexists(im->file.get(), "provenance", H5P_DEFAULT) > 0 &&
        H5Lexists(im->file.get(), "provenance/runs", H5P_DEFAULT) > 0 &&
        H5Lexists(im->file.get(), "provenance/run_count", H5P_DEFAULT) > 0) {
      im->runs_list = h5::dataset_handle(H5Dopen2(im->file.get(), "provenance/runs", H5P_DEFAULT),
                                         "open /provenance/runs");
      im->run_count =
          h5::dataset_handle(H5Dopen2(im->file.get(), "provenance/run_count", H5P_DEFAULT),
                             "open /provenance/run_count");
    }
    impl = std::move(im);
  });
  impl->stats.open_seconds = seconds_since(t0);
  return ResultStore(std::move(impl));
}

std::vector<std::uint8_t> ResultStore::read_status() {
  SYMSWEEP_VERIFY(impl_ && impl_->file.valid(), "read from a closed result file");
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::uint8_t> status(impl_->point_end - impl_->point_first);
  agree("reading the status", impl_->comm, [&] {
    const FieldId id = impl_->schema->status_field();
    const Handle dxpl = mpio_transfer(false);
    // Read as plain bytes (the enum's codes): an enum does not convert to an integer type.
    Handle ftype = h5::type_handle(H5Dget_type(impl_->datasets[static_cast<std::size_t>(id)].get()),
                                   "status type in the file");
    check_status(H5Dread(impl_->datasets[static_cast<std::size_t>(id)].get(), ftype.get(), H5S_ALL,
                         H5S_ALL, dxpl.get(), status.data()),
                 "read /results/status");
  });
  impl_->stats.open_seconds += seconds_since(t0);
  return status;
}

// ---------------------------------------------------------------------------------- runs list
long long ResultStore::begin_run(const RunRecord& run) {
  SYMSWEEP_VERIFY(impl_ && impl_->file.valid(), "a run begun on a closed result file");
  Impl& im = *impl_;
  if (!im.runs_list.valid()) return 0;
  std::int64_t count = 0;
  hsize_t capacity = 0;
  agree("reading the runs list", im.comm, [&] {
    const Handle dxpl = mpio_transfer(false);
    check_status(
        H5Dread(im.run_count.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, dxpl.get(), &count),
        "read /provenance/run_count");
    const auto shape = h5::dataset_shape(im.runs_list.get());
    capacity = shape.empty() ? 0 : shape[0];
  });
  if (capacity == 0) return 0;
  im.run = run;
  im.run_slot = std::min<long long>(count, static_cast<long long>(capacity) - 1);
  agree("recording the run", im.comm, [&] {
    im.write_run(im.run, im.run_slot);
    im.write_run_count(count + 1);
  });
  agree("flushing the runs list", im.comm, [&] { im.flush("runs list"); });
  return count + 1;
}

void ResultStore::end_run(const std::string& end_utc, const std::string& ended,
                          long long points_finished) {
  SYMSWEEP_VERIFY(impl_ && impl_->file.valid(), "a run ended on a closed result file");
  Impl& im = *impl_;
  if (!im.runs_list.valid() || im.run_slot < 0) return;
  im.run.end_utc = end_utc;
  im.run.ended = ended;
  im.run.points_finished = points_finished;
  agree("recording the run's end", im.comm, [&] { im.write_run(im.run, im.run_slot); });
}

// --------------------------------------------------------------------------------------- write
void ResultStore::write(const std::vector<PointResult>& points) {
  SYMSWEEP_VERIFY(impl_ && impl_->file.valid(), "write to a closed result file");
  Impl& im = *impl_;
  const auto t0 = std::chrono::steady_clock::now();
  int ranks = 1;
  MPI_Comm_size(im.comm, &ranks);
  const std::size_t rs = im.record_size;
  const std::size_t nfields = im.schema->fields().size();

  // 0. A file of an earlier build cannot hold the enum members added since: a point that has one
  //    stops the run before anything of this checkpoint is written.
  if (!im.file_enum_members.empty()) {
    agree("checkpoint " + std::to_string(im.writes + 1) + ": checking enum members", im.comm, [&] {
      for (const auto& p : points) {
        for (FieldId id = 0; id < static_cast<FieldId>(nfields); ++id) {
          const std::size_t limit = im.file_enum_members[static_cast<std::size_t>(id)];
          if (limit == 0 || p.values.code(id) < limit) continue;
          const FieldDef& f = im.schema->field(id);
          throw ConfigError(
              "point " + std::to_string(p.index) + ": /" + path_of(f) + " is " +
              f.members[p.values.code(id)] +
              ", a member added since the build that made this "
              "file (its members: " +
              text::join(
                  std::vector<std::string>(f.members.begin(),
                                           f.members.begin() + static_cast<std::ptrdiff_t>(limit)),
                  ", ") +
              "), which the file cannot hold: run the sweep into a new file, or resume this one "
              "with that build (symsweep_version and git_commit in its attributes)");
        }
      }
    });
  }

  // 1. Pack every point (index, then its Record's bytes), grouped by the rank that will write it.
  std::vector<int> send_count(static_cast<std::size_t>(ranks), 0);
  // A point table is written by row: from here on a point's "index" is its row (its flat
  // index itself in other files).
  for (const auto& p : points) {
    const std::uint64_t row = im.row(p.index);
    SYMSWEEP_VERIFY(row >= im.point_first && row < im.point_end, "point index out of range");
    SYMSWEEP_VERIFY(!p.values.empty() && &p.values.schema() == im.schema,
                    "a point's Record is not of this file's schema");
    ++send_count[static_cast<std::size_t>(im.owner(row, ranks))];
  }
  std::vector<int> send_offset(static_cast<std::size_t>(ranks), 0);
  for (std::size_t r = 1; r < send_offset.size(); ++r) {
    send_offset[r] = send_offset[r - 1] + send_count[r - 1];
  }
  std::vector<unsigned char> send(std::max<std::size_t>(1, points.size() * rs), 0);
  {
    std::vector<int> next = send_offset;
    for (const auto& p : points) {
      const std::uint64_t row = im.row(p.index);
      unsigned char* rec =
          send.data() +
          static_cast<std::size_t>(next[static_cast<std::size_t>(im.owner(row, ranks))]++) * rs;
      std::memcpy(rec, &row, sizeof row);
      std::memcpy(rec + sizeof row, p.values.data(), rs - sizeof row);
    }
  }
  // 2. Route the records to their writers, so that every rank writes one contiguous block of
  //    the grid (a few hyperslabs, large contiguous file regions) whatever the distribution.
  std::vector<int> recv_count(static_cast<std::size_t>(ranks), 0);
  MPI_Alltoall(send_count.data(), 1, MPI_INT, recv_count.data(), 1, MPI_INT, im.comm);
  std::vector<int> recv_offset(static_cast<std::size_t>(ranks), 0);
  for (std::size_t r = 1; r < recv_offset.size(); ++r) {
    recv_offset[r] = recv_offset[r - 1] + recv_count[r - 1];
  }
  const auto received = static_cast<std::size_t>(recv_offset.back() + recv_count.back());
  std::vector<unsigned char> recv(std::max<std::size_t>(1, received * rs), 0);
  MPI_Datatype record_type;
  MPI_Type_contiguous(static_cast<int>(rs), MPI_BYTE, &record_type);
  MPI_Type_commit(&record_type);
  MPI_Alltoallv(send.data(), send_count.data(), send_offset.data(), record_type, recv.data(),
                recv_count.data(), recv_offset.data(), record_type, im.comm);
  MPI_Type_free(&record_type);
  send = {};

  std::vector<const unsigned char*> records(received);
  for (std::size_t k = 0; k < received; ++k) records[k] = recv.data() + k * rs;
  const auto index_of = [](const unsigned char* rec) {
    std::uint64_t p = 0;
    std::memcpy(&p, rec, sizeof p);
    return p;
  };
  std::sort(records.begin(), records.end(), [&](const unsigned char* a, const unsigned char* b) {
    return index_of(a) < index_of(b);
  });
  std::vector<std::uint64_t> indices(received);
  for (std::size_t k = 0; k < received; ++k) {
    indices[k] = index_of(records[k]);
    SYMSWEEP_VERIFY(k == 0 || indices[k - 1] < indices[k], "point written twice");
  }

  // 3. Data first, then (after a flush) the status that declares it valid. Every step is agreed
  //    on (collective.hpp): a failure on one rank reaches all before the next collective call.
  std::map<std::vector<hsize_t>, Handle> selections;
  const FieldId status = im.schema->status_field();
  int rank = 0;
  MPI_Comm_rank(im.comm, &rank);
  ++im.writes;
  if (received > 0) ++im.writes_with_points;
  for (FieldId id = 0; id < static_cast<FieldId>(nfields); ++id) {
    if (id == status || !im.schema->present(id)) continue;
    if (!im.datasets[static_cast<std::size_t>(id)].valid()) continue;  // skipped_fields()
    agree("checkpoint " + std::to_string(im.writes) + ": writing /" + path_of(im.schema->field(id)),
          im.comm, [&] { im.write_field(id, records, indices, selections); });
  }
  const std::string step = "checkpoint " + std::to_string(im.writes) + ": ";
  agree(step + "flushing the data", im.comm, [&] {
    im.flush("data before status");
    if (received > 0) {
      maybe_inject("checkpoint", rank, im.writes_with_points);
      maybe_hang(rank, im.writes_with_points);
    }
  });
  agree(step + "writing the status", im.comm,
        [&] { im.write_field(status, records, indices, selections); });
  agree(step + "flushing the status", im.comm, [&] { im.flush("status"); });
  im.stats.write_seconds += seconds_since(t0);
}

std::pair<std::uint64_t, std::uint64_t> ResultStore::range() const {
  return {impl_->point_first, impl_->point_end};
}

bool ResultStore::is_table() const {
  return impl_->table;
}

std::vector<std::uint64_t> ResultStore::read_table() {
  SYMSWEEP_VERIFY(impl_ && impl_->file.valid() && impl_->table, "read_table of no point table");
  Impl& im = *impl_;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::int64_t> index(im.point_end);
  std::int64_t rows = 0;
  // Every rank's writes were flushed before; this flush makes them visible to this rank's reads
  // (MPI-IO's sync-barrier-sync).
  agree("flushing before reading the table", im.comm, [&] { im.flush("before reading"); });
  agree("reading the table", im.comm, [&] {
    const Handle dxpl = mpio_transfer(false);
    check_status(
        H5Dread(im.table_rows.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, dxpl.get(), &rows),
        "read /refine/rows");
    check_status(
        H5Dread(im.table_point.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, dxpl.get(), index.data()),
        "read /point");
    if (rows < 0 || static_cast<std::uint64_t>(rows) > im.point_end) {
      throw ConfigError("a damaged point table: /refine/rows = " + std::to_string(rows));
    }
  });
  std::vector<std::uint64_t> flats(static_cast<std::size_t>(rows));
  im.row_of.clear();
  for (std::size_t r = 0; r < flats.size(); ++r) {
    SYMSWEEP_VERIFY(index[r] >= 0 && static_cast<std::uint64_t>(index[r]) < im.grid->size(),
                    "a planned row without a point of the grid");
    flats[r] = static_cast<std::uint64_t>(index[r]);
    SYMSWEEP_VERIFY(im.row_of.emplace(flats[r], r).second, "a point twice in the table");
  }
  im.rows_used = flats.size();
  im.stats.open_seconds += seconds_since(t0);
  return flats;
}

void ResultStore::append_rows(const std::vector<std::uint64_t>& flats,
                              const std::vector<int>& levels) {
  SYMSWEEP_VERIFY(impl_ && impl_->file.valid() && impl_->table, "append_rows to no point table");
  Impl& im = *impl_;
  SYMSWEEP_VERIFY(flats.size() == levels.size(), "rows and levels differ in number");
  SYMSWEEP_VERIFY(im.rows_used + flats.size() <= im.point_end, "more rows than the table holds");
  const auto t0 = std::chrono::steady_clock::now();
  int rank = 0;
  MPI_Comm_rank(im.comm, &rank);
  const hsize_t first = im.rows_used, count = flats.size();
  const auto write_rows = [&](hid_t dset, hid_t type, const void* values) {
    Handle file_space = h5::space_handle(H5Dget_space(dset), "table dataspace");
    const hsize_t one = std::max<hsize_t>(count, 1);
    Handle mem_space = h5::space_handle(H5Screate_simple(1, &one, nullptr), "memory dataspace");
    if (rank == 0 && count > 0) {
      check_status(
          H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, &first, nullptr, &count, nullptr),
          "select rows");
    } else {
      check_status(H5Sselect_none(file_space.get()), "select none");
      check_status(H5Sselect_none(mem_space.get()), "select none");
    }
    check_status(H5Dwrite(dset, type, mem_space.get(), file_space.get(), im.dxpl.get(), values),
                 "write the table's rows");
  };
  std::vector<std::int64_t> index(flats.begin(), flats.end());
  std::vector<std::int32_t> level(levels.begin(), levels.end());
  agree("writing the table's rows", im.comm, [&] {
    write_rows(im.table_point.get(), H5T_NATIVE_INT64, index.data());
    write_rows(im.table_level.get(), H5T_NATIVE_INT32, level.data());
    for (std::size_t a = 0; a < im.table_coords.size(); ++a) {
      const AxisSpec& axis = im.grid->axes()[im.table_axis[a]];
      const std::vector<double> values = axis.numbers();
      std::vector<double> coord(flats.size());
      for (std::size_t r = 0; r < flats.size(); ++r) {
        coord[r] = values[static_cast<std::size_t>(im.grid->coords(flats[r])[im.table_axis[a]])];
      }
      write_rows(im.table_coords[a].get(), H5T_NATIVE_DOUBLE, coord.data());
    }
  });
  agree("flushing the table's rows", im.comm, [&] { im.flush("table rows"); });
  const std::int64_t rows = static_cast<std::int64_t>(im.rows_used + flats.size());
  agree("writing the table's count", im.comm, [&] {
    Handle file_space = h5::space_handle(H5Dget_space(im.table_rows.get()), "rows dataspace");
    const hsize_t one = 1;
    Handle mem_space = h5::space_handle(H5Screate_simple(1, &one, nullptr), "memory dataspace");
    if (rank != 0) {
      check_status(H5Sselect_none(file_space.get()), "select none");
      check_status(H5Sselect_none(mem_space.get()), "select none");
    }
    check_status(H5Dwrite(im.table_rows.get(), H5T_NATIVE_INT64, mem_space.get(), file_space.get(),
                          im.dxpl.get(), &rows),
                 "write /refine/rows");
  });
  agree("flushing the table's count", im.comm, [&] { im.flush("table count"); });
  for (std::size_t r = 0; r < flats.size(); ++r) {
    SYMSWEEP_VERIFY(im.row_of.emplace(flats[r], im.rows_used + r).second,
                    "a point twice in the table");
  }
  im.rows_used += flats.size();
  im.stats.write_seconds += seconds_since(t0);
}

std::vector<double> ResultStore::read_scalar(FieldId id) {
  SYMSWEEP_VERIFY(impl_ && impl_->file.valid(), "read from a closed result file");
  Impl& im = *impl_;
  const FieldDef& f = im.schema->field(id);
  SYMSWEEP_VERIFY(im.schema->count(id) == 1 && im.datasets[static_cast<std::size_t>(id)].valid(),
                  "read_scalar of a field that is not a scalar in the file");
  const auto t0 = std::chrono::steady_clock::now();
  const std::size_t n = im.point_end - im.point_first;
  std::vector<double> out(n);
  agree("reading /" + path_of(f), im.comm, [&] {
    const Handle dxpl = mpio_transfer(false);
    const hid_t dset = im.datasets[static_cast<std::size_t>(id)].get();
    if (f.type == ElemType::enum8) {  // the codes, read as plain bytes
      std::vector<std::uint8_t> codes(n);
      Handle ftype = h5::type_handle(H5Dget_type(dset), "type in the file");
      check_status(H5Dread(dset, ftype.get(), H5S_ALL, H5S_ALL, dxpl.get(), codes.data()),
                   "read /" + path_of(f));
      for (std::size_t k = 0; k < n; ++k) out[k] = codes[k];
    } else if (f.type == ElemType::f64) {
      check_status(H5Dread(dset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, dxpl.get(), out.data()),
                   "read /" + path_of(f));
    } else {
      std::vector<std::int64_t> v(n);
      check_status(H5Dread(dset, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, dxpl.get(), v.data()),
                   "read /" + path_of(f));
      for (std::size_t k = 0; k < n; ++k) out[k] = static_cast<double>(v[k]);
    }
  });
  im.stats.open_seconds += seconds_since(t0);
  return out;
}

const std::vector<std::string>& ResultStore::skipped_fields() const {
  return impl_->skipped;
}

std::pair<std::uint64_t, std::uint64_t> shard_range(std::uint64_t points, std::uint64_t index,
                                                    std::uint64_t count) {
  SYMSWEEP_VERIFY(count >= 1 && index < count, "a shard outside its count");
  const std::uint64_t base = points / count, extra = points % count;
  const std::uint64_t first = index * base + std::min(index, extra);
  return {first, first + base + (index < extra ? 1 : 0)};
}

ResultStore::IoStats ResultStore::io_stats() const {
  return impl_->stats;
}

void ResultStore::close() {
  if (!impl_ || !impl_->file.valid()) return;
  const auto t0 = std::chrono::steady_clock::now();
  agree("closing the file", impl_->comm, [&] {
    for (auto& dset : impl_->datasets) {
      if (dset.valid()) dset.close("close a dataset");
    }
    impl_->datasets.clear();
    if (impl_->runs_list.valid()) impl_->runs_list.close("close /provenance/runs");
    if (impl_->run_count.valid()) impl_->run_count.close("close /provenance/run_count");
    for (auto& dset : impl_->table_coords) dset.close("close a table coordinate");
    impl_->table_coords.clear();
    if (impl_->table_point.valid()) impl_->table_point.close("close /point");
    if (impl_->table_level.valid()) impl_->table_level.close("close /refine/level");
    if (impl_->table_rows.valid()) impl_->table_rows.close("close /refine/rows");
    impl_->dxpl.close("close transfer list");
    impl_->file.close("close result file");
  });
  impl_->stats.close_seconds = seconds_since(t0);
}

// ------------------------------------------------------------------------------------ describe
namespace {

/// `path` opened read-only and serially, checked to be a symsweep file of this format. Throws
/// ConfigError naming why not.
Handle open_result_file(const std::string& path) {
  h5::init();
  const std::string shown = text::quote(path);
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    throw ConfigError(shown + ": not an HDF5 file (or it cannot be read)");
  }
  Handle file;
  try {
    file = h5::file_handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open");
  } catch (const IoError& e) {
    throw ConfigError(shown + ": cannot be opened as HDF5 (truncated, damaged, or still being " +
                      "written?): " + e.what());
  }
  const hid_t f = file.get();
  if (!h5::has_attribute(f, "format")) {
    throw ConfigError(shown +
                      ": an HDF5 file but not a symsweep result file (no format attribute)");
  }
  std::string format;
  try {
    format = h5::read_string_attribute(f, "format");
  } catch (const IoError&) {
    throw ConfigError(shown +
                      ": an HDF5 file but not a symsweep result file (its format "
                      "attribute is not text)");
  }
  if (format != kFormat && format != kShardFormat && format != kRefineFormat) {
    const bool ours = format.rfind("symsweep/", 0) == 0;
    throw ConfigError(
        shown + ": " +
        (ours ? "written in format " + text::quote(format) + ", which this build (reading " +
                    kFormat + ") does not know; use the symsweep that wrote it or a newer one"
              : "not a symsweep result file (its format is " + text::quote(format) + ")"));
  }
  return file;
}

/// A root attribute every symsweep file has: a file that lacks it, or holds it with another type,
/// is damaged (bad input, one line naming the attribute), not an I/O failure.
class RootAttributes {
 public:
  RootAttributes(hid_t file, const std::string& path) : f_(file), shown_(text::quote(path)) {}
  std::string text(const std::string& name) const {
    require(name);
    try {
      return h5::read_string_attribute(f_, name);
    } catch (const IoError&) {
      throw damaged(name, "is not text");
    }
  }
  std::int64_t integer(const std::string& name) const {
    require(name);
    try {
      return h5::read_int_attribute(f_, name);
    } catch (const IoError&) {
      throw damaged(name, "is not an integer");
    }
  }

 private:
  void require(const std::string& name) const {
    bool present = false;
    try {
      present = h5::has_attribute(f_, name);
    } catch (const IoError&) {
    }
    if (!present) throw damaged(name, "is missing");
  }
  ConfigError damaged(const std::string& name, const std::string& how) const {
    return ConfigError(shown_ + ": a damaged symsweep result file: its root attribute '" + name +
                       "' " + how + " (every file written by symsweep has it)");
  }
  hid_t f_;
  std::string shown_;
};

}  // namespace

FileInfo read_file_info(const std::string& path) {
  Handle file = open_result_file(path);
  const RootAttributes attrs(file.get(), path);
  FileInfo info;
  info.config_text = attrs.text("config_text");
  info.symsweep_version = attrs.text("symsweep_version");
  info.git_commit = attrs.text("git_commit");
  if (h5::has_attribute(file.get(), "numerics_version")) {
    info.numerics_version = attrs.integer("numerics_version");
  }
  if (h5::has_attribute(file.get(), "build_signature")) {
    info.build_signature = attrs.text("build_signature");
  }
  if (h5::has_attribute(file.get(), "compiler")) info.compiler = attrs.text("compiler");
  info.format = attrs.text("format");
  // Every file has these; read_file_info's other callers do not need them, so a file without them
  // is not refused here.
  if (h5::has_attribute(file.get(), "config_sha256")) {
    info.config_sha256 = attrs.text("config_sha256");
  }
  if (h5::has_attribute(file.get(), "n_points")) info.n_points = attrs.integer("n_points");
  if (info.format == kShardFormat) {
    info.shard_index = attrs.integer("shard_index");
    info.shard_count = attrs.integer("shard_count");
    info.shard_first = attrs.integer("shard_first");
    info.shard_end = attrs.integer("shard_end");
  }
  if (info.format == kRefineFormat) info.refine_rows = attrs.integer("refine_rows");
  return info;
}

namespace {

/// The runs list of an open file (see read_runs).
std::vector<RunRecord> runs_of(hid_t f, long long* count) {
  std::vector<RunRecord> runs;
  if (count) *count = 0;
  if (H5Lexists(f, "provenance", H5P_DEFAULT) <= 0 ||
      H5Lexists(f, "provenance/runs", H5P_DEFAULT) <= 0 ||
      H5Lexists(f, "provenance/run_count", H5P_DEFAULT) <= 0) {
    return runs;
  }
  Handle dset =
      h5::dataset_handle(H5Dopen2(f, "provenance/runs", H5P_DEFAULT), "open /provenance/runs");
  Handle counter = h5::dataset_handle(H5Dopen2(f, "provenance/run_count", H5P_DEFAULT),
                                      "open /provenance/run_count");
  std::int64_t n = 0;
  check_status(H5Dread(counter.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &n),
               "read /provenance/run_count");
  const auto shape = h5::dataset_shape(dset.get());
  const std::size_t capacity = shape.empty() ? 0 : static_cast<std::size_t>(shape[0]);
  std::vector<unsigned char> bytes(std::max<std::size_t>(1, capacity * run_record_bytes()));
  Handle type = run_type(false);
  check_status(H5Dread(dset.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data()),
               "read /provenance/runs");
  const std::size_t used =
      std::min<std::size_t>(capacity, static_cast<std::size_t>(std::max<std::int64_t>(n, 0)));
  for (std::size_t k = 0; k < used; ++k) {
    runs.push_back(unpack_run(bytes.data() + k * run_record_bytes()));
  }
  if (count) *count = n;
  return runs;
}

bool is_dirty(const std::string& commit) {
  const std::string suffix = "-dirty";
  return commit.size() >= suffix.size() &&
         commit.compare(commit.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::vector<RunRecord> read_runs(const std::string& path, long long* count) {
  Handle file = open_result_file(path);
  return runs_of(file.get(), count);
}

namespace {

/// `symsweep inspect`'s lines on a point table (kRefineFormat): the refinement, the rows per level
/// and the fine grid's locations computed and resolved (refine.hpp); sets `rows` to the rows
/// planned.
std::string refine_summary(hid_t f, const std::string& path, const std::string& config_text,
                           std::size_t* rows) {
  std::ostringstream out;
  Handle count = h5::dataset_handle(H5Dopen2(f, "refine/rows", H5P_DEFAULT), "open /refine/rows");
  std::int64_t n = 0;
  check_status(H5Dread(count.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &n),
               "read /refine/rows");
  *rows = static_cast<std::size_t>(std::max<std::int64_t>(n, 0));
  Handle level = h5::dataset_handle(H5Dopen2(f, "refine/level", H5P_DEFAULT), "open /refine/level");
  std::vector<std::int64_t> levels = h5::read_ints(level.get());
  const std::size_t capacity = levels.size();
  levels.resize(std::min(levels.size(), *rows));
  std::map<std::int64_t, std::size_t> per_level;
  for (std::int64_t l : levels) ++per_level[l];
  out << "  REFINED: a point table of " << *rows << " planned row(s) of " << capacity
      << " (refine.budget) over the refined axes " << h5::read_string_attribute(f, "refine_axes")
      << "; points per level:";
  for (const auto& [l, k] : per_level) out << " " << l << ": " << k << ";";
  out << " the other points of the grid were not run\n";
  // The fine grid, as the config's refinement sees the file.
  try {
    const SweepSpec spec = parse_spec(config_text, {"sweep.output=" + path}, "config_text");
    const Grid grid(spec);
    const SweepFields fields(grid);
    std::optional<RefineSpec> refine = refine_spec(spec);
    if (!refine) return out.str();
    check_refine_field(*refine, fields.schema());
    const RefineGeometry geometry(grid, *refine);
    Handle point = h5::dataset_handle(H5Dopen2(f, "point", H5P_DEFAULT), "open /point");
    Handle status = h5::dataset_handle(H5Dopen2(f, "results/status", H5P_DEFAULT), "open status");
    Handle field = h5::dataset_handle(
        H5Dopen2(f, ("results/" + refine->field).c_str(), H5P_DEFAULT), "open the field");
    const std::vector<std::int64_t> flat = h5::read_ints(point.get());
    const std::vector<std::int64_t> done = h5::read_ints(status.get());
    const std::vector<double> values =
        h5::enum_members(field.get()).empty() ? h5::read_doubles(field.get()) : [&] {
          std::vector<double> v;
          for (auto c : h5::read_ints(field.get())) {
            v.push_back(static_cast<double>(c));
          }
          return v;
        }();
    std::unordered_map<std::uint64_t, std::size_t> row_of;
    RefineTable t;
    for (std::size_t r = 0; r < *rows; ++r) {
      row_of.emplace(static_cast<std::uint64_t>(flat[r]), r);
      t.present.insert(geometry.location_of(static_cast<std::uint64_t>(flat[r])));
    }
    for (std::uint64_t loc : t.present) {
      std::vector<double> v;
      bool all_done = true;
      for (std::uint64_t p : geometry.flats(loc)) {
        const std::size_t r = row_of.at(p);
        all_done = all_done && done[r] == static_cast<std::int64_t>(Status::done);
        v.push_back(values[r]);
      }
      if (all_done) t.values.emplace(loc, std::move(v));
    }
    const std::vector<std::int64_t> source = resolve(geometry, *refine, t);
    const auto resolved =
        std::count_if(source.begin(), source.end(), [](std::int64_t s) { return s >= 0; });
    out << "  fine grid: " << geometry.locations() << " location(s) of " << geometry.per_location()
        << " point(s) each; " << t.values.size() << " computed, " << resolved
        << " resolved (computed, or in a cell whose corners agree on " << refine->field << ")\n";
  } catch (const Error& e) {
    out << "  fine grid: not read (" << e.what() << ")\n";
  }
  return out.str();
}

}  // namespace

std::string describe_file(const std::string& path) {
  Handle file = open_result_file(path);
  const hid_t f = file.get();
  const RootAttributes attrs(f, path);
  const std::string format = attrs.text("format");
  attrs.text("config_text");  // not shown, but a file without it cannot be resumed or re-run
  std::ostringstream out;
  out << path << ": " << format << ", written by symsweep " << attrs.text("symsweep_version")
      << " (" << attrs.text("git_commit") << ")";
  if (h5::has_attribute(f, "numerics_version")) {
    out << ", numerics version " << attrs.integer("numerics_version");
  }
  out << "\n";
  const bool table = format == kRefineFormat;
  const bool shard = format == kShardFormat || table;
  // A point table's planned rows: the counts below are over them alone.
  std::size_t rows = std::numeric_limits<std::size_t>::max();
  if (table) {
    out << refine_summary(f, path, attrs.text("config_text"), &rows);
  } else if (shard) {
    out << "  SHARD " << attrs.integer("shard_index") << " of " << attrs.integer("shard_count")
        << " (0-based): points [" << attrs.integer("shard_first") << ", "
        << attrs.integer("shard_end") << ") of " << attrs.integer("n_points")
        << ", along one dimension `point` (their flat indices); symsweep merge OUT.h5 SHARD... "
           "makes the whole grid's file of its shards\n";
  }
  if (h5::has_attribute(f, "merged_from")) {
    out << "  merged from:\n";
    const std::string merged_from = attrs.text("merged_from");
    for (std::string_view line : text::split(merged_from, '\n')) {
      if (!line.empty()) out << "    " << line << "\n";
    }
  }
  const std::string commit = attrs.text("git_commit");
  if (is_dirty(commit)) {
    out << "  DIRTY BUILD: git commit " << commit
        << ": built from a working tree with uncommitted changes; the commit does not say which "
           "code computed these numbers\n";
  }
  const bool seed_swept = H5Lexists(f, "axes/sweep.seed", H5P_DEFAULT) > 0;
  out << "  sweep '" << attrs.text("name") << "', model " << attrs.text("model") << ", seed "
      << (seed_swept ? std::string("swept") : std::to_string(attrs.integer("seed"))) << ", created "
      << attrs.text("created_utc") << " on " << attrs.integer("mpi_ranks") << " rank(s) x "
      << attrs.integer("omp_threads") << " thread(s)\n";
  out << "  config sha256 " << attrs.text("config_sha256") << "\n";
  if (h5::has_attribute(f, "replicate_of")) {   // symsweep replicate
    const auto seeds = [&](const char* name) {  // "0, 1, 2, ..., 19 (20)" past 8 seeds
      const std::string list = attrs.text(name);
      const auto items = text::split(list, ',');
      if (items.size() <= 8) return text::join(items, ", ");
      return std::string(items[0]) + ", " + std::string(items[1]) + ", " + std::string(items[2]) +
             ", ..., " + std::string(items.back()) + " (" + std::to_string(items.size()) + ")";
    };
    out << "  replicate of " << attrs.text("replicate_of") << " (config sha256 "
        << attrs.text("replicate_of_config_sha256") << ", seeds " << seeds("replicate_of_seeds")
        << ") with seeds " << seeds("replicate_seeds") << "\n";
  }

  // Provenance: what made the file, and (since the runs list) every run that wrote it.
  const auto optional_text = [&](const char* name) {
    return h5::has_attribute(f, name) ? attrs.text(name) : std::string();
  };
  out << "  command line: " << attrs.text("command_line") << "\n";
  out << "  hosts: " << attrs.text("hosts") << "\n";
  const std::string host_cpus = optional_text("host_cpus");
  for (std::string_view line : text::split(host_cpus, '\n')) {
    if (line.empty()) continue;
    // "<hosts>: <model>; flags <flags>": the flags shown are those that name SIMD sets.
    const std::size_t at = line.find("; flags ");
    std::string shown(line.substr(0, at));
    if (at != std::string_view::npos) {
      std::vector<std::string> simd;
      std::istringstream flags{std::string(line.substr(at + 8))};
      for (std::string flag; flags >> flag;) {
        if (flag.rfind("sse", 0) == 0 || flag.rfind("ssse", 0) == 0 || flag.rfind("avx", 0) == 0 ||
            flag == "fma" || flag == "asimd" || flag.rfind("sve", 0) == 0) {
          simd.push_back(flag);
        }
      }
      shown += "; SIMD flags " + (simd.empty() ? std::string("none") : text::join(simd, " "));
    }
    out << "    cpu " << shown << "\n";
  }
  if (!h5::has_attribute(f, "build_signature")) {
    out << "  build: not recorded (a file written before symsweep recorded its build)\n";
  } else {
    out << "  build: " << optional_text("compiler") << ", " << optional_text("build_type")
        << ", flags " << optional_text("build_flags") << "\n";
    out << "  build signature " << optional_text("build_signature_hash") << ": "
        << optional_text("build_signature") << "\n";
    out << "  libraries: MPI " << optional_text("mpi_runtime") << " (compiled against "
        << optional_text("mpi_compiled") << "); HDF5 " << optional_text("hdf5_runtime")
        << " (compiled against " << optional_text("hdf5_compiled") << "); Eigen "
        << optional_text("eigen_version") << "; Boost " << optional_text("boost_version")
        << "; Random123 " << optional_text("random123_version") << "; OpenMP "
        << optional_text("openmp_version") << "\n";
  }
  long long run_count = 0;
  const std::vector<RunRecord> runs = runs_of(f, &run_count);
  if (!H5Lexists(f, "provenance", H5P_DEFAULT)) {
    out << "  runs: not recorded (a file written before symsweep kept its runs list)\n";
  } else {
    Handle dset =
        h5::dataset_handle(H5Dopen2(f, "provenance/runs", H5P_DEFAULT), "open /provenance/runs");
    const auto capacity = h5::dataset_shape(dset.get()).at(0);
    out << "  runs: " << run_count << " (" << capacity << " slots";
    if (run_count > static_cast<long long>(capacity)) {
      out << "; " << run_count - static_cast<long long>(capacity)
          << " earlier run(s) overwritten: the last slot holds the latest";
    }
    out << ")\n";
    const std::string file_signature = optional_text("build_signature");
    for (std::size_t k = 0; k < runs.size(); ++k) {
      const RunRecord& r = runs[k];
      const long long number = k + 1 == runs.size() ? run_count : static_cast<long long>(k) + 1;
      out << "    #" << number << " " << r.kind << " " << r.start_utc << " .. "
          << (r.end_utc.empty() ? std::string("(no end: killed, or stopped by an error)")
                                : r.end_utc + " " + r.ended)
          << "; " << r.mpi_ranks << " rank(s) x " << r.omp_threads << " thread(s) on " << r.hosts;
      if (r.points_finished >= 0) out << "; " << r.points_finished << " point(s) saved";
      out << "; " << r.compiler << ", symsweep " << r.symsweep_version << " (" << r.git_commit
          << (is_dirty(r.git_commit) ? ", DIRTY" : "") << "), build "
          << signature_hash(r.build_signature) << "\n";
      if (!r.build_change.empty()) {
        out << "       BUILD CHANGED" << (r.allow_build_change ? " (--allow-build-change)" : "")
            << ": " << r.build_change << "\n";
      } else if (!file_signature.empty() && r.build_signature != file_signature &&
                 !signature_difference(file_signature, r.build_signature).empty()) {
        out << "       BUILD CHANGED: " << signature_difference(file_signature, r.build_signature)
            << "\n";
      }
    }
  }

  // The names in a group that are fields (not the scales linked there), in name order.
  const auto fields_of = [&](const char* group_name) {
    std::vector<std::string> names;
    if (H5Lexists(f, group_name, H5P_DEFAULT) <= 0) return names;
    Handle group =
        h5::group_handle(H5Gopen2(f, group_name, H5P_DEFAULT), std::string("open /") + group_name);
    for (const std::string& name : h5::link_names(group.get())) {
      Handle dset = h5::dataset_handle(H5Dopen2(group.get(), name.c_str(), H5P_DEFAULT),
                                       "open /" + std::string(group_name) + "/" + name);
      if (H5DSis_scale(dset.get()) <= 0) names.push_back(name);
    }
    return names;
  };
  const std::vector<std::string> fields = fields_of("results");
  if (fields.empty()) throw IoError("'" + path + "' has no fields in /results");

  // Axes: one link in /axes each; their order is that of a field's leading dimensions.
  std::size_t ndims = 0;
  if (H5Lexists(f, "axes", H5P_DEFAULT) > 0) {
    Handle axes = h5::group_handle(H5Gopen2(f, "axes", H5P_DEFAULT), "open /axes");
    ndims = h5::link_names(axes.get()).size();
  }
  Handle first = h5::dataset_handle(H5Dopen2(f, ("results/" + fields.front()).c_str(), H5P_DEFAULT),
                                    "open /results/" + fields.front());
  std::vector<std::string> axis_names;
  if (shard && H5Lexists(f, "point", H5P_DEFAULT) > 0) {  // the order is /point's attribute
    Handle point = h5::dataset_handle(H5Dopen2(f, "point", H5P_DEFAULT), "open /point");
    const std::string keys = h5::read_string_attribute(point.get(), "axes");
    for (std::string_view key : text::split(keys, ' ')) {
      if (!key.empty()) axis_names.emplace_back(key);
    }
  }
  for (std::size_t d = 0; d < ndims && !shard; ++d) {
    char label[256] = {0};
    H5DSget_label(first.get(), static_cast<unsigned>(d), label, sizeof label);
    axis_names.push_back(label);
  }
  const std::size_t point_dims = shard ? 1 : ndims;  // a field's leading dimensions
  const auto values_of = [](hid_t dset) {
    if (h5::is_string_dataset(dset)) return h5::read_strings(dset);
    std::vector<std::string> values;
    Handle type = h5::type_handle(H5Dget_type(dset), "scale type");
    if (H5Tget_class(type.get()) == H5T_INTEGER) {
      for (std::int64_t v : h5::read_ints(dset)) values.push_back(std::to_string(v));
    } else {
      for (double v : h5::read_doubles(dset)) values.push_back(text::format_double(v));
    }
    return values;
  };
  out << "  grid: " << h5::read_int_attribute(f, "n_points") << " point(s)";
  if (table) {
    out << ", of which the point table holds " << rows;
  } else if (shard) {
    out << ", of which this shard holds "
        << attrs.integer("shard_end") - attrs.integer("shard_first");
  }
  if (axis_names.empty()) out << " (no axes)";
  out << "\n";
  for (const std::string& label : axis_names) {
    Handle axis = h5::dataset_handle(H5Dopen2(f, ("axes/" + label).c_str(), H5P_DEFAULT),
                                     "open /axes/" + label);
    const std::vector<std::string> values = values_of(axis.get());
    out << "    " << label << ": " << values.size()
        << " value(s) = " << h5::read_string_attribute(axis.get(), "expression");
    if (!values.empty()) out << "  [" << values.front() << " .. " << values.back() << "]";
    out << "\n";
  }
  // Trailing dimensions: the other scales at the root.
  std::vector<std::string> dims;
  for (const std::string& name : h5::link_names(f)) {
    if (std::find(axis_names.begin(), axis_names.end(), name) != axis_names.end()) continue;
    if (shard && name == "point") continue;
    H5O_info_t info{};
    if (H5Oget_info_by_name(f, name.c_str(), &info, H5P_DEFAULT) < 0 ||
        info.type != H5O_TYPE_DATASET) {
      continue;
    }
    Handle dset = h5::dataset_handle(H5Dopen2(f, name.c_str(), H5P_DEFAULT), "open /" + name);
    if (H5DSis_scale(dset.get()) <= 0) continue;
    const std::vector<std::string> values = values_of(dset.get());
    if (values.empty()) continue;
    dims.push_back(name + " (" + std::to_string(values.size()) + ": " + values.front() + " .. " +
                   values.back() + ")");
  }
  if (!dims.empty()) out << "  trailing dimensions: " << text::join(dims, ", ") << "\n";

  // Every field of /results, as the file declares it: counts per member for enums, a summary of
  // the finite values for scalar reals.
  for (const std::string& name : fields) {
    Handle dset = h5::dataset_handle(H5Dopen2(f, ("results/" + name).c_str(), H5P_DEFAULT),
                                     "open /results/" + name);
    const std::vector<std::string> members = h5::enum_members(dset.get());
    if (!members.empty()) {
      std::vector<std::size_t> count(members.size(), 0);
      std::vector<std::int64_t> codes = h5::read_ints(dset.get());
      codes.resize(std::min(codes.size(), rows));
      for (auto v : codes) {
        if (v >= 0 && static_cast<std::size_t>(v) < members.size()) {
          ++count[static_cast<std::size_t>(v)];
        }
      }
      out << "  " << name << ": ";
      for (std::size_t c = 0; c < members.size(); ++c) {
        out << (c ? ", " : "") << count[c] << " " << members[c];
      }
      out << "\n";
      continue;
    }
    Handle type = h5::type_handle(H5Dget_type(dset.get()), "type of /results/" + name);
    if (H5Tget_class(type.get()) != H5T_FLOAT ||
        h5::dataset_shape(dset.get()).size() != point_dims) {
      continue;
    }
    std::vector<double> finite;
    std::vector<double> all = h5::read_doubles(dset.get());
    all.resize(std::min(all.size(), rows));
    for (double v : all) {
      if (std::isfinite(v)) finite.push_back(v);
    }
    out << "  " << name << ": ";
    if (finite.empty()) {
      out << "no finite value\n";
      continue;
    }
    std::sort(finite.begin(), finite.end());
    char line[160];
    std::snprintf(line, sizeof line, "%zu finite, min %.4g, median %.4g, max %.4g\n", finite.size(),
                  finite.front(), finite[finite.size() / 2], finite.back());
    out << line;
  }
  const std::vector<std::string> traces = fields_of("traces");
  out << "  traces: " << (traces.empty() ? "none" : text::join(traces, ", ")) << "\n";
  return out.str();
}

}  // namespace symsweep
