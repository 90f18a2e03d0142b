# FindRandom123 — the header-only counter-based RNG library (Salmon et al., SC'11).
# Defines Random123_FOUND, Random123_INCLUDE_DIR and the imported target Random123::Random123.
find_path(Random123_INCLUDE_DIR NAMES Random123/philox.h
          HINTS ${Random123_ROOT} ENV Random123_ROOT PATH_SUFFIXES include)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Random123 REQUIRED_VARS Random123_INCLUDE_DIR
  FAIL_MESSAGE "Random123 headers not found: install librandom123-dev or set Random123_ROOT")
if(Random123_FOUND AND NOT TARGET Random123::Random123)
  add_library(Random123::Random123 INTERFACE IMPORTED)
  set_target_properties(Random123::Random123 PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${Random123_INCLUDE_DIR}")
endif()
mark_as_advanced(Random123_INCLUDE_DIR)
