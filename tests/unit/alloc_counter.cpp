#include "alloc_counter.hpp"

#include <cerrno>
#include <cstddef>

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);
}

namespace {
bool g_counting = false;
long g_count = 0;
inline void seen() {
  if (g_counting) ++g_count;
}
}  // namespace

// glibc lets a program replace malloc, free, calloc and realloc (and the aligned variants);
// forwarding to the __libc_ functions keeps one heap. Not under AddressSanitizer: it allocates
// through its own heap (strdup and others it intercepts), which glibc's free must never see (HDF5
// freed such a block at exit: "free(): invalid size"); the counting tests skip themselves there.
#if !defined(__SANITIZE_ADDRESS__) && !defined(SYMSWEEP_ASAN_RUNTIME)
extern "C" {
void* malloc(std::size_t n) {
  seen();
  return __libc_malloc(n);
}
void free(void* p) {
  __libc_free(p);
}
void* calloc(std::size_t n, std::size_t size) {
  seen();
  return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t n) {
  seen();
  return __libc_realloc(p, n);
}
void* memalign(std::size_t align, std::size_t n) {
  seen();
  return __libc_memalign(align, n);
}
void* aligned_alloc(std::size_t align, std::size_t n) {
  seen();
  return __libc_memalign(align, n);
}
int posix_memalign(void** out, std::size_t align, std::size_t n) {
  seen();
  void* p = __libc_memalign(align, n);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}
}
#endif

namespace symsweep::testing {

void start_counting_allocations() {
  g_count = 0;
  g_counting = true;
}

long stop_counting_allocations() {
  g_counting = false;
  return g_count;
}

}  // namespace symsweep::testing
