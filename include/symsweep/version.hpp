// Version and provenance of this build.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace symsweep {

/// The numerics version: it changes whenever the same config would give different bits in
/// /results or /traces (a new random-stream layout, another algorithm, ...), and is stored in every
/// file as `numerics_version`. The format version (store.hpp) tracks the file layout only.
/// README.md, "Versions", states the rule.
///   1: streams keyed by the flat point index, Box-Muller normals through glibc's libm.
///   2: streams keyed by the point's parameter values (rng.hpp), ziggurat normals, no
///      CPU-dispatched libm function in any stored number (detmath.hpp).
///   3: full-batch GD runs that neither converge nor diverge end periodic, aperiodic, or
///      converged when their iterates stopped moving (stability.hpp), no longer always moving.
///   4: labels trusted outside the tested cases: aperiodic only with a clearly positive Lyapunov
///      exponent (from Hessian-vector products, any d) and iterates not approaching a point;
///      Lanczos from a random keyed start (stream purposes lanczos, tangent); the unstable
///      2-cycle in basin_radius_predicted, not amplitude_predicted; predictions NaN outside the
///      optimizer settings they assume.
///   5: online, each gradient-noise measurement draws from the `noise` substream of its step
///      (rng.hpp), so the end's grad_noise and noether_flow no longer depend on how many trace
///      records came before (record.diagnostics may then turn any measurement off without moving
///      another stored number); finite-mode numbers are those of 4.
inline constexpr int kNumericsVersion = 6;

/// "0.1.0"
const char* version();
/// The git commit this binary was built from ("<sha>[-dirty]" or "unknown").
const char* git_commit();
/// "symsweep 0.1.0 (<commit>)"
std::string version_string();

/// This build's signature: what decides the bits of /results and /traces besides the config,
/// as a readable list of `key=value` entries separated by "; ", in this order:
///   numerics    kNumericsVersion
///   eigen       Eigen's version (its kernels' order of operations)
///   simd        the instruction sets Eigen compiled its kernels for and its packet size for
///               double, e.g. "SSE, SSE2 (2 doubles per packet)"
///   isa         the target instruction sets the compiler generated code for (its predefined
///               macros: what -march=native meant on the build host), e.g. "x86-64 sse2"
///   opt         the -O level (the last -O flag; -O0 when none)
///   arch        every -m flag (-march=, -mtune=, -mavx2, -mno-fma, ...), "none" when none
///   fp-contract the last -ffp-contract= flag ("default" when none)
///   fast-math   the flags of the fast-math family (-ffast-math, -Ofast,
///               -funsafe-math-optimizations, -fassociative-math, ...), "off" when none
/// The compiler's version is not part of it (compiler() is recorded beside it): with IEEE
/// semantics kept (-ffp-contract=off, no fast-math) a compiler upgrade is not expected to change
/// a number, and refusing it would strand a run requeued after an upgrade.
/// Test hook (README, "Interruptions and resume"): SYMSWEEP_TEST_BUILD_OVERRIDE="key=value;..."
/// in the environment replaces (or adds) those entries; the key `compiler` replaces compiler().
std::string build_signature();

/// One human line naming each entry in which the signature `stored` (e.g. a file's) differs
/// from `current` (e.g. build_signature()): "simd: SSE, SSE2 (2 doubles per packet) -> AVX, ...;
/// opt: -O3 -> -O2" (an entry only one of them has reads "(none)" in the other). "" when they
/// hold the same entries with the same values, whatever their order.
std::string signature_difference(const std::string& stored, const std::string& current);

/// The compiler and its version, e.g. "GNU 12.2.0" (SYMSWEEP_TEST_BUILD_OVERRIDE's `compiler`
/// replaces it).
std::string compiler();

/// The first 16 hex digits of the SHA-256 of a signature's text: a short name for it.
std::string signature_hash(const std::string& signature);

/// This build's provenance, as the root attributes of a result file, in order (README, "The
/// result file"): compiler, build_type, build_flags (CMAKE_CXX_FLAGS, the build type's flags and
/// the target's compile options: the flags actually used), eigen_simd, build_signature,
/// build_signature_hash, mpi_runtime (MPI_Get_library_version's first line), mpi_compiled,
/// hdf5_runtime, hdf5_compiled, eigen_version, boost_version, random123_version, openmp_version.
std::vector<std::pair<std::string, std::string>> build_provenance();

}  // namespace symsweep
