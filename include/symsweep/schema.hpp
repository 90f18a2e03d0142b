// The result schema: which per-point fields a sweep writes, declared by the code that computes
// them, and one point's values of those fields (Record).
//
// A field is one dataset per sweep. It lives in a group (/results: summary values; /traces: time
// series on the record schedule; /run: placement and timing, outside the determinism promise), has
// an element type (f64, i64, i32, or an enum whose members are named), and a shape: the grid's
// axes, then the trailing dimensions it names. A trailing dimension (DimDef) is declared once per
// sweep with its coordinate values, e.g. "step" (the record steps) or "k" (the index of a
// spectrum); its length is the largest any point of the grid needs, and points that need fewer
// leave the rest at the fill value. A field whose trailing dimensions include one of length 0 is
// absent from the sweep (e.g. traces with record.every = 0).
//
// Who declares what (make_schema in simulate.hpp assembles one sweep's schema):
//   - the core run (simulate.cpp): status, outcome, steps_run, ..., the traces it records, and
//     /run/seconds, /run/rank;
//   - the model (ModelInfo::declare_fields, model.hpp): its own diagnostics;
//   - later capabilities (stability checks, ...): theirs.
// The store writes whatever the schema holds (store.hpp), and readers take field names, enum
// members, descriptions and units from the file, so adding a field is one declaration beside the
// code that computes it.
//
// Record is one point's values of every field, packed in one buffer in schema order (each field
// 8-byte aligned), starting at the fields' fill values. It is sized once, before the run, so that
// writing into it inside the SGD loop allocates nothing; the store sends these bytes as they are.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace symsweep {

enum class ElemType : std::uint8_t {
  f64,    ///< IEEE double
  i64,    ///< signed 64-bit integer
  i32,    ///< signed 32-bit integer
  enum8,  ///< an enum of at most 256 named members, stored as uint8 codes 0, 1, ...
};

enum class Group : std::uint8_t { results, traces, run };
/// "results", "traces", "run": the HDF5 group of a field.
const char* to_string(Group g);

/// A trailing dimension shared by fields, with one coordinate per position.
struct DimDef {
  std::string name;                  ///< e.g. "step"; also its dimension-scale name in the file
  std::string description;           ///< what a coordinate is
  std::vector<std::int64_t> coords;  ///< its length is the dimension's length
};

/// One per-point field.
struct FieldDef {
  std::string name;  ///< unique within its group, e.g. "final_loss"
  Group group = Group::results;
  ElemType type = ElemType::f64;
  std::vector<std::string> members;  ///< enum8 only: member names, code = position
  std::vector<std::string> dims;     ///< trailing dimensions, each declared with add_dim
  std::string long_name;             ///< a short label for plots, e.g. "final loss"
  std::string description;           ///< what it is, where it is NaN or -1, ...
  std::string units;                 ///< e.g. "s", "steps"; empty when dimensionless
  /// The value of a point that did not write it: NaN for f64, -1 for integers, member 0 for enums
  /// (set by the helpers below).
  double fill = std::numeric_limits<double>::quiet_NaN();
};

/// Declaration helpers: a real (NaN-filled), integer (-1-filled), 32-bit integer (-1-filled) or
/// enum (member-0-filled) field.
FieldDef real_field(Group group, std::string name, std::string long_name, std::string description,
                    std::string units = "", std::vector<std::string> dims = {});
FieldDef integer_field(Group group, std::string name, std::string long_name,
                       std::string description, std::string units = "",
                       std::vector<std::string> dims = {});
FieldDef int32_field(Group group, std::string name, std::string long_name, std::string description,
                     std::string units = "");
FieldDef enum_field(Group group, std::string name, std::string long_name, std::string description,
                    std::vector<std::string> members);

/// Index of a field in its Schema.
using FieldId = int;

/// The fields of one sweep, in declaration order, and the byte layout of a Record.
class Schema {
 public:
  /// Declares a trailing dimension; throws Error when the name is taken.
  void add_dim(DimDef dim);
  /// Declares a field; throws Error when its name is taken in its group, a dimension is unknown,
  /// or an enum has no members (or more than 256). Returns its id.
  FieldId add(FieldDef field);

  /// The id of the field, or -1.
  FieldId find(Group group, std::string_view name) const;
  /// The id of the field; throws Error when there is none.
  FieldId id(Group group, std::string_view name) const;
  /// The dimension called `name`, or nullptr.
  const DimDef* find_dim(std::string_view name) const;

  const std::vector<FieldDef>& fields() const { return fields_; }
  const std::vector<DimDef>& dims() const { return dims_; }
  const FieldDef& field(FieldId id) const { return fields_.at(static_cast<std::size_t>(id)); }

  /// The field whose value says a point's data is complete: written last (store.hpp).
  void set_status_field(FieldId id);
  FieldId status_field() const { return status_; }

  /// Trailing dimension lengths of a field.
  std::vector<std::size_t> tail_shape(FieldId id) const;
  /// Elements per point (product of the trailing lengths; 1 for scalars, 0 when absent).
  std::size_t count(FieldId id) const { return layout_.at(static_cast<std::size_t>(id)).count; }
  /// A field is in the file only when every trailing dimension is non-empty.
  bool present(FieldId id) const { return count(id) > 0; }
  /// Byte offset of the field in a Record.
  std::size_t offset(FieldId id) const { return layout_.at(static_cast<std::size_t>(id)).offset; }
  /// Bytes of one Record (a multiple of 8).
  std::size_t record_bytes() const { return record_bytes_; }

  static std::size_t elem_size(ElemType type);

 private:
  struct Slot {
    std::size_t offset = 0;
    std::size_t count = 0;
  };
  std::vector<DimDef> dims_;
  std::vector<FieldDef> fields_;
  std::vector<Slot> layout_;
  std::size_t record_bytes_ = 0;
  FieldId status_ = -1;
};

/// One point's values of every field of a Schema (which must outlive it), starting at the fills.
/// The setters check the element type and bounds; none of them allocates.
class Record {
 public:
  Record() = default;
  explicit Record(const Schema& schema);
  Record(const Record&) = default;
  Record& operator=(const Record&) = default;
  /// A moved-from Record is empty: any access to it throws.
  Record(Record&& other) noexcept;
  Record& operator=(Record&& other) noexcept;

  const Schema& schema() const { return *schema_; }
  bool empty() const { return schema_ == nullptr; }

  /// Element i of an f64 field.
  void set(FieldId id, double value, std::size_t i = 0);
  /// Element i of an i64 or i32 field.
  void set_integer(FieldId id, std::int64_t value, std::size_t i = 0);
  /// An enum field's code (member index).
  void set_code(FieldId id, std::uint8_t code);
  /// Copies n values into an f64 field from element `at` on; the rest keep their values.
  void set_reals(FieldId id, const double* values, std::size_t n, std::size_t at = 0);

  double real(FieldId id, std::size_t i = 0) const;
  std::int64_t integer(FieldId id, std::size_t i = 0) const;
  std::uint8_t code(FieldId id) const;

  /// The packed bytes (Schema::record_bytes() of them).
  const unsigned char* data() const { return bytes_.data(); }

 private:
  /// Byte offset of elements [i, i + n) of a field, checked against its type and length.
  std::size_t locate(FieldId id, ElemType type, std::size_t i, std::size_t n) const;
  unsigned char* at(FieldId id, ElemType type, std::size_t i, std::size_t n);
  const unsigned char* at(FieldId id, ElemType type, std::size_t i) const;
  const Schema* schema_ = nullptr;
  std::vector<unsigned char> bytes_;
};

}  // namespace symsweep
