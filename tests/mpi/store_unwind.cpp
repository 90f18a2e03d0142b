// A rank that throws while a parallel result file is open must not hang the job: unwinding past
// the ResultStore may not run HDF5's collective close (the other ranks are not closing), so the
// error reaches the top, is printed, and MPI_Abort ends every rank. This mirrors the driver:
// run() holds the store, main() catches and aborts.
//   mpiexec -np 2 symsweep_store_unwind OUT.h5     (CTest expects the message, within 60 s)
#include <mpi.h>

#include <cstdio>
#include <stdexcept>

#include "../common/fake_result.hpp"
#include "symsweep/store.hpp"

namespace {

void work(const char* path, int rank) {
  using namespace symsweep;
  const SweepSpec spec = parse_spec("[model]\nname = linear2\n[axes]\nsweep.seed = range(0, 8)\n");
  const Grid grid(spec);
  const SweepFields fields(grid);
  StoreOptions options;
  options.truncate = true;
  ResultStore store =
      ResultStore::create(path, MPI_COMM_WORLD, grid, fields.schema(), Provenance{}, options);
  if (rank == 1) throw std::runtime_error("injected failure on rank 1");
  // Rank 0 goes on into a collective write and waits there for rank 1.
  std::vector<PointResult> mine;
  mine.push_back(testing::fake_result(0, fields));
  store.write(mine);
  store.close();
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  try {
    work(argc > 1 ? argv[1] : "store_unwind.h5", rank);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank %d: error: %s\n", rank, e.what());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Finalize();
  return 0;
}
