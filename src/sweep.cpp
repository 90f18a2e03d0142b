// The run loop of a sweep. See include/symsweep/sweep.hpp.
//
// Threads of a rank. MPI is initialised MPI_THREAD_FUNNELED: only the thread that initialised it
// (the caller of run_sweep) may call MPI, and symsweep lets only that thread call HDF5 too. That
// thread is the rank's *communication thread*, and it never computes a point: it starts
// OMP_NUM_THREADS worker threads (std::thread: a point runs on one of them from start to end) and
// then only agrees with the other ranks, writes checkpoints, reports, and at the end joins the
// workers. Workers call neither MPI nor HDF5; they hand finished points over in memory (held_,
// under a mutex) and never decide anything collective. Because the communication thread computes
// nothing, agreements keep ticking however long a point's set-up or final measurements take (a
// dense eigensolve at d = 4096 no longer blocks signals and checkpoints).
//
// Schedule (SweepOptions::schedule). Static: rank r runs points r, r + R, ... (a resume: the k-th
// point not done when k mod R = r) and its workers take them in turn. Dynamic (the default): every
// rank knows the whole sequence of points to run; rank 0's communication thread owns a cursor into
// it and hands out chunks [k, k + n) on request (the chunk rule: chunking.hpp); each rank's
// communication thread keeps a local queue of chunks that its workers take points from, and asks
// for the next chunk when a worker waits, or ahead of time for cheap points (chunking.hpp). Why
// rank 0's communication thread and point-to-point messages: it computes nothing, so no core goes
// to a master at any rank count, and it polls for requests every kPoll (1 ms, a condition-variable
// wait, not a spin) between agreements and inside them; MPI_Fetch_and_op on a window would need
// passive-target progress, which MPI implementations give only while the target calls MPI (or with
// an extra progress thread), and under FUNNELED only the communication thread could make those
// calls anyway. The requests and replies go over a communicator of their own (a duplicate), so they
// never meet the agreements' collectives. A request carries the rank's workers and its measured
// cost (points finished, their seconds); rank 0 sizes the chunk from the mean over all ranks. Each
// point is handed out once (one cursor); a point handed out but not computed when the run stops
// stays pending, for resume. At the end (the agreed last tick, or an agreed failure) every rank
// says goodbye to rank 0 after its last request, and rank 0 answers every request before it until
// it has every goodbye: no message is left in flight. Which rank computes a point changes no number
// (streams are keyed by the point's parameters), so both schedules write the same bits.
//
// Protocol (Runner::tick, the same on every rank; each step is collective):
//   0. (Dynamic) every 1 ms until then, and while waiting for the agreement: serve chunk
//      requests (rank 0) and refill the local queue; nothing here is collective.
//   1. Every 200 ms (kTick), or at once when the rank has nothing left to compute, each rank
//      contributes max(signal, checkpoint due, a worker failed) and sum(points finished) to two
//      MPI_Iallreduce, polled with 1 ms sleeps (a rank waiting for the others leaves its cores
//      to its workers).
//   2. Everything collective is decided from those agreed values only, never from local state
//      read after them (a worker's failure flag read after the agreement once sent one rank to
//      its final checkpoint while the others called the next agreement: a hang). stop = a signal
//      or a failed worker anywhere; last = stop, or every point finished.
//   3. last: the stop flag is set (workers stop taking points; the ones in progress reach a
//      cancellation point and throw Cancelled, cancel.hpp, and stay pending, never failed), the
//      workers are joined, and the final checkpoint writes what was finished. Else a checkpoint
//      when one is due anywhere.
// A failure of a checkpoint is agreed inside the store (collective.hpp): every rank stops alike.
// A worker's failure that is not a point's (a failed point that cannot be recorded) stops every
// rank at the next agreement and is rethrown on every rank after the final checkpoint.
// Signal to exit: at most one tick (200 ms) + the longest piece of a point between cancellation
// points + the final checkpoint and close (README, "Interruptions and resume", gives the
// measured figures).
#include "symsweep/sweep.hpp"

#include <omp.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "chunking.hpp"
#include "clock.hpp"
#include "collective.hpp"
#include "io_hints.hpp"
#include "lock.hpp"
#include "sha256.hpp"
#include "slurm_time.hpp"
#include "status.hpp"
#include "symsweep/cancel.hpp"
#include "symsweep/error.hpp"
#include "symsweep/grid.hpp"
#include "symsweep/refine.hpp"
#include "symsweep/schedule.hpp"
#include "symsweep/simulate.hpp"
#include "symsweep/store.hpp"
#include "symsweep/version.hpp"
#include "text.hpp"
#include "watchdog.hpp"

namespace fs = std::filesystem;

namespace symsweep {

void broadcast(std::string& s, MPI_Comm comm, int root) {
  unsigned long long n = s.size();
  MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, root, comm);
  s.resize(n);
  if (n > 0) MPI_Bcast(s.data(), static_cast<int>(n), MPI_CHAR, root, comm);
}

void collective_check(MPI_Comm comm, const std::function<void()>& fn) {
  agree(comm, fn);
}

namespace {

fs::path directory_of(const std::string& out) {
  const fs::path path(out);
  return path.has_parent_path() ? path.parent_path() : fs::path(".");
}

/// Checks that the output's directory exists and is writable (rank 0's view of the file
/// system). Throws ConfigError.
void check_directory(const std::string& out) {
  const fs::path dir = directory_of(out);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw ConfigError("sweep.output = '" + out + "': the directory '" + dir.string() +
                      "' does not exist; create it first");
  }
  if (::access(dir.c_str(), W_OK) != 0) {
    throw ConfigError("sweep.output = '" + out + "': the directory '" + dir.string() +
                      "' is not writable");
  }
}

/// Checks that the output may be written: not a directory, and new unless replacing. Throws
/// ConfigError.
void check_target(const std::string& out, bool overwrite) {
  const fs::path path(out);
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    throw ConfigError("sweep.output = '" + out + "': is a directory; name a file");
  }
  if (fs::exists(path, ec) && !overwrite) {
    throw ConfigError("sweep.output = '" + out +
                      "': the file exists; pass --overwrite to replace it (the old file is kept "
                      "until the new run completes) or choose another name with -o");
  }
}

/// Host names of all ranks, unique, in rank order of first appearance.
std::string gather_hosts(MPI_Comm comm, int rank, int ranks) {
  char name[MPI_MAX_PROCESSOR_NAME] = {0};
  int len = 0;
  MPI_Get_processor_name(name, &len);
  std::vector<char> all(rank == 0 ? static_cast<std::size_t>(ranks) * MPI_MAX_PROCESSOR_NAME : 1);
  MPI_Gather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all.data(), MPI_MAX_PROCESSOR_NAME, MPI_CHAR,
             0, comm);
  std::string hosts;
  if (rank == 0) {
    std::set<std::string> seen;
    for (int r = 0; r < ranks; ++r) {
      const std::string h(all.data() + static_cast<std::size_t>(r) * MPI_MAX_PROCESSOR_NAME);
      if (seen.insert(h).second) hosts += (hosts.empty() ? "" : ",") + h;
    }
  }
  broadcast(hosts, comm);
  return hosts;
}

/// This process's CPU from /proc/cpuinfo (its first processor): the model and the flags; on
/// ARM the implementer/part and the features. "unknown" where it cannot be read.
std::pair<std::string, std::string> cpu_of_this_host() {
  std::ifstream in("/proc/cpuinfo");
  std::string model, flags, implementer, part;
  for (std::string line; std::getline(in, line);) {
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) {
      if (!model.empty() || !flags.empty()) break;  // the first processor's block is over
      continue;
    }
    const std::string key(text::trim(std::string_view(line).substr(0, colon)));
    const std::string value(text::trim(std::string_view(line).substr(colon + 1)));
    if ((key == "model name" || key == "cpu model" || key == "cpu") && model.empty()) model = value;
    if ((key == "flags" || key == "Features") && flags.empty()) flags = value;
    if (key == "CPU implementer" && implementer.empty()) implementer = value;
    if (key == "CPU part" && part.empty()) part = value;
  }
  if (model.empty() && !implementer.empty()) {
    model = "CPU implementer " + implementer + ", part " + part;
  }
  return {model.empty() ? "unknown" : model, flags.empty() ? "unknown" : flags};
}

/// The flags of a /proc/cpuinfo flags line that name SIMD instruction sets.
std::string simd_flags(const std::string& flags) {
  std::string out;
  std::istringstream in(flags);
  for (std::string f; in >> f;) {
    if (f.rfind("sse", 0) == 0 || f.rfind("ssse", 0) == 0 || f.rfind("avx", 0) == 0 || f == "fma" ||
        f == "asimd" || f.rfind("sve", 0) == 0) {
      out += (out.empty() ? "" : " ") + f;
    }
  }
  return out.empty() ? "none" : out;
}

/// The CPU of every host, gathered from every rank to rank 0 and broadcast: the full text (one
/// line per distinct model and flags: "<hosts>: <model>; flags <flags>") and the short one
/// ("<model> [<SIMD flags>]" per distinct CPU, " | " between). Collective.
std::pair<std::string, std::string> gather_cpus(MPI_Comm comm, int rank, int ranks) {
  char name[MPI_MAX_PROCESSOR_NAME] = {0};
  int len = 0;
  MPI_Get_processor_name(name, &len);
  const auto [model, flags] = cpu_of_this_host();
  const std::string mine = std::string(name) + '\n' + model + '\n' + flags;
  int n = static_cast<int>(mine.size());
  std::vector<int> sizes(static_cast<std::size_t>(rank == 0 ? ranks : 1), 0);
  MPI_Gather(&n, 1, MPI_INT, sizes.data(), 1, MPI_INT, 0, comm);
  std::vector<int> offsets(sizes.size(), 0);
  for (std::size_t r = 1; r < sizes.size(); ++r) offsets[r] = offsets[r - 1] + sizes[r - 1];
  std::vector<char> all(
      static_cast<std::size_t>(rank == 0 ? std::max(1, offsets.back() + sizes.back()) : 1));
  MPI_Gatherv(mine.data(), n, MPI_CHAR, all.data(), sizes.data(), offsets.data(), MPI_CHAR, 0,
              comm);
  std::string full, short_text;
  if (rank == 0) {
    // (model, flags) -> hosts, in rank order of first appearance.
    std::vector<std::pair<std::pair<std::string, std::string>, std::vector<std::string>>> cpus;
    for (int r = 0; r < ranks; ++r) {
      const std::string entry(all.data() + offsets[static_cast<std::size_t>(r)],
                              static_cast<std::size_t>(sizes[static_cast<std::size_t>(r)]));
      const std::size_t a = entry.find('\n'), b = entry.find('\n', a + 1);
      const std::string host = entry.substr(0, a);
      const std::pair<std::string, std::string> cpu{entry.substr(a + 1, b - a - 1),
                                                    entry.substr(b + 1)};
      auto it =
          std::find_if(cpus.begin(), cpus.end(), [&](const auto& c) { return c.first == cpu; });
      if (it == cpus.end()) {
        cpus.push_back({cpu, {}});
        it = cpus.end() - 1;
      }
      if (std::find(it->second.begin(), it->second.end(), host) == it->second.end()) {
        it->second.push_back(host);
      }
    }
    for (const auto& [cpu, hosts] : cpus) {
      full += text::join(hosts, ",") + ": " + cpu.first + "; flags " + cpu.second + "\n";
      short_text +=
          (short_text.empty() ? "" : " | ") + cpu.first + " [" + simd_flags(cpu.second) + "]";
    }
  }
  broadcast(full, comm);
  broadcast(short_text, comm);
  return {full, short_text};
}

/// Whether the ranks of `comm` on this node run more worker threads than it has cores.
/// Collective.
bool node_oversubscribed(MPI_Comm comm) {
  MPI_Comm node = MPI_COMM_NULL;
  MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  int workers = std::max(omp_get_max_threads(), 1);
  MPI_Allreduce(MPI_IN_PLACE, &workers, 1, MPI_INT, MPI_SUM, node);
  // The cores the node's ranks may run on: the union of their affinity masks (a cgroup or a
  // SLURM allocation gives fewer than the node has).
  cpu_set_t mask;
  CPU_ZERO(&mask);
  if (sched_getaffinity(0, sizeof mask, &mask) != 0) CPU_ZERO(&mask);
  MPI_Allreduce(MPI_IN_PLACE, &mask, static_cast<int>(sizeof mask), MPI_BYTE, MPI_BOR, node);
  MPI_Comm_free(&node);
  long cores = CPU_COUNT(&mask);
  if (cores == 0) cores = ::sysconf(_SC_NPROCESSORS_ONLN);
  return cores > 0 && workers > cores;
}

/// The SLURM job this runs in ("<job>" or "<array job>_<task>"), or "".
std::string slurm_job() {
  const char* array = std::getenv("SLURM_ARRAY_JOB_ID");
  const char* task = std::getenv("SLURM_ARRAY_TASK_ID");
  if (array != nullptr && task != nullptr) return std::string(array) + "_" + task;
  const char* job = std::getenv("SLURM_JOB_ID");
  return job != nullptr ? job : "";
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

/// Every rank parsed the same config text; the axis values it computed must be the same bits
/// everywhere (they are: symsweep computes them without CPU-dispatched libm functions, so only a
/// different build on some node could make them differ). Checked rather than broadcast: a rank
/// that computes other axis values would compute other points too. Throws IoError on every rank.
void check_same_axes(const SweepSpec& spec, MPI_Comm comm, int rank) {
  std::string bits = spec.config_text();
  for (const AxisSpec& axis : spec.axes()) {
    for (const Value& v : axis.values) {
      bits += v.text;
      bits.append(reinterpret_cast<const char*>(v.numbers.data()),
                  v.numbers.size() * sizeof(double));
    }
  }
  std::string root = sha256_hex(bits);
  const std::string mine = root;
  broadcast(root, comm);
  const int differs = mine != root ? rank : -1;
  int first = -1;
  MPI_Allreduce(&differs, &first, 1, MPI_INT, MPI_MAX, comm);
  if (first >= 0) {
    throw IoError("rank " + std::to_string(first) +
                  " computed other axis values (or another resolved config) than rank 0 from "
                  "the same config text: is a different symsweep build running on its node?");
  }
}

// ------------------------------------------------------------------------------------ signals
// Any thread may take the signal (workers too); a lock-free atomic is async-signal-safe.
std::atomic<int> g_signal{0};
static_assert(std::atomic<int>::is_always_lock_free);

extern "C" void on_signal(int sig) {
  int none = 0;
  g_signal.compare_exchange_strong(none, sig);
}

const char* signal_name(int sig) {
  switch (sig) {
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    case SIGUSR1:
      return "SIGUSR1";
    default:
      return "a signal";
  }
}

/// Free bytes for an unprivileged user in the file system of `dir`; negative when unknown.
double free_bytes(const fs::path& dir) {
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) return -1;
  return static_cast<double>(st.f_bavail) * static_cast<double>(st.f_frsize);
}

/// Bytes of the result file of `grid` with `schema`, never less than the file (tests/e2e/
/// test_safety.py measures both over a spread of sweeps). What the store allocates (store.cpp,
/// ResultStore::create):
///   - raw data: every present field, contiguous, allocated at creation; counted as
///     record_bytes() per point (each field's slot rounded up to 8 bytes: an over-count for the
///     one-byte enums);
///   - metadata: the superblock and groups, the root attributes (config_text among them), per
///     field an object header with its fill value, type (an enum's members), description,
///     long_name, units, flag attributes, and a dimension list, a label and a back-reference per
///     dimension; per scale (axis or trailing dimension) its values, attributes and the list of
///     fields attached to it. The per-object sizes below are HDF5 1.10's, rounded up (measured:
///     34 datasets of a two-point linear2 sweep take 35 kB of metadata, 4.6 kB of it their
///     strings: about 0.9 kB a dataset besides its strings);
///   - the runs list (/provenance/runs): kRunsCapacity slots of run_record_bytes(), allocated at
///     creation like the fields, and its object headers; the build's and the hosts' attributes
///     (host_cpus: one line of /proc/cpuinfo flags per distinct CPU, counted as 8 kB);
///   - the 64 kB that ResultStore::create reserves past the data (fallocate) for the metadata
///     HDF5 writes there at its flushes (at close HDF5 cuts the file back to what it used, so a
///     finished file is smaller than what the run needed on disk).
/// The metadata is then counted 1.5 times (margin for the heap blocks HDF5 allocates ahead).
double file_bytes(const Grid& grid, const Schema& schema, const std::string& config_text) {
  const double points = static_cast<double>(grid.size());
  const double data = static_cast<double>(schema.record_bytes()) * points +
                      static_cast<double>(kRunsCapacity * run_record_bytes() + 8);
  double fields = 0, ndims_all = 0, meta = 8 << 10;  // superblock, root group, /axes, groups
  meta += 2.0 * static_cast<double>(config_text.size()) + 2048;  // root attributes
  meta += (8 << 10) + (4 << 10) + 2048;  // host_cpus; the build's attributes; /provenance
  for (FieldId id = 0; id < static_cast<FieldId>(schema.fields().size()); ++id) {
    if (!schema.present(id)) continue;
    const FieldDef& f = schema.field(id);
    const double ndims = static_cast<double>(grid.ndims() + f.dims.size());
    double strings = static_cast<double>(f.name.size() + f.long_name.size() + f.description.size() +
                                         f.units.size());
    for (const std::string& m : f.members) strings += 2.0 * static_cast<double>(m.size()) + 16;
    meta += 1024 + strings + 64 * ndims;
    fields += 1;
    ndims_all += ndims;
  }
  for (const AxisSpec& axis : grid.axes()) {
    meta += 1024 + static_cast<double>(axis.text.size() + axis.key.size()) +
            16.0 * static_cast<double>(axis.values.size());  // values (texts: references)
  }
  for (const DimDef& d : schema.dims()) {
    if (d.coords.empty()) continue;
    meta += 1024 + static_cast<double>(d.description.size()) +
            8.0 * static_cast<double>(d.coords.size());
  }
  meta += 32 * ndims_all + 64 * fields;  // scales' back-references, links to the scales per group
  return data + 1.5 * meta + (64 << 10);
}

// ------------------------------------------------------------------------------------ memory
/// Bytes a rank holds besides its points: the process as measured now (binary, MPI, HDF5's
/// libraries: its peak resident size so far) plus HDF5's metadata cache and MPI-IO's buffers
/// once the file is open and written (ROMIO's collective buffer, 16 MiB by default; HDF5's
/// metadata cache, 2 MiB at most by default; raw-data conversion buffers, 1 MiB): 24 MiB.
double base_memory_bytes() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024.0 + (24 << 20);
}

/// The memory of this node that a job may use: its physical memory, or the cgroup's limit
/// (v2 memory.max, v1 memory.limit_in_bytes) when lower. Negative when unknown.
double node_memory_bytes() {
  double bytes = -1;
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) bytes = static_cast<double>(pages) * static_cast<double>(page);
  for (const char* path :
       {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::ifstream in(path);
    std::string word;
    if (!(in >> word) || word == "max") continue;
    char* end = nullptr;
    const double limit = std::strtod(word.c_str(), &end);
    if (end != word.c_str() && limit > 0 && (bytes < 0 || limit < bytes)) bytes = limit;
  }
  return bytes;
}

/// A rank's memory: base + threads x (the largest point) + the finished points it holds between
/// checkpoints (twice that while writing them).
struct MemoryPlan {
  double base = 0;
  double point = -1;  ///< the largest point's bound (point_memory_bound); negative: unknown
  std::string where;  ///< the axis values of that point ("" when no axis changes it)
  int threads = 1;    ///< points run at once on a rank
  double held = 0;    ///< finished points held between checkpoints
  double rank() const { return base + threads * std::max(point, 0.0) + 2 * held; }
};

MemoryPlan memory_plan(const Grid& grid, const SweepFields& fields, int ranks, int threads,
                       const SweepOptions& options, double file) {
  MemoryPlan plan;
  plan.base = base_memory_bytes();
  const double per_rank = std::ceil(static_cast<double>(grid.size()) / std::max(ranks, 1));
  plan.threads = static_cast<int>(std::min<double>(std::max(threads, 1), per_rank));
  plan.held = std::min(file / std::max(ranks, 1), static_cast<double>(options.max_held_bytes));
  // The largest point: over the axes that can change a point's memory only (a grid of 10^10
  // seeds and step sizes has one memory).
  const auto sizes = [](const std::string& key) {
    return key.rfind("model.", 0) == 0 || key.rfind("data.", 0) == 0 ||
           key.rfind("record.", 0) == 0 || key == "optimizer.batch" || key == "optimizer.method";
  };
  const std::size_t record = fields.schema().record_bytes();
  grid.for_each_combination(sizes, [&](const ParamSet& params) {
    const double bound = point_memory_bound(params, record);
    if (bound <= plan.point) return;
    plan.point = bound;
    plan.where.clear();
    for (const AxisSpec& axis : grid.axes()) {
      if (!sizes(axis.key)) continue;
      plan.where +=
          (plan.where.empty() ? "" : ", ") + axis.key + " = " + params.value(axis.key).text;
    }
  });
  return plan;
}

/// Refuses a sweep one of whose points cannot fit in this node's memory even alone (its bound plus
/// the rank's base). Throws ConfigError.
void check_memory(const MemoryPlan& plan) {
  const double node = node_memory_bytes();
  if (node < 0 || plan.point < 0 || plan.base + plan.point <= node) return;
  throw ConfigError(
      "a point of this sweep" + (plan.where.empty() ? "" : " (at " + plan.where + ")") +
      " may need up to about " + text::format_bytes(plan.point) + " of memory, and a rank about " +
      text::format_bytes(plan.base) + " more, but this node has " + text::format_bytes(node) +
      " (its physical memory, or its cgroup's limit when lower); the rule: a point's memory "
      "bound (the model's parameters and buffers, the data set, the optimizer, the Hessian or "
      "Lanczos basis, the window of iterates) plus the base must fit in the node's memory. "
      "Shrink the point (model dimensions, data.n) or run on a node with more memory");
}

}  // namespace

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int sig : {SIGTERM, SIGINT, SIGUSR1}) sigaction(sig, &sa, nullptr);
}

int pending_signal() {
  return g_signal.load();
}

void request_interrupt(int signal) {
  g_signal = signal;
}

namespace {

/// A set of grid points as one bit per point, with the count of points before every block of
/// 512: 0.14 bytes a grid point whatever the pattern (a list of the points would take 8 a point).
/// The dynamic schedule's points to run on resume, held by every rank.
class PointBits {
 public:
  explicit PointBits(std::uint64_t grid_points) : words_((grid_points + 63) / 64, 0) {}
  void insert(std::uint64_t p) { words_[p / 64] |= std::uint64_t{1} << (p % 64); }
  /// Call once every point is inserted, before operator[].
  void index() {
    before_.clear();
    std::uint64_t n = 0;
    for (std::size_t w = 0; w < words_.size(); ++w) {
      if (w % kBlock == 0) before_.push_back(n);
      n += static_cast<std::uint64_t>(__builtin_popcountll(words_[w]));
    }
    size_ = n;
  }
  std::uint64_t size() const { return size_; }
  /// The k-th point of the set, in grid order (k < size()).
  std::uint64_t operator[](std::uint64_t k) const {
    // The last block with fewer than k + 1 points before it holds the point.
    const std::size_t block =
        static_cast<std::size_t>(std::upper_bound(before_.begin(), before_.end(), k) -
                                 before_.begin()) -
        1;
    std::uint64_t left = k - before_[block];
    for (std::size_t w = block * kBlock;; ++w) {
      std::uint64_t word = words_[w];
      const auto bits = static_cast<std::uint64_t>(__builtin_popcountll(word));
      if (left >= bits) {
        left -= bits;
        continue;
      }
      for (; left > 0; --left) word &= word - 1;  // drop the lowest set bits
      return w * 64 + static_cast<std::uint64_t>(__builtin_ctzll(word));
    }
  }

 private:
  static constexpr std::size_t kBlock = 8;  // words of 64 points
  std::vector<std::uint64_t> words_;
  std::vector<std::uint64_t> before_;
  std::uint64_t size_ = 0;
};

/// The points one rank runs, in order: rank, rank + R, ... of the grid (a fresh run), or the k-th
/// of the points not done when k mod R = rank (a resumed run); under the dynamic schedule, every
/// point of the grid (rank 0, 1 rank) or every point not done (PointBits), the same on every rank.
class RankPoints {
 public:
  RankPoints(std::uint64_t n_points, int rank, int ranks)
      : n_(n_points > static_cast<std::uint64_t>(rank)
               ? (n_points - static_cast<std::uint64_t>(rank) + static_cast<std::uint64_t>(ranks) -
                  1) /
                     static_cast<std::uint64_t>(ranks)
               : 0),
        rank_(static_cast<std::uint64_t>(rank)),
        ranks_(static_cast<std::uint64_t>(ranks)) {}
  explicit RankPoints(std::vector<std::uint64_t> list) : n_(list.size()), list_(std::move(list)) {}
  /// Points [first, end) (a shard's), point first + k on rank k mod R.
  RankPoints(std::uint64_t first, std::uint64_t end, int rank, int ranks)
      : RankPoints(end - first, rank, ranks) {
    rank_ += first;
  }
  explicit RankPoints(PointBits bits) : n_(bits.size()), bits_(std::move(bits)) {}
  std::uint64_t size() const { return n_; }
  std::uint64_t operator[](std::uint64_t k) const {
    if (bits_) return (*bits_)[k];
    return list_.empty() ? rank_ + k * ranks_ : list_[static_cast<std::size_t>(k)];
  }

 private:
  std::uint64_t n_ = 0, rank_ = 0, ranks_ = 1;
  std::vector<std::uint64_t> list_;
  std::optional<PointBits> bits_;
};

/// Test hook of the run loop's error path (tests/mpi/test_faults_mpi.cpp), beside the store's
/// (store.cpp): with SYMSWEEP_INJECT_FAULT=record:<rank>, recording a failed point fails on rank
/// <rank>, as running out of memory there would: a worker's failure that is not a point's.
void maybe_inject_record_fault(int rank) {
  const char* spec = std::getenv("SYMSWEEP_INJECT_FAULT");
  if (spec != nullptr && std::string(spec) == "record:" + std::to_string(rank)) {
    throw std::runtime_error(std::string("injected fault (SYMSWEEP_INJECT_FAULT=") + spec + ")");
  }
}

/// The run loop of one rank (the protocol every rank follows; see the top of this file).
/// Sets a flag for its lifetime, exceptions included.
class PauseWorkers {
 public:
  explicit PauseWorkers(std::atomic<bool>& flag) : flag_(flag) { flag_ = true; }
  ~PauseWorkers() { flag_ = false; }
  PauseWorkers(const PauseWorkers&) = delete;
  PauseWorkers& operator=(const PauseWorkers&) = delete;

 private:
  std::atomic<bool>& flag_;
};

/// Rank 0's writer of the status file (status.hpp): what stays fixed during the run, when it last
/// wrote, and one warning when the file cannot be written (the run goes on without it).
class StatusWriter {
 public:
  StatusWriter(std::string path, RunStatus fixed, std::vector<std::string> outcome_names,
               long long to_run)
      : path_(std::move(path)),
        status_(std::move(fixed)),
        names_(std::move(outcome_names)),
        to_run_(to_run) {}

  /// Rewrites the file when `every` seconds passed since the last write, or `now`.
  void update(const std::string& state, long long finished, const std::vector<long long>& by_code,
              long checkpoints, double elapsed, bool now) {
    const auto t = std::chrono::steady_clock::now();
    if (!now && written_ && t - last_ < std::chrono::duration<double>(status_.every)) return;
    last_ = t;
    written_ = true;
    status_.state = state;
    status_.done = status_.done_before + finished;
    status_.outcomes.clear();
    // Code 0 is the fill value of a point that did not run, never an outcome; the last, failed.
    for (std::size_t c = 1; c + 1 < by_code.size() && c < names_.size(); ++c) {
      status_.outcomes.emplace_back(names_[c], by_code[c]);
    }
    status_.failed = by_code.empty() ? 0 : by_code.back();
    status_.elapsed = elapsed;
    status_.rate = elapsed > 0 ? static_cast<double>(finished) / elapsed : 0;
    status_.seconds_left = state != "running" ? 0
                           : finished > 0 ? static_cast<double>(to_run_ - finished) / status_.rate
                                          : -1;
    status_.checkpoints = checkpoints;
    const std::time_t wall = std::time(nullptr);
    status_.heartbeat = wall;
    status_.heartbeat_utc = utc_text(wall);
    write();
  }
  /// A checkpoint begins: said at once (a reader allows it --io-timeout more before calling the
  /// heartbeat stale), and cleared when it ends.
  void checkpoint_begins() {
    status_.checkpoint_started = std::time(nullptr);
    status_.heartbeat = status_.checkpoint_started;
    status_.heartbeat_utc = utc_text(status_.heartbeat);
    const auto t = std::chrono::steady_clock::now();
    if (written_ && t - last_ >= std::chrono::seconds(1)) {  // checkpoints every 0.1 s: no storm
      last_ = t;
      write();
    }
  }
  void checkpointed() {
    status_.checkpoint_started = 0;
    status_.last_checkpoint_utc = utc_text(std::time(nullptr));
  }
  /// A refined sweep's next level: the points of the levels before count as done before it,
  /// and `to_run` more are to run.
  void next_level(long long finished_before, long long to_run) {
    status_.done_before += finished_before;
    status_.points += to_run;
    to_run_ = to_run;
  }
  /// The last write: the run's end.
  void finish(const std::string& state, const std::string& message, const std::string& file,
              long long finished, const std::vector<long long>& by_code, long checkpoints,
              double elapsed) {
    status_.message = message;
    status_.file = file;
    update(state, finished, by_code, checkpoints, elapsed, true);
  }

 private:
  void write() {
    try {
      write_status(path_, status_);
    } catch (const IoError& e) {
      if (!warned_) {
        text::write_stderr(std::string("symsweep: warning: ") + e.what() +
                           " (the run goes on without its status file)\n");
      }
      warned_ = true;
    }
  }

  std::string path_;
  RunStatus status_;
  std::vector<std::string> names_;
  long long to_run_;
  std::chrono::steady_clock::time_point last_;
  bool written_ = false;
  bool warned_ = false;
};

/// What is left of the SLURM allocation, read on rank 0 (one squeue call for the job, not one
/// per rank) and known to every rank. Collective.
std::optional<SlurmTimeLeft> shared_time_left(MPI_Comm comm) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  std::optional<SlurmTimeLeft> left = rank == 0 ? slurm_time_left() : std::nullopt;
  // 0: nothing known; 1: SLURM_JOB_END_TIME; 2: squeue.
  double sent[2] = {left ? (left->source == "squeue" ? 2.0 : 1.0) : 0.0,
                    left ? left->seconds : 0.0};
  MPI_Bcast(sent, 2, MPI_DOUBLE, 0, comm);
  if (sent[0] == 0) return std::nullopt;
  return SlurmTimeLeft{sent[1], sent[0] == 2 ? "squeue" : "SLURM_JOB_END_TIME"};
}

class Runner {
 public:
  Runner(const Grid& grid, const SweepFields& fields, ResultStore& store, const RankPoints& points,
         MPI_Comm comm, const SweepOptions& options, std::ostream* log,
         std::chrono::steady_clock::time_point t0, long long to_run, int workers,
         bool oversubscribed, StatusWriter* status)
      : grid_(grid),
        fields_(fields),
        store_(store),
        points_(points),
        comm_(comm),
        options_(options),
        log_(log),
        t0_(t0),
        to_run_(to_run),
        workers_(std::max(workers, 1)),
        oversubscribed_(oversubscribed),
        status_(status),
        long_point_(grid, shared_time_left(comm), false) {
    MPI_Comm_rank(comm, &rank_);
    MPI_Comm_size(comm, &ranks_);
    dynamic_ = options.schedule == Schedule::dynamic;
    counts_.assign(fields.schema().field(fields.core().outcome).members.size() + 1, 0);
    finished_by_code_.assign(counts_.size(), 0);
  }
  ~Runner() { stop_workers(); }
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  /// Runs this rank's points on the worker threads while this (the communication) thread agrees
  /// with the other ranks and checkpoints; returns when every rank's points are done, or all
  /// stopped (a signal, or a worker's failure), or a checkpoint failed (then rethrows that
  /// failure, on every rank alike).
  void run() {
    open_schedule();
    started_ = ended_ = last_tick_ = last_checkpoint_ = last_report_ =
        std::chrono::steady_clock::now();
    start_workers();
    try {
      while (tick()) {
      }
    } catch (...) {
      // Agreed on by every rank (the store's steps are): every rank stops here alike.
      error_ = std::current_exception();
    }
    stop_workers();
    close_schedule();
    if (error_) std::rethrow_exception(error_);
    // A worker's failure that is not a point's (out of memory while recording a failed point):
    // every rank learns it, after the others' work was checkpointed.
    agree(comm_, [&] {
      if (thread_error_) std::rethrow_exception(thread_error_);
    });
  }

  const std::vector<long long>& counts() const { return counts_; }  // outcomes, then failed
  /// Points finished by every rank at the last agreement, in all and per outcome code.
  long long finished_everywhere() const { return finished_everywhere_; }
  const std::vector<long long>& finished_by_code_everywhere() const {
    return finished_by_code_everywhere_;
  }
  long checkpoints() const { return checkpoints_; }
  int signal() const { return signal_; }
  /// When the workers started, and when every rank agreed that the run was over (the final
  /// checkpoint follows).
  std::chrono::steady_clock::time_point started() const { return started_; }
  std::chrono::steady_clock::time_point ended() const { return ended_; }
  /// Seconds between this rank's last worker ending and the end being agreed (this rank waiting
  /// for the others); 0 when the run was stopped before its workers ended.
  double idle_at_end() {
    const std::lock_guard<std::mutex> lock(mutex_);
    return idle_since_ && *idle_since_ < ended_
               ? std::chrono::duration<double>(ended_ - *idle_since_).count()
               : 0.0;
  }
  /// The wall seconds (/run/seconds) of the points this rank wrote at its checkpoints, summed.
  double point_seconds() const { return point_seconds_; }
  /// One line per cause of failed points on this rank: the message and the first points.
  const std::vector<std::pair<std::string, std::vector<std::uint64_t>>>& causes() const {
    return causes_;
  }

 private:
  // ------------------------------------------------------------------------ workers
  void start_workers() {
    active_ = workers_;
    for (int w = 0; w < workers_; ++w) {
      try {
        threads_.emplace_back([this] { work(); });
      } catch (...) {  // no thread: what the others do not run stays pending; all ranks stop
        const std::lock_guard<std::mutex> lock(mutex_);
        active_ -= workers_ - w;
        if (threads_.empty() && !thread_error_) thread_error_ = std::current_exception();
        break;
      }
    }
  }

  /// Cancels the points in progress and waits for the workers (at most the longest piece of a
  /// point that does not reach a cancellation point). Idempotent.
  void stop_workers() {
    stop_ = true;
    {
      const std::lock_guard<std::mutex> lock(mutex_);  // no worker misses the wake-up
    }
    fed_.notify_all();
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  /// Between the SGD loop's slices of a point: waits while this rank writes a checkpoint, and
  /// says whether to go on. The pause changes no number (a slice boundary is no event of the run).
  bool proceed() const {
    while (pause_.load() && !stop_.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return !stop_.load();
  }

  /// A worker thread: takes this rank's points in turn until there are none left or the ranks
  /// agreed to stop. Calls neither MPI nor HDF5. Nothing leaves it: a failure is handed to the
  /// communication thread, which makes every rank learn it at the next agreement.
  void work() {
    const CancelScope cancel(&stop_);
    try {
      for (;;) {
        if (stop_.load()) break;
        const std::optional<std::uint64_t> k = take();
        if (!k) break;
        std::optional<PointResult> result = compute(points_[*k]);
        if (!result) break;  // cancelled: the point stays pending, to be run on resume
        result->values.set_integer(fields_.core().rank, rank_);
        const double seconds = result->values.real(fields_.core().seconds);
        const std::size_t bytes =
            sizeof(PointResult) + fields_.schema().record_bytes() + result->error.size();
        const std::size_t code = result->values.code(fields_.schema().status_field()) ==
                                         static_cast<std::uint8_t>(Status::failed)
                                     ? finished_by_code_.size() - 1
                                     : result->values.code(fields_.core().outcome);
        const std::lock_guard<std::mutex> lock(mutex_);
        held_.push_back(std::move(*result));
        held_bytes_ += bytes;
        ++finished_here_;
        ++finished_by_code_[code];
        if (std::isfinite(seconds)) cost_seconds_ += seconds;
      }
    } catch (...) {  // the point stays pending; the ranks stop at the next agreement
      const std::lock_guard<std::mutex> lock(mutex_);
      if (!thread_error_) thread_error_ = std::current_exception();
    }
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (--active_ == 0) idle_since_ = std::chrono::steady_clock::now();
    }
    wake_.notify_all();
  }

  /// The index (into points_) of the next point for this worker, or nothing when this rank has
  /// no more (static: its points are taken; dynamic: rank 0 has none left, or the ranks stop).
  std::optional<std::uint64_t> take() {
    if (!dynamic_) {
      const std::uint64_t k = next_.fetch_add(1);
      return k < points_.size() ? std::optional<std::uint64_t>(k) : std::nullopt;
    }
    std::unique_lock<std::mutex> lock(mutex_);
    ++waiting_;
    fed_.wait(lock, [&] { return queued_ > 0 || exhausted_ || stop_.load(); });
    --waiting_;
    if (stop_.load() || queued_ == 0) return std::nullopt;
    auto& front = queue_.front();
    const std::uint64_t k = front.first++;
    if (front.first == front.second) queue_.pop_front();
    --queued_;
    return k;
  }

  /// Point `p`'s result (status failed when it threw), or nothing when it was cancelled. Throws
  /// only when a failed point cannot be recorded.
  std::optional<PointResult> compute(std::uint64_t p) {
    PointResult result;
    try {
      // The SGD loop checks the flag between slices; set-up and the final measurements reach
      // cancellation points inside their long loops (cancel.hpp).
      if (!simulate_point(
              grid_, fields_, p, [&] { return proceed(); }, result,
              [&](std::int64_t updates, double seconds) {  // the SLURM time check (slurm_time.hpp)
                if (long_point_.armed()) long_point_.running(updates, seconds);
              })) {
        return std::nullopt;
      }
    } catch (const Cancelled&) {
      return std::nullopt;
    } catch (...) {
      maybe_inject_record_fault(rank_);
      return failed_point(fields_, p, std::current_exception());
    }
    if (long_point_.armed()) {  // the SLURM time check, once (slurm_time.hpp)
      const SweepFields::Core& core = fields_.core();
      long_point_.observe(result.values.real(core.seconds), result.values.integer(core.steps_run),
                          grid_.params(p).integer("optimizer.steps"));
    }
    return result;
  }

  // ------------------------------------------------------------- the dynamic schedule
  // Called by the communication thread only (every MPI call is): see the top of this file.

  /// Every rank: the schedule's communicator and the workers of all ranks. Collective.
  void open_schedule() {
    if (!dynamic_) return;
    MPI_Comm_dup(comm_, &sched_);
    total_workers_ = workers_;
    MPI_Allreduce(MPI_IN_PLACE, &total_workers_, 1, MPI_INT, MPI_SUM, comm_);
    rank_costs_.assign(static_cast<std::size_t>(ranks_), {0.0, 0.0});
  }

  /// Every rank, after the last tick (or an agreed failure): no message left in flight. A rank
  /// other than 0 sends its goodbye after its last request (messages from one rank with one tag
  /// arrive in order) and waits for the answer to that request; rank 0 serves until it has every
  /// goodbye. Collective.
  void close_schedule() {
    if (!dynamic_ || sched_ == MPI_COMM_NULL) return;
    closing_ = true;
    if (rank_ == 0) {
      while (goodbyes_ < ranks_ - 1) {
        serve();
        if (goodbyes_ < ranks_ - 1) std::this_thread::sleep_for(kPoll);
      }
    } else {
      double bye[3] = {-1, 0, 0};
      MPI_Request request = MPI_REQUEST_NULL;
      MPI_Isend(bye, 3, MPI_DOUBLE, 0, kAsk, sched_, &request);
      for (;;) {
        int sent = 0, answered = 1;
        MPI_Test(&request, &sent, MPI_STATUS_IGNORE);
        if (asking_) MPI_Test(&answer_request_, &answered, MPI_STATUS_IGNORE);
        if (sent && answered) break;
        std::this_thread::sleep_for(kPoll);
      }
      if (asking_) MPI_Wait(&ask_request_, MPI_STATUS_IGNORE);
      asking_ = false;
    }
    MPI_Comm_free(&sched_);
  }

  /// The schedule's messages, polled: rank 0 answers the requests waiting; every rank takes the
  /// answer to its request and asks again when its queue runs low. Never blocks.
  void pump() {
    if (!dynamic_ || closing_) return;
    if (rank_ == 0) serve();
    refill();
  }

  /// Rank 0: answers every request waiting (a goodbye is counted).
  void serve() {
    for (;;) {
      int waiting = 0;
      MPI_Status status;
      MPI_Iprobe(MPI_ANY_SOURCE, kAsk, sched_, &waiting, &status);
      if (!waiting) return;
      double ask[3] = {0, 0, 0};  // the asker's workers (-1: goodbye), points finished, seconds
      MPI_Recv(ask, 3, MPI_DOUBLE, status.MPI_SOURCE, kAsk, sched_, MPI_STATUS_IGNORE);
      if (ask[0] < 0) {
        ++goodbyes_;
        continue;
      }
      rank_costs_[static_cast<std::size_t>(status.MPI_SOURCE)] = {ask[1], ask[2]};
      unsigned long long chunk[2];
      std::tie(chunk[0], chunk[1]) = allocate(static_cast<int>(ask[0]));
      // The asker posted its receive before asking: this send completes at once.
      MPI_Send(chunk, 2, MPI_UNSIGNED_LONG_LONG, status.MPI_SOURCE, kGive, sched_);
    }
  }

  /// Rank 0: the next chunk [first, first + count) of points_ for a rank of `workers` workers;
  /// count 0 when none is left or the run is ending.
  std::pair<std::uint64_t, std::uint64_t> allocate(int workers) {
    const std::uint64_t remaining = closing_ ? 0 : points_.size() - cursor_;
    double points = 0, seconds = 0;
    for (const auto& [n, s] : rank_costs_) {
      points += n;
      seconds += s;
    }
    const std::uint64_t count =
        chunk_points(remaining, total_workers_, workers, points > 0 ? seconds / points : 0.0);
    const std::uint64_t first = cursor_;
    cursor_ += count;
    return {first, count};
  }

  /// Every rank: takes the answer to its request, if it came; asks for a chunk when the rule says
  /// (chunking.hpp: a worker waits for a point, or cheap points run low), at this rank's mean cost.
  void refill() {
    if (asking_) {
      int answered = 0;
      MPI_Test(&answer_request_, &answered, MPI_STATUS_IGNORE);
      if (!answered) return;
      MPI_Wait(&ask_request_, MPI_STATUS_IGNORE);
      asking_ = false;
      receive(answer_[0], answer_[1]);
    }
    double finished = 0, seconds = 0;
    int workers = 0;  // the workers asked for (chunking.hpp: request_workers)
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (exhausted_) return;
      finished = static_cast<double>(finished_here_);
      seconds = cost_seconds_;
      workers =
          request_workers(queued_, waiting_, workers_, finished > 0 ? seconds / finished : 0.0);
    }
    if (workers == 0) return;
    if (rank_ == 0) {
      rank_costs_[0] = {finished, seconds};
      const auto [first, count] = allocate(workers);
      receive(first, count);
      return;
    }
    ask_[0] = workers;
    ask_[1] = finished;
    ask_[2] = seconds;
    MPI_Irecv(answer_, 2, MPI_UNSIGNED_LONG_LONG, 0, kGive, sched_, &answer_request_);
    MPI_Isend(ask_, 3, MPI_DOUBLE, 0, kAsk, sched_, &ask_request_);
    asking_ = true;
  }

  /// Every rank: a chunk into the local queue (count 0: rank 0 has no more).
  void receive(std::uint64_t first, std::uint64_t count) {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (count == 0) {
        exhausted_ = true;
      } else {
        queue_.emplace_back(first, first + count);
        queued_ += count;
      }
    }
    fed_.notify_all();
  }

  // ------------------------------------------------------------- communication thread
  /// One agreement of every rank on what comes next (two MPI_Iallreduce, polled with sleeps so
  /// that a waiting rank does not take a core from its workers), and what it decides: a
  /// checkpoint, or the end (the final checkpoint). Every decision comes from the agreed values
  /// only, so every rank takes the same branch and makes the same collective calls. Returns false
  /// once the run is over.
  bool tick() {
    // Every kTick; at once when this rank has nothing left to compute (it then waits for the
    // others inside the agreement). Dynamic: the schedule's messages every kPoll until then.
    for (;;) {
      pump();
      std::unique_lock<std::mutex> lock(mutex_);
      const auto until =
          dynamic_ ? std::min(last_tick_ + kTick, std::chrono::steady_clock::now() + kPoll)
                   : last_tick_ + kTick;
      if (wake_.wait_until(lock, until, [&] { return active_ == 0; })) break;
      if (std::chrono::steady_clock::now() >= last_tick_ + kTick) break;
    }
    const auto now = std::chrono::steady_clock::now();
    last_tick_ = now;
    std::size_t held_bytes = 0;
    // The points finished, then per outcome code (the last: failed), summed over the ranks.
    std::vector<long long> sum_part(1 + finished_by_code_.size());
    bool failed = false;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      held_bytes = held_bytes_;
      sum_part[0] = finished_here_;
      std::copy(finished_by_code_.begin(), finished_by_code_.end(), sum_part.begin() + 1);
      failed = thread_error_ != nullptr;
    }
    const double since = std::chrono::duration<double>(now - last_checkpoint_).count();
    // The signal, whether a checkpoint is due, whether a worker failed, the lowest rank holding
    // a SLURM time warning (as ranks - rank, 0 for none) (max over ranks); the points finished
    // (sum).
    long long max_part[4] = {
        pending_signal(),
        since >= options_.checkpoint_seconds || held_bytes >= options_.max_held_bytes, failed,
        long_point_.has_warning() ? ranks_ - rank_ : 0};
    MPI_Request requests[2];
    MPI_Iallreduce(MPI_IN_PLACE, max_part, 4, MPI_LONG_LONG, MPI_MAX, comm_, &requests[0]);
    MPI_Iallreduce(MPI_IN_PLACE, sum_part.data(), static_cast<int>(sum_part.size()), MPI_LONG_LONG,
                   MPI_SUM, comm_, &requests[1]);
    for (int done = 0; MPI_Testall(2, requests, &done, MPI_STATUSES_IGNORE), done == 0;) {
      pump();  // rank 0 serves the ranks still computing while it waits for them
      std::this_thread::sleep_for(kPoll);
    }
    finished_everywhere_ = sum_part[0];
    finished_by_code_everywhere_.assign(sum_part.begin() + 1, sum_part.end());
    if (max_part[3] != 0) {  // one SLURM time warning for the run: the lowest rank's
      long_point_.disarm();  // no rank decides again, and the others' warnings are dropped
      const std::string line = long_point_.take_warning();
      if (ranks_ - rank_ == max_part[3]) text::write_stderr(line);
    }
    const bool stopping = max_part[0] != 0 || max_part[2] != 0;
    const bool last = stopping || finished_everywhere_ == to_run_;
    if (max_part[0] != 0) signal_ = static_cast<int>(max_part[0]);
    if (last) {
      // Cancel what runs (bounded: cancel.hpp), then the final checkpoint holds every point
      // finished before the workers stopped. No chunk is handed out or asked for any more.
      closing_ = true;
      ended_ = std::chrono::steady_clock::now();
      stop_workers();
      checkpoint();
    } else if (max_part[1] != 0) {
      checkpoint();
    }
    report(last);
    if (!last) update_status(false);
    return !last;
  }

  /// Rank 0: the status file, from the agreed values (at most every status_seconds unless
  /// `now`). The final state is written by execute(), once the file is closed.
  void update_status(bool now) {
    if (status_ == nullptr) return;
    status_->update("running", finished_everywhere_, finished_by_code_everywhere_, checkpoints_,
                    seconds_since(started_), now);
  }

  void checkpoint() {
    std::vector<PointResult> batch;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      batch.swap(held_);
      held_bytes_ = 0;
    }
    if (status_ != nullptr) status_->checkpoint_begins();
    {
      // When the node's ranks x workers exceed its cores (3 ranks on 2 cores), the workers wait at
      // their next slice while the checkpoint's collective writes run: the MPI-IO collectives
      // poll, and sharing the cores with computing workers a checkpoint of a few points took
      // about 1 s instead of 20 ms. Elsewhere the workers go on (a checkpoint of 10^6 points
      // takes seconds, which paused workers would lose).
      const std::optional<PauseWorkers> pause =
          oversubscribed_ ? std::optional<PauseWorkers>(std::in_place, pause_) : std::nullopt;
      store_.write(batch);
    }
    last_checkpoint_ = std::chrono::steady_clock::now();
    ++checkpoints_;
    if (status_ != nullptr) status_->checkpointed();
    const FieldId status = fields_.schema().status_field();
    const FieldId outcome = fields_.core().outcome;
    const FieldId seconds = fields_.core().seconds;
    for (const PointResult& r : batch) {
      if (std::isfinite(r.values.real(seconds))) point_seconds_ += r.values.real(seconds);
      if (r.values.code(status) == static_cast<std::uint8_t>(Status::failed)) {
        ++counts_.back();
        auto c = std::find_if(causes_.begin(), causes_.end(),
                              [&](const auto& cause) { return cause.first == r.error; });
        if (c == causes_.end()) c = causes_.insert(causes_.end(), {r.error, {}});
        c->second.push_back(r.index);
      } else {
        ++counts_[r.values.code(outcome)];
      }
    }
  }

  /// The progress: a line every 5 s in a log; on a terminal, one line updated every second.
  void report(bool last) {
    if (!log_) return;
    const auto now = std::chrono::steady_clock::now();
    const auto period = std::chrono::seconds(options_.progress_in_place ? 1 : 5);
    if (!last && now - last_report_ < period) return;
    last_report_ = now;
    const double elapsed = seconds_since(t0_);
    const double share =
        to_run_ > 0 ? static_cast<double>(finished_everywhere_) / static_cast<double>(to_run_) : 1;
    char line[200];
    std::snprintf(line, sizeof line,
                  "[%8.1f s] %lld/%lld points (%.0f%%), %ld checkpoint(s), about %.0f s left",
                  elapsed, finished_everywhere_, to_run_, 100.0 * share, checkpoints_,
                  share > 0 ? elapsed * (1 - share) / share : 0.0);
    if (options_.progress_in_place) {
      *log_ << '\r' << line << "\033[K" << (last ? "\n" : "") << std::flush;
    } else {
      *log_ << line << std::endl;
    }
  }

  static constexpr std::chrono::milliseconds kTick{200};
  static constexpr std::chrono::milliseconds kPoll{1};  // dynamic: the schedule's poll
  static constexpr int kAsk = 1, kGive = 2;             // the schedule's message tags

  const Grid& grid_;
  const SweepFields& fields_;
  ResultStore& store_;
  const RankPoints& points_;
  MPI_Comm comm_;
  const SweepOptions& options_;
  std::ostream* log_;
  std::chrono::steady_clock::time_point t0_;
  long long to_run_;     // points to finish, all ranks together
  int workers_;          // worker threads of this rank
  bool oversubscribed_;  // this node's ranks x workers exceed its cores
  int rank_ = 0, ranks_ = 1;
  bool dynamic_ = false;  // Schedule::dynamic: points_ is every rank's whole sequence

  // Shared by the workers and the communication thread.
  std::atomic<std::uint64_t> next_{0};  // the next of points_ to take
  std::atomic<bool> stop_{false};       // set by the communication thread only, from agreed values
  std::atomic<bool> pause_{false};      // while the communication thread writes a checkpoint
  std::mutex mutex_;  // guards held_, held_bytes_, finished_here_(by_code_), thread_error_, active_
  std::condition_variable wake_;  // a worker ended
  std::exception_ptr thread_error_;
  std::vector<PointResult> held_;  // finished, not yet in the file
  std::size_t held_bytes_ = 0;
  long long finished_here_ = 0;
  std::vector<long long> finished_by_code_;  // finished_here_ per outcome code, then failed
  int active_ = 0;                           // workers not yet ended
  std::optional<std::chrono::steady_clock::time_point> idle_since_;  // the last worker ended
  double cost_seconds_ = 0;  // the /run/seconds of the points finished here, summed
  // Dynamic: the chunks received, not yet taken ([first, end) of points_), under mutex_.
  std::deque<std::pair<std::uint64_t, std::uint64_t>> queue_;
  std::uint64_t queued_ = 0;     // points in queue_
  bool exhausted_ = false;       // rank 0 has no chunk left for this rank
  int waiting_ = 0;              // workers waiting for a chunk
  std::condition_variable fed_;  // a chunk came, the chunks ended, or the ranks stop

  // The communication thread's own.
  // Dynamic schedule: its communicator; a request in flight; rank 0's cursor into points_, the
  // workers of all ranks, each rank's last reported cost (points, seconds), goodbyes received.
  MPI_Comm sched_ = MPI_COMM_NULL;
  bool closing_ = false;
  bool asking_ = false;
  double ask_[3] = {0, 0, 0};
  unsigned long long answer_[2] = {0, 0};
  MPI_Request ask_request_ = MPI_REQUEST_NULL, answer_request_ = MPI_REQUEST_NULL;
  std::uint64_t cursor_ = 0;
  int total_workers_ = 1;
  std::vector<std::pair<double, double>> rank_costs_;
  int goodbyes_ = 0;
  std::vector<std::thread> threads_;
  std::exception_ptr error_;
  std::chrono::steady_clock::time_point started_, ended_;
  std::chrono::steady_clock::time_point last_tick_, last_checkpoint_, last_report_;
  double point_seconds_ = 0;
  long long finished_everywhere_ = 0;
  long checkpoints_ = 0;
  int signal_ = 0;
  std::vector<long long> counts_;
  std::vector<long long> finished_by_code_everywhere_;
  std::vector<std::pair<std::string, std::vector<std::uint64_t>>> causes_;
  StatusWriter* status_;       // rank 0's, or nullptr
  LongPointCheck long_point_;  // a point longer than the SLURM time left (slurm_time.hpp)
};

/// Rank 0 renames `from` to `to`; every rank learns whether it worked. Throws IoError.
void rename_collectively(const std::string& from, const std::string& to, MPI_Comm comm, int rank) {
  std::string error;
  if (rank == 0) {
    std::error_code ec;
    fs::rename(from, to, ec);
    if (ec)
      error = "cannot rename " + text::quote(from) + " to " + text::quote(to) + ": " + ec.message();
  }
  broadcast(error, comm);
  if (!error.empty()) throw IoError(error);
}

/// A refined sweep's next level (refine.hpp), planned from the file once the points before it
/// are saved: its points (every rank's whole sequence, ascending), added to the file's table;
/// empty when the refinement is over. Collective.
using NextLevel = std::function<std::vector<std::uint64_t>()>;

/// The points of one level on this rank: every rank's whole sequence (dynamic), or the k-th
/// point when k mod R = rank (static).
RankPoints level_points(const std::vector<std::uint64_t>& all, bool dealt, int rank, int ranks) {
  if (!dealt) return RankPoints(all);
  std::vector<std::uint64_t> mine;
  for (std::size_t k = static_cast<std::size_t>(rank); k < all.size();
       k += static_cast<std::size_t>(ranks)) {
    mine.push_back(all[k]);
  }
  return RankPoints(std::move(mine));
}

/// The part of a run common to run_sweep and resume_sweep: the points, the checkpoints, the
/// close, the final rename (`path` -> `final_path` when they differ) and the summary. A refined
/// sweep (`next` not null) runs level after level while none is interrupted or has failed
/// points: the counts are the levels' together.
SweepSummary execute(const Grid& grid, const SweepFields& fields, ResultStore& store,
                     const RankPoints& points, long long to_run, long long done_before,
                     const std::string& path, const std::string& final_path, MPI_Comm comm,
                     const SweepOptions& options, std::chrono::steady_clock::time_point t0,
                     const NextLevel* next = nullptr) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  std::ostream* log = rank == 0 ? options.log : nullptr;
  int ranks = 1;
  MPI_Comm_size(comm, &ranks);
  std::optional<StatusWriter> status;
  if (options.status_seconds > 0) {
    RunStatus fixed;
    fixed.file = fs::absolute(path).string();
    fixed.sweep = grid.spec().name();
    fixed.points = to_run + done_before;  // the file's points (a shard's part)
    fixed.done_before = done_before;
    fixed.ranks = ranks;
    fixed.threads = std::max(omp_get_max_threads(), 1);
    fixed.hosts = gather_hosts(comm, rank, ranks);  // collective: every rank, before the points
    fixed.slurm_job = slurm_job();
    fixed.started_utc = utc_now();
    fixed.every = options.status_seconds;
    fixed.io_timeout = options.io_timeout_seconds;
    if (rank == 0) {
      status.emplace(status_path(final_path), std::move(fixed),
                     fields.schema().field(fields.core().outcome).members, to_run);
    }
  }
  StatusWriter* writer = status ? &*status : nullptr;
  // OMP_NUM_THREADS workers compute; this thread (the one that initialised MPI) communicates.
  const bool oversubscribed = node_oversubscribed(comm);
  std::optional<RankPoints> later;  // a refined sweep's later level
  std::optional<Runner> level;
  level.emplace(grid, fields, store, points, comm, options, log, t0, to_run, omp_get_max_threads(),
                oversubscribed, writer);
  Runner* current = &*level;
  // The levels before the current one, summed (a plain sweep has one).
  std::vector<long long> counts_before;
  std::vector<std::pair<std::string, std::vector<std::uint64_t>>> causes_before;
  long long finished_before = 0;
  long checkpoints_before = 0;
  double point_seconds_before = 0;
  const auto started = std::chrono::steady_clock::now();
  if (writer) writer->update("running", 0, {}, 0, 0, true);
  SweepSummary summary;
  // Any failure from here on (the points, the runs list, the close, the rename) ends the status
  // file "failed", with its message: a status left "running" would say the run died.
  const auto finished_everywhere = [&] { return finished_before + current->finished_everywhere(); };
  const auto checkpoints = [&] { return checkpoints_before + current->checkpoints(); };
  try {
    current->run();
    while (next != nullptr && current->signal() == 0) {
      // The next level only after a level with no failed point anywhere (a failed corner
      // decides nothing: resume runs it again, then refines).
      std::vector<long long> c = current->counts();
      MPI_Allreduce(MPI_IN_PLACE, c.data(), static_cast<int>(c.size()), MPI_LONG_LONG, MPI_SUM,
                    comm);
      if (c.back() > 0) break;
      std::vector<std::uint64_t> more = (*next)();
      if (more.empty()) break;
      if (counts_before.empty()) counts_before.assign(current->counts().size(), 0);
      for (std::size_t k = 0; k < counts_before.size(); ++k) {
        counts_before[k] += current->counts()[k];
      }
      causes_before.insert(causes_before.end(), current->causes().begin(), current->causes().end());
      const long long level_finished = current->finished_everywhere();
      finished_before += level_finished;
      checkpoints_before += current->checkpoints();
      point_seconds_before += current->point_seconds();
      to_run += static_cast<long long>(more.size());
      if (writer) writer->next_level(level_finished, static_cast<long long>(more.size()));
      if (log) {
        *log << "refinement: level of " << more.size() << " new point(s)" << std::endl;
      }
      level.reset();
      later.emplace(level_points(more, options.schedule == Schedule::static_, rank, ranks));
      level.emplace(grid, fields, store, *later, comm, options, log, t0,
                    static_cast<long long>(more.size()), omp_get_max_threads(), oversubscribed,
                    writer);
      current = &*level;
      current->run();
    }
    Runner& runner = *current;
    std::vector<std::pair<std::string, std::vector<std::uint64_t>>> causes = causes_before;
    causes.insert(causes.end(), runner.causes().begin(), runner.causes().end());
    for (const auto& [message, failed] : causes) {
      std::string list;
      for (std::size_t k = 0; k < std::min<std::size_t>(failed.size(), 5); ++k) {
        list += (k ? ", " : "") + std::to_string(failed[k]);
      }
      std::fprintf(stderr, "symsweep: rank %d: %zu point(s) failed (%s%s): %s\n", rank,
                   failed.size(), list.c_str(), failed.size() > 5 ? ", ..." : "",
                   text::quote(message, false, 400).c_str());
    }
    std::vector<long long> counts = runner.counts();
    for (std::size_t k = 0; k < counts_before.size(); ++k) counts[k] += counts_before[k];
    MPI_Allreduce(MPI_IN_PLACE, counts.data(), static_cast<int>(counts.size()), MPI_LONG_LONG,
                  MPI_SUM, comm);
    {
      // The runs list: how this run ended (a run killed, or stopped by an error, has no end).
      long long finished = 0;
      for (long long c : counts) finished += c;  // failed points included (the last count)
      std::string ended = "complete";
      if (runner.signal() != 0) {
        ended = std::string("interrupted by ") + signal_name(runner.signal());
      } else if (counts.back() > 0) {
        ended = std::to_string(counts.back()) + " point(s) failed";
      }
      std::string end = utc_now();
      broadcast(end, comm);
      store.end_run(end, ended, finished);
    }
    store.close();

    summary.points = to_run + done_before;  // the file's points (a shard's part)
    summary.done_before = done_before;
    summary.outcome_names = fields.schema().field(fields.core().outcome).members;
    summary.failed = counts.back();
    counts.pop_back();
    summary.outcome_counts = std::move(counts);
    long long saved = summary.failed;
    for (long long c : summary.outcome_counts) saved += c;
    summary.pending = summary.points - done_before - saved + summary.failed;
    summary.checkpoints = checkpoints();
    summary.signal = runner.signal();
    summary.path = path;
    // A complete run with no failed point replaces the file it was written for.
    if (path != final_path && summary.ok()) {
      rename_collectively(path, final_path, comm, rank);
      summary.path = final_path;
    }
  } catch (const std::exception& e) {
    if (writer) {
      writer->finish("failed", e.what(), fs::absolute(path).string(), finished_everywhere(),
                     current->finished_by_code_everywhere(), checkpoints(), seconds_since(started));
    }
    throw;
  }
  Runner& runner = *current;
  summary.seconds = seconds_since(t0);
  if (writer) {
    std::vector<long long> by_code = summary.outcome_counts;
    by_code.push_back(summary.failed);
    const std::string state = summary.interrupted() ? "interrupted"
                              : !summary.ok()       ? "failed"
                              : summary.pending > 0 ? "interrupted"
                                                    : "complete";
    std::string message;
    if (summary.interrupted()) {
      message = std::string("stopped by ") + signal_name(summary.signal) +
                "; continue with: symsweep resume " + final_path;
    } else if (!summary.ok()) {
      message = std::to_string(summary.failed) +
                " point(s) failed (status 'failed' in the file; resume runs them again)";
    }
    long long finished = summary.failed;
    for (long long c : summary.outcome_counts) finished += c;
    writer->finish(state, message, fs::absolute(summary.path).string(), finished, by_code,
                   summary.checkpoints, seconds_since(started));
  }
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  double peak_rss = static_cast<double>(usage.ru_maxrss) * 1024.0;  // Linux: kilobytes
  MPI_Allreduce(MPI_IN_PLACE, &peak_rss, 1, MPI_DOUBLE, MPI_MAX, comm);
  // Where the time went: the slowest rank's seconds before the workers started, after the ranks
  // agreed that the run was over, and in the store; the points' own seconds summed over ranks.
  const ResultStore::IoStats io = store.io_stats();
  double slowest[7] = {std::chrono::duration<double>(started - t0).count(),
                       seconds_since(runner.ended()),
                       io.open_seconds,
                       io.write_seconds,
                       io.close_seconds,
                       runner.idle_at_end(),
                       longest_watched_step()};
  MPI_Allreduce(MPI_IN_PLACE, slowest, 7, MPI_DOUBLE, MPI_MAX, comm);
  double inside = point_seconds_before + runner.point_seconds();
  MPI_Allreduce(MPI_IN_PLACE, &inside, 1, MPI_DOUBLE, MPI_SUM, comm);
  summary.hdf5_seconds = slowest[2] + slowest[3] + slowest[4];
  summary.point_seconds = inside;
  if (log) {
    const double workers = static_cast<double>(ranks) * std::max(omp_get_max_threads(), 1);
    char line[512];
    std::snprintf(line, sizeof line,
                  "time: %.3f s; HDF5 %.3f s (%.1f%%: the file %.3f s, %ld checkpoint(s) %.3f s, "
                  "close %.3f s; the longest collective step %.3f s); before the points %.3f s, "
                  "after them %.3f s, waiting for the other ranks at the end %.3f s; workers "
                  "inside points %.1f%% (the slowest rank's seconds; the points' own, summed)",
                  summary.seconds, summary.hdf5_seconds,
                  100 * summary.hdf5_seconds / std::max(summary.seconds, 1e-9), slowest[2],
                  summary.checkpoints, slowest[3], slowest[4], slowest[6], slowest[0], slowest[1],
                  slowest[5], 100 * inside / std::max(workers * summary.seconds, 1e-9));
    *log << line << std::endl;
    *log << (summary.interrupted() ? "interrupted: " : "done: ");
    // Code 0 is the fill value (a point that did not run): it is never a run's outcome.
    for (std::size_t c = 1; c < summary.outcome_counts.size(); ++c) {
      *log << summary.outcome_counts[c] << " " << summary.outcome_names[c] << ", ";
    }
    char took[32];
    std::snprintf(took, sizeof took, "%.2f s", summary.seconds);
    *log << summary.failed << " failed";
    if (done_before > 0) *log << " (" << done_before << " done before)";
    *log << "; wrote " << summary.path << " in " << took << "; peak memory of a rank "
         << text::format_bytes(peak_rss) << std::endl;
  }
  if (rank == 0 && summary.interrupted()) {
    std::fprintf(stderr,
                 "symsweep: interrupted by %s: %lld of %lld point(s) are saved in %s, %lld "
                 "pending; continue with: symsweep resume %s\n",
                 signal_name(summary.signal), summary.points - summary.pending, summary.points,
                 path.c_str(), summary.pending, final_path.c_str());
  } else if (rank == 0 && !summary.ok()) {
    std::fprintf(stderr, "symsweep: error: %lld point(s) failed (status 'failed' in %s)%s\n",
                 summary.failed, path.c_str(),
                 path != final_path ? ("; " + final_path + " was left unchanged").c_str() : "");
  }
  return summary;
}

/// Checks that the file system of `out` has room for `bytes`. Throws ConfigError.
void check_room(const std::string& out, double bytes) {
  // The tests of a real full disk skip this check, to reach the write that fails.
  if (std::getenv("SYMSWEEP_TEST_SKIP_ROOM_CHECK") != nullptr) return;
  const double free = free_bytes(directory_of(out));
  if (free >= 0 && bytes > free) {
    throw ConfigError("sweep.output = " + text::quote(out) + ": the file needs about " +
                      text::format_bytes(bytes) + " but its file system has " +
                      text::format_bytes(free) +
                      " free; free some space, write elsewhere (-o), or shrink the grid");
  }
}

Provenance make_provenance(const SweepOptions& options, MPI_Comm comm, int rank, int ranks,
                           int threads) {
  Provenance prov;
  prov.command_line = options.command_line;
  broadcast(prov.command_line, comm);
  prov.hosts = gather_hosts(comm, rank, ranks);
  std::tie(prov.host_cpus, prov.cpus) = gather_cpus(comm, rank, ranks);
  prov.created_utc = utc_now();
  broadcast(prov.created_utc, comm);
  prov.mpi_ranks = ranks;
  prov.omp_threads = threads;
  return prov;
}

int max_threads(MPI_Comm comm) {
  int threads = omp_get_max_threads();
  MPI_Allreduce(MPI_IN_PLACE, &threads, 1, MPI_INT, MPI_MAX, comm);  // provenance: the most
  return threads;
}

/// "sweep 'name': model m, N point(s) over key[n] x key[n]".
std::string sweep_line(const SweepSpec& spec, const Grid& grid) {
  std::string line = "sweep '" + spec.name() + "': model " + spec.model() + ", " +
                     std::to_string(grid.size()) + " point(s)";
  for (const auto& axis : grid.axes()) {
    line += (&axis == &grid.axes().front() ? " over " : " x ") + axis.key + "[" +
            std::to_string(axis.values.size()) + "]";
  }
  return line;
}

void log_sweep(std::ostream* log, const SweepSpec& spec, const Grid& grid, int ranks, int threads,
               const std::string& output, double bytes) {
  if (!log) return;
  *log << version_string() << "\n" << sweep_line(spec, grid);
  *log << "\nrunning on " << ranks << " rank(s) x " << threads << " thread(s); output " << output
       << " (about " << text::format_bytes(bytes) << ")" << std::endl;
}

/// The config text without its sweep.output line (where results go is not what they are).
std::vector<std::string> config_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::string section;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.front() == '[') section = line;
    if (section == "[sweep]" && line.rfind("output", 0) == 0) continue;
    lines.push_back(section + " " + line);
  }
  return lines;
}

/// The settings of a resolved config text, "[section] key" -> value, in the text's order, without
/// sweep.output (where results go is not what they are).
std::vector<std::pair<std::string, std::string>> config_entries(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> entries;
  std::string section;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const std::string_view t = text::trim(line);
    if (t.empty() || t.front() == '#') continue;
    if (t.front() == '[') {
      section = std::string(t);
      continue;
    }
    const std::size_t eq = t.find('=');
    const std::string key(text::trim(t.substr(0, std::min(eq, t.size()))));
    const std::string value(eq == std::string_view::npos ? "" : text::trim(t.substr(eq + 1)));
    if (section == "[sweep]" && key == "output") continue;
    entries.emplace_back(section + " " + key, value);
  }
  return entries;
}

/// How the config given differs from the file's, key by key ("" when they agree): at most
/// `shown` differences, then how many more.
std::string config_differences(const std::string& file_text, const std::string& given_text,
                               std::size_t shown = 5) {
  const auto file = config_entries(file_text);
  const auto given = config_entries(given_text);
  const auto find = [](const auto& entries, const std::string& key) -> const std::string* {
    for (const auto& [k, v] : entries) {
      if (k == key) return &v;
    }
    return nullptr;
  };
  std::vector<std::string> diffs;
  for (const auto& [key, value] : file) {
    const std::string* theirs = find(given, key);
    if (theirs == nullptr) {
      diffs.push_back(key + ": the file has " + value + ", the config given does not set it");
    } else if (*theirs != value) {
      diffs.push_back(key + ": the file has " + value + ", the config given has " + *theirs);
    }
  }
  for (const auto& [key, value] : given) {
    if (find(file, key) == nullptr) {
      diffs.push_back(key + ": the config given has " + value + ", the file does not set it");
    }
  }
  std::string out;
  for (std::size_t i = 0; i < std::min(diffs.size(), shown); ++i) out += "; " + diffs[i];
  if (diffs.size() > shown) out += "; and " + std::to_string(diffs.size() - shown) + " more";
  return out.empty() ? out : out.substr(2);
}

/// A refined sweep's levels over its point table (refine.hpp): every plan is made from the file
/// alone (the table, the status and refine.field), so a resumed sweep, and every rank, plans the
/// same levels as an uninterrupted one.
class Refinement {
 public:
  Refinement(const Grid& grid, const SweepFields& fields, RefineSpec refine)
      : refine_(std::move(refine)),
        geometry_(grid, refine_),
        field_(fields.schema().find(Group::results, refine_.field)) {}

  /// Level 0: its points, ascending, and their levels.
  std::pair<std::vector<std::uint64_t>, std::vector<int>> level0() const {
    return points_of(level0_locations(geometry_));
  }

  /// The next level planned from the file: its points, ascending, and their levels; empty when
  /// nothing is left to split (or a point of the table is not done). Reads only. Collective.
  std::pair<std::vector<std::uint64_t>, std::vector<int>> plan(ResultStore& store) const {
    const std::vector<std::uint64_t> flats = store.read_table();
    const std::vector<std::uint8_t> status = store.read_status();
    const std::vector<double> values = store.read_scalar(field_);
    std::unordered_map<std::uint64_t, std::uint64_t> row_of;
    RefineTable table;
    for (std::size_t r = 0; r < flats.size(); ++r) {
      row_of.emplace(flats[r], r);
      table.present.insert(geometry_.location_of(flats[r]));
    }
    for (std::uint64_t loc : table.present) {
      std::vector<double> v;
      for (std::uint64_t p : geometry_.flats(loc)) {
        const auto at = row_of.find(p);
        SYMSWEEP_VERIFY(at != row_of.end(), "a location in the table without all of its points");
        if (status[at->second] != static_cast<std::uint8_t>(Status::done)) return {};
        v.push_back(values[at->second]);
      }
      table.values.emplace(loc, std::move(v));
    }
    return points_of(plan_next_level(geometry_, refine_, table, refine_.budget - flats.size()));
  }

  /// plan(), added to the file's table: the NextLevel of execute().
  std::vector<std::uint64_t> next(ResultStore& store) const {
    auto [flats, levels] = plan(store);
    if (!flats.empty()) store.append_rows(flats, levels);
    return flats;
  }

  const RefineSpec& spec() const { return refine_; }

 private:
  std::pair<std::vector<std::uint64_t>, std::vector<int>> points_of(
      const std::vector<std::uint64_t>& locations) const {
    std::vector<std::pair<std::uint64_t, int>> rows;
    for (std::uint64_t loc : locations) {
      const int level = geometry_.level_of(loc);
      for (std::uint64_t p : geometry_.flats(loc)) rows.emplace_back(p, level);
    }
    std::sort(rows.begin(), rows.end());
    std::pair<std::vector<std::uint64_t>, std::vector<int>> out;
    for (const auto& [p, level] : rows) {
      out.first.push_back(p);
      out.second.push_back(level);
    }
    return out;
  }

  RefineSpec refine_;
  RefineGeometry geometry_;
  FieldId field_;
};

/// The [refine] section of a sweep with its field checked against the sweep's fields; nothing
/// for a plain sweep. Throws ConfigError on every rank.
std::optional<RefineSpec> checked_refine(const SweepSpec& spec, const SweepFields& fields,
                                         MPI_Comm comm) {
  std::optional<RefineSpec> refine;
  collective_check(comm, [&] {
    refine = refine_spec(spec);
    if (refine) check_refine_field(*refine, fields.schema());
  });
  return refine;
}

}  // namespace

SweepSummary run_sweep(const SweepSpec& spec, MPI_Comm comm, const SweepOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  int rank = 0, ranks = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &ranks);
  std::ostream* log = rank == 0 ? options.log : nullptr;
  const Watchdog watchdog(options.io_timeout_seconds, rank);
  check_same_axes(spec, comm, rank);
  const Grid grid(spec);
  const SweepFields fields(grid);
  // A shard: its part of the grid, into a file of its own (the config keeps the whole output).
  const bool shard = options.shard_count > 0;
  std::uint64_t first = 0, end = grid.size();
  collective_check(comm, [&] {
    if (!shard) return;
    if (options.shard_index >= options.shard_count || options.shard_count > grid.size()) {
      throw ConfigError("--shard " + std::to_string(options.shard_index) + "/" +
                        std::to_string(options.shard_count) +
                        ": must be i/N with 0 <= i < N <= the grid's " +
                        std::to_string(grid.size()) + " point(s)");
    }
    std::tie(first, end) = shard_range(grid.size(), options.shard_index, options.shard_count);
  });
  // A refined sweep: a point table of refine.budget rows.
  const std::optional<RefineSpec> refine = checked_refine(spec, fields, comm);
  collective_check(comm, [&] {
    if (shard && refine) {
      throw ConfigError("--shard " + std::to_string(options.shard_index) + "/" +
                        std::to_string(options.shard_count) +
                        ": a refined sweep ([refine] axes = " + spec.text("refine.axes") +
                        ") cannot be split into shards (each level is planned from the whole "
                        "previous one); run it as one job");
    }
  });
  if (refine) std::tie(first, end) = std::pair<std::uint64_t, std::uint64_t>(0, refine->budget);
  const std::string output =
      shard ? shard_output(spec.output(), options.shard_index, options.shard_count) : spec.output();
  const double table_bytes =
      refine ? static_cast<double>(refine->budget) * (12 + 8 * refine->axes.size()) : 0;
  const double bytes = file_bytes(grid, fields.schema(), spec.config_text()) -
                       static_cast<double>(fields.schema().record_bytes()) *
                           static_cast<double>(grid.size() - (end - first)) +
                       table_bytes;
  const int threads = max_threads(comm);

  // 1. The output: locked for this run (rank 0 holds the lock until it returns), writable, new
  //    unless replacing, with room for the whole file (written in full at creation: later
  //    checkpoints never need more space); and every point fits in the node's memory.
  OutputLock lock;
  int replacing = 0;
  collective_check(comm, [] { io_hints_from_environment(); });  // bad MPI-IO hints: before all
  collective_check(comm, [&] {
    if (rank != 0) return;
    check_directory(output);
    lock = OutputLock(output);
    try {
      check_target(output, options.overwrite);
      std::error_code ec;
      replacing = fs::exists(output, ec) ? 1 : 0;
      check_room(output, bytes);
      check_memory(memory_plan(grid, fields, ranks, threads, options, bytes));
    } catch (...) {
      lock.discard();
      throw;
    }
  });
  MPI_Bcast(&replacing, 1, MPI_INT, 0, comm);
  log_sweep(log, spec, grid, ranks, threads, output, bytes);

  // 2. The file, created collectively before any point runs, under a name of its own
  //    (<output>.creating), and renamed once valid: a new output to its path; a replacing run's to
  //    <output>.partial, where it stays until it completes, so that the old results survive a
  //    failed or interrupted run (and resume finds only valid side files).
  const std::string path = output + ".creating";
  const Provenance prov = make_provenance(options, comm, rank, ranks, threads);
  StoreOptions store_options;
  store_options.truncate = true;  // a stale side file of ours (we hold the lock) is replaced
  store_options.root_attributes = options.root_attributes;
  if (shard) {
    store_options.shard_index = options.shard_index;
    store_options.shard_count = options.shard_count;
    store_options.shard_first = first;
    store_options.shard_end = end;
  }
  if (refine) {
    store_options.table_rows = refine->budget;
    store_options.table_axes = refine->axes;
  }
  ResultStore store = [&] {
    try {
      return ResultStore::create(path, comm, grid, fields.schema(), prov, store_options);
    } catch (const SharedError& e) {  // every rank alike (agreed): remove what was made
      if (rank == 0) {
        std::error_code ec;
        fs::remove(path, ec);
      }
      // HDF5 and MPI-IO name the failed call, not always the cause: say when it is a full disk.
      const double free = free_bytes(directory_of(output));
      if (free >= 0 && free < bytes) {
        throw SharedError(std::string(e.what()) + " (the file system of " +
                          text::quote(directory_of(output).string()) +
                          " is full: " + text::format_bytes(free) + " free; the file needs about " +
                          text::format_bytes(bytes) + ")");
      }
      throw;
    }
  }();
  const std::string written = replacing ? output + ".partial" : output;
  rename_collectively(path, written, comm, rank);

  // 3. The points, checkpointed; then the summary.
  // Dynamic: every rank holds the whole sequence; rank 0 hands it out (Runner).
  const bool dealt = options.schedule == Schedule::static_;
  if (refine) {  // level 0 into the table, then level after level (execute)
    const Refinement refinement(grid, fields, *refine);
    const auto [flats, levels] = refinement.level0();
    store.append_rows(flats, levels);
    if (log) *log << "refinement: level 0 of " << flats.size() << " point(s)" << std::endl;
    const NextLevel next = [&] { return refinement.next(store); };
    const RankPoints mine = level_points(flats, dealt, rank, ranks);
    return execute(grid, fields, store, mine, static_cast<long long>(flats.size()), 0, written,
                   output, comm, options, t0, &next);
  }
  const RankPoints mine(first, end, dealt ? rank : 0, dealt ? ranks : 1);
  return execute(grid, fields, store, mine, static_cast<long long>(end - first), 0, written, output,
                 comm, options, t0);
}

SweepSummary resume_sweep(const std::string& file, const SweepSpec* given, MPI_Comm comm,
                          const SweepOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  int rank = 0, ranks = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &ranks);
  std::ostream* log = rank == 0 ? options.log : nullptr;
  const Watchdog watchdog(options.io_timeout_seconds, rank);

  // 1. Which file (an unfinished --overwrite run's .partial goes first), locked; its config.
  const std::string suffix = ".partial";
  const bool named_partial = file.size() > suffix.size() &&
                             file.compare(file.size() - suffix.size(), suffix.size(), suffix) == 0;
  const std::string final_path = named_partial ? file.substr(0, file.size() - suffix.size()) : file;
  std::string path = file;
  std::string config_text;
  std::string build_change;  // how this build differs from the file's ("": the same)
  std::string build_warning;
  OutputLock lock;
  std::optional<SweepSpec> spec;
  collective_check(comm, [] { io_hints_from_environment(); });  // bad MPI-IO hints: before all
  try {
    collective_check(comm, [&] {
      if (rank != 0) return;
      std::error_code ec;
      if (!named_partial && fs::exists(file + suffix, ec)) path = file + suffix;
      if (!fs::exists(path, ec)) {
        throw ConfigError(text::quote(file) +
                          ": no such file (symsweep resume continues a result "
                          "file that a run left unfinished)");
      }
      lock = OutputLock(final_path);
      const FileInfo info = read_file_info(path);
      if (info.numerics_version != kNumericsVersion) {
        throw ConfigError(text::quote(path) + ": its points were computed with numerics version " +
                          std::to_string(info.numerics_version) +
                          ", this symsweep computes version " + std::to_string(kNumericsVersion) +
                          " (other numbers from the same config): resume it with the symsweep "
                          "that wrote it (" +
                          info.symsweep_version + ", " + info.git_commit +
                          "), or run the sweep afresh");
      }
      config_text = info.config_text;
      // The build: a signature that differs changes bits, so it is refused unless allowed; a
      // compiler that differs alone is recorded and warned about.
      if (info.build_signature.empty()) {
        build_warning = text::quote(path) +
                        " records no build signature (written before symsweep recorded one): "
                        "whether this build computes the same bits is not checked";
        return;
      }
      const std::string diff = signature_difference(info.build_signature, build_signature());
      if (!diff.empty() && !options.allow_build_change) {
        throw ConfigError(text::quote(path) +
                          ": its points were computed by a build of another signature (the "
                          "file's -> this build's: " +
                          diff +
                          "): resume it with that build, or pass "
                          "--allow-build-change to mix builds (recorded in the file)");
      }
      const std::string now = compiler();
      const std::string compiler_change =
          info.compiler != now ? "compiler: " + info.compiler + " -> " + now : "";
      if (!diff.empty()) {
        build_change = diff + (compiler_change.empty() ? "" : "; " + compiler_change);
        build_warning = text::quote(path) + ": resuming with a build of another signature (" +
                        diff + "), as --allow-build-change asks; recorded in its runs list";
      } else if (!compiler_change.empty()) {
        build_change = compiler_change;
        build_warning = text::quote(path) + " was written by " + info.compiler +
                        ", this build is " + now +
                        " (the build signature is the same): resuming; the change is recorded "
                        "in its runs list";
      }
    });
    broadcast(path, comm);
    broadcast(config_text, comm);
    broadcast(build_change, comm);
    broadcast(build_warning, comm);
    if (rank == 0 && !build_warning.empty()) {
      text::write_stderr("symsweep: warning: " + build_warning + "\n");
    }
    if (log && path != file) {
      *log << "resuming the unfinished --overwrite run in " << path << " (it replaces " << file
           << " once complete)" << std::endl;
    }

    // 2. The spec, from the file's own config; a config given beside it must be the same.
    collective_check(comm, [&] {
      spec.emplace(
          parse_spec(config_text, {"sweep.output=" + final_path}, path + " (config_text)"));
      const auto stored = config_lines(config_text);
      if (config_lines(spec->config_text()) != stored) {
        throw ConfigError(text::quote(path) + ": this symsweep resolves the file's config_text " +
                          "differently from the symsweep that wrote it; resume it with that build");
      }
      if (given == nullptr) return;
      const std::string diffs = config_differences(config_text, given->config_text());
      if (!diffs.empty()) {
        throw ConfigError("the config given differs from the one " + text::quote(path) +
                          " was run with: " + diffs +
                          ". Resume without a config (the file's own is used), or run the "
                          "changed sweep into another output");
      }
    });
  } catch (const ConfigError&) {
    lock.discard();  // a refusal leaves nothing behind
    throw;
  }
  check_same_axes(*spec, comm, rank);
  const Grid grid(*spec);
  const SweepFields fields(grid);

  // 3. The file, opened by every rank; the points not done (static: dealt out in turn).
  StoreOptions open_options;
  open_options.skip_fields_added_since = true;
  ResultStore store = ResultStore::open(path, comm, grid, fields.schema(), open_options);
  if (rank == 0 && !store.skipped_fields().empty()) {
    std::cerr << "symsweep: note: " << text::quote(path) << " was written by a build (another "
              << "commit) without " << store.skipped_fields().size() << " field(s) this build "
              << "computes (" << text::join(store.skipped_fields(), ", ")
              << "): resume computes but does not store them, so every point of the file has "
              << "the same fields\n";
  }
  std::vector<std::uint64_t> mine;
  PointBits every(options.schedule == Schedule::static_ || store.is_table()
                      ? 0
                      : grid.size());  // dynamic: all ranks'
  long long todo = 0;
  // A refined sweep: the planned rows not done (an interrupted level), else the next level.
  std::optional<Refinement> refinement;
  std::vector<std::uint64_t> table_todo;
  std::pair<std::vector<std::uint64_t>, std::vector<int>> planned;
  long long table_done = 0;
  if (store.is_table()) {
    const std::optional<RefineSpec> refine = checked_refine(*spec, fields, comm);
    collective_check(comm, [&] {
      if (!refine) throw ConfigError(text::quote(path) + ": a point table without [refine]");
    });
    refinement.emplace(grid, fields, *refine);
    const std::vector<std::uint64_t> flats = store.read_table();
    const std::vector<std::uint8_t> status = store.read_status();
    for (std::size_t r = 0; r < flats.size(); ++r) {
      if (status[r] == static_cast<std::uint8_t>(Status::done)) {
        ++table_done;
      } else {
        table_todo.push_back(flats[r]);
      }
    }
    std::sort(table_todo.begin(), table_todo.end());
    if (table_todo.empty()) {
      planned = refinement->plan(store);
      table_todo = planned.first;
    }
    todo = static_cast<long long>(table_todo.size());
  } else {
    const std::vector<std::uint8_t> status = store.read_status();  // from range().first
    const std::uint64_t first = store.range().first;
    for (std::uint64_t k = 0; k < status.size(); ++k) {
      if (status[k] == static_cast<std::uint8_t>(Status::done)) continue;
      if (options.schedule != Schedule::static_) {
        every.insert(first + k);
      } else if (todo % ranks == rank) {
        mine.push_back(first + k);
      }
      ++todo;
    }
  }
  const auto [held_first, held_end] = store.range();  // the whole grid, or a shard's part
  const long long done_before =
      refinement ? table_done : static_cast<long long>(held_end - held_first) - todo;
  const int threads = max_threads(comm);
  if (todo > 0) {  // a resume with nothing to run writes nothing, and is not listed
    const Provenance prov = make_provenance(options, comm, rank, ranks, threads);
    RunRecord run;
    run.kind = "resume";
    run.start_utc = prov.created_utc;
    run.mpi_ranks = ranks;
    run.omp_threads = threads;
    run.points_done_before = done_before;
    run.hosts = prov.hosts;
    run.cpus = prov.cpus;
    run.symsweep_version = version();
    run.git_commit = git_commit();
    run.compiler = compiler();
    run.build_signature = build_signature();
    run.allow_build_change = options.allow_build_change ? 1 : 0;
    run.build_change = build_change;
    run.command_line = prov.command_line;
    store.begin_run(run);
  }
  if (log) {
    *log << version_string() << "\nresuming " << path << ": sweep '" << spec->name() << "', "
         << done_before << " of " << (refinement ? done_before + todo : held_end - held_first)
         << " point(s) done, " << todo << " to run on " << ranks << " rank(s) x " << threads
         << " thread(s)" << std::endl;
  }
  if (refinement) {
    if (!planned.first.empty()) {
      store.append_rows(planned.first, planned.second);
      if (log) {
        *log << "refinement: level of " << planned.first.size() << " new point(s)" << std::endl;
      }
    }
    const NextLevel next = [&] { return refinement->next(store); };
    const RankPoints points =
        level_points(table_todo, options.schedule == Schedule::static_, rank, ranks);
    return execute(grid, fields, store, points, todo, done_before, path, final_path, comm, options,
                   t0, &next);
  }
  every.index();
  const RankPoints points = options.schedule == Schedule::static_ ? RankPoints(std::move(mine))
                                                                  : RankPoints(std::move(every));
  return execute(grid, fields, store, points, todo, done_before, path, final_path, comm, options,
                 t0);
}

std::string shard_output(const std::string& output, std::uint64_t index, std::uint64_t count) {
  const std::string ext = ".h5";
  const bool h5 = output.size() > ext.size() &&
                  output.compare(output.size() - ext.size(), ext.size(), ext) == 0;
  const std::string stem = h5 ? output.substr(0, output.size() - ext.size()) : output;
  return stem + ".shard-" + std::to_string(index) + "-of-" + std::to_string(count) + ".h5";
}

std::string describe_plan(const SweepSpec& spec, int ranks, const SweepOptions& options) {
  const Grid grid(spec);
  const SweepFields fields(grid);
  const double per_point = static_cast<double>(fields.schema().record_bytes());
  // A shard's file holds its part only.
  const bool shard = options.shard_count > 0;
  if (shard && (options.shard_index >= options.shard_count || options.shard_count > grid.size())) {
    throw ConfigError("--shard " + std::to_string(options.shard_index) + "/" +
                      std::to_string(options.shard_count) +
                      ": must be i/N with 0 <= i < N <= the grid's " + std::to_string(grid.size()) +
                      " point(s)");
  }
  // A refined sweep's file holds its point table of refine.budget rows.
  std::optional<RefineSpec> refine = refine_spec(spec);
  if (refine) check_refine_field(*refine, fields.schema());
  const auto [first, end] = shard
                                ? shard_range(grid.size(), options.shard_index, options.shard_count)
                            : refine ? std::pair<std::uint64_t, std::uint64_t>{0, refine->budget}
                                     : std::pair<std::uint64_t, std::uint64_t>{0, grid.size()};
  const double bytes =
      file_bytes(grid, fields.schema(), spec.config_text()) -
      per_point * static_cast<double>(grid.size() - (end - first)) +
      (refine ? static_cast<double>(refine->budget) * (12 + 8 * refine->axes.size()) : 0);
  const std::string output =
      shard ? shard_output(spec.output(), options.shard_index, options.shard_count) : spec.output();
  const MemoryPlan mem = memory_plan(grid, fields, ranks, omp_get_max_threads(), options, bytes);
  std::ostringstream out;
  out << sweep_line(spec, grid);
  if (shard) {
    out << "\nshard " << options.shard_index << " of " << options.shard_count << ": points ["
        << first << ", " << end << ")";
  }
  if (refine) {
    const RefineGeometry geometry(grid, *refine);
    out << "\nrefined over " << text::join(refine->axes, " x ") << ": level 0 runs "
        << level0_locations(geometry).size() * geometry.per_location()
        << " point(s), then the cells whose corners disagree, halved up to " << refine->levels
        << " time(s); at most " << refine->budget << " point(s) (refine.budget)";
  }
  out << "\noutput " << output << ": at most about " << text::format_bytes(bytes) << " ("
      << text::format_bytes(per_point)
      << " per point, plus metadata), its disk blocks reserved when it is created\n";
  out << "memory per rank (" << ranks << " rank(s) x " << mem.threads
      << " thread(s)): at most about " << text::format_bytes(mem.rank()) << " = base "
      << text::format_bytes(mem.base) << " (MPI, HDF5, the program) + " << mem.threads << " x ";
  if (mem.point < 0) {
    out << "(unknown: model " << spec.model() << " declares no footprint)";
  } else {
    out << text::format_bytes(mem.point) << " per point"
        << (mem.where.empty() ? "" : " (the largest, at " + mem.where + ")");
  }
  out << " + 2 x " << text::format_bytes(mem.held)
      << " of finished points held between checkpoints (every " << options.checkpoint_seconds
      << " s, or sooner past " << text::format_bytes(static_cast<double>(options.max_held_bytes))
      << "; twice while writing them)\n";
  const double node = node_memory_bytes();
  if (node >= 0) {
    out << "node memory: " << text::format_bytes(node);
    if (mem.point >= 0 && mem.base + mem.point > node) {
      out << " -- a point does NOT fit: the run would refuse\n";
    } else if (static_cast<double>(ranks) * mem.rank() > node) {
      out << " -- " << ranks << " rank(s) on one node may not fit (fewer ranks or threads per "
          << "node)\n";
    } else {
      out << " (it fits)\n";
    }
  }
  const double free = free_bytes(directory_of(spec.output()));
  if (free < 0) {
    out << "free disk: unknown (" << directory_of(spec.output()).string() << " cannot be read)\n";
  } else {
    out << "free disk at " << directory_of(spec.output()).string() << ": "
        << text::format_bytes(free)
        << (bytes > free ? " -- the file does NOT fit: the run would refuse" : " (it fits)")
        << "\n";
  }
  return out.str();
}

}  // namespace symsweep
