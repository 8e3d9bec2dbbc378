#include "bitscape/widgets/jobs_panel.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QRegularExpression>

#include <algorithm>
#include <QTimer>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSplitter>
#include <QTreeWidget>
#include <QVBoxLayout>

#include "bitscape/widgets/format.h"
#include "bitscape/widgets/job_runner.h"

namespace bitscape::widgets {
namespace {
enum {
  kLabel = JobsPanel::kJobColumn,
  kState = JobsPanel::kStateColumn,
  kCancel = JobsPanel::kCancelColumn,
  kElapsed = JobsPanel::kElapsedColumn,
  kEta = JobsPanel::kEtaColumn,
  kProgress = JobsPanel::kProgressColumn,
  kStage = JobsPanel::kStageColumn,
  kColumns = JobsPanel::kColumnCount
};
}

JobsPanel::JobsPanel(QWidget* parent) : QWidget(parent) {
  list_ = new QTreeWidget;
  list_->setObjectName(QStringLiteral("jobs"));
  list_->setColumnCount(kColumns);
  list_->setHeaderLabels({tr("Job"), tr("State"), QString(), tr("Elapsed"), tr("Left"), tr("Progress"), tr("Stage")});
  list_->setRootIsDecorated(false);
  QHeaderView* h = list_->header();
  h->setStretchLastSection(false);
  h->setSectionResizeMode(QHeaderView::ResizeToContents);
  h->setSectionResizeMode(kStage, QHeaderView::Interactive);
  h->resizeSection(kStage, 150);
  h->setSectionResizeMode(kProgress, QHeaderView::Interactive);
  h->resizeSection(kProgress, 140);
  h->setMinimumSectionSize(48);
  log_ = new QPlainTextEdit;
  log_->setObjectName(QStringLiteral("jobLog"));
  log_->setReadOnly(true);
  log_->setPlaceholderText(tr("The selected job's log"));
  auto* split = new QSplitter(Qt::Vertical);
  split->addWidget(list_);
  split->addWidget(log_);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(split);
  connect(list_, &QTreeWidget::currentItemChanged, this, [this] { showLog(); });

  status_ = new QWidget;
  status_->setObjectName(QStringLiteral("jobStatus"));
  statusLabel_ = new QLabel;
  statusLabel_->setObjectName(QStringLiteral("jobStatusText"));
  statusCancel_ = new QPushButton(tr("Cancel"));
  statusCancel_->setObjectName(QStringLiteral("jobStatusCancel"));
  auto* strip = new QHBoxLayout(status_);
  strip->setContentsMargins(0, 0, 0, 0);
  strip->addWidget(statusLabel_);
  strip->addWidget(statusCancel_);
  status_->setVisible(false);
  connect(statusCancel_, &QPushButton::clicked, this, &JobsPanel::cancelLatest);
  ticker_ = new QTimer(this);
  ticker_->setInterval(1000);
  connect(ticker_, &QTimer::timeout, this, &JobsPanel::tick);
}

JobsPanel::Entry* JobsPanel::latestRunning() {
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it)
    if (it->running) return &*it;
  return nullptr;
}

double JobsPanel::seriesEta(double secondsSoFar, int first, int at, int of, qint64 done, qint64 total) {
  if (of <= 0 || at < first || at > of || secondsSoFar <= 0) return -1;
  const double within = total > 0 ? std::clamp(double(done) / double(total), 0.0, 1.0) : 0.0;
  const double finished = double(at - first) + within;  // stages done since the series was first seen
  if (finished <= 0) return -1;
  return secondsSoFar / finished * (double(of - at) + (1.0 - within));
}

QString JobsPanel::statusText() const { return status_->isVisible() || !statusLabel_->text().isEmpty() ? statusLabel_->text() : QString(); }

void JobsPanel::cancelLatest() {
  if (Entry* e = latestRunning())
    if (e->runner->currentJob() == e->id) e->runner->cancel();
}

void JobsPanel::tick() {
  bool any = false;
  for (Entry& e : entries_)
    if (e.running) {
      any = true;
      e.item->setText(kElapsed, formatDuration(e.clock.elapsed() / 1000.0));
    }
  if (Entry* e = latestRunning()) {
    QString text = e->label;
    if (!e->stage.isEmpty()) text += QStringLiteral(": ") + e->stage;
    if (e->total > 0) text += QStringLiteral(" %1/%2").arg(e->done).arg(e->total);
    text += tr(" \u00B7 %1 elapsed").arg(formatDuration(e->clock.elapsed() / 1000.0));
    if (e->eta >= 0) text += tr(", about %1 left").arg(formatDuration(e->eta));
    if (e->seriesStartMs >= 0) {
      const double all = seriesEta((e->clock.elapsed() - e->seriesStartMs) / 1000.0, e->seriesFirst, e->seriesAt,
                                   e->seriesOf, e->done, e->total);
      if (all >= 0) text += tr(" (about %1 left in all %2)").arg(formatDuration(all)).arg(e->seriesOf);
    }
    statusLabel_->setText(text);
    statusCancel_->setText(tr("Cancel %1").arg(e->label.toLower()));
    status_->setVisible(true);
  } else {
    statusLabel_->clear();
    status_->setVisible(false);
  }
  if (!any) ticker_->stop();
}

JobsPanel::Entry* JobsPanel::find(JobRunner* runner, quint64 id) {
  for (Entry& e : entries_)
    if (e.runner == runner && e.id == id) return &e;
  return nullptr;
}

void JobsPanel::watch(JobRunner* runner, const QString& label) {
  connect(runner, &JobRunner::started, this, [this, runner, label](quint64 id, const QString& name) {
    Entry e;
    e.runner = runner;
    e.id = id;
    e.item = new QTreeWidgetItem(list_);
    e.item->setText(kLabel, label.isEmpty() ? name : label);
    e.item->setText(kState, tr("running"));
    e.label = label.isEmpty() ? name : label;
    e.clock.start();
    auto* bar = new QProgressBar;
    bar->setRange(0, 0);
    bar->setMaximumHeight(18);
    list_->setItemWidget(e.item, kProgress, bar);
    auto* cancel = new QPushButton(tr("Cancel"));
    connect(cancel, &QPushButton::clicked, runner, [runner, id] {
      if (runner->currentJob() == id) runner->cancel();
    });
    list_->setItemWidget(e.item, kCancel, cancel);
    entries_.push_back(e);
    list_->setCurrentItem(e.item);
    ticker_->start();
    tick();
  });
  connect(runner, &JobRunner::stageStarted, this, [this, runner](quint64 id, const QString& stage, qint64 total) {
    if (Entry* e = find(runner, id)) {
      e->item->setText(kStage, stage);
      e->stage = stage;
      e->done = 0;
      e->total = total;
      e->eta = -1;
      static const QRegularExpression series(QStringLiteral("^(.*?)(\\d+)/(\\d+)$"));
      const QRegularExpressionMatch m = series.match(stage);
      if (m.hasMatch() && m.captured(3).toInt() > 0) {
        if (e->seriesPrefix != m.captured(1) || e->seriesStartMs < 0) {
          e->seriesPrefix = m.captured(1);
          e->seriesStartMs = e->clock.elapsed();
          e->seriesFirst = m.captured(2).toInt();
        }
        e->seriesAt = m.captured(2).toInt();
        e->seriesOf = m.captured(3).toInt();
      } else {
        e->seriesPrefix.clear();
        e->seriesStartMs = -1;
      }
      if (auto* bar = qobject_cast<QProgressBar*>(list_->itemWidget(e->item, kProgress))) {
        bar->setRange(0, int(std::max<qint64>(0, total)));
        bar->setValue(0);
      }
      e->item->setText(kEta, QString());
    }
  });
  connect(runner, &JobRunner::progressed, this, [this, runner](quint64 id, qint64 done, qint64 total, double eta) {
    if (Entry* e = find(runner, id)) {
      if (auto* bar = qobject_cast<QProgressBar*>(list_->itemWidget(e->item, kProgress))) {
        if (total > 0) bar->setRange(0, int(total));
        bar->setValue(int(done));
        bar->setFormat(total > 0 ? QStringLiteral("%1 / %2").arg(done).arg(total) : QString::number(done));
      }
      e->item->setData(kProgress, Qt::UserRole, total > 0 ? QStringLiteral("%1/%2").arg(done).arg(total) : QString::number(done));
      e->item->setText(kEta, eta >= 0 ? formatDuration(eta) : QString());
      e->done = done;
      e->total = total;
      e->eta = eta;
    }
  });
  connect(runner, &JobRunner::logLine, this, [this, runner](quint64 id, const QString& line) {
    if (Entry* e = find(runner, id)) {
      e->log << line;
      if (list_->currentItem() == e->item) log_->appendPlainText(line);
    }
  });
  auto ended = [this, runner](quint64 id, const QString& state) {
    if (Entry* e = find(runner, id)) {
      e->running = false;
      e->seconds = e->clock.elapsed() / 1000.0;
      e->item->setText(kState, state);
      e->item->setText(kEta, QString());
      e->item->setText(kElapsed, formatDuration(e->seconds));
      if (auto* bar = qobject_cast<QProgressBar*>(list_->itemWidget(e->item, kProgress))) {
        if (bar->maximum() == 0) bar->setRange(0, 1);
        if (state == tr("finished")) bar->setValue(bar->maximum());
      }
      if (QWidget* b = list_->itemWidget(e->item, kCancel)) b->setEnabled(false);
    }
    tick();
  };
  connect(runner, &JobRunner::finished, this, [ended](quint64 id) { ended(id, tr("finished")); });
  connect(runner, &JobRunner::cancelled, this, [ended](quint64 id) { ended(id, tr("cancelled")); });
  connect(runner, &JobRunner::failed, this, [this, runner, ended](quint64 id, const QString& message) {
    ended(id, tr("failed: %1").arg(message));
    if (Entry* e = find(runner, id)) e->log << tr("error: %1").arg(message);
    showLog();
  });
}

int JobsPanel::jobCount() const { return int(entries_.size()); }

QString JobsPanel::text(int job, int column) const {
  const Entry& e = entries_.at(size_t(job));
  if (column == kProgress) return e.item->data(kProgress, Qt::UserRole).toString();
  return e.item->text(column);
}

QString JobsPanel::log(int job) const { return entries_.at(size_t(job)).log.join('\n'); }

void JobsPanel::cancel(int job) {
  const Entry& e = entries_.at(size_t(job));
  if (auto* b = qobject_cast<QPushButton*>(list_->itemWidget(e.item, kCancel))) b->click();
}

void JobsPanel::showLog() {
  log_->clear();
  for (const Entry& e : entries_)
    if (e.item == list_->currentItem()) log_->setPlainText(e.log.join('\n'));
}

}  // namespace bitscape::widgets
