# Warnings for symsweep's own targets only (third-party headers come in as SYSTEM includes).
add_library(symsweep_warnings INTERFACE)
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  target_compile_options(symsweep_warnings INTERFACE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
    -Woverloaded-virtual -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough
    -Wmisleading-indentation)
  if(SYMSWEEP_WERROR)
    target_compile_options(symsweep_warnings INTERFACE -Werror)
  endif()
endif()
