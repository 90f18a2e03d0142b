// Small string helpers shared by the parsers (private to the library).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace symsweep::text {

inline std::string_view trim(std::string_view s) {
  const char* ws = " \t\r\n";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

/// Splits on `sep`, trimming every piece; "a, b" -> {"a", "b"}; "" -> {""}.
inline std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const auto pos = s.find(sep, start);
    out.push_back(trim(s.substr(start, pos == std::string_view::npos ? s.npos : pos - start)));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

/// Joins with `sep`.
template <class Range>
std::string join(const Range& items, std::string_view sep) {
  std::string out;
  bool first = true;
  for (const auto& item : items) {
    if (!first) out += sep;
    out += item;
    first = false;
  }
  return out;
}

/// Shortest decimal text that reads back to exactly `v` ("0.1", "1e-05", "64").
std::string format_double(double v);

/// `s` in single quotes for a message: cut after `max` bytes ("...' (N bytes)"), every byte
/// outside printable ASCII written as \xNN, so that a binary file or a megabyte value gives one
/// readable line. quote(s, false) leaves out the quotes.
std::string quote(std::string_view s, bool quotes = true, std::size_t max = 120);
/// "key = 'value'" with the value quoted as above: the start of every config message.
std::string setting(std::string_view key, std::string_view value);

/// A byte count with three significant digits and a decimal unit: "512 B", "72.3 kB", "1.39 MB".
std::string format_bytes(double bytes);

/// Writes `message` to standard error in one write(2) call (retried only for what a signal cut
/// short), so that a rank's error line is never split by other ranks' output or mpirun's own
/// (writes up to PIPE_BUF bytes into a pipe are atomic).
void write_stderr(std::string_view message);

}  // namespace symsweep::text
