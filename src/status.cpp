#include "status.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <sstream>

#include "lock.hpp"
#include "symsweep/error.hpp"
#include "text.hpp"

namespace symsweep {

namespace {

constexpr const char* kStatusFormat = "symsweep-status/1";

/// The length of the valid UTF-8 sequence at s[i], or 0.
std::size_t utf8_length(const std::string& s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  std::size_t n = c < 0x80           ? 1
                  : (c >> 5) == 0x6  ? 2
                  : (c >> 4) == 0xe  ? 3
                  : (c >> 3) == 0x1e ? 4
                                     : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xc0) != 0x80) return 0;
  }
  if (n == 2 && c < 0xc2) return 0;                             // overlong
  if (n == 3 && c == 0xe0 && b(i + 1) < 0xa0) return 0;         // overlong
  if (n == 3 && c == 0xed && b(i + 1) >= 0xa0) return 0;        // a surrogate
  if (n == 4 && (c > 0xf4 || (c == 0xf0 && b(i + 1) < 0x90) ||  // overlong or beyond U+10FFFF
                 (c == 0xf4 && b(i + 1) >= 0x90))) {
    return 0;
  }
  return n;
}

/// JSON text: valid UTF-8 as it is, control characters escaped, and a byte that is not UTF-8 (a
/// host name or path in another encoding) as U+FFFD, so that every JSON reader accepts the file.
std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size();) {
    const char c = s[i];
    const auto u = static_cast<unsigned char>(c);
    const std::size_t n = utf8_length(s, i);
    if (n == 0) {
      out += "\\ufffd";
      ++i;
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
      ++i;
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
      ++i;
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  return out + "\"";
}

/// `code` as UTF-8.
void append_utf8(std::string& out, unsigned long code) {
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xc0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3f));
  } else if (code < 0x10000) {
    out += static_cast<char>(0xe0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (code & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (code >> 18));
    out += static_cast<char>(0x80 | ((code >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (code & 0x3f));
  }
}

std::string json_number(double x) {
  if (!std::isfinite(x)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", x);
  return buf;
}

/// The JSON this file holds: objects of strings, numbers, null and objects.
struct JsonValue {
  enum Kind { kNull, kNumber, kString, kObject } kind = kNull;
  double number = 0;
  std::string text;
  std::vector<std::pair<std::string, std::unique_ptr<JsonValue>>> members;
};

class Parser {
 public:
  Parser(const std::string& s, const std::string& where) : s_(s), where_(where) {}

  std::unique_ptr<JsonValue> document() {
    auto v = value();
    space();
    if (i_ != s_.size()) fail("text after the object");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw ConfigError(where_ + ": not a symsweep status file (" + what + " at byte " +
                      std::to_string(i_) + ")");
  }
  void space() {
    while (i_ < s_.size() && std::strchr(" \t\r\n", s_[i_]) != nullptr) ++i_;
  }
  bool eat(char c) {
    space();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  /// Four hex digits after "\\u".
  unsigned long hex4() {
    if (i_ + 4 > s_.size()) fail("a short \\u escape");
    unsigned long code = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[i_++];
      const int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
      if (d < 0) fail("a \\u escape that is not 4 hex digits");
      code = code * 16 + static_cast<unsigned long>(d);
    }
    return code;
  }
  std::string string() {
    if (!eat('"')) fail("a string expected");
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      const char c = s_[i_++];
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) break;
      const char e = s_[i_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          unsigned long code = hex4();
          if (code >= 0xd800 && code < 0xdc00) {  // a surrogate pair
            if (i_ + 2 > s_.size() || s_[i_] != '\\' || s_[i_ + 1] != 'u') fail("a lone surrogate");
            i_ += 2;
            const unsigned long low = hex4();
            if (low < 0xdc00 || low >= 0xe000) fail("a lone surrogate");
            code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
          } else if (code >= 0xdc00 && code < 0xe000) {
            fail("a lone surrogate");
          }
          append_utf8(out, code);
          break;
        }
        default:
          fail("an unknown escape");
      }
    }
    if (i_ >= s_.size()) fail("an unterminated string");
    ++i_;
    return out;
  }
  std::unique_ptr<JsonValue> value() {
    auto v = std::make_unique<JsonValue>();
    space();
    if (i_ >= s_.size()) fail("the end of the text");
    const char c = s_[i_];
    if (c == '{') {
      ++i_;
      v->kind = JsonValue::kObject;
      if (eat('}')) return v;
      do {
        std::string key = string();
        if (!eat(':')) fail("':' expected");
        v->members.emplace_back(std::move(key), value());
      } while (eat(','));
      if (!eat('}')) fail("'}' expected");
    } else if (c == '"') {
      v->kind = JsonValue::kString;
      v->text = string();
    } else if (s_.compare(i_, 4, "null") == 0) {
      i_ += 4;
    } else {
      const char* begin = s_.c_str() + i_;
      char* end = nullptr;
      errno = 0;
      v->number = std::strtod(begin, &end);
      if (end == begin || errno != 0) fail("a value expected");
      v->kind = JsonValue::kNumber;
      i_ += static_cast<std::size_t>(end - begin);
    }
    return v;
  }

  const std::string& s_;
  std::string where_;
  std::size_t i_ = 0;
};

const JsonValue* member(const JsonValue& object, const std::string& key) {
  for (const auto& [k, v] : object.members) {
    if (k == key) return v.get();
  }
  return nullptr;
}

}  // namespace

std::string status_path(const std::string& output) {
  return OutputLock::resolve(output) + ".status.json";
}

std::string utc_text(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string to_json(const RunStatus& s) {
  std::ostringstream o;
  o << "{\n  \"format\": " << json_string(kStatusFormat)
    << ",\n  \"state\": " << json_string(s.state) << ",\n  \"file\": " << json_string(s.file)
    << ",\n  \"sweep\": " << json_string(s.sweep) << ",\n  \"points\": " << s.points
    << ",\n  \"done\": " << s.done << ",\n  \"done_before\": " << s.done_before
    << ",\n  \"failed\": " << s.failed << ",\n  \"outcomes\": {";
  for (std::size_t k = 0; k < s.outcomes.size(); ++k) {
    o << (k ? ", " : "") << json_string(s.outcomes[k].first) << ": " << s.outcomes[k].second;
  }
  o << "},\n  \"rate\": " << json_number(s.rate)
    << ",\n  \"seconds_left\": " << json_number(s.seconds_left < 0 ? std::nan("") : s.seconds_left)
    << ",\n  \"elapsed\": " << json_number(s.elapsed) << ",\n  \"ranks\": " << s.ranks
    << ",\n  \"threads\": " << s.threads << ",\n  \"hosts\": " << json_string(s.hosts)
    << ",\n  \"slurm_job\": " << json_string(s.slurm_job)
    << ",\n  \"started_utc\": " << json_string(s.started_utc)
    << ",\n  \"heartbeat_utc\": " << json_string(s.heartbeat_utc)
    << ",\n  \"heartbeat\": " << static_cast<long long>(s.heartbeat)
    << ",\n  \"every\": " << json_number(s.every) << ",\n  \"checkpoints\": " << s.checkpoints
    << ",\n  \"last_checkpoint_utc\": " << json_string(s.last_checkpoint_utc)
    << ",\n  \"checkpoint_started\": " << static_cast<long long>(s.checkpoint_started)
    << ",\n  \"io_timeout\": " << json_number(s.io_timeout)
    << ",\n  \"message\": " << json_string(s.message) << "\n}\n";
  return o.str();
}

RunStatus parse_status(const std::string& json, const std::string& where) {
  const std::unique_ptr<JsonValue> doc = Parser(json, where).document();
  if (doc->kind != JsonValue::kObject) throw ConfigError(where + ": not a symsweep status file");
  const auto get = [&](const char* key, JsonValue::Kind kind) -> const JsonValue& {
    const JsonValue* v = member(*doc, key);
    // A number may be null (not finite); every key must be there.
    if (v == nullptr ||
        (v->kind != kind && !(kind == JsonValue::kNumber && v->kind == JsonValue::kNull))) {
      throw ConfigError(where + ": not a symsweep status file (its '" + key + "' is missing or " +
                        "of another type)");
    }
    return *v;
  };
  const auto text = [&](const char* key) { return get(key, JsonValue::kString).text; };
  const auto number = [&](const char* key) {
    const JsonValue& v = get(key, JsonValue::kNumber);
    return v.kind == JsonValue::kNull ? std::nan("") : v.number;
  };
  // A count or a time: a finite whole number.
  const auto integer = [&](const char* key) {
    const double x = number(key);
    if (!(std::isfinite(x) && x == std::floor(x) && std::abs(x) < 9.2e18)) {
      throw ConfigError(where + ": not a symsweep status file (its '" + key +
                        "' is not a whole number)");
    }
    return static_cast<long long>(x);
  };
  if (text("format") != kStatusFormat) {
    throw ConfigError(where + ": a status file of format " + text::quote(text("format")) +
                      "; this symsweep reads " + kStatusFormat);
  }
  RunStatus s;
  s.state = text("state");
  s.file = text("file");
  s.sweep = text("sweep");
  s.points = integer("points");
  s.done = integer("done");
  s.done_before = integer("done_before");
  s.failed = integer("failed");
  for (const auto& [name, count] : get("outcomes", JsonValue::kObject).members) {
    if (count->kind != JsonValue::kNumber || count->number != std::floor(count->number)) {
      throw ConfigError(where +
                        ": not a symsweep status file (an outcome count is not a whole "
                        "number)");
    }
    s.outcomes.emplace_back(name, static_cast<long long>(count->number));
  }
  s.rate = number("rate");
  const double left = number("seconds_left");
  s.seconds_left = std::isfinite(left) ? left : -1.0;
  s.elapsed = number("elapsed");
  s.ranks = static_cast<int>(integer("ranks"));
  s.threads = static_cast<int>(integer("threads"));
  s.hosts = text("hosts");
  s.slurm_job = text("slurm_job");
  s.started_utc = text("started_utc");
  s.heartbeat_utc = text("heartbeat_utc");
  s.heartbeat = static_cast<std::time_t>(integer("heartbeat"));
  s.every = number("every");
  s.checkpoints = static_cast<long>(integer("checkpoints"));
  s.last_checkpoint_utc = text("last_checkpoint_utc");
  s.checkpoint_started = static_cast<std::time_t>(integer("checkpoint_started"));
  s.io_timeout = number("io_timeout");
  s.message = text("message");
  return s;
}

void write_status(const std::string& path, const RunStatus& status) {
  const std::string side = path + ".new";
  const std::string json = to_json(status);
  const int fd = ::open(side.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw IoError("cannot write " + text::quote(side) + ": " + std::strerror(errno));
  int err = 0;
  for (std::size_t at = 0; at < json.size() && err == 0;) {
    const ssize_t n = ::write(fd, json.data() + at, json.size() - at);
    if (n > 0) {
      at += static_cast<std::size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      err = errno;
    }
  }
  // On NFS a write error (quota, full disk) may show only at close: a side file that failed to
  // close is never renamed over the good one.
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err == 0 && ::rename(side.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(side.c_str());
    throw IoError("cannot write " + text::quote(path) + ": " + std::strerror(err));
  }
}

Liveness judge_liveness(const std::string& output, const RunStatus* status) {
  char name[256] = {0};
  ::gethostname(name, sizeof name - 1);
  const std::string here = name;
  const long pid = OutputLock::holder_here(output);
  if (pid > 0) {
    return {Liveness::kAlive,
            "pid " + std::to_string(pid) + " on this host holds the output's lock"};
  }
  const std::string taken_on = OutputLock::last_holder_host(output);
  if (pid == 0 && !taken_on.empty() && taken_on == here) {
    return {Liveness::kDead, "its lock was taken on this host (" + here +
                                 ") and no process here holds it: the run was killed or ended"};
  }
  if (status != nullptr && status->state == "running") {
    const double age = std::difftime(std::time(nullptr), status->heartbeat);
    const double allowed =
        3 * status->every + 60 + (status->checkpoint_started != 0 ? status->io_timeout : 0.0);
    if (age <= allowed) {
      return {Liveness::kAlive, "by its heartbeat (" + text::format_double(std::round(age)) +
                                    " s ago; its lock, taken on " +
                                    (taken_on.empty() ? "another host" : taken_on) +
                                    ", cannot be seen from this host)"};
    }
    return {Liveness::kDead, "stale: no heartbeat for " + text::format_double(std::round(age)) +
                                 " s (promised every " + text::format_double(status->every) +
                                 " s): the run probably died"};
  }
  return {Liveness::kUnknown, "its lock was taken on " +
                                  (taken_on.empty() ? std::string("an unknown host") : taken_on) +
                                  ", which this host cannot see"};
}

}  // namespace symsweep
