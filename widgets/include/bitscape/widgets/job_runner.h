// Runs one long job at a time on a worker thread and hands its progress and result to the GUI
// thread. The job gets a ProgressSink whose calls arrive here as queued signals (in order) and a
// CancelToken. Each start() gets a new job id; a newer job, cancel(), or the runner's destruction
// makes the older job stale, and whatever a stale job reports afterwards is dropped.
// Works with plain values only (no LibTorch): the caller's callable returns its result by value.
#pragma once

#include <QObject>
#include <QString>
#include <QThreadPool>

#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

#include "bitscape/progress.h"

namespace bitscape::widgets {

class JobRunner : public QObject {
  Q_OBJECT

 public:
  explicit JobRunner(QObject* parent = nullptr);
  // Cancels the running job and waits for its thread to return; nothing it reports arrives.
  ~JobRunner() override;

  // Starts `job(ProgressSink&, const CancelToken&) -> Result` on the worker thread and, when it
  // returns and is still the current job, calls `onResult(Result)` on this object's thread.
  // Starting a job cancels the previous one. Jobs run one after another, never at once.
  template <typename Job, typename OnResult>
  quint64 start(const QString& name, Job job, OnResult onResult) {
    using Result = std::decay_t<std::invoke_result_t<Job&, ProgressSink&, const CancelToken&>>;
    return startErased(name, [job = std::move(job), onResult = std::move(onResult)](
                                 ProgressSink& sink, const CancelToken& cancel) mutable {
      auto result = std::make_shared<Result>(job(sink, cancel));
      return std::function<void()>([result, onResult]() mutable { onResult(std::move(*result)); });
    });
  }

  void cancel();  // asks the current job to stop; it ends with cancelled()
  bool isRunning() const { return running_; }
  quint64 currentJob() const { return current_; }

  // The type-erased form: `work` runs on the worker thread and returns what to run on ours.
  using Work = std::function<std::function<void()>(ProgressSink&, const CancelToken&)>;
  quint64 startErased(const QString& name, Work work);

 Q_SIGNALS:
  void started(quint64 job, const QString& name);
  void stageStarted(quint64 job, const QString& stage, qint64 total);
  // `done` of `total` steps (total 0 = unknown); eta_seconds < 0 when unknown.
  void progressed(quint64 job, qint64 done, qint64 total, double eta_seconds);
  void logLine(quint64 job, const QString& line);
  // An intermediate result of the job (ProgressSink::result), e.g. kind "search_point".
  void resultReported(quint64 job, const QString& kind, const QString& json);
  void finished(quint64 job);                          // after onResult ran
  void failed(quint64 job, const QString& message);    // the job threw; message = what()
  void cancelled(quint64 job);
  void runningChanged(bool running);

 private:
  struct Channel;
  class Sink;
  void deliver(quint64 job, const std::function<void()>& action);  // on our thread
  void end(quint64 job);

  std::shared_ptr<Channel> channel_;
  QThreadPool pool_;
  CancelToken token_;
  quint64 current_ = 0;
  bool running_ = false;
};

}  // namespace bitscape::widgets
