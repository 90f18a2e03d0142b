// The parallel HDF5 result file. Layout and protocol: include/symsweep/store.hpp.
#include "symsweep/store.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ctime>
#include <exception>
#include <functional>
#include <limits>
#include <map>
#include <sstream>

#include <hdf5_hl.h>

#include "h5.hpp"
#include "sha256.hpp"
#include "symsweep/error.hpp"
#include "symsweep/version.hpp"
#include "text.hpp"

namespace symsweep {

namespace {

using h5::check_id;
using h5::check_status;
using h5::Handle;

enum class Elem { f64, i64, i32, status, outcome };
enum class Tail { none, conserved, records, records_conserved };

/// One dataset written per point. `extract` writes the point's tail_size values at dst.
struct Field {
  std::string path;  // e.g. "results/final_loss"
  Elem elem;
  Tail tail;
  std::string description;
  std::function<void(const PointResult&, int rank, std::size_t tail_size, void* dst)> extract;
};

template <class T>
void put_scalar(void* dst, T v) {
  std::memcpy(dst, &v, sizeof v);
}

/// Copies `src` into dst[0, n), padding with NaN.
void put_padded(void* dst, const std::vector<double>& src, std::size_t n) {
  auto* d = static_cast<double*>(dst);
  const std::size_t m = std::min(n, src.size());
  std::copy(src.begin(), src.begin() + static_cast<std::ptrdiff_t>(m), d);
  std::fill(d + m, d + n, std::numeric_limits<double>::quiet_NaN());
}

const std::vector<Field>& fields() {
  static const std::vector<Field> table = {
      {"results/status", Elem::status, Tail::none,
       "pending: not yet run; done: results written; failed: the point raised an error",
       [](const PointResult& r, int, std::size_t, void* d) { put_scalar(d, r.status); }},
      {"results/outcome", Elem::outcome, Tail::none,
       "converged: full-batch gradient norm <= optimizer.tol; diverged: |theta| > "
       "optimizer.divergence_bound or non-finite loss; moving: neither within optimizer.steps",
       [](const PointResult& r, int, std::size_t, void* d) { put_scalar(d, r.outcome); }},
      {"results/steps_run", Elem::i64, Tail::none, "SGD updates applied",
       [](const PointResult& r, int, std::size_t, void* d) { put_scalar(d, r.steps_run); }},
      {"results/diverged_at", Elem::i64, Tail::none,
       "the update after which divergence was seen; -1 if none",
       [](const PointResult& r, int, std::size_t, void* d) { put_scalar(d, r.diverged_at); }},
      {"results/final_loss", Elem::f64, Tail::none,
       "full-batch loss at the end (population loss in online mode); NaN if diverged",
       [](const PointResult& r, int, std::size_t, void* d) { put_scalar(d, r.final_loss); }},
      {"results/grad_norm", Elem::f64, Tail::none,
       "full-batch gradient norm of the objective with weight decay, at the end",
       [](const PointResult& r, int, std::size_t, void* d) { put_scalar(d, r.grad_norm); }},
      {"results/sharpness", Elem::f64, Tail::none,
       "largest eigenvalue of the full-batch Hessian of L at the end (weight decay excluded)",
       [](const PointResult& r, int, std::size_t, void* d) { put_scalar(d, r.sharpness); }},
      {"results/C_final", Elem::f64, Tail::conserved,
       "conserved quantity of gradient flow at the end, as a spectrum in descending order "
       "(linear2: eigenvalues of D = U^T U - W W^T); NaN-padded",
       [](const PointResult& r, int, std::size_t n, void* d) { put_padded(d, r.conserved, n); }},
      {"traces/loss", Elem::f64, Tail::records,
       "full-batch loss at /traces/step; NaN after the run stopped",
       [](const PointResult& r, int, std::size_t n, void* d) { put_padded(d, r.trace_loss, n); }},
      {"traces/C", Elem::f64, Tail::records_conserved,
       "conserved spectrum (as C_final) at /traces/step; NaN after the run stopped",
       [](const PointResult& r, int, std::size_t n, void* d) {
         put_padded(d, r.trace_conserved, n);
       }},
      {"run/seconds", Elem::f64, Tail::none, "wall time of the point (not deterministic)",
       [](const PointResult& r, int, std::size_t, void* d) { put_scalar(d, r.seconds); }},
      {"run/rank", Elem::i32, Tail::none, "MPI rank that ran the point (not deterministic)",
       [](const PointResult&, int rank, std::size_t, void* d) {
         put_scalar(d, static_cast<std::int32_t>(rank));
       }},
  };
  return table;
}

std::size_t elem_size(Elem e) {
  switch (e) {
    case Elem::f64:
    case Elem::i64:
      return 8;
    case Elem::i32:
      return 4;
    case Elem::status:
    case Elem::outcome:
      return 1;
  }
  return 0;
}

Handle enum_type(Elem e) {
  Handle t = h5::type_handle(H5Tenum_create(H5T_NATIVE_UINT8), "create enum type");
  const auto insert = [&](const char* name, std::uint8_t v) {
    check_status(H5Tenum_insert(t.get(), name, &v), std::string("enum member ") + name);
  };
  if (e == Elem::status) {
    for (Status s : {Status::pending, Status::done, Status::failed}) {
      insert(to_string(s), static_cast<std::uint8_t>(s));
    }
  } else {
    for (Outcome o : {Outcome::unknown, Outcome::converged, Outcome::diverged, Outcome::moving}) {
      insert(to_string(o), static_cast<std::uint8_t>(o));
    }
  }
  return t;
}

/// The HDF5 type of an element kind: native in memory, little-endian in the file (enums are one
/// byte, the same in both).
Handle elem_type(Elem e, bool in_file) {
  switch (e) {
    case Elem::f64:
      return h5::type_handle(H5Tcopy(in_file ? H5T_IEEE_F64LE : H5T_NATIVE_DOUBLE), "type");
    case Elem::i64:
      return h5::type_handle(H5Tcopy(in_file ? H5T_STD_I64LE : H5T_NATIVE_INT64), "type");
    case Elem::i32:
      return h5::type_handle(H5Tcopy(in_file ? H5T_STD_I32LE : H5T_NATIVE_INT32), "type");
    case Elem::status:
    case Elem::outcome:
      return enum_type(e);
  }
  return {};
}

}  // namespace

// ---------------------------------------------------------------------------------------- Impl
struct ResultStore::Impl {
  MPI_Comm comm = MPI_COMM_NULL;
  const Grid* grid = nullptr;
  SweepLayout layout;
  Handle file;
  Handle dxpl;  // collective transfer
  std::map<std::string, Handle> datasets;
  ResultStore::IoStats stats;
  bool collective = true;
  std::vector<std::size_t> offsets;  // per field, in a packed record
  std::size_t record_size = 0;

  std::vector<hsize_t> tail_dims(Tail t) const {
    const auto nc = static_cast<hsize_t>(layout.n_conserved);
    const auto nr = static_cast<hsize_t>(layout.n_records());
    switch (t) {
      case Tail::none:
        return {};
      case Tail::conserved:
        return {nc};
      case Tail::records:
        return {nr};
      case Tail::records_conserved:
        return {nr, nc};
    }
    return {};
  }

  /// A field exists in the file only when its trailing dimensions are non-empty.
  bool present(const Field& f) const {
    for (hsize_t d : tail_dims(f.tail)) {
      if (d == 0) return false;
    }
    return true;
  }

  std::vector<hsize_t> full_dims(Tail t) const {
    std::vector<hsize_t> dims(grid->shape().begin(), grid->shape().end());
    const auto tail = tail_dims(t);
    dims.insert(dims.end(), tail.begin(), tail.end());
    return dims;
  }

  std::size_t tail_size(const Field& f) const {
    std::size_t n = 1;
    for (hsize_t d : tail_dims(f.tail)) n *= d;
    return n;
  }

  /// The record of one point: its index, then the bytes of every present field, in fields()
  /// order. offsets[i] is the byte offset of fields()[i] (unused when absent).
  void plan_records() {
    offsets.assign(fields().size(), 0);
    record_size = sizeof(std::uint64_t);
    for (std::size_t i = 0; i < fields().size(); ++i) {
      if (!present(fields()[i])) continue;
      offsets[i] = record_size;
      record_size += tail_size(fields()[i]) * elem_size(fields()[i].elem);
    }
    record_size = (record_size + 7) / 8 * 8;
  }

  /// The rank that writes point p: ranks own contiguous, near-equal blocks of flat indices.
  int owner(std::uint64_t p, int ranks) const {
    __extension__ typedef unsigned __int128 u128;
    return static_cast<int>(static_cast<u128>(p) * static_cast<unsigned>(ranks) / grid->size());
  }

  /// File selection of the points in `indices` (sorted ascending) with their whole trailing
  /// blocks. A run of consecutive flat indices becomes at most 2 x ndims hyperslabs (HDF5 1.10
  /// takes superlinear time to OR many small hyperslabs, so runs are what keeps this fast).
  Handle select(Tail t, const std::vector<std::uint64_t>& indices) const {
    const auto dims = full_dims(t);
    const int rank = static_cast<int>(dims.size());
    Handle space = h5::space_handle(
        rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, dims.data(), nullptr),
        "file dataspace");
    if (indices.empty()) {
      check_status(H5Sselect_none(space.get()), "select none");
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
    for (std::size_t i = 0; i < indices.size();) {
      std::size_t j = i + 1;  // [indices[i], indices[j - 1]] is a run
      while (j < indices.size() && indices[j] == indices[j - 1] + 1) ++j;
      for (std::uint64_t a = indices[i], b = indices[j - 1] + 1; a < b;) {
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
      i = j;
    }
    return space;
  }

  /// Collective write of field i for the records in `records` (sorted by index).
  void write_field(std::size_t i, const std::vector<const unsigned char*>& records,
                   const std::vector<std::uint64_t>& indices, std::map<Tail, Handle>& selections) {
    const Field& f = fields()[i];
    const std::size_t bytes = tail_size(f) * elem_size(f.elem);
    std::vector<unsigned char> buf(std::max<std::size_t>(1, records.size() * bytes));
    for (std::size_t k = 0; k < records.size(); ++k) {
      std::memcpy(buf.data() + k * bytes, records[k] + offsets[i], bytes);
    }
    auto sel = selections.find(f.tail);
    if (sel == selections.end()) sel = selections.emplace(f.tail, select(f.tail, indices)).first;
    const hsize_t n = std::max<hsize_t>(1, records.size() * tail_size(f));
    Handle mem_space = h5::space_handle(H5Screate_simple(1, &n, nullptr), "memory dataspace");
    if (records.empty()) check_status(H5Sselect_none(mem_space.get()), "select none");
    Handle type = elem_type(f.elem, false);
    check_status(H5Dwrite(datasets.at(f.path).get(), type.get(), mem_space.get(), sel->second.get(),
                          dxpl.get(), buf.data()),
                 "write /" + f.path);
    H5D_mpio_actual_io_mode_t mode = H5D_MPIO_NO_COLLECTIVE;
    check_status(H5Pget_mpio_actual_io_mode(dxpl.get(), &mode), "query the I/O mode");
    ++stats.writes;
    if (collective && mode == H5D_MPIO_NO_COLLECTIVE) ++stats.not_collective;
  }

  void flush(const std::string& why) {
    check_status(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), "flush (" + why + ")");
  }
};

ResultStore::ResultStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ResultStore::ResultStore(ResultStore&&) noexcept = default;
ResultStore& ResultStore::operator=(ResultStore&&) noexcept = default;
ResultStore::~ResultStore() {
  // Closing a parallel file is collective. When an exception unwinds through here, the other
  // ranks are not closing it, so a close would hang: leave the ids to MPI_Abort instead.
  if (impl_ && std::uncaught_exceptions() > 0) {
    for (auto& [path, dset] : impl_->datasets) dset.abandon();
    impl_->dxpl.abandon();
    impl_->file.abandon();
  }
}

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

/// A 1-D dataset `name` under `parent` holding `values` (n of them, in memory type `mem`), written
/// from rank 0, made a dimension scale called `scale`, with a description. Collective.
Handle create_scale(hid_t parent, const std::string& name, hid_t file_type, hid_t mem,
                    const void* values, hsize_t n, const std::string& scale,
                    const std::string& description, int rank, hid_t dxpl) {
  Handle space = h5::space_handle(H5Screate_simple(1, &n, nullptr), "dataspace of " + name);
  Handle dset = h5::dataset_handle(H5Dcreate2(parent, name.c_str(), file_type, space.get(),
                                              H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                                   "create " + name);
  write_from_root(dset.get(), mem, values, n, rank, dxpl);
  check_status(H5DSset_scale(dset.get(), scale.c_str()), "make " + name + " a scale");
  h5::write_attribute(dset.get(), "description", description);
  return dset;
}

Handle create_group(hid_t parent, const char* name) {
  return h5::group_handle(H5Gcreate2(parent, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                          std::string("create group ") + name);
}

}  // namespace

ResultStore ResultStore::create(const std::string& path, MPI_Comm comm, const Grid& grid,
                                const SweepLayout& layout, const Provenance& prov,
                                const StoreOptions& options) {
  h5::init();
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  auto impl = std::make_unique<Impl>();
  impl->comm = comm;
  impl->grid = &grid;
  impl->layout = layout;
  const SweepSpec& spec = grid.spec();

  // 1. File access through MPI-IO; metadata reads and writes collective.
  Handle fapl = h5::plist_handle(H5Pcreate(H5P_FILE_ACCESS), "file access list");
  check_status(H5Pset_fapl_mpio(fapl.get(), comm, MPI_INFO_NULL), "set MPI-IO driver");
  check_status(H5Pset_all_coll_metadata_ops(fapl.get(), true), "collective metadata reads");
  check_status(H5Pset_coll_metadata_write(fapl.get(), true), "collective metadata writes");
  impl->file =
      h5::file_handle(H5Fcreate(path.c_str(), options.truncate ? H5F_ACC_TRUNC : H5F_ACC_EXCL,
                                H5P_DEFAULT, fapl.get()),
                      "create '" + path + "'");
  impl->dxpl = h5::plist_handle(H5Pcreate(H5P_DATASET_XFER), "transfer list");
  check_status(H5Pset_dxpl_mpio(impl->dxpl.get(),
                                options.collective ? H5FD_MPIO_COLLECTIVE : H5FD_MPIO_INDEPENDENT),
               "transfer mode");
  impl->collective = options.collective;
  const hid_t file = impl->file.get();
  const hid_t dxpl = impl->dxpl.get();

  // 2. Provenance.
  const std::string config = spec.config_text();
  h5::write_attribute(file, "format", std::string(kFormat));
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

  Handle axes_group = create_group(file, "axes");
  Handle results_group = create_group(file, "results");
  Handle traces_group;  // only when traces are recorded
  if (layout.n_records() > 0) traces_group = create_group(file, "traces");
  Handle run_group = create_group(file, "run");

  // 3. Axes as dimension scales. Integer parameters are stored as int64. netCDF readers (xarray's
  //    h5netcdf engine) see a dimension only in its own group and below, so the scales live at
  //    the root and /axes/<key> are hard links to them.
  std::vector<Handle> axis_sets;
  for (const AxisSpec& axis : grid.axes()) {
    const ParamDef& def = spec.schema()[static_cast<std::size_t>(spec.find(axis.key))];
    const hsize_t n = axis.values.size();
    const bool integral = def.kind == ParamKind::Integer;
    const std::vector<std::int64_t> integers =
        integral ? std::vector<std::int64_t>(axis.values.begin(), axis.values.end())
                 : std::vector<std::int64_t>{};
    Handle dset = integral ? create_scale(file, axis.key, H5T_STD_I64LE, H5T_NATIVE_INT64,
                                          integers.data(), n, axis.key, def.help, rank, dxpl)
                           : create_scale(file, axis.key, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                                          axis.values.data(), n, axis.key, def.help, rank, dxpl);
    check_status(H5Lcreate_hard(file, axis.key.c_str(), axes_group.get(), axis.key.c_str(),
                                H5P_DEFAULT, H5P_DEFAULT),
                 "link /axes/" + axis.key);
    h5::write_attribute(dset.get(), "expression", axis.text);
    axis_sets.push_back(std::move(dset));
  }

  // The index of the conserved spectrum, 0 .. n_conserved - 1 (a scale, so that every dimension
  // of every dataset has one).
  Handle k_set;
  if (layout.n_conserved > 0) {
    std::vector<std::int64_t> k(static_cast<std::size_t>(layout.n_conserved));
    for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::int64_t>(i);
    k_set = create_scale(file, "k", H5T_STD_I64LE, H5T_NATIVE_INT64, k.data(), k.size(), "k",
                         "index into a conserved spectrum (descending order)", rank, dxpl);
  }

  Handle step_set;
  if (layout.n_records() > 0) {
    step_set =
        create_scale(traces_group.get(), "step", H5T_STD_I64LE, H5T_NATIVE_INT64,
                     layout.record_steps.data(), layout.record_steps.size(), "step",
                     "SGD step of every trace record (before that step's update)", rank, dxpl);
  }

  // 4. Every per-point dataset at full size, filled with "not yet run" values.
  for (const Field& f : fields()) {
    if (!impl->present(f)) continue;
    const auto dims = impl->full_dims(f.tail);
    const int ndims = static_cast<int>(dims.size());
    Handle space = h5::space_handle(
        ndims == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(ndims, dims.data(), nullptr),
        "dataspace of /" + f.path);
    Handle dcpl = h5::plist_handle(H5Pcreate(H5P_DATASET_CREATE), "creation list");
    check_status(H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY), "early allocation");
    if (options.chunk_traces && f.path.rfind("traces/", 0) == 0 && ndims > 0) {
      std::vector<hsize_t> chunk(dims.size(), 1);  // one point's whole trace
      for (std::size_t d = grid.ndims(); d < dims.size(); ++d) chunk[d] = dims[d];
      check_status(H5Pset_chunk(dcpl.get(), ndims, chunk.data()), "chunk /" + f.path);
    }
    check_status(H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_ALLOC), "fill at allocation");
    Handle mtype = elem_type(f.elem, false);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const std::int64_t minus_one = -1;
    const std::int32_t minus_one32 = -1;
    const std::uint8_t zero = 0;  // pending / unknown
    const void* fill = f.elem == Elem::f64   ? static_cast<const void*>(&nan)
                       : f.elem == Elem::i64 ? static_cast<const void*>(&minus_one)
                       : f.elem == Elem::i32 ? static_cast<const void*>(&minus_one32)
                                             : static_cast<const void*>(&zero);
    check_status(H5Pset_fill_value(dcpl.get(), mtype.get(), fill), "fill value of /" + f.path);
    Handle ftype = elem_type(f.elem, true);
    Handle dset = h5::dataset_handle(H5Dcreate2(file, f.path.c_str(), ftype.get(), space.get(),
                                                H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                                     "create /" + f.path);
    h5::write_attribute(dset.get(), "description", f.description);
    for (std::size_t d = 0; d < grid.ndims(); ++d) {
      check_status(H5DSattach_scale(dset.get(), axis_sets[d].get(), static_cast<unsigned>(d)),
                   "attach axis to /" + f.path);
      check_status(H5DSset_label(dset.get(), static_cast<unsigned>(d), grid.axes()[d].key.c_str()),
                   "label /" + f.path);
    }
    auto d = static_cast<unsigned>(grid.ndims());
    if (f.tail == Tail::records || f.tail == Tail::records_conserved) {
      check_status(H5DSattach_scale(dset.get(), step_set.get(), d), "attach step scale");
      check_status(H5DSset_label(dset.get(), d++, "step"), "label step");
    }
    if (f.tail == Tail::conserved || f.tail == Tail::records_conserved) {
      check_status(H5DSattach_scale(dset.get(), k_set.get(), d), "attach k scale");
      check_status(H5DSset_label(dset.get(), d, "k"), "label spectrum");
    }
    impl->datasets.emplace(f.path, std::move(dset));
  }
  impl->plan_records();
  impl->flush("after creation");
  return ResultStore(std::move(impl));
}

// --------------------------------------------------------------------------------------- write
void ResultStore::write(const std::vector<PointResult>& points, int rank) {
  SYMSWEEP_VERIFY(impl_ && impl_->file.valid(), "write to a closed result file");
  Impl& im = *impl_;
  int ranks = 1;
  MPI_Comm_size(im.comm, &ranks);
  const std::size_t rs = im.record_size;

  // 1. Pack every point into a record, grouped by the rank that will write it.
  std::vector<int> send_count(static_cast<std::size_t>(ranks), 0);
  for (const auto& p : points) {
    SYMSWEEP_VERIFY(p.index < im.grid->size(), "point index out of range");
    ++send_count[static_cast<std::size_t>(im.owner(p.index, ranks))];
  }
  std::vector<int> send_offset(static_cast<std::size_t>(ranks), 0);
  for (std::size_t r = 1; r < send_offset.size(); ++r) {
    send_offset[r] = send_offset[r - 1] + send_count[r - 1];
  }
  std::vector<unsigned char> send(std::max<std::size_t>(1, points.size() * rs), 0);
  {
    std::vector<int> next = send_offset;
    for (const auto& p : points) {
      unsigned char* rec =
          send.data() +
          static_cast<std::size_t>(next[static_cast<std::size_t>(im.owner(p.index, ranks))]++) * rs;
      std::memcpy(rec, &p.index, sizeof p.index);
      for (std::size_t i = 0; i < fields().size(); ++i) {
        if (im.present(fields()[i]))
          fields()[i].extract(p, rank, im.tail_size(fields()[i]), rec + im.offsets[i]);
      }
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

  // 3. Data first, then (after a flush) the status that declares it valid.
  std::map<Tail, Handle> selections;
  std::size_t status = fields().size();
  for (std::size_t i = 0; i < fields().size(); ++i) {
    if (fields()[i].path == "results/status") {
      status = i;
    } else if (im.present(fields()[i])) {
      im.write_field(i, records, indices, selections);
    }
  }
  im.flush("data before status");
  im.write_field(status, records, indices, selections);
  im.flush("status");
}

ResultStore::IoStats ResultStore::io_stats() const {
  return impl_->stats;
}

void ResultStore::close() {
  if (!impl_ || !impl_->file.valid()) return;
  for (auto& [path, dset] : impl_->datasets) dset.close("close /" + path);
  impl_->datasets.clear();
  impl_->dxpl.close("close transfer list");
  impl_->file.close("close result file");
}

// ------------------------------------------------------------------------------------ describe
std::string describe_file(const std::string& path) {
  h5::init();
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    throw IoError("'" + path + "' is not an HDF5 file (or cannot be read)");
  }
  Handle file =
      h5::file_handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open '" + path + "'");
  const hid_t f = file.get();
  if (!h5::has_attribute(f, "format")) {
    throw IoError("'" + path + "' is an HDF5 file but not a symsweep result file (no format)");
  }
  const std::string format = h5::read_string_attribute(f, "format");
  std::ostringstream out;
  out << path << ": " << format << ", written by symsweep "
      << h5::read_string_attribute(f, "symsweep_version") << " ("
      << h5::read_string_attribute(f, "git_commit") << ")\n";
  const bool seed_swept = H5Lexists(f, "axes/sweep.seed", H5P_DEFAULT) > 0;
  out << "  sweep '" << h5::read_string_attribute(f, "name") << "', model "
      << h5::read_string_attribute(f, "model") << ", seed "
      << (seed_swept ? std::string("swept") : std::to_string(h5::read_int_attribute(f, "seed")))
      << ", created " << h5::read_string_attribute(f, "created_utc") << " on "
      << h5::read_int_attribute(f, "mpi_ranks") << " rank(s) x "
      << h5::read_int_attribute(f, "omp_threads") << " thread(s)\n";
  out << "  config sha256 " << h5::read_string_attribute(f, "config_sha256") << "\n";

  // Axes, in dataset dimension order (from the status dataset's labels).
  Handle status =
      h5::dataset_handle(H5Dopen2(f, "results/status", H5P_DEFAULT), "open /results/status");
  const auto shape = h5::dataset_shape(status.get());
  out << "  grid: " << h5::read_int_attribute(f, "n_points") << " point(s)";
  if (shape.empty()) out << " (no axes)";
  out << "\n";
  for (std::size_t d = 0; d < shape.size(); ++d) {
    char label[256] = {0};
    H5DSget_label(status.get(), static_cast<unsigned>(d), label, sizeof label);
    Handle axis =
        h5::dataset_handle(H5Dopen2(f, (std::string("axes/") + label).c_str(), H5P_DEFAULT),
                           std::string("open /axes/") + label);
    const auto values = h5::read_doubles(axis.get());
    out << "    " << label << ": " << values.size()
        << " value(s) = " << h5::read_string_attribute(axis.get(), "expression");
    if (!values.empty()) {
      out << "  [" << text::format_double(values.front()) << " .. "
          << text::format_double(values.back()) << "]";
    }
    out << "\n";
  }

  const auto counts = [&](const char* dataset, auto name_of, int n_values) {
    Handle dset = h5::dataset_handle(H5Dopen2(f, dataset, H5P_DEFAULT), dataset);
    const auto values = h5::read_ints(dset.get());
    std::vector<std::size_t> count(static_cast<std::size_t>(n_values), 0);
    for (auto v : values) {
      if (v >= 0 && v < n_values) ++count[static_cast<std::size_t>(v)];
    }
    std::string line;
    for (int v = 0; v < n_values; ++v) {
      line +=
          (v ? ", " : "") + std::to_string(count[static_cast<std::size_t>(v)]) + " " + name_of(v);
    }
    return line;
  };
  out << "  status: "
      << counts(
             "results/status", [](int v) { return to_string(static_cast<Status>(v)); }, 3)
      << "\n";
  out << "  outcome: "
      << counts(
             "results/outcome", [](int v) { return to_string(static_cast<Outcome>(v)); }, 4)
      << "\n";

  Handle loss = h5::dataset_handle(H5Dopen2(f, "results/final_loss", H5P_DEFAULT),
                                   "open /results/final_loss");
  std::vector<double> finite;
  for (double v : h5::read_doubles(loss.get())) {
    if (std::isfinite(v)) finite.push_back(v);
  }
  if (!finite.empty()) {
    std::sort(finite.begin(), finite.end());
    out << "  final_loss over " << finite.size() << " finite point(s): min "
        << text::format_double(finite.front()) << ", median "
        << text::format_double(finite[finite.size() / 2]) << ", max "
        << text::format_double(finite.back()) << "\n";
  }
  if (H5Lexists(f, "traces", H5P_DEFAULT) > 0 && H5Lexists(f, "traces/step", H5P_DEFAULT) > 0) {
    Handle step = h5::dataset_handle(H5Dopen2(f, "traces/step", H5P_DEFAULT), "open /traces/step");
    const auto steps = h5::read_ints(step.get());
    out << "  traces: " << steps.size() << " record(s), steps " << steps.front() << " .. "
        << steps.back() << "\n";
  } else {
    out << "  traces: none (record.every = 0)\n";
  }
  return out.str();
}

}  // namespace symsweep
