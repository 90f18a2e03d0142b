// Counts heap allocations in a window of code: malloc and its relatives are replaced for the whole
// test binary (forwarding to glibc's own), so Eigen's allocations (std::malloc) and the standard
// library's (operator new -> malloc) are all seen, in every build type.
#pragma once

namespace symsweep::testing {

/// AddressSanitizer brings its own operator new, which does not go through malloc: the counter
/// would miss those allocations, so the tests that count skip themselves in sanitizer builds
/// (the ordinary build runs them).
/// SYMSWEEP_ASAN_RUNTIME: linked with AddressSanitizer's runtime, this code uninstrumented
/// (CMake's SYMSWEEP_SANITIZE_UNIT_TESTS=OFF).
#if defined(__SANITIZE_ADDRESS__) || defined(SYMSWEEP_ASAN_RUNTIME)
inline constexpr bool kCountingSeesEverything = false;
#else
inline constexpr bool kCountingSeesEverything = true;
#endif
#define SYMSWEEP_SKIP_UNLESS_COUNTING_WORKS()                                          \
  if (!::symsweep::testing::kCountingSeesEverything) {                                 \
    GTEST_SKIP() << "AddressSanitizer's operator new bypasses the allocation counter"; \
  }

/// Starts counting allocations from zero.
void start_counting_allocations();
/// Stops counting; returns the number of allocations since start.
long stop_counting_allocations();

/// The allocations of a second call of work(), the first having sized what is sized on first
/// use: 0 for code that allocates nothing once warm.
template <class Work>
long allocations_once_warm(Work&& work) {
  work();
  start_counting_allocations();
  work();
  return stop_counting_allocations();
}

}  // namespace symsweep::testing
