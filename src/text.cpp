#include "text.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace symsweep::text {

std::string format_double(double v) {
  char buf[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

std::string quote(std::string_view s, bool quotes, std::size_t max) {
  std::string out = quotes ? "'" : "";
  const std::size_t n = std::min(s.size(), max);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > max) out += "...";
  if (quotes) out += "'";
  if (s.size() > max) out += " (" + std::to_string(s.size()) + " bytes)";
  return out;
}

std::string setting(std::string_view key, std::string_view value) {
  return quote(key, false, 80) + " = " + quote(value);
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  std::size_t u = 0;
  while (bytes >= 999.5 && u + 1 < sizeof units / sizeof units[0]) {
    bytes /= 1000;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%.0f %s", bytes, units[u]);
  } else {
    std::snprintf(buf, sizeof buf, "%.3g %s", bytes, units[u]);
  }
  return buf;
}

void write_stderr(std::string_view message) {
  while (!message.empty()) {
    const ssize_t n = ::write(STDERR_FILENO, message.data(), message.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere to report that reporting failed
    message.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace symsweep::text
