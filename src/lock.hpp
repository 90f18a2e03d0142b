// One writer per output (private to the library): the run or resume that writes OUT.h5 holds an
// exclusive lock on OUT.h5.lock for as long as it runs, so that a second run or resume on the same
// output refuses instead of writing into the same files.
//
// The lock is keyed by the output's resolved path: the real path of its directory plus its file
// name, a symlinked file name followed to its target first. So `resume link.h5` (link.h5 ->
// out.h5), a path through a symlinked directory, and a relative or absolute spelling of one file
// all take the same lock file, <resolved output>.lock. Not the inode: the run renames
// <output>.creating and <output>.partial over the output, so the output's inode changes while the
// lock is held.
//
// The lock is flock(2) on the lock file, taken by rank 0: the kernel drops it when the process
// ends, however it ends (kill -9 included), so a lock is never stale; the lock file itself stays
// (it holds who took the lock last, for the message). Limits: on NFS, Linux emulates flock with
// byte-range locks, which work across clients only with a lock manager (NFSv4, or lockd for v3);
// Lustre honours it only when mounted with -o flock (with -o localflock only within a node);
// where the file system refuses locks (ENOLCK, EOPNOTSUPP), symsweep warns and runs unlocked.
#pragma once

#include <string>

namespace symsweep {

class OutputLock {
 public:
  OutputLock() = default;
  /// Locks `output` (the final path of the result file). Throws ConfigError naming the holder
  /// when another process holds it; IoError when the lock file cannot be created.
  explicit OutputLock(const std::string& output);
  ~OutputLock();
  OutputLock(OutputLock&& o) noexcept
      : fd_(o.fd_), created_(o.created_), path_(std::move(o.path_)) {
    o.fd_ = -1;
  }
  OutputLock& operator=(OutputLock&& o) noexcept;
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

  /// Gives the lock up, removing the lock file when this lock created it (a run that refuses
  /// leaves nothing behind; no other process can be using a file it has just created and locked).
  void discard();

  /// The lock file of `output`: its resolved path (see above) + ".lock".
  static std::string path_of(const std::string& output);
  /// `output` resolved: symlinks of its last component followed, its directory made real.
  static std::string resolve(const std::string& output);
  /// Who holds the lock of `output` as this host's kernel sees it (/proc/locks): the holder's
  /// pid, 0 when no process on this host holds it, -1 when that cannot be told (no lock file, no
  /// /proc/locks). A run on another node holds it where this kernel cannot see.
  static long holder_here(const std::string& output);
  /// The host of the process that took the lock last (the lock file says), or "".
  static std::string last_holder_host(const std::string& output);

 private:
  int fd_ = -1;
  bool created_ = false;
  std::string path_;
};

}  // namespace symsweep
