# The sanitizer settings of tests/run.sh's build-sanitize/ and tests/fuzz/run.sh's build-fuzz/,
# loaded with `cmake -C cmake/sanitize.cmake` (each script adds its own options on top):
# AddressSanitizer and UndefinedBehaviorSanitizer at -O1 with line tables (the usual settings for
# ASan; a third of the time of -O2 -g to build, and the reports still name file and line), a
# unity build. UBSan without its alignment and null checks: they instrument every load and store
# and double the compile time, x86-64 has no alignment faults, and ASan reports a null
# dereference (SEGV).
set(CMAKE_BUILD_TYPE None CACHE STRING "" FORCE)
set(CMAKE_CXX_FLAGS "-O1 -g1" CACHE STRING "" FORCE)
set(CMAKE_UNITY_BUILD ON CACHE BOOL "" FORCE)
set(SYMSWEEP_SANITIZE address,undefined CACHE STRING "" FORCE)
set(SYMSWEEP_NO_SANITIZE alignment,null CACHE STRING "" FORCE)
