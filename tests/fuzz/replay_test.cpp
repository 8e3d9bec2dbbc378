// Replays every fuzz target over its committed inputs (tests/fuzz/corpus/<target>/: the seed
// corpus of real files; tests/fuzz/regressions/<target>/: inputs that once crashed, hung or
// leaked). Built with any compiler and run by ctest, so each finding stays a regression test.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

#include "fuzz_target.h"

namespace fs = std::filesystem;

namespace bitscape::fuzz {

std::map<std::string, Target>& targets() {
  static std::map<std::string, Target> t;
  return t;
}

bool register_target(const char* name, Target target) {
  targets()[name] = target;
  return true;
}

}  // namespace bitscape::fuzz

namespace {

// A damaged project that makes libhdf5 loop (a regression input) is ended after 3 s, not 30.
[[maybe_unused]] const int kShortCheck = setenv("BITSCAPE_CHECK_TIMEOUT", "3", 0);

std::vector<std::string> inputs_of(const std::string& target) {
  std::vector<std::string> files;
  for (const char* kind : {"corpus", "regressions"}) {
    const fs::path dir = fs::path(BITSCAPE_FUZZ_DIR) / kind / target;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.is_regular_file()) files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

class FuzzReplayTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FuzzReplayTest, EveryCommittedInputIsReadWithoutAFinding) {
  const auto it = bitscape::fuzz::targets().find(GetParam());
  ASSERT_NE(it, bitscape::fuzz::targets().end());
  const std::vector<std::string> files = inputs_of(GetParam());
  EXPECT_FALSE(files.empty()) << "no seed corpus for " << GetParam();
  for (const std::string& f : files) {
    SCOPED_TRACE(f);
    std::ifstream in(f, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), {});
    // A finding aborts (a crash, __builtin_trap) or throws something other than InputError.
    bitscape::fuzz::accepted() = false;
    EXPECT_NO_THROW(it->second(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
    // Seeds are real files, read all the way (except those named "refused-*").
    const std::string name = fs::path(f).filename().string();
    if (f.find("/corpus/") != std::string::npos && name.rfind("refused-", 0) != 0) {
      EXPECT_TRUE(bitscape::fuzz::accepted()) << "the seed " << f << " is refused";
    }
  }
}

std::vector<std::string> target_names() {
  std::vector<std::string> names;
  for (const auto& [name, _] : bitscape::fuzz::targets()) names.push_back(name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzReplayTest, ::testing::ValuesIn(target_names()),
                         [](const auto& info) { return info.param; });

}  // namespace
