// Runs bitscape-cli for the end-to-end tests and checks the shape of its error messages.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <unistd.h>

#include "test_util.h"

namespace bitscape::test {

struct CliRun {
  int code = -1;
  std::string out, err;
};

inline CliRun cli(const std::string& arguments, const std::string& env = "") {
  std::string err_path = std::string(BITSCAPE_TEST_TMP) + "/stderr." + std::to_string(::getpid());
  std::string cmd = (env.empty() ? "" : "env " + env + " ") + std::string(BITSCAPE_CLI) + " " +
                    arguments + " 2>" + err_path;
  CliRun r;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = read_file(err_path);
  return r;
}

inline const std::string kSample = std::string(BITSCAPE_SAMPLE_DIR) + "/model";
inline const std::string kTest = std::string(BITSCAPE_SAMPLE_DIR) + "/test.txt";

// A copy of the sample model that a test may break.
inline std::string model_copy() {
  std::string dir = scratch_dir() + "/model";
  std::filesystem::create_directories(dir);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json"})
    std::filesystem::copy_file(kSample + "/" + f, dir + "/" + f);
  return dir;
}

inline void expect_input_error(const CliRun& r, std::initializer_list<std::string> needles) {
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  // One message: a single line.
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  for (const auto& n : needles) EXPECT_NE(r.err.find(n), std::string::npos) << r.err << " lacks " << n;
  EXPECT_TRUE(r.out.empty()) << r.out;
}


}  // namespace bitscape::test
