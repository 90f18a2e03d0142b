// MPI-IO hints (io_hints.hpp) reach MPI-IO: SYMSWEEP_MPIIO_HINTS, through the file-access list
// every open of a result file uses (set_fapl_mpio_with_hints, store.cpp's mpio_access), are in
// HDF5's copy of the list and in the info of the MPI file HDF5 opens with it. Run under each of
// Open MPI's MPI-IO components (ompio, romio321: tests/CMakeLists.txt).
#include <gtest/gtest.h>
#include <hdf5.h>
#include <mpi.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "../common/mpi_gtest_main.hpp"
#include "io_hints.hpp"
#include "symsweep/error.hpp"

namespace symsweep {
namespace {

std::string g_path;

/// The value of `key` in `info`, "" when absent.
std::string info_value(MPI_Info info, const std::string& key) {
  char value[MPI_MAX_INFO_VAL + 1] = {0};
  int found = 0;
  MPI_Info_get(info, key.c_str(), MPI_MAX_INFO_VAL, value, &found);
  return found ? value : "";
}

TEST(IoHints, ReachHdf5sListAndTheMpiFile) {
  std::mt19937_64 gen(6);  // the same draws on every rank
  const char* switches[] = {"enable", "disable", "automatic"};
  for (int trial = 0; trial < 4; ++trial) {
    const std::vector<IoHint> hints = {
        {"romio_cb_write", switches[gen() % 3]},
        {"romio_ds_write", switches[gen() % 3]},
        {"cb_buffer_size", std::to_string(4096 * (1 + gen() % 4096))},
        {"cb_nodes", "1"}};
    ::setenv(kIoHintsVariable, io_hints_text(hints).c_str(), 1);

    const hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    ASSERT_GE(set_fapl_mpio_with_hints(fapl, MPI_COMM_WORLD), 0);
    MPI_Comm comm = MPI_COMM_NULL;
    MPI_Info kept = MPI_INFO_NULL;
    ASSERT_GE(H5Pget_fapl_mpio(fapl, &comm, &kept), 0);
    for (const IoHint& h : hints) EXPECT_EQ(info_value(kept, h.key), h.value) << h.key;

    const hid_t file = H5Fcreate(g_path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    ASSERT_GE(file, 0);
    void* handle = nullptr;
    ASSERT_GE(H5Fget_vfd_handle(file, fapl, &handle), 0);
    MPI_Info used = MPI_INFO_NULL;
    MPI_File_get_info(*static_cast<MPI_File*>(handle), &used);
    for (const IoHint& h : hints) EXPECT_EQ(info_value(used, h.key), h.value) << h.key;
    MPI_Info_free(&used);
    H5Fclose(file);
    MPI_Info_free(&kept);
    MPI_Comm_free(&comm);
    H5Pclose(fapl);
  }
  ::unsetenv(kIoHintsVariable);
}

TEST(IoHints, NoneWithoutTheVariableAndABadOneRefusedOnEveryRank) {
  ::unsetenv(kIoHintsVariable);
  const hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  EXPECT_GE(set_fapl_mpio_with_hints(fapl, MPI_COMM_WORLD), 0);
  ::setenv(kIoHintsVariable, "cb_nodes=4,romio_cb_wrte=enable", 1);
  std::string error;
  try {
    set_fapl_mpio_with_hints(fapl, MPI_COMM_WORLD);
  } catch (const ConfigError& e) {
    error = e.what();
  }
  EXPECT_NE(error.find("romio_cb_wrte = 'enable': no such hint; did you mean romio_cb_write?"),
            std::string::npos)
      << error;
  ::unsetenv(kIoHintsVariable);
  H5Pclose(fapl);
}

}  // namespace
}  // namespace symsweep

int main(int argc, char** argv) {
  return symsweep::testing::mpi_test_main(
      argc, argv, [](std::string path) { symsweep::g_path = std::move(path); });
}
