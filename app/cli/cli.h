// bitscape-cli: thin subcommands over core jobs. Each command declares its options in one table
// (help is generated from it) and registers itself; results go to stdout (human lines or --json),
// progress to stderr. Exit codes: 0 ok, 1 usage error, 2 bad input, 3 internal error, 130
// cancelled.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "bitscape/progress.h"

namespace bitscape::cli {

struct OptionSpec {
  std::string name;        // without the leading "--"
  std::string value_name;  // empty for a flag
  std::string help;
  std::string default_value;
  bool required = false;
};

class Args {
 public:
  bool has(const std::string& name) const { return values_.count(name) > 0; }
  bool flag(const std::string& name) const { return has(name); }
  std::string get(const std::string& name) const;
  int64_t get_int(const std::string& name) const;  // throws UsageError if not an integer
  double get_double(const std::string& name) const;
  // Every value of an option given several times (--data a.txt --data b.txt), in order.
  std::vector<std::string> all(const std::string& name) const;
  std::map<std::string, std::string> values_;  // the last value of each option
  std::map<std::string, std::vector<std::string>> repeated_;
};

struct CommandSpec {
  std::string name;
  std::string summary;
  std::vector<OptionSpec> options;
  std::function<int(const Args&)> run;
};

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

bool register_command(CommandSpec spec);

// Cancelled by SIGINT (Ctrl-C); jobs poll it.
const CancelToken& interrupt_token();

// Draws a progress bar on stderr (redrawn in place on a terminal, a line every few seconds
// otherwise); log lines go to stderr too. `quiet` drops the bar and the log lines except
// warnings (lines starting "warning:").
class StderrProgress : public ProgressSink {
 public:
  explicit StderrProgress(bool quiet = false);
  ~StderrProgress() override;
  void stage(const std::string& name, int64_t total) override;
  void advance(int64_t done) override;
  void log(const std::string& line) override;
  // Intermediate results: printed on stdout as JSON lines ({"kind": ..., ...}) when enabled.
  void result(const std::string& kind, const std::string& json) override;
  void print_results(bool on) { results_ = on; }

 private:
  void draw(bool force);
  bool results_ = false;
  void finish_line();
  bool quiet_, tty_;
  std::string stage_;
  int64_t total_ = 0, done_ = 0;
  double start_ = 0, last_draw_ = -1;
  bool dirty_line_ = false;
};

std::string json_escape(const std::string& s);

}  // namespace bitscape::cli
