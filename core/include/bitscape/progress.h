// Progress reporting and cancellation for long-running core jobs. A job takes a ProgressSink&
// and a CancelToken; the CLI's sink draws on stderr, the GUI's forwards queued Qt signals.
// Plain-value header (no LibTorch).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "bitscape/error.h"

namespace bitscape {

// Shared flag: copies observe the same cancellation. Cheap to pass by value.
class CancelToken {
 public:
  CancelToken() : flag_(std::make_shared<std::atomic<bool>>(false)) {}
  void cancel() const { flag_->store(true); }
  bool cancelled() const { return flag_->load(); }
  void throw_if_cancelled() const {
    if (cancelled()) throw Cancelled();
  }

 private:
  std::shared_ptr<std::atomic<bool>> flag_;
};

// Cancelled when the whole process is asked to stop (the CLI's handlers of SIGINT, SIGTERM and
// SIGHUP): waits inside core that no job token reaches (a project being checked in a child
// process) end with Cancelled.
const CancelToken& process_cancel_token();

class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  // A new stage begins with `total` steps (0 when unknown).
  virtual void stage(const std::string& name, int64_t total) {}
  // `done` steps of the current stage are finished (absolute count, not an increment).
  virtual void advance(int64_t done) {}
  // A human-readable line (results per chunk, warnings).
  virtual void log(const std::string& line) {}
  // An intermediate result the moment it exists (e.g. each evaluated point of a search), as a
  // JSON object of `kind` ("search_point", ...). The CLI prints them as JSON lines with --json;
  // the GUI draws them live.
  virtual void result(const std::string& kind, const std::string& json) {}
};

// Discards everything; for tests and callers that do not care.
class NullProgress : public ProgressSink {};

}  // namespace bitscape
