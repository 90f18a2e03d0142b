// Benchmark: writing a sweep's results into the parallel HDF5 file, three ways side by side.
//
//   mpirun -np 2 build/tests/symsweep_bench_store [POINTS [RECORDS [H]]] [DIR]
//
// For each variant (collective contiguous = the default; collective with traces chunked per point;
// independent contiguous) it creates the file, writes every rank's points (p mod R, one write
// call, as `symsweep run` does), flushes and closes, and reports the slowest rank's time and the
// file size. The points are synthetic: this measures the store alone, not the simulations.
#include <mpi.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "../common/fake_result.hpp"
#include "symsweep/schedule.hpp"
#include "symsweep/store.hpp"

using namespace symsweep;

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  const long points = argc > 1 ? std::stol(argv[1]) : 20000;
  const long records = argc > 2 ? std::stol(argv[2]) : 100;
  const long h = argc > 3 ? std::stol(argv[3]) : 4;
  const std::string dir = argc > 4 ? argv[4] : ".";
  {
    // A grid of `points` points: eta (points / 100 values) x seed (100 values).
    const long n_eta = std::max(1L, points / 100);
    const std::string ini = "[model]\nname = linear2\nh = " + std::to_string(h) +
                            "\n[optimizer]\nsteps = " + std::to_string(records - 1) +
                            "\n[record]\nevery = 1\n[axes]\noptimizer.eta = linspace(0.01, 1, " +
                            std::to_string(n_eta) + ")\nsweep.seed = range(0, 100)\n";
    const SweepSpec spec = parse_spec(ini);
    const Grid grid(spec);
    const SweepFields fields(grid);
    std::vector<PointResult> mine;
    for (auto p : static_points(grid.size(), rank, ranks)) {
      mine.push_back(testing::fake_result(p, fields));
    }
    const double mbytes = static_cast<double>(grid.size()) *
                          static_cast<double>(fields.schema().record_bytes()) / 1e6;
    if (rank == 0) {
      std::printf(
          "store benchmark: %llu points x %zu records x h = %ld (%.1f MB of data), %d rank(s)\n",
          static_cast<unsigned long long>(grid.size()), fields.record_steps().size(), h, mbytes,
          ranks);
      std::printf("%-34s %10s %10s %10s %12s\n", "variant", "create s", "write s", "close s",
                  "file MB");
    }
    struct Variant {
      const char* name;
      bool collective, chunked;
    };
    for (const Variant v : {Variant{"collective, contiguous (default)", true, false},
                            Variant{"collective, traces chunked/point", true, true},
                            Variant{"independent, contiguous", false, false}}) {
      const std::string path = dir + "/bench_store.h5";
      Provenance prov;
      prov.mpi_ranks = ranks;
      StoreOptions options;
      options.truncate = true;
      options.collective = v.collective;
      options.chunk_traces = v.chunked;
      MPI_Barrier(MPI_COMM_WORLD);
      double t0 = MPI_Wtime();
      ResultStore store =
          ResultStore::create(path, MPI_COMM_WORLD, grid, fields.schema(), prov, options);
      MPI_Barrier(MPI_COMM_WORLD);
      double t1 = MPI_Wtime();
      store.write(mine);
      MPI_Barrier(MPI_COMM_WORLD);
      double t2 = MPI_Wtime();
      store.close();
      MPI_Barrier(MPI_COMM_WORLD);
      double t3 = MPI_Wtime();
      if (rank == 0) {
        std::printf("%-34s %10.3f %10.3f %10.3f %12.1f\n", v.name, t1 - t0, t2 - t1, t3 - t2,
                    static_cast<double>(std::filesystem::file_size(path)) / 1e6);
        std::filesystem::remove(path);
      }
    }
  }
  MPI_Finalize();
  return 0;
}
