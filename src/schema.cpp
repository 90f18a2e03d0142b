// Field declarations and Records. See include/symsweep/schema.hpp.
#include "symsweep/schema.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "symsweep/error.hpp"

namespace symsweep {

const char* to_string(Group g) {
  switch (g) {
    case Group::results:
      return "results";
    case Group::traces:
      return "traces";
    case Group::run:
      return "run";
  }
  return "?";
}

FieldDef real_field(Group group, std::string name, std::string long_name, std::string description,
                    std::string units, std::vector<std::string> dims) {
  FieldDef f;
  f.name = std::move(name);
  f.group = group;
  f.type = ElemType::f64;
  f.dims = std::move(dims);
  f.long_name = std::move(long_name);
  f.description = std::move(description);
  f.units = std::move(units);
  f.fill = std::numeric_limits<double>::quiet_NaN();
  return f;
}

FieldDef integer_field(Group group, std::string name, std::string long_name,
                       std::string description, std::string units, std::vector<std::string> dims) {
  FieldDef f = real_field(group, std::move(name), std::move(long_name), std::move(description),
                          std::move(units), std::move(dims));
  f.type = ElemType::i64;
  f.fill = -1;
  return f;
}

FieldDef int32_field(Group group, std::string name, std::string long_name, std::string description,
                     std::string units) {
  FieldDef f = integer_field(group, std::move(name), std::move(long_name), std::move(description),
                             std::move(units));
  f.type = ElemType::i32;
  return f;
}

FieldDef enum_field(Group group, std::string name, std::string long_name, std::string description,
                    std::vector<std::string> members) {
  FieldDef f = real_field(group, std::move(name), std::move(long_name), std::move(description));
  f.type = ElemType::enum8;
  f.members = std::move(members);
  f.fill = 0;
  return f;
}

// ---------------------------------------------------------------------------------------- Schema
std::size_t Schema::elem_size(ElemType type) {
  switch (type) {
    case ElemType::f64:
    case ElemType::i64:
      return 8;
    case ElemType::i32:
      return 4;
    case ElemType::enum8:
      return 1;
  }
  return 0;
}

void Schema::add_dim(DimDef dim) {
  SYMSWEEP_VERIFY(find_dim(dim.name) == nullptr, "dimension '" + dim.name + "' declared twice");
  SYMSWEEP_VERIFY(!dim.name.empty() && dim.name.find_first_of("/.") == std::string::npos &&
                      dim.name != "axes" && dim.name != "results" && dim.name != "traces" &&
                      dim.name != "run",
                  "dimension '" + dim.name +
                      "': a dimension needs a name without '/' or '.' that is not a group's");
  dims_.push_back(std::move(dim));
}

const DimDef* Schema::find_dim(std::string_view name) const {
  for (const DimDef& d : dims_) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

FieldId Schema::add(FieldDef field) {
  const std::string where = std::string("field /") + to_string(field.group) + "/" + field.name;
  SYMSWEEP_VERIFY(!field.name.empty() && field.name.find_first_of("/.") == std::string::npos,
                  where + ": a field needs a name without '/' or '.'");
  SYMSWEEP_VERIFY(find(field.group, field.name) < 0, where + " declared twice");
  SYMSWEEP_VERIFY(
      field.type != ElemType::enum8 || (!field.members.empty() && field.members.size() <= 256),
      where + ": an enum needs 1 to 256 members");
  SYMSWEEP_VERIFY(field.type == ElemType::enum8 || field.members.empty(),
                  where + ": only enums have members");
  for (std::size_t m = 0; m < field.members.size(); ++m) {
    const std::string& name = field.members[m];
    SYMSWEEP_VERIFY(!name.empty() && name.find_first_of(" \t") == std::string::npos,
                    where + ": enum member '" + name + "' must be one word (CF flag_meanings)");
    SYMSWEEP_VERIFY(std::find(field.members.begin(), field.members.begin() + m, name) ==
                        field.members.begin() + m,
                    where + ": enum member '" + name + "' named twice");
  }
  if (field.type != ElemType::f64) {  // integer fills: whole, in range
    const double limit = field.type == ElemType::enum8
                             ? static_cast<double>(field.members.size()) - 1
                             : (field.type == ElemType::i32 ? 2147483647.0 : 9.2e18);
    SYMSWEEP_VERIFY(std::isfinite(field.fill) && field.fill == std::floor(field.fill) &&
                        field.fill <= limit &&
                        field.fill >= (field.type == ElemType::enum8 ? 0.0 : -limit),
                    where + ": the fill value must be a whole number the element type holds");
  }
  Slot slot;
  slot.count = 1;
  for (const std::string& d : field.dims) {
    const DimDef* dim = find_dim(d);
    SYMSWEEP_VERIFY(dim != nullptr, where + ": unknown dimension '" + d + "'");
    slot.count *= dim->coords.size();
  }
  slot.offset = record_bytes_;
  record_bytes_ += (slot.count * elem_size(field.type) + 7) / 8 * 8;
  fields_.push_back(std::move(field));
  layout_.push_back(slot);
  return static_cast<FieldId>(fields_.size() - 1);
}

FieldId Schema::find(Group group, std::string_view name) const {
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    if (fields_[i].group == group && fields_[i].name == name) return static_cast<FieldId>(i);
  }
  return -1;
}

FieldId Schema::id(Group group, std::string_view name) const {
  const FieldId i = find(group, name);
  SYMSWEEP_VERIFY(i >= 0, std::string("no field /") + to_string(group) + "/" + std::string(name));
  return i;
}

void Schema::set_status_field(FieldId id) {
  SYMSWEEP_VERIFY(field(id).type == ElemType::enum8 && field(id).dims.empty(),
                  "the status field must be a scalar enum");
  status_ = id;
}

std::vector<std::size_t> Schema::tail_shape(FieldId id) const {
  std::vector<std::size_t> shape;
  for (const std::string& d : field(id).dims) shape.push_back(find_dim(d)->coords.size());
  return shape;
}

// ---------------------------------------------------------------------------------------- Record
Record::Record(const Schema& schema) : schema_(&schema), bytes_(schema.record_bytes(), 0) {
  for (FieldId id = 0; id < static_cast<FieldId>(schema.fields().size()); ++id) {
    const FieldDef& f = schema.field(id);
    const std::size_t n = schema.count(id);
    unsigned char* p = bytes_.data() + schema.offset(id);
    for (std::size_t i = 0; i < n; ++i) {
      switch (f.type) {
        case ElemType::f64:
          std::memcpy(p + 8 * i, &f.fill, 8);
          break;
        case ElemType::i64: {
          const auto v = static_cast<std::int64_t>(f.fill);
          std::memcpy(p + 8 * i, &v, 8);
          break;
        }
        case ElemType::i32: {
          const auto v = static_cast<std::int32_t>(f.fill);
          std::memcpy(p + 4 * i, &v, 4);
          break;
        }
        case ElemType::enum8:
          p[i] = static_cast<std::uint8_t>(f.fill);
          break;
      }
    }
  }
}

Record::Record(Record&& other) noexcept
    : schema_(std::exchange(other.schema_, nullptr)), bytes_(std::move(other.bytes_)) {}

Record& Record::operator=(Record&& other) noexcept {
  schema_ = std::exchange(other.schema_, nullptr);
  bytes_ = std::move(other.bytes_);
  return *this;
}

std::size_t Record::locate(FieldId id, ElemType type, std::size_t i, std::size_t n) const {
  SYMSWEEP_VERIFY(schema_ != nullptr, "access to an empty Record");
  const FieldDef& f = schema_->field(id);
  SYMSWEEP_VERIFY(f.type == type || (type == ElemType::i64 && f.type == ElemType::i32),
                  "field " + f.name + " has another element type");
  SYMSWEEP_VERIFY(i + n <= schema_->count(id), "field " + f.name + ": element out of range");
  return schema_->offset(id) + i * Schema::elem_size(f.type);
}

unsigned char* Record::at(FieldId id, ElemType type, std::size_t i, std::size_t n) {
  return bytes_.data() + locate(id, type, i, n);
}

const unsigned char* Record::at(FieldId id, ElemType type, std::size_t i) const {
  return bytes_.data() + locate(id, type, i, 1);
}

void Record::set(FieldId id, double value, std::size_t i) {
  std::memcpy(at(id, ElemType::f64, i, 1), &value, 8);
}

void Record::set_reals(FieldId id, const double* values, std::size_t n, std::size_t i) {
  if (n == 0) return;
  std::memcpy(at(id, ElemType::f64, i, n), values, 8 * n);
}

void Record::set_integer(FieldId id, std::int64_t value, std::size_t i) {
  unsigned char* p = at(id, ElemType::i64, i, 1);
  if (schema_->field(id).type == ElemType::i32) {
    SYMSWEEP_VERIFY(value >= INT32_MIN && value <= INT32_MAX,
                    "field " + schema_->field(id).name + ": value out of the 32-bit range");
    const auto v = static_cast<std::int32_t>(value);
    std::memcpy(p, &v, 4);
  } else {
    std::memcpy(p, &value, 8);
  }
}

void Record::set_code(FieldId id, std::uint8_t code) {
  unsigned char* p = at(id, ElemType::enum8, 0, 1);  // checks the Record, the type and the bounds
  SYMSWEEP_VERIFY(
      code < schema_->field(id).members.size(),
      "field " + schema_->field(id).name + ": no member with code " + std::to_string(code));
  *p = code;
}

double Record::real(FieldId id, std::size_t i) const {
  double v = 0;
  std::memcpy(&v, at(id, ElemType::f64, i), 8);
  return v;
}

std::int64_t Record::integer(FieldId id, std::size_t i) const {
  const unsigned char* p = at(id, ElemType::i64, i);
  if (schema_->field(id).type == ElemType::i32) {
    std::int32_t v = 0;
    std::memcpy(&v, p, 4);
    return v;
  }
  std::int64_t v = 0;
  std::memcpy(&v, p, 8);
  return v;
}

std::uint8_t Record::code(FieldId id) const {
  return *at(id, ElemType::enum8, 0);
}

}  // namespace symsweep
