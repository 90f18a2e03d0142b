// MPI-IO hints for the result file. See io_hints.hpp.
#include "io_hints.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "symsweep/error.hpp"
#include "text.hpp"

namespace symsweep {

namespace {

enum class Rule { Switch, Boolean, Count, Bytes, Any };

struct KnownHint {
  const char* key;
  Rule rule;
};

// The reserved hints of the MPI standard (section 14.2.8) and ROMIO's and Open MPI's OMPIO's
// documented ones that concern writing a shared file.
constexpr KnownHint kKnown[] = {
    {"access_style", Rule::Any},
    {"collective_buffering", Rule::Boolean},
    {"cb_block_size", Rule::Bytes},
    {"cb_buffer_size", Rule::Bytes},
    {"cb_nodes", Rule::Count},
    {"cb_config_list", Rule::Any},
    {"chunked", Rule::Any},
    {"io_node_list", Rule::Any},
    {"nb_proc", Rule::Count},
    {"num_io_nodes", Rule::Count},
    {"striping_factor", Rule::Count},
    {"striping_unit", Rule::Bytes},
    {"start_iodevice", Rule::Count},
    {"ind_rd_buffer_size", Rule::Bytes},
    {"ind_wr_buffer_size", Rule::Bytes},
    {"romio_cb_read", Rule::Switch},
    {"romio_cb_write", Rule::Switch},
    {"romio_ds_read", Rule::Switch},
    {"romio_ds_write", Rule::Switch},
    {"romio_cb_fr_types", Rule::Switch},
    {"romio_cb_alltoall", Rule::Switch},
    {"romio_cb_pfr", Rule::Switch},
    {"romio_no_indep_rw", Rule::Boolean},
    {"romio_lustre_co_ratio", Rule::Count},
    {"romio_lustre_coll_threshold", Rule::Bytes},
    {"romio_lustre_ds_in_coll", Rule::Switch},
    {"IBM_largeblock_io", Rule::Boolean},
};

const char* rule_text(Rule rule) {
  switch (rule) {
    case Rule::Switch:
      return "enable, disable or automatic";
    case Rule::Boolean:
      return "true or false";
    case Rule::Count:
      return "a whole number >= 1";
    case Rule::Bytes:
      return "a whole number of bytes >= 1 (no unit)";
    case Rule::Any:
      break;
  }
  return "any word";
}

bool fits(Rule rule, std::string_view v) {
  switch (rule) {
    case Rule::Switch:
      return v == "enable" || v == "disable" || v == "automatic";
    case Rule::Boolean:
      return v == "true" || v == "false";
    case Rule::Count:
    case Rule::Bytes:
      return !v.empty() && v.size() <= 12 && v.front() != '0' &&
             std::all_of(v.begin(), v.end(),
                         [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    case Rule::Any:
      break;
  }
  return true;
}

/// Edits (insert, delete, replace, swap two neighbours) between a and b, counted up to 3.
int distance(std::string_view a, std::string_view b) {
  const std::size_t n = a.size(), m = b.size();
  if (n > m + 3 || m > n + 3) return 3;
  std::vector<std::vector<int>> d(n + 1, std::vector<int>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = static_cast<int>(i);
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = static_cast<int>(j);
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      d[i][j] = std::min(
          {d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return std::min(d[n][m], 3);
}

bool is_key_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

}  // namespace

std::vector<IoHint> parse_io_hints(std::string_view text, std::string_view where) {
  std::vector<IoHint> hints;
  if (text::trim(text).empty()) return hints;
  const std::string head = std::string(where) + " = " + text::quote(text) + ": ";
  for (std::string_view item : text::split(text, ',')) {
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      throw ConfigError(head + "the item " + text::quote(item) +
                        " is not key=value (hints are separated by ',')");
    }
    const std::string key(text::trim(item.substr(0, eq)));
    const std::string value(text::trim(item.substr(eq + 1)));
    if (key.empty() || !std::all_of(key.begin(), key.end(), is_key_char) ||
        key.size() >= MPI_MAX_INFO_KEY) {
      throw ConfigError(head + "the key " + text::quote(key) +
                        " is not a hint name (letters, digits and '_')");
    }
    if (value.empty() || value.size() >= MPI_MAX_INFO_VAL ||
        value.find_first_of(" \t=") != std::string::npos) {
      throw ConfigError(head + text::setting(key, value) +
                        ": a hint's value is one word (no blanks, ',' or '=')");
    }
    const auto known = std::find_if(std::begin(kKnown), std::end(kKnown),
                                    [&](const KnownHint& h) { return key == h.key; });
    if (known != std::end(kKnown)) {
      if (!fits(known->rule, value)) {
        throw ConfigError(head + text::setting(key, value) + ": must be " + rule_text(known->rule));
      }
    } else {
      for (const KnownHint& h : kKnown) {
        if (distance(key, h.key) <= 2 && key.size() > 4) {
          throw ConfigError(head + text::setting(key, value) + ": no such hint; did you mean " +
                            h.key + "? (MPI-IO ignores the hints it does not know)");
        }
      }
    }
    const auto same =
        std::find_if(hints.begin(), hints.end(), [&](const IoHint& h) { return h.key == key; });
    if (same != hints.end()) {
      throw ConfigError(head + "the hint " + key + " is given twice");
    }
    hints.push_back({key, value});
  }
  return hints;
}

std::vector<IoHint> io_hints_from_environment() {
  const char* text = std::getenv(kIoHintsVariable);
  return text == nullptr ? std::vector<IoHint>{} : parse_io_hints(text, kIoHintsVariable);
}

MPI_Info io_hints_info(const std::vector<IoHint>& hints) {
  if (hints.empty()) return MPI_INFO_NULL;
  MPI_Info info = MPI_INFO_NULL;
  MPI_Info_create(&info);
  for (const IoHint& h : hints) MPI_Info_set(info, h.key.c_str(), h.value.c_str());
  return info;
}

herr_t set_fapl_mpio_with_hints(hid_t fapl, MPI_Comm comm) {
  MPI_Info info = io_hints_info(io_hints_from_environment());
  const herr_t status = H5Pset_fapl_mpio(fapl, comm, info);  // HDF5 keeps its own copy
  if (info != MPI_INFO_NULL) MPI_Info_free(&info);
  return status;
}

std::string io_hints_text(const std::vector<IoHint>& hints) {
  std::string out;
  for (const IoHint& h : hints) out += (out.empty() ? "" : ", ") + h.key + "=" + h.value;
  return out;
}

}  // namespace symsweep
