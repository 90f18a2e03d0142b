// Counts heap allocations in a window of code: malloc and its relatives are replaced for the whole
// test binary (forwarding to glibc's own), so Eigen's allocations (std::malloc) and the standard
// library's (operator new -> malloc) are all seen, in every build type.
#pragma once

namespace symsweep::testing {

/// Starts counting allocations from zero.
void start_counting_allocations();
/// Stops counting; returns the number of allocations since start.
long stop_counting_allocations();

}  // namespace symsweep::testing
