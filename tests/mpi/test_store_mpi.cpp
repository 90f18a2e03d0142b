// The result store under real MPI-IO, at any number of ranks (CTest runs np = 1, 2, 3):
// scattered points from every rank, ranks with nothing to write, collective transfers, the
// status protocol, and H5F_ACC_EXCL. Usage: mpiexec -np N symsweep_mpi_store_test OUT.h5
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>

#include "../common/fake_result.hpp"
#include "../common/mpi_gtest_main.hpp"
#include "h5.hpp"
#include "symsweep/error.hpp"
#include "symsweep/store.hpp"

namespace symsweep {
namespace {

std::string g_path;  // from the command line

int rank_of() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
int ranks_of() {
  int n = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

const char* const kIni = R"(
[model]
name = linear2
h = 2
[data]
n = 8
[optimizer]
steps = 30
[record]
every = 10
[axes]
optimizer.eta = 0.1, 0.2, 0.3
optimizer.batch = 1, 2, 4, 8
sweep.seed = 0, 1
)";

struct Fixture {
  Fixture() : spec(parse_spec(kIni)), grid(spec), fields(grid) {}
  SweepSpec spec;
  Grid grid;
  SweepFields fields;
};

/// Point p's synthetic values, as written by `rank`.
PointResult fake(std::uint64_t p, const Fixture& fx, int rank = 0) {
  PointResult r = testing::fake_result(p, fx.fields);
  r.values.set_integer(fx.fields.core().rank, rank);
  return r;
}

StoreOptions truncating() {
  StoreOptions o;
  o.truncate = true;
  return o;
}

Provenance provenance() {
  Provenance p;
  p.command_line = "test_store_mpi";
  p.hosts = "test";
  p.created_utc = "2026-01-01T00:00:00Z";
  p.mpi_ranks = ranks_of();
  return p;
}

std::vector<double> read_doubles(hid_t file, const char* name) {
  h5::Handle d = h5::dataset_handle(H5Dopen2(file, name, H5P_DEFAULT), name);
  return h5::read_doubles(d.get());
}
std::vector<std::int64_t> read_ints(hid_t file, const char* name) {
  h5::Handle d = h5::dataset_handle(H5Dopen2(file, name, H5P_DEFAULT), name);
  return h5::read_ints(d.get());
}

/// Rank 0 reads the closed file serially and checks every point in `written` (others pending)
/// and that point p was recorded as written by rank writer(p).
void verify(const Fixture& fx, const std::vector<bool>& written,
            const std::function<int(std::uint64_t)>& writer) {
  if (rank_of() != 0) return;
  h5::Handle file = h5::file_handle(H5Fopen(g_path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open");
  const auto status = read_ints(file.get(), "results/status");
  const auto outcome = read_ints(file.get(), "results/outcome");
  const auto steps = read_ints(file.get(), "results/steps_run");
  const auto diverged = read_ints(file.get(), "results/diverged_at");
  const auto loss = read_doubles(file.get(), "results/final_loss");
  const auto c_final = read_doubles(file.get(), "results/C_final");
  const auto trace = read_doubles(file.get(), "traces/loss");
  const auto trace_c = read_doubles(file.get(), "traces/C");
  const auto rank = read_ints(file.get(), "run/rank");
  const SweepFields::Core& c = fx.fields.core();
  const std::size_t nc = fx.fields.schema().find_dim("k")->coords.size();
  const std::size_t nr = fx.fields.record_steps().size();
  ASSERT_EQ(status.size(), fx.grid.size());
  ASSERT_EQ(trace_c.size(), fx.grid.size() * nr * nc);
  for (std::uint64_t p = 0; p < fx.grid.size(); ++p) {
    const Record e = fake(p, fx).values;
    if (!written[p]) {
      // Never written: pending (and outcome unknown), which is what readers go by; the other
      // fields of a point that is not done hold nothing meaningful (store.hpp).
      EXPECT_EQ(status[p], 0) << "point " << p << " should be pending";
      EXPECT_EQ(outcome[p], 0) << "point " << p;
      continue;
    }
    EXPECT_EQ(status[p], 1) << "point " << p;
    EXPECT_EQ(outcome[p], e.code(c.outcome));
    EXPECT_EQ(steps[p], e.integer(c.steps_run));
    EXPECT_EQ(diverged[p], e.integer(c.diverged_at));
    EXPECT_EQ(loss[p], e.real(c.final_loss));
    EXPECT_EQ(rank[p], writer(p)) << "point " << p;
    for (std::size_t k = 0; k < nc; ++k) EXPECT_EQ(c_final[p * nc + k], e.real(c.conserved, k));
    for (std::size_t j = 0; j < nr; ++j) {
      EXPECT_EQ(trace[p * nr + j], e.real(c.trace_loss, j));
      for (std::size_t k = 0; k < nc; ++k) {
        EXPECT_EQ(trace_c[(p * nr + j) * nc + k], e.real(c.trace_conserved, j * nc + k));
      }
    }
  }
}

struct Variant {
  const char* name;
  bool collective;
  bool chunk_traces;
};
void PrintTo(const Variant& v, std::ostream* os) {
  *os << v.name;
}

class MpiStoreLayouts : public ::testing::TestWithParam<Variant> {};

TEST_P(MpiStoreLayouts, ScatteredPointsFromEveryRankLandInPlace) {
  const Fixture fx;
  const int rank = rank_of(), ranks = ranks_of();
  const std::uint64_t n = fx.grid.size();
  StoreOptions options = truncating();
  options.collective = GetParam().collective;
  options.chunk_traces = GetParam().chunk_traces;
  ResultStore store = ResultStore::create(g_path, MPI_COMM_WORLD, fx.grid, fx.fields.schema(),
                                          provenance(), options);
  // Round 1: p mod R, except the last three points. Round 2: the last rank alone writes those;
  // every other rank takes part with an empty selection.
  std::vector<PointResult> round1, round2;
  for (std::uint64_t p = static_cast<std::uint64_t>(rank); p < n - 3;
       p += static_cast<std::uint64_t>(ranks)) {
    round1.push_back(fake(p, fx, rank));
  }
  if (rank == ranks - 1) {
    for (std::uint64_t p = n - 1; p + 4 > n; --p) round2.push_back(fake(p, fx, rank));  // any order
  }
  store.write(round1);
  store.write(round2);
  const auto stats = store.io_stats();
  EXPECT_GT(stats.writes, 0);
  EXPECT_EQ(stats.not_collective, 0) << "a raw-data write fell back to independent I/O";
  store.close();
  MPI_Barrier(MPI_COMM_WORLD);
  verify(fx, std::vector<bool>(n, true), [&](std::uint64_t p) {
    return p + 3 >= n ? ranks - 1 : static_cast<int>(p % static_cast<std::uint64_t>(ranks));
  });
}

INSTANTIATE_TEST_SUITE_P(Variants, MpiStoreLayouts,
                         ::testing::Values(Variant{"Collective", true, false},
                                           Variant{"CollectiveChunkedTraces", true, true},
                                           Variant{"Independent", false, false}),
                         [](const ::testing::TestParamInfo<Variant>& p) { return p.param.name; });

TEST(MpiStore, UnwrittenPointsStayPending) {
  const Fixture fx;
  const int rank = rank_of(), ranks = ranks_of();
  const std::uint64_t n = fx.grid.size();
  ResultStore store = ResultStore::create(g_path, MPI_COMM_WORLD, fx.grid, fx.fields.schema(),
                                          provenance(), truncating());
  std::vector<PointResult> mine;
  std::vector<bool> written(n, false);
  for (std::uint64_t p = 0; p < n; ++p) {
    written[p] = p % 5 != 2;
    if (written[p] && static_cast<int>(p % static_cast<std::uint64_t>(ranks)) == rank) {
      mine.push_back(fake(p, fx, rank));
    }
  }
  store.write(mine);
  store.close();
  MPI_Barrier(MPI_COMM_WORLD);
  verify(fx, written,
         [&](std::uint64_t p) { return static_cast<int>(p % static_cast<std::uint64_t>(ranks)); });
}

/// `schema` as an earlier build declared it: the enum field `id` with its first `keep` members
/// only (the others added since).
Schema with_first_members(const Schema& schema, FieldId id, std::size_t keep) {
  Schema older;
  for (const DimDef& d : schema.dims()) older.add_dim(d);
  for (FieldId f = 0; f < static_cast<FieldId>(schema.fields().size()); ++f) {
    FieldDef def = schema.field(f);
    if (f == id) def.members.resize(keep);
    older.add(std::move(def));
  }
  older.set_status_field(schema.status_field());
  return older;
}

std::vector<std::string> members_in_file(const char* name) {
  h5::Handle file = h5::file_handle(H5Fopen(g_path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open");
  h5::Handle d = h5::dataset_handle(H5Dopen2(file.get(), name, H5P_DEFAULT), name);
  return h5::enum_members(d.get());
}

TEST(MpiStore, ResumesAFileWhoseEnumLacksTheMembersAddedSinceAndRefusesThoseValues) {
  const Fixture fx;
  const int rank = rank_of(), ranks = ranks_of();
  const std::uint64_t n = fx.grid.size();
  const FieldId outcome = fx.fields.core().outcome;
  const std::vector<std::string>& members = fx.fields.schema().field(outcome).members;
  ASSERT_GT(members.size(), 4u);
  // The file of an earlier build knows the outcome's codes 0, 1, 2; fake() gives 1 + p % 3.
  const Schema older = with_first_members(fx.fields.schema(), outcome, 3);
  ResultStore::create(g_path, MPI_COMM_WORLD, fx.grid, older, provenance(), truncating()).close();
  const auto mine = [&](auto keep) {
    std::vector<PointResult> out;
    for (std::uint64_t p = 0; p < n; ++p) {
      if (keep(p) && static_cast<int>(p % static_cast<std::uint64_t>(ranks)) == rank) {
        out.push_back(fake(p, fx, rank));
      }
    }
    return out;
  };
  {
    ResultStore store =
        ResultStore::open(g_path, MPI_COMM_WORLD, fx.grid, fx.fields.schema(), StoreOptions{});
    store.write(mine([](std::uint64_t p) { return p % 3 != 2; }));
    store.close();
  }
  {
    // A point with code 3 (a member the file lacks) stops the checkpoint on every rank, before
    // any of its points is written, and says which.
    ResultStore store =
        ResultStore::open(g_path, MPI_COMM_WORLD, fx.grid, fx.fields.schema(), StoreOptions{});
    try {
      store.write(mine([](std::uint64_t p) { return p % 3 == 2; }));
      ADD_FAILURE() << "a member the file lacks was written";
    } catch (const ConfigError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("/results/outcome is " + members[3] + ", a member added since"),
                std::string::npos)
          << what;
      EXPECT_NE(what.find(members[0] + ", " + members[1] + ", " + members[2] + ")"),
                std::string::npos)
          << what;
    }
    store.close();
  }
  MPI_Barrier(MPI_COMM_WORLD);
  std::vector<bool> written(n);
  for (std::uint64_t p = 0; p < n; ++p) written[p] = p % 3 != 2;
  verify(fx, written,
         [&](std::uint64_t p) { return static_cast<int>(p % static_cast<std::uint64_t>(ranks)); });
  if (rank == 0) {
    EXPECT_EQ(members_in_file("results/outcome"),
              std::vector<std::string>(members.begin(), members.begin() + 3));
  }
  MPI_Barrier(MPI_COMM_WORLD);

  // Members that are not the first of this build's (one renamed): another layout, refused.
  Schema renamed;
  for (const DimDef& d : older.dims()) renamed.add_dim(d);
  for (FieldId f = 0; f < static_cast<FieldId>(older.fields().size()); ++f) {
    FieldDef def = older.field(f);
    if (f == outcome) def.members[1] = "renamed";
    renamed.add(std::move(def));
  }
  renamed.set_status_field(older.status_field());
  ResultStore::create(g_path, MPI_COMM_WORLD, fx.grid, renamed, provenance(), truncating()).close();
  try {
    ResultStore::open(g_path, MPI_COMM_WORLD, fx.grid, fx.fields.schema(), StoreOptions{});
    ADD_FAILURE() << "a file whose members differ was opened";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("renamed"), std::string::npos) << e.what();
  }
}

TEST(MpiStore, RefusesToReplaceAnExistingFileWithoutTruncate) {
  const Fixture fx;
  {
    ResultStore store = ResultStore::create(g_path, MPI_COMM_WORLD, fx.grid, fx.fields.schema(),
                                            provenance(), truncating());
    store.close();
  }
  MPI_Barrier(MPI_COMM_WORLD);
  const auto size_before = std::filesystem::file_size(g_path);
  EXPECT_THROW(ResultStore::create(g_path, MPI_COMM_WORLD, fx.grid, fx.fields.schema(),
                                   provenance(), StoreOptions{}),
               IoError);
  MPI_Barrier(MPI_COMM_WORLD);
  EXPECT_EQ(std::filesystem::file_size(g_path), size_before);
}

}  // namespace
}  // namespace symsweep

int main(int argc, char** argv) {
  return symsweep::testing::mpi_test_main(
      argc, argv, [](std::string path) { symsweep::g_path = std::move(path); });
}
