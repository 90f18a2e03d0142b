#include "h5.hpp"

#include "symsweep/error.hpp"

namespace symsweep::h5 {

void init() {
  static const bool done = [] {
    H5open();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

namespace {
/// Keeps the description of the deepest entry of HDF5's error stack (where the error arose).
herr_t deepest(unsigned, const H5E_error2_t* err, void* data) {
  if (err->desc != nullptr && err->desc[0] != '\0') *static_cast<std::string*>(data) = err->desc;
  return 0;
}
}  // namespace

void fail(const std::string& what) {
  std::string cause;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, deepest, &cause);
  H5Eclear2(H5E_DEFAULT);
  throw IoError("HDF5: " + what + (cause.empty() ? "" : ": " + cause));
}

void Handle::close(const std::string& what) {
  if (id_ < 0) return;
  const hid_t id = id_;
  id_ = -1;
  check_status(closer_(id), what);
}

void Handle::reset() noexcept {
  if (id_ < 0) return;
  closer_(id_);
  H5Eclear2(H5E_DEFAULT);
  id_ = -1;
}

Handle file_handle(hid_t id, const std::string& what) {
  return Handle(id, H5Fclose, what);
}
Handle group_handle(hid_t id, const std::string& what) {
  return Handle(id, H5Gclose, what);
}
Handle dataset_handle(hid_t id, const std::string& what) {
  return Handle(id, H5Dclose, what);
}
Handle space_handle(hid_t id, const std::string& what) {
  return Handle(id, H5Sclose, what);
}
Handle type_handle(hid_t id, const std::string& what) {
  return Handle(id, H5Tclose, what);
}
Handle plist_handle(hid_t id, const std::string& what) {
  return Handle(id, H5Pclose, what);
}
Handle attribute_handle(hid_t id, const std::string& what) {
  return Handle(id, H5Aclose, what);
}

Handle string_type() {
  Handle t = type_handle(H5Tcopy(H5T_C_S1), "copy string type");
  check_status(H5Tset_size(t.get(), H5T_VARIABLE), "set string size");
  check_status(H5Tset_cset(t.get(), H5T_CSET_UTF8), "set string charset");
  return t;
}

void write_attribute(hid_t obj, const std::string& name, const std::string& value) {
  const std::string what = "attribute '" + name + "'";
  Handle type = string_type();
  Handle space = space_handle(H5Screate(H5S_SCALAR), what);
  Handle attr = attribute_handle(
      H5Acreate2(obj, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), what);
  const char* ptr = value.c_str();
  check_status(H5Awrite(attr.get(), type.get(), &ptr), "write " + what);
  attr.close("close " + what);
}

namespace {
template <class T>
void write_scalar_attribute(hid_t obj, const std::string& name, hid_t type, const T& value) {
  const std::string what = "attribute '" + name + "'";
  Handle space = space_handle(H5Screate(H5S_SCALAR), what);
  Handle attr = attribute_handle(
      H5Acreate2(obj, name.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT), what);
  check_status(H5Awrite(attr.get(), type, &value), "write " + what);
  attr.close("close " + what);
}
}  // namespace

void write_attribute(hid_t obj, const std::string& name, std::int64_t value) {
  write_scalar_attribute(obj, name, H5T_NATIVE_INT64, value);
}
void write_attribute(hid_t obj, const std::string& name, double value) {
  write_scalar_attribute(obj, name, H5T_NATIVE_DOUBLE, value);
}

void write_attribute(hid_t obj, const std::string& name, const std::vector<std::uint8_t>& values) {
  const std::string what = "attribute '" + name + "'";
  const hsize_t n = values.size();
  Handle space = space_handle(H5Screate_simple(1, &n, nullptr), what);
  Handle attr = attribute_handle(
      H5Acreate2(obj, name.c_str(), H5T_STD_U8LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), what);
  check_status(H5Awrite(attr.get(), H5T_NATIVE_UINT8, values.data()), "write " + what);
  attr.close("close " + what);
}

bool has_attribute(hid_t obj, const std::string& name) {
  return check_status(H5Aexists(obj, name.c_str()), "look up attribute '" + name + "'") > 0;
}

std::string read_string_attribute(hid_t obj, const std::string& name) {
  const std::string what = "attribute '" + name + "'";
  Handle attr = attribute_handle(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "open " + what);
  Handle type = string_type();
  char* ptr = nullptr;
  check_status(H5Aread(attr.get(), type.get(), &ptr), "read " + what);
  std::string value = ptr ? ptr : "";
  H5free_memory(ptr);
  return value;
}

std::int64_t read_int_attribute(hid_t obj, const std::string& name) {
  const std::string what = "attribute '" + name + "'";
  Handle attr = attribute_handle(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "open " + what);
  std::int64_t v = 0;
  check_status(H5Aread(attr.get(), H5T_NATIVE_INT64, &v), "read " + what);
  return v;
}

std::vector<std::string> link_names(hid_t group) {
  H5G_info_t info{};
  check_status(H5Gget_info(group, &info), "list a group");
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t len =
        H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (len < 0) fail("name of a link");
    std::string name(static_cast<std::size_t>(len), '\0');
    H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size() + 1,
                       H5P_DEFAULT);
    names.push_back(std::move(name));
  }
  return names;
}

std::vector<hsize_t> dataset_shape(hid_t dset) {
  Handle space = space_handle(H5Dget_space(dset), "dataset space");
  const int rank = check_status(H5Sget_simple_extent_ndims(space.get()), "dataset rank");
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return dims;
}

namespace {
template <class T>
std::vector<T> read_all(hid_t dset, hid_t mem_type) {
  Handle space = space_handle(H5Dget_space(dset), "dataset space");
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  std::vector<T> out(static_cast<std::size_t>(n));
  if (n > 0) {
    check_status(H5Dread(dset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()),
                 "read dataset");
  }
  return out;
}
}  // namespace

std::vector<double> read_doubles(hid_t dset) {
  return read_all<double>(dset, H5T_NATIVE_DOUBLE);
}

std::vector<std::int64_t> read_ints(hid_t dset) {
  // Enums convert to their base integer type only through an explicit integer read of the same
  // size; read them as uint8 and widen.
  Handle type = type_handle(H5Dget_type(dset), "dataset type");
  if (H5Tget_class(type.get()) == H5T_ENUM) {
    const auto raw = read_all<std::uint8_t>(dset, type.get());
    return std::vector<std::int64_t>(raw.begin(), raw.end());
  }
  return read_all<std::int64_t>(dset, H5T_NATIVE_INT64);
}

bool is_string_dataset(hid_t dset) {
  Handle type = type_handle(H5Dget_type(dset), "dataset type");
  return H5Tget_class(type.get()) == H5T_STRING;
}

std::vector<std::string> read_strings(hid_t dset) {
  Handle type = type_handle(H5Dget_type(dset), "dataset type");
  Handle space = space_handle(H5Dget_space(dset), "dataset space");
  const auto n = static_cast<std::size_t>(H5Sget_simple_extent_npoints(space.get()));
  std::vector<std::string> out;
  if (n == 0) return out;
  if (H5Tis_variable_str(type.get()) > 0) {
    Handle mem = string_type();
    std::vector<char*> ptrs(n, nullptr);
    check_status(H5Dread(dset, mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()),
                 "read strings");
    for (char* p : ptrs) {
      out.emplace_back(p ? p : "");
      H5free_memory(p);
    }
    return out;
  }
  const std::size_t width = H5Tget_size(type.get());
  std::vector<char> buf(n * width);
  check_status(H5Dread(dset, type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()),
               "read strings");
  for (std::size_t i = 0; i < n; ++i) {
    const char* p = buf.data() + i * width;
    std::size_t len = 0;
    while (len < width && p[len] != '\0') ++len;
    out.emplace_back(p, len);
  }
  return out;
}

std::vector<std::string> enum_members(hid_t dset) {
  Handle type = type_handle(H5Dget_type(dset), "dataset type");
  if (H5Tget_class(type.get()) != H5T_ENUM || H5Tget_size(type.get()) != 1) return {};
  const int n = check_status(H5Tget_nmembers(type.get()), "enum members");
  std::vector<std::string> names(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    std::uint8_t code = 0;
    check_status(H5Tget_member_value(type.get(), static_cast<unsigned>(i), &code), "enum value");
    char* name = H5Tget_member_name(type.get(), static_cast<unsigned>(i));
    if (code < names.size() && name != nullptr) names[code] = name;
    H5free_memory(name);
  }
  return names;
}

}  // namespace symsweep::h5
