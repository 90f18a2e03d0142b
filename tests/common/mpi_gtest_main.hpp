// The main() of an MPI GoogleTest executable that takes one output path: MPI with
// MPI_THREAD_FUNNELED, quiet non-root ranks, and one exit status for all ranks.
//   mpiexec -np N TEST OUT.h5
#pragma once

#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>
#include <functional>
#include <string>

namespace symsweep::testing {

/// Runs every test with `set_path(OUT.h5)` called first (after MPI_Init; `setup` too, when given);
/// returns the worst result over all ranks (2 for a wrong command line).
inline int mpi_test_main(int argc, char** argv, const std::function<void(std::string)>& set_path,
                         const std::function<void()>& setup = {}) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  ::testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (argc != 2) {
    if (rank == 0) std::fprintf(stderr, "usage: %s OUT.h5\n", argv[0]);
    MPI_Finalize();
    return 2;
  }
  set_path(argv[1]);
  if (setup) setup();
  if (rank != 0) {  // non-root ranks stay quiet unless they fail
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  const int local = RUN_ALL_TESTS();
  int global = 0;
  MPI_Allreduce(&local, &global, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (global != 0 && local != 0 && rank != 0) {
    std::fprintf(stderr, "rank %d: tests failed\n", rank);
  }
  MPI_Finalize();
  return global;
}

}  // namespace symsweep::testing
