// Exceptions and checks used across symsweep.
//
// Every failure a user can cause is a ConfigError (exit status 2); failures of the machine or the
// file system are IoError (exit status 1; SharedError when every rank raised it together); broken
// invariants inside symsweep are Error raised by SYMSWEEP_VERIFY, which names the expression and
// file:line.
#pragma once

#include <stdexcept>
#include <string>

namespace symsweep {

/// Base of every exception symsweep throws.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Bad input: a key, a value, a command line. The message names the key, the value and the rule.
class ConfigError : public Error {
 public:
  using Error::Error;
};

/// A file, HDF5 or MPI operation failed. The message carries the library's own error report.
class IoError : public Error {
 public:
  using Error::Error;
};

/// A failure that every rank of a run raised together, with the same message (the ranks agreed
/// on it before any went on: src/collective.hpp). Each rank may return normally; no rank waits
/// for another, so no MPI_Abort is needed.
class SharedError : public IoError {
 public:
  using IoError::IoError;
};

/// Process exit statuses of the `symsweep` driver.
enum ExitStatus : int {
  kExitOk = 0,
  kExitFailure = 1,  ///< runtime failure (I/O, MPI, internal)
  kExitUsage = 2,    ///< bad configuration or command line; nothing was written
  /// Interrupted by a signal (SIGTERM, SIGINT, SIGUSR1) after saving every finished point:
  /// `symsweep resume OUT.h5` continues it.
  kExitInterrupted = 3,
};

namespace detail {
[[noreturn]] void verify_failed(const char* expr, const char* file, int line,
                                const std::string& msg);
}  // namespace detail

}  // namespace symsweep

/// Checks an invariant in every build type; throws symsweep::Error naming the expression and place.
#define SYMSWEEP_VERIFY(cond, msg)                                                    \
  do {                                                                                \
    if (!(cond)) ::symsweep::detail::verify_failed(#cond, __FILE__, __LINE__, (msg)); \
  } while (false)
