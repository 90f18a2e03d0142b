// Version and provenance of this build.
#pragma once

#include <string>

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

}  // namespace symsweep
