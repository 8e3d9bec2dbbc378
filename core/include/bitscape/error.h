// Errors Bitscape reports to the user. Bad input (a file or an option) is expected, not
// exceptional in the user's eyes: it is an InputError naming the file and the problem; the CLI
// prints it and exits with code 2, the GUI shows it in a dialog. Plain-value header (no LibTorch).
#pragma once

#include <stdexcept>
#include <string>

namespace bitscape {

class InputError : public std::runtime_error {
 public:
  InputError(std::string path, std::string problem)
      : std::runtime_error(path.empty() ? problem : path + ": " + problem),
        path_(std::move(path)),
        problem_(std::move(problem)) {}
  const std::string& path() const { return path_; }
  const std::string& problem() const { return problem_; }

 private:
  std::string path_;
  std::string problem_;
};

// Thrown by a job that noticed its CancelToken; whatever it was writing is left untouched.
class Cancelled : public std::runtime_error {
 public:
  Cancelled() : std::runtime_error("cancelled") {}
};

}  // namespace bitscape
