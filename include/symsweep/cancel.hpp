// Cooperative cancellation of a point's computation.
//
// A point runs on one thread from start to end. The run loop gives that thread a stop flag
// (CancelScope); long computations inside a point (set-up, the SGD loop, Lanczos iterations,
// Hessian columns, per-sample gradient chunks, Newton steps) call cancellation_point() between
// their pieces, which throws Cancelled once the flag is set. The run loop catches Cancelled and
// leaves the point pending in the file (resume runs it again, from the start: a point's numbers
// never depend on where it was stopped). Outside a CancelScope, cancellation_point() does nothing,
// so library code and tests that call the same functions directly are unaffected.
#pragma once

#include <atomic>
#include <exception>

namespace symsweep {

/// Thrown by cancellation_point() when this thread's point was asked to stop. Not an Error: it
/// is no failure, and the run loop never records it as one.
class Cancelled : public std::exception {
 public:
  const char* what() const noexcept override { return "the point was cancelled"; }
};

namespace detail {
inline const std::atomic<bool>*& cancel_flag() {
  thread_local const std::atomic<bool>* flag = nullptr;
  return flag;
}
}  // namespace detail

/// While alive, cancellation_point() on this thread throws once `*flag` is true.
class CancelScope {
 public:
  explicit CancelScope(const std::atomic<bool>* flag) : saved_(detail::cancel_flag()) {
    detail::cancel_flag() = flag;
  }
  ~CancelScope() { detail::cancel_flag() = saved_; }
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;

 private:
  const std::atomic<bool>* saved_;
};

/// Whether this thread's point was asked to stop.
inline bool cancel_requested() {
  const std::atomic<bool>* flag = detail::cancel_flag();
  return flag != nullptr && flag->load(std::memory_order_relaxed);
}

/// Throws Cancelled when this thread's point was asked to stop. Cheap: one thread-local load.
inline void cancellation_point() {
  if (cancel_requested()) throw Cancelled();
}

}  // namespace symsweep
