// A whole sweep through the library's run loop (run_sweep) with a model of the test's own, under
// real MPI-IO at any number of ranks (CTest runs np = 1, 2, 3): the model's scalar, vector, enum
// and trace fields, a vector-valued and a choice-valued axis, reach the file with the right
// shapes, fills, enums, descriptions and scales, though no library code names them.
//   mpiexec -np N symsweep_mpi_sweep_test OUT.h5
#include <gtest/gtest.h>
#include <hdf5_hl.h>
#include <mpi.h>

#include <cmath>
#include <cstdio>

#include "../common/mpi_gtest_main.hpp"
#include "../common/probe_model.hpp"
#include "h5.hpp"
#include "symsweep/sweep.hpp"
#include "symsweep/version.hpp"

namespace symsweep {
namespace {

std::string g_path;  // from the command line

const char* const kIni = R"(
[sweep]
name = probe_sweep
[model]
name = probe
[data]
n = 4
[optimizer]
eta = 0.2
batch = 4
steps = 400
tol = 1e-12
check_every = 10
[record]
every = 100
[axes]
model.x0 = -1 | 1, 2, 3
model.variant = left, right
sweep.seed = 0, 1
)";

h5::Handle open_dataset(hid_t file, const std::string& name) {
  return h5::dataset_handle(H5Dopen2(file, name.c_str(), H5P_DEFAULT), name);
}

std::string label(hid_t dset, unsigned d) {
  char buf[128] = {0};
  H5DSget_label(dset, d, buf, sizeof buf);
  return buf;
}

TEST(MpiSweep, ModelFieldsAndTypedAxesReachTheFile) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const SweepSpec spec = parse_spec(kIni, {"sweep.output=" + g_path});
  SweepOptions options;
  options.overwrite = true;
  const SweepSummary summary = run_sweep(spec, MPI_COMM_WORLD, options);
  EXPECT_TRUE(summary.ok());
  EXPECT_EQ(summary.path, g_path);
  ASSERT_GE(summary.outcome_names.size(), 2u);
  EXPECT_EQ(summary.outcome_names[1], "converged");
  EXPECT_EQ(summary.outcome_counts[1], 8);  // every point converged
  if (rank != 0) return;

  h5::init();
  h5::Handle file = h5::file_handle(H5Fopen(g_path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open");
  const hid_t f = file.get();

  // Axes of every kind: a vector axis and a choice axis as string scales, linked into /results.
  h5::Handle x0 = open_dataset(f, "axes/model.x0");
  EXPECT_EQ(h5::read_strings(x0.get()), (std::vector<std::string>{"-1", "1, 2, 3"}));
  EXPECT_EQ(h5::read_string_attribute(x0.get(), "_Encoding"), "utf-8");
  h5::Handle variant = open_dataset(f, "results/model.variant");
  EXPECT_EQ(h5::read_strings(variant.get()), (std::vector<std::string>{"left", "right"}));
  EXPECT_GT(H5DSis_scale(variant.get()), 0);

  // A vector field along the model's own dimension, NaN-padded where x0 is shorter.
  h5::Handle x = open_dataset(f, "results/probe_x");
  EXPECT_EQ(h5::dataset_shape(x.get()), (std::vector<hsize_t>{2, 2, 2, 3}));
  EXPECT_EQ(label(x.get(), 0), "model.x0");
  EXPECT_EQ(label(x.get(), 1), "model.variant");
  EXPECT_EQ(label(x.get(), 3), "probe_j");
  h5::Handle probe_j = open_dataset(f, "probe_j");
  EXPECT_GT(H5DSis_attached(x.get(), probe_j.get(), 3), 0);
  EXPECT_EQ(h5::read_ints(probe_j.get()), (std::vector<std::int64_t>{0, 1, 2}));
  EXPECT_EQ(h5::read_string_attribute(x.get(), "long_name"), "final theta");
  EXPECT_EQ(h5::read_string_attribute(x.get(), "description"),
            "theta at the end (NaN-padded to the longest x0)");
  const auto xs = h5::read_doubles(x.get());
  for (std::size_t p = 0; p < 4; ++p) {  // x0 = -1: one coordinate, then fill
    EXPECT_NEAR(xs[p * 3], -1.0, 1e-10);
    EXPECT_TRUE(std::isnan(xs[p * 3 + 1]) && std::isnan(xs[p * 3 + 2]));
  }
  for (std::size_t p = 4; p < 8; ++p) {
    for (std::size_t j = 0; j < 3; ++j) EXPECT_NEAR(xs[p * 3 + j], 1.0 + j, 1e-10);
  }

  // A scalar with units; an integer that proves each point saw its own choice.
  h5::Handle trace_a = open_dataset(f, "results/probe_trace_A");
  EXPECT_EQ(h5::read_string_attribute(trace_a.get(), "units"), "a.u.");
  EXPECT_EQ(h5::read_doubles(trace_a.get()),
            (std::vector<double>{1, 1, 1, 1, 3, 3, 3, 3}));  // trace of the identity, d = 1, 3
  h5::Handle code = open_dataset(f, "results/probe_variant");
  EXPECT_EQ(h5::read_ints(code.get()), (std::vector<std::int64_t>{0, 0, 1, 1, 0, 0, 1, 1}));
  {
    h5::Handle dcpl = h5::plist_handle(H5Dget_create_plist(code.get()), "creation list");
    std::int64_t fill = 0;
    ASSERT_GE(H5Pget_fill_value(dcpl.get(), H5T_NATIVE_INT64, &fill), 0);
    EXPECT_EQ(fill, -1);
  }

  EXPECT_EQ(h5::read_ints(open_dataset(f, "results/probe_d").get()),
            (std::vector<std::int64_t>{1, 1, 1, 1, 3, 3, 3, 3}));

  // An enum of the model's own: members from the declaration, CF attributes, values per point.
  h5::Handle side = open_dataset(f, "results/probe_side");
  EXPECT_EQ(h5::enum_members(side.get()),
            (std::vector<std::string>{"none", "negative", "positive"}));
  EXPECT_EQ(h5::read_string_attribute(side.get(), "flag_meanings"), "none negative positive");
  EXPECT_EQ(h5::read_ints(side.get()), (std::vector<std::int64_t>{1, 1, 1, 1, 2, 2, 2, 2}));

  // A trace of the model's own on the record schedule, with the step scale in /traces.
  h5::Handle norm = open_dataset(f, "traces/probe_norm");
  EXPECT_EQ(h5::dataset_shape(norm.get()), (std::vector<hsize_t>{2, 2, 2, 5}));
  EXPECT_EQ(label(norm.get(), 3), "step");
  h5::Handle step = open_dataset(f, "traces/step");
  EXPECT_EQ(h5::read_ints(step.get()), (std::vector<std::int64_t>{0, 100, 200, 300, 400}));
  EXPECT_EQ(h5::read_doubles(norm.get())[0], 0.0);  // theta starts at 0

  // The library's own fields are there too; the file declares its numerics.
  EXPECT_EQ(h5::read_int_attribute(f, "numerics_version"), kNumericsVersion);
  EXPECT_EQ(h5::enum_members(open_dataset(f, "results/status").get()),
            (std::vector<std::string>{"pending", "done", "failed"}));
}

}  // namespace
}  // namespace symsweep

int main(int argc, char** argv) {
  return symsweep::testing::mpi_test_main(
      argc, argv, [](std::string path) { symsweep::g_path = std::move(path); },
      [] { symsweep::testing::ProbeModel::ensure_registered(); });
}
