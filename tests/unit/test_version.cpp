// The build signature (version.hpp): what it holds, how two signatures are compared, and the
// test hook that injects another build.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "symsweep/version.hpp"

namespace symsweep {
namespace {

using Entries = std::vector<std::pair<std::string, std::string>>;

/// "k=v; k=v" -> entries (the test's own reading of the documented format).
Entries entries(const std::string& text) {
  Entries out;
  std::size_t at = 0;
  while (at <= text.size()) {
    const std::size_t end = std::min(text.find("; ", at), text.size());
    const std::string item = text.substr(at, end - at);
    const std::size_t eq = item.find('=');
    out.emplace_back(item.substr(0, eq), item.substr(eq + 1));
    at = end + 2;
  }
  return out;
}

std::string text_of(const Entries& e) {
  std::string out;
  for (const auto& [k, v] : e) out += (out.empty() ? "" : "; ") + k + "=" + v;
  return out;
}

/// Runs `fn` with SYMSWEEP_TEST_BUILD_OVERRIDE set to `value`, then unsets it.
template <class F>
auto with_override(const char* value, F fn) {
  ::setenv("SYMSWEEP_TEST_BUILD_OVERRIDE", value, 1);
  auto result = fn();
  ::unsetenv("SYMSWEEP_TEST_BUILD_OVERRIDE");
  return result;
}

TEST(BuildSignature, HoldsTheDocumentedEntriesInOrder) {
  ::unsetenv("SYMSWEEP_TEST_BUILD_OVERRIDE");
  const Entries e = entries(build_signature());
  std::vector<std::string> keys;
  for (const auto& [k, v] : e) {
    keys.push_back(k);
    EXPECT_FALSE(v.empty()) << k;
    EXPECT_EQ(v.find(';'), std::string::npos) << k;
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"numerics", "eigen", "simd", "isa", "opt", "arch",
                                            "fp-contract", "fast-math"}));
  EXPECT_EQ(e[0].second, std::to_string(kNumericsVersion));
  // The library is built with -ffp-contract=off and without fast-math (CMakeLists.txt).
  EXPECT_EQ(e[6].second, "off");
  EXPECT_EQ(e[7].second, "off");
  EXPECT_NE(e[2].second.find("doubles per packet"), std::string::npos);
  EXPECT_EQ(build_signature(), build_signature());
}

TEST(BuildSignature, TheDifferenceNamesEachChangedEntryAndOnlyThose) {
  const std::string current = build_signature();
  EXPECT_EQ(signature_difference(current, current), "");
  const Entries e = entries(current);
  for (std::size_t i = 0; i < e.size(); ++i) {
    Entries changed = e;
    changed[i].second += " changed";
    const std::string diff = signature_difference(text_of(changed), current);
    EXPECT_EQ(diff, e[i].first + ": " + changed[i].second + " -> " + e[i].second);
    // Two entries changed: both named, in the stored order.
    const std::size_t j = (i + 1) % e.size();
    changed[j].second = "other";
    const std::string two = signature_difference(text_of(changed), current);
    EXPECT_NE(two.find(e[i].first + ": "), std::string::npos) << two;
    EXPECT_NE(two.find(e[j].first + ": other -> " + e[j].second), std::string::npos) << two;
    EXPECT_EQ(two.find("; "), two.rfind("; ")) << two;  // exactly two differences
  }
}

TEST(BuildSignature, OrderAndSpacingDoNotMatterAMissingEntryDoes) {
  const std::string current = build_signature();
  Entries e = entries(current);
  Entries reversed(e.rbegin(), e.rend());
  EXPECT_EQ(signature_difference(text_of(reversed), current), "");
  std::string loose;
  for (const auto& [k, v] : e) loose += k + " = " + v + " ;";
  EXPECT_EQ(signature_difference(loose, current), "");
  const Entries without_simd = [&] {
    Entries out;
    for (const auto& kv : e) {
      if (kv.first != "simd") out.push_back(kv);
    }
    return out;
  }();
  EXPECT_EQ(signature_difference(text_of(without_simd), current), "simd: (none) -> " + e[2].second);
  EXPECT_EQ(signature_difference(current, text_of(without_simd)),
            "simd: " + e[2].second + " -> (none)");
}

TEST(BuildSignature, TheTestHookReplacesEntriesAndTheCompilerApart) {
  ::unsetenv("SYMSWEEP_TEST_BUILD_OVERRIDE");
  const std::string own = build_signature();
  const std::string own_compiler = compiler();
  EXPECT_FALSE(own_compiler.empty());
  // Values other than this build's own (the sanitizer build is -O1).
  const std::string opt = entries(own)[4].second, arch = entries(own)[5].second;
  const std::string other_opt = opt == "-O1" ? "-O2" : "-O1";
  const std::string other_arch = arch == "-mavx2" ? "-msse4.2" : "-mavx2";
  const std::string hooked = with_override(("opt=" + other_opt + "; arch=" + other_arch).c_str(),
                                           [] { return build_signature(); });
  const std::string diff = signature_difference(own, hooked);
  EXPECT_EQ(diff, "opt: " + opt + " -> " + other_opt + "; arch: " + arch + " -> " + other_arch);
  // A compiler change alone leaves the signature as it is.
  const auto [sig, comp] = with_override(
      "compiler=GNU 99.1.0", [] { return std::make_pair(build_signature(), compiler()); });
  EXPECT_EQ(sig, own);
  EXPECT_EQ(comp, "GNU 99.1.0");
  EXPECT_EQ(compiler(), own_compiler);
  EXPECT_EQ(build_signature(), own);
}

TEST(BuildSignature, ItsHashIsShortAndTellsSignaturesApart) {
  const std::string s = build_signature();
  const std::string h = signature_hash(s);
  EXPECT_EQ(h.size(), 16u);
  EXPECT_EQ(h.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(signature_hash(s), h);
  EXPECT_NE(signature_hash(s + " "), h);
}

TEST(BuildProvenance, NamesEveryRecordedAttributeWithAValue) {
  std::vector<std::string> names;
  for (const auto& [name, value] : build_provenance()) {
    names.push_back(name);
    EXPECT_FALSE(value.empty()) << name;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"compiler", "build_type", "build_flags", "eigen_simd",
                                             "build_signature", "build_signature_hash",
                                             "mpi_runtime", "mpi_compiled", "hdf5_runtime",
                                             "hdf5_compiled", "eigen_version", "boost_version",
                                             "random123_version", "openmp_version"}));
}

}  // namespace
}  // namespace symsweep
