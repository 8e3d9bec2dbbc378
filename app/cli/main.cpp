#include <unistd.h>

#include <chrono>
#include <cmath>
#include <signal.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "bitscape/error.h"
#include "bitscape/runtime.h"
#include "bitscape/safe_write.h"
#include "cli.h"

namespace bitscape::cli {
namespace {

std::vector<CommandSpec>& registry() {
  static std::vector<CommandSpec> commands;
  return commands;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

volatile std::sig_atomic_t g_signal = 0;

// SIGINT (Ctrl-C), SIGTERM and SIGHUP cancel the running job, which stops at its next check and
// leaves every file as it was (or complete and new). A second signal leaves at once: the
// temporaries being written are removed first (files are renamed into place only when
// complete, so nothing else is half-done).
void on_signal(int sig) {
  if (interrupt_token().cancelled()) {
    bitscape::remove_registered_temps_from_signal_handler();
    _exit(128 + sig);
  }
  g_signal = sig;
  interrupt_token().cancel();
}

int cancelled_exit_code() { return g_signal ? 128 + g_signal : 130; }

std::string command_help(const CommandSpec& c) {
  std::ostringstream s;
  s << "usage: bitscape-cli " << c.name;
  for (const auto& o : c.options) {
    std::string item = "--" + o.name + (o.value_name.empty() ? "" : " " + o.value_name);
    s << " " << (o.required ? item : "[" + item + "]");
  }
  s << "\n\n" << c.summary << "\n\noptions:\n";
  for (const auto& o : c.options) {
    std::string item = "--" + o.name + (o.value_name.empty() ? "" : " " + o.value_name);
    s << "  " << item;
    for (size_t i = item.size(); i < 26; ++i) s << ' ';
    // Lines after the first are indented under the first.
    for (char ch : " " + o.help) {
      s << ch;
      if (ch == '\n') s << std::string(29, ' ');
    }
    if (!o.default_value.empty()) s << " (default: " << o.default_value << ")";
    s << "\n";
  }
  s << "  --help                     show this help\n";
  return s.str();
}

std::string global_help() {
  std::ostringstream s;
  s << "bitscape-cli " << BITSCAPE_VERSION
    << " - mixed-precision weight quantization of LLMs, headless\n\n"
       "usage: bitscape-cli COMMAND [options]   (bitscape-cli COMMAND --help for its options)\n\n"
       "commands:\n";
  for (const auto& c : registry()) {
    s << "  " << c.name;
    for (size_t i = c.name.size(); i < 12; ++i) s << ' ';
    s << c.summary.substr(0, c.summary.find('\n')) << "\n";
  }
  return s.str();
}

Args parse(const CommandSpec& c, int argc, char** argv) {
  Args a;
  for (int i = 0; i < argc; ++i) {
    std::string tok = argv[i];
    if (tok.rfind("--", 0) != 0) throw UsageError("unexpected argument '" + tok + "'");
    std::string name = tok.substr(2), value;
    auto eq = name.find('=');
    bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const OptionSpec* spec = nullptr;
    for (const auto& o : c.options)
      if (o.name == name) spec = &o;
    if (!spec) throw UsageError("unknown option '--" + name + "' for '" + c.name + "'");
    if (spec->value_name.empty()) {
      if (inline_value) throw UsageError("option '--" + name + "' takes no value");
      a.values_[name] = "1";
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= argc) throw UsageError("option '--" + name + "' needs a value");
      value = argv[++i];
    }
    a.values_[name] = value;
    a.repeated_[name].push_back(value);
  }
  for (const auto& o : c.options) {
    if (!a.has(o.name) && !o.default_value.empty() && !o.value_name.empty())
      a.values_[o.name] = o.default_value;
    if (o.required && !a.has(o.name))
      throw UsageError("missing required option '--" + o.name + "'");
  }
  return a;
}

}  // namespace

bool register_command(CommandSpec spec) {
  registry().push_back(std::move(spec));
  return true;
}

const CancelToken& interrupt_token() { return process_cancel_token(); }

std::string Args::get(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::string() : it->second;
}

int64_t Args::get_int(const std::string& name) const {
  std::string v = get(name);
  try {
    size_t pos = 0;
    long long x = std::stoll(v, &pos);
    if (pos != v.size()) throw std::invalid_argument(v);
    // No option of any command has a meaning for a negative count, size or seed.
    if (x < 0) throw UsageError("option '--" + name + "' must not be negative, got " + v);
    return x;
  } catch (const UsageError&) {
    throw;
  } catch (const std::exception&) {
    throw UsageError("option '--" + name + "' expects an integer, got '" + v + "'");
  }
}

std::vector<std::string> Args::all(const std::string& name) const {
  auto it = repeated_.find(name);
  if (it != repeated_.end()) return it->second;
  return has(name) ? std::vector<std::string>{get(name)} : std::vector<std::string>{};
}

double Args::get_double(const std::string& name) const {
  std::string v = get(name);
  try {
    size_t pos = 0;
    double x = std::stod(v, &pos);
    if (pos != v.size()) throw std::invalid_argument(v);
    // Budgets, rates, fractions and sizes: finite and not negative.
    if (!std::isfinite(x)) throw UsageError("option '--" + name + "' must be a finite number, got " + v);
    if (x < 0) throw UsageError("option '--" + name + "' must not be negative, got " + v);
    return x;
  } catch (const UsageError&) {
    throw;
  } catch (const std::exception&) {
    throw UsageError("option '--" + name + "' expects a number, got '" + v + "'");
  }
}

StderrProgress::StderrProgress(bool quiet) : quiet_(quiet), tty_(isatty(STDERR_FILENO) != 0) {}
StderrProgress::~StderrProgress() { finish_line(); }

void StderrProgress::stage(const std::string& name, int64_t total) {
  finish_line();
  stage_ = name;
  total_ = total;
  done_ = 0;
  start_ = now_seconds();
  last_draw_ = -1;
  draw(true);
}

void StderrProgress::advance(int64_t done) {
  done_ = done;
  draw(done_ == total_);
}

void StderrProgress::log(const std::string& line) {
  if (quiet_ && line.rfind("warning:", 0) != 0) return;  // --quiet keeps warnings
  finish_line();
  std::fprintf(stderr, "%s\n", line.c_str());
}

void StderrProgress::result(const std::string& kind, const std::string& json) {
  if (!results_) return;
  finish_line();
  // {"kind": "...", <the object's members>}
  std::string line = "{\"kind\":\"" + json_escape(kind) + "\"";
  if (json.size() > 2) line += "," + json.substr(1, json.size() - 1);
  else line += "}";
  std::fprintf(stdout, "%s\n", line.c_str());
  std::fflush(stdout);
}

void StderrProgress::draw(bool force) {
  if (quiet_) return;
  double t = now_seconds();
  double min_gap = tty_ ? 0.1 : 5.0;
  if (!force && last_draw_ >= 0 && t - last_draw_ < min_gap) return;
  last_draw_ = t;
  double elapsed = t - start_;
  char line[256];
  if (total_ > 0) {
    const int width = 30;
    int filled = static_cast<int>(width * done_ / total_);
    std::string bar(filled, '#');
    bar.resize(width, '.');
    double eta = done_ > 0 ? elapsed * (total_ - done_) / done_ : 0.0;
    std::snprintf(line, sizeof line, "%-12s [%s] %lld/%lld  %.1fs  ETA %.1fs", stage_.c_str(),
                  bar.c_str(), static_cast<long long>(done_), static_cast<long long>(total_),
                  elapsed, eta);
  } else {
    std::snprintf(line, sizeof line, "%-12s %lld  %.1fs", stage_.c_str(),
                  static_cast<long long>(done_), elapsed);
  }
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s", line);
    dirty_line_ = true;
  } else {
    std::fprintf(stderr, "%s\n", line);
  }
  std::fflush(stderr);
}

void StderrProgress::finish_line() {
  if (dirty_line_) std::fprintf(stderr, "\n");
  dirty_line_ = false;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (unsigned char ch : s) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (ch < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", ch);
          out += buf;
        } else {
          out += static_cast<char>(ch);
        }
    }
  }
  return out;
}

}  // namespace bitscape::cli

int main(int argc, char** argv) {
  using namespace bitscape::cli;
  bitscape::reexec_with_passive_openmp(argv);
  bitscape::keep_freed_memory_for_reuse();
  auto& commands = registry();
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ||
      std::string(argv[1]) == "help") {
    std::cout << global_help();
    return argc < 2 ? 1 : 0;
  }
  if (std::string(argv[1]) == "--version") {
    std::cout << "bitscape-cli " << BITSCAPE_VERSION << "\n";
    return 0;
  }
  std::string name = argv[1];
  const CommandSpec* cmd = nullptr;
  for (const auto& c : commands)
    if (c.name == name) cmd = &c;
  if (!cmd) {
    std::cerr << "bitscape-cli: unknown command '" << name << "'\n\n" << global_help();
    return 1;
  }
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << command_help(*cmd);
      return 0;
    }
  }
  interrupt_token();  // constructed before a handler can run
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction action {};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(sig, &action, nullptr);
  }
  try {
    Args args = parse(*cmd, argc - 2, argv + 2);
    return cmd->run(args);
  } catch (const UsageError& e) {
    std::cerr << "bitscape-cli " << name << ": " << e.what() << "\n(see bitscape-cli " << name
              << " --help)\n";
    return 1;
  } catch (const bitscape::InputError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const bitscape::Cancelled&) {
    std::cerr << "cancelled\n";
    return cancelled_exit_code();
  } catch (const std::exception& e) {
    std::cerr << "internal error: " << e.what() << "\n";
    return 3;
  }
}
