#include "status.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <sstream>

#include "lock.hpp"
#include "symsweep/error.hpp"
#include "text.hpp"

namespace symsweep {

namespace {

constexpr const char* kStatusFormat = "symsweep-status/1";

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
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
  std::string string() {
    if (!eat('"')) fail("a string expected");
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (c == '\\') {
        if (i_ >= s_.size()) break;
        c = s_[i_++];
        if (c == 'u') {
          if (i_ + 4 > s_.size()) fail("a short \\u escape");
          const unsigned long code = std::strtoul(s_.substr(i_, 4).c_str(), nullptr, 16);
          i_ += 4;
          if (code > 0x7f) fail("a \\u escape beyond ASCII");
          c = static_cast<char>(code);
        } else if (c == 'n') {
          c = '\n';
        } else if (c == 't') {
          c = '\t';
        } else if (c != '"' && c != '\\' && c != '/') {
          fail("an unknown escape");
        }
      }
      out += c;
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
  if (text("format") != kStatusFormat) {
    throw ConfigError(where + ": a status file of format " + text::quote(text("format")) +
                      "; this symsweep reads " + kStatusFormat);
  }
  RunStatus s;
  s.state = text("state");
  s.file = text("file");
  s.sweep = text("sweep");
  s.points = static_cast<long long>(number("points"));
  s.done = static_cast<long long>(number("done"));
  s.done_before = static_cast<long long>(number("done_before"));
  s.failed = static_cast<long long>(number("failed"));
  for (const auto& [name, count] : get("outcomes", JsonValue::kObject).members) {
    if (count->kind != JsonValue::kNumber)
      throw ConfigError(where + ": an outcome count not a number");
    s.outcomes.emplace_back(name, static_cast<long long>(count->number));
  }
  s.rate = number("rate");
  const double left = number("seconds_left");
  s.seconds_left = std::isfinite(left) ? left : -1.0;
  s.elapsed = number("elapsed");
  s.ranks = static_cast<int>(number("ranks"));
  s.threads = static_cast<int>(number("threads"));
  s.hosts = text("hosts");
  s.slurm_job = text("slurm_job");
  s.started_utc = text("started_utc");
  s.heartbeat_utc = text("heartbeat_utc");
  s.heartbeat = static_cast<std::time_t>(number("heartbeat"));
  s.every = number("every");
  s.checkpoints = static_cast<long>(number("checkpoints"));
  s.last_checkpoint_utc = text("last_checkpoint_utc");
  s.message = text("message");
  return s;
}

void write_status(const std::string& path, const RunStatus& status) {
  const std::string side = path + ".new";
  const std::string json = to_json(status);
  const int fd = ::open(side.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw IoError("cannot write " + text::quote(side) + ": " + std::strerror(errno));
  const ssize_t n = ::write(fd, json.data(), json.size());
  const int err = n == static_cast<ssize_t>(json.size()) ? 0 : (n < 0 ? errno : ENOSPC);
  ::close(fd);
  if (err != 0 || ::rename(side.c_str(), path.c_str()) != 0) {
    const int e = err != 0 ? err : errno;
    ::unlink(side.c_str());
    throw IoError("cannot write " + text::quote(path) + ": " + std::strerror(e));
  }
}

}  // namespace symsweep
