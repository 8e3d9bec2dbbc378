// Runs bitscape-cli for the end-to-end tests and checks the shape of its error messages.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

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

// Starts bitscape-cli with `args` in the background, its stderr going to `err_path`.
inline pid_t spawn_cli(const std::vector<std::string>& args, const std::string& err_path) {
  const pid_t pid = fork();
  if (pid == 0) {
    FILE* f = std::freopen(err_path.c_str(), "w", stderr);
    (void)f;
    std::vector<char*> argv{const_cast<char*>(BITSCAPE_CLI)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(BITSCAPE_CLI, argv.data());
    _exit(127);
  }
  return pid;
}

// Waits (at most `timeout`) until the file at `path` contains `marker`; false on timeout.
inline bool wait_for_text(const std::string& path, const std::string& marker,
                          std::chrono::seconds timeout = std::chrono::seconds(120)) {
  const auto t0 = std::chrono::steady_clock::now();
  while (read_file(path).find(marker) == std::string::npos) {
    if (std::chrono::steady_clock::now() - t0 > timeout) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// Waits for a process; its exit code, 128 + the signal that killed it, or -1.
inline int wait_exit_code(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Starts bitscape-cli with `args`, waits for `marker` on its stderr (and `delay` more), sends
// `sig`, and returns the exit code.
inline int signal_after(const std::vector<std::string>& args, const std::string& marker,
                        const std::string& err_path, int sig = SIGINT,
                        std::chrono::milliseconds delay = std::chrono::milliseconds(300)) {
  const pid_t pid = spawn_cli(args, err_path);
  const auto t0 = std::chrono::steady_clock::now();
  while (read_file(err_path).find(marker) == std::string::npos &&
         std::chrono::steady_clock::now() - t0 < std::chrono::seconds(120)) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid)  // ended before the marker: no signal to send
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(delay);
  kill(pid, sig);
  return wait_exit_code(pid);
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
