// The test driver symsweep_test_driver: the symsweep command-line driver (src/apps/) with the
// test models registered before main() runs, so that end-to-end tests run the real run/resume
// path with points whose timing they control (tests/e2e/test_interrupt.py).
#include "delay_model.hpp"

namespace {
// The registry is a function-local static (model.cpp): safe to fill from a static initialiser.
const bool registered = (symsweep::testing::DelayModel::ensure_registered(), true);
}  // namespace
