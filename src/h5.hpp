// RAII over HDF5's C ids (private to the library).
//
// Every C call goes through check_id / check_status, which turn a failure into an IoError naming
// what was being done and the deepest cause on HDF5's error stack (one line, not the stack). Handle
// owns one id; its destructor closes without throwing (errors on that path are swallowed: a
// destructor may run during unwinding), close() closes and reports.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <hdf5.h>

namespace symsweep::h5 {

/// Turns off HDF5's automatic error printing for this process (errors become exceptions).
void init();

/// Throws IoError("HDF5: <what>: <the deepest description on HDF5's error stack>").
[[noreturn]] void fail(const std::string& what);
inline hid_t check_id(hid_t id, const std::string& what) {
  if (id < 0) fail(what);
  return id;
}
inline herr_t check_status(herr_t rc, const std::string& what) {
  if (rc < 0) fail(what);
  return rc;
}

class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer, const std::string& what)
      : id_(check_id(id, what)), closer_(closer) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = -1; }
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = o.id_;
      closer_ = o.closer_;
      o.id_ = -1;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  /// Closes and throws IoError on failure.
  void close(const std::string& what);
  /// Closes, ignoring errors (destructor path).
  void reset() noexcept;
  /// Forgets the id without closing it: for unwinding past a parallel file, whose close is
  /// collective and would wait forever for ranks that are not closing it.
  void abandon() noexcept { id_ = -1; }

 private:
  hid_t id_ = -1;
  Closer closer_ = nullptr;
};

Handle file_handle(hid_t id, const std::string& what);
Handle group_handle(hid_t id, const std::string& what);
Handle dataset_handle(hid_t id, const std::string& what);
Handle space_handle(hid_t id, const std::string& what);
Handle type_handle(hid_t id, const std::string& what);
Handle plist_handle(hid_t id, const std::string& what);
Handle attribute_handle(hid_t id, const std::string& what);

/// A UTF-8 variable-length string type.
Handle string_type();

// Attributes on any object (collective in parallel files: every rank calls with the same value).
void write_attribute(hid_t obj, const std::string& name, const std::string& value);
void write_attribute(hid_t obj, const std::string& name, std::int64_t value);
void write_attribute(hid_t obj, const std::string& name, double value);
/// A 1-D attribute of unsigned bytes (e.g. CF flag_values of a uint8 enum).
void write_attribute(hid_t obj, const std::string& name, const std::vector<std::uint8_t>& values);
bool has_attribute(hid_t obj, const std::string& name);
std::string read_string_attribute(hid_t obj, const std::string& name);
std::int64_t read_int_attribute(hid_t obj, const std::string& name);

/// The names of the links in a group (or file), in name order.
std::vector<std::string> link_names(hid_t group);

/// Dimensions of a dataset.
std::vector<hsize_t> dataset_shape(hid_t dset);
/// Whole dataset read as double / int64 (any numeric or enum type converts).
std::vector<double> read_doubles(hid_t dset);
std::vector<std::int64_t> read_ints(hid_t dset);
/// Whole 1-D dataset of fixed-length or variable-length strings.
std::vector<std::string> read_strings(hid_t dset);
/// True when the dataset's elements are strings.
bool is_string_dataset(hid_t dset);
/// Member names of an enum dataset, by code (code i at position i; codes must be 0, 1, ...), or
/// empty when the dataset is not an enum.
std::vector<std::string> enum_members(hid_t dset);

}  // namespace symsweep::h5
