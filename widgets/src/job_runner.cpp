#include "bitscape/widgets/job_runner.h"

#include <QMetaObject>

#include <algorithm>
#include <chrono>
#include <exception>
#include <mutex>

namespace bitscape::widgets {

std::mutex& handoff_mutex() {
  static std::mutex m;
  return m;
}

// What a worker may touch of the runner: it can post to the runner while the runner lives.
// A queued call that is still pending when the runner is destroyed is discarded by Qt.
struct JobRunner::Channel {
  std::mutex mutex;
  JobRunner* runner = nullptr;

  void post(quint64 job, std::function<void(JobRunner*)> action) {
    std::lock_guard<std::mutex> lock(mutex);
    std::lock_guard<std::mutex> published(handoff_mutex());
    if (runner == nullptr) return;
    JobRunner* r = runner;
    // The receiving side takes the hand-off lock before it touches `action` (see startErased).
    QMetaObject::invokeMethod(
        r,
        [r, job, action = std::move(action)] {
          { std::lock_guard<std::mutex> received(handoff_mutex()); }
          r->deliver(job, [&] { action(r); });
        },
        Qt::QueuedConnection);
  }
};

// The job's ProgressSink: every call becomes a queued signal of the runner, in call order.
class JobRunner::Sink : public ProgressSink {
 public:
  Sink(std::shared_ptr<Channel> channel, quint64 job) : channel_(std::move(channel)), job_(job) {}

  void stage(const std::string& name, int64_t total) override {
    total_ = total;
    start_ = Clock::now();
    channel_->post(job_, [job = job_, text = QString::fromStdString(name), total](JobRunner* r) {
      Q_EMIT r->stageStarted(job, text, total);
    });
  }

  void advance(int64_t done) override {
    double eta = -1.0;
    if (total_ > 0 && done > 0) {
      const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
      eta = elapsed / double(done) * double(std::max<int64_t>(total_ - done, 0));
    }
    channel_->post(job_, [job = job_, done, total = total_, eta](JobRunner* r) {
      Q_EMIT r->progressed(job, done, total, eta);
    });
  }

  void log(const std::string& line) override {
    channel_->post(job_, [job = job_, text = QString::fromStdString(line)](JobRunner* r) {
      Q_EMIT r->logLine(job, text);
    });
  }

  void result(const std::string& kind, const std::string& json) override {
    channel_->post(job_, [job = job_, k = QString::fromStdString(kind),
                          j = QString::fromStdString(json)](JobRunner* r) {
      Q_EMIT r->resultReported(job, k, j);
    });
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::shared_ptr<Channel> channel_;
  quint64 job_;
  int64_t total_ = 0;
  Clock::time_point start_ = Clock::now();
};

JobRunner::JobRunner(QObject* parent) : QObject(parent), channel_(std::make_shared<Channel>()) {
  channel_->runner = this;
  pool_.setMaxThreadCount(1);
}

JobRunner::~JobRunner() {
  {
    std::lock_guard<std::mutex> lock(channel_->mutex);
    channel_->runner = nullptr;
  }
  token_.cancel();
  pool_.waitForDone();
}

void JobRunner::cancel() {
  if (running_) token_.cancel();
}

quint64 JobRunner::startErased(const QString& name, Work work) {
  token_.cancel();  // the previous job, if any, is stale from now on
  token_ = CancelToken();
  const quint64 job = ++current_;
  const bool wasRunning = running_;
  running_ = true;

  // Published under a lock that the worker takes before it reads anything the job captured: the
  // hand-off is then ordered by a lock both threads hold (QThreadPool's queue orders it too,
  // with futexes that ThreadSanitizer cannot see).
  std::unique_lock<std::mutex> published(handoff_mutex());
  pool_.start([channel = channel_, token = token_, job, work = std::move(work)]() {
    { std::lock_guard<std::mutex> received(handoff_mutex()); }
    std::function<void(JobRunner*)> outcome;
    if (token.cancelled()) {  // superseded or cancelled before it began
      outcome = [job](JobRunner* r) { Q_EMIT r->cancelled(job); };
    } else {
      Sink sink(channel, job);
      try {
        std::function<void()> deliverResult = work(sink, token);
        if (token.cancelled()) {
          outcome = [job](JobRunner* r) { Q_EMIT r->cancelled(job); };
        } else {
          outcome = [job, deliverResult](JobRunner* r) {
            deliverResult();
            Q_EMIT r->finished(job);
          };
        }
      } catch (const Cancelled&) {
        outcome = [job](JobRunner* r) { Q_EMIT r->cancelled(job); };
      } catch (const std::exception& e) {
        outcome = [job, message = QString::fromStdString(e.what())](JobRunner* r) {
          Q_EMIT r->failed(job, message);
        };
      } catch (...) {
        outcome = [job](JobRunner* r) {
          Q_EMIT r->failed(job, JobRunner::tr("The job failed with an unknown error."));
        };
      }
    }
    channel->post(job, [job, outcome](JobRunner* r) {
      r->end(job);
      outcome(r);
    });
  });
  published.unlock();

  Q_EMIT started(job, name);
  if (!wasRunning) Q_EMIT runningChanged(true);
  return job;
}

void JobRunner::deliver(quint64 job, const std::function<void()>& action) {
  if (job != current_) return;  // stale: a newer job started since
  action();
}

void JobRunner::end(quint64 job) {
  if (job != current_ || !running_) return;
  running_ = false;
  Q_EMIT runningChanged(false);
}

}  // namespace bitscape::widgets
