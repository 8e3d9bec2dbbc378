// One fuzz target per reader of outside data (issue 14's standing rule: a new parser comes with
// its target). Each file defines its entry point with BITSCAPE_FUZZ_TARGET(name) { ... }, which
// becomes libFuzzer's LLVMFuzzerTestOneInput in a fuzzing build (scripts/fuzz.sh, clang) and a
// registered function in the replay test that ctest runs over the committed seed corpora and
// regression inputs (tests/fuzz/corpus/<name>/, tests/fuzz/regressions/<name>/) with any compiler.
//
// A reader may refuse its input only with bitscape::InputError; any other exception, a crash, a
// leak or a timeout is a finding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "bitscape/error.h"

namespace bitscape::fuzz {

using Target = int (*)(const uint8_t* data, size_t size);
bool register_target(const char* name, Target target);

// Set by a target when its reader accepted the input: the replay test checks that the seed
// corpus holds inputs that are read all the way (a seed refused at once explores nothing).
inline bool& accepted() {
  static bool value = false;
  return value;
}

inline std::string as_string(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

}  // namespace bitscape::fuzz

#ifdef BITSCAPE_FUZZ_REPLAY
#define BITSCAPE_FUZZ_TARGET(name)                                                       \
  static int bitscape_fuzz_##name(const uint8_t* data, size_t size);                     \
  [[maybe_unused]] static const bool bitscape_fuzz_registered_##name =                   \
      bitscape::fuzz::register_target(#name, bitscape_fuzz_##name);                      \
  static int bitscape_fuzz_##name(const uint8_t* data, size_t size)
#else
#define BITSCAPE_FUZZ_TARGET(name) \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
#endif
