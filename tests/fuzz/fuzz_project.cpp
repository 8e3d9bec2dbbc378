// Project files as bytes (core/src/io/project.cpp): the input is written as a file and opened as
// any project from outside is: ProjectReader::open reads it whole in a child process first
// (libhdf5 itself crashes on some damaged files), then check_project() reads it here as the jobs
// and views do. A crash of libhdf5 in the child is an InputError; in this process, a finding.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "bitscape/project.h"
#include "bitscape/project_check.h"
#include "fuzz_target.h"

BITSCAPE_FUZZ_TARGET(project) {
  static const std::string path = [] {
    const char* dir = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    return std::string(dir) + "/bitscape-fuzz-project-" + std::to_string(::getpid()) + ".bsproj.h5";
  }();
  {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) return 0;
    std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  // How often libhdf5 crashed or looped in the checking child (reported when the run ends).
  static int crashes = 0, hangs = 0;
  static const bool report = [] {
    return std::atexit([] {
      std::fprintf(stderr, "contained in the child: %d crashes, %d hangs of libhdf5\n", crashes, hangs);
    }) == 0;
  }();
  (void)report;
  try {
    bitscape::ProjectReader::open(path);
    bitscape::check_project(path);
    bitscape::fuzz::accepted() = true;
  } catch (const bitscape::InputError& e) {
    const std::string m = e.problem();
    crashes += m.find("crashed the HDF5 library") != std::string::npos;
    hangs += m.find("did not finish within") != std::string::npos;
  }
  std::remove(path.c_str());
  return 0;
}
