#include "lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "symsweep/error.hpp"
#include "text.hpp"

namespace symsweep {

namespace fs = std::filesystem;

std::string OutputLock::resolve(const std::string& output) {
  std::error_code ec;
  fs::path p = fs::absolute(fs::path(output), ec);
  if (ec) p = fs::path(output);
  // The last component: a symlink (possibly dangling, possibly to another symlink) is followed,
  // as open(2) would follow it. Bounded like the kernel's ELOOP limit.
  for (int hops = 0; hops < 40 && fs::is_symlink(p, ec); ++hops) {
    const fs::path target = fs::read_symlink(p, ec);
    if (ec) break;
    p = target.is_absolute() ? target : p.parent_path() / target;
  }
  // The directory: every symlink, '.' and '..' resolved (weakly: a missing directory is left as
  // spelt; check_directory refuses it anyway).
  const fs::path dir = fs::weakly_canonical(p.parent_path(), ec);
  return ((ec ? p.parent_path() : dir) / p.filename()).string();
}

std::string OutputLock::path_of(const std::string& output) {
  return resolve(output) + ".lock";
}

OutputLock::OutputLock(const std::string& output) : path_(path_of(output)) {
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  created_ = fd_ >= 0;
  if (fd_ < 0 && errno == EEXIST) fd_ = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
  if (fd_ < 0) {
    throw IoError("cannot create the lock file " + text::quote(path_) + ": " +
                  std::strerror(errno));
  }
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err == EWOULDBLOCK) {
      std::ifstream in(path_);
      std::stringstream holder;
      holder << in.rdbuf();
      std::string who = holder.str();
      while (!who.empty() && (who.back() == '\n' || who.back() == ' ')) who.pop_back();
      ::close(fd_);
      fd_ = -1;
      const std::string real = resolve(output);
      throw ConfigError("sweep.output = " + text::quote(output) +
                        (real != output ? " (that is " + text::quote(real) + ")" : "") +
                        ": another symsweep run or resume is writing it" +
                        (who.empty() ? "" : " (" + who + ")") +
                        "; wait for it to end, or stop it " +
                        "(it saves its work and can be resumed), or choose another output");
    }
    std::fprintf(stderr,
                 "symsweep: warning: cannot lock %s (%s): the file system does not support "
                 "locks; nothing stops a second run on the same output\n",
                 path_.c_str(), std::strerror(err));
    return;
  }
  // Who holds it, for the message of a run that finds it taken.
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  const std::string line = "pid " + std::to_string(::getpid()) + " on " + host + " since " + when;
  if (::ftruncate(fd_, 0) == 0) {
    const ssize_t written = ::pwrite(fd_, line.data(), line.size(), 0);
    (void)written;  // the note is a courtesy; the lock is what matters
  }
}

void OutputLock::discard() {
  if (fd_ < 0) return;
  if (created_) ::unlink(path_.c_str());
  ::close(fd_);
  fd_ = -1;
}

OutputLock& OutputLock::operator=(OutputLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    created_ = o.created_;
    path_ = std::move(o.path_);
    o.fd_ = -1;
  }
  return *this;
}

OutputLock::~OutputLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

long OutputLock::holder_here(const std::string& output) {
  struct stat st {};
  if (::stat(path_of(output).c_str(), &st) != 0) return -1;
  std::ifstream locks("/proc/locks");
  if (!locks) return -1;
  // "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF": the pid, then major:minor (hex):inode. The
  // kernel prints the superblock's device, which stat() may not give (a btrfs subvolume has a
  // device of its own): the inode decides, the device only chooses between equal inodes.
  const std::string inode = std::to_string(static_cast<unsigned long long>(st.st_ino));
  char device[32];
  std::snprintf(device, sizeof device, "%02x:%02x", major(st.st_dev), minor(st.st_dev));
  long same_inode = 0;
  for (std::string line; std::getline(locks, line);) {
    std::istringstream in(line);
    std::string index, type, advisory, mode, where;
    long pid = 0;
    if (!(in >> index >> type)) continue;
    if (type == "->") continue;  // a waiter
    if (!(in >> advisory >> mode >> pid >> where) || type != "FLOCK") continue;
    const std::size_t colon = where.rfind(':');
    if (colon == std::string::npos || where.substr(colon + 1) != inode) continue;
    if (where.substr(0, colon) == device) return pid;
    same_inode = pid;
  }
  return same_inode;
}

std::string OutputLock::last_holder_host(const std::string& output) {
  std::ifstream in(path_of(output));
  std::string line;
  if (!in || !std::getline(in, line)) return "";
  // "pid <pid> on <host> since <time>" (the constructor writes it).
  const std::size_t on = line.find(" on "), since = line.rfind(" since ");
  if (line.rfind("pid ", 0) != 0 || on == std::string::npos || since == std::string::npos ||
      since <= on + 4) {
    return "";
  }
  return line.substr(on + 4, since - on - 4);
}

}  // namespace symsweep
