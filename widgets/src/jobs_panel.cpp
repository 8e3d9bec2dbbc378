#include "bitscape/widgets/jobs_panel.h"

#include <QHeaderView>
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
enum { kLabel, kStage, kProgress, kEta, kState, kCancel, kColumns };
}

JobsPanel::JobsPanel(QWidget* parent) : QWidget(parent) {
  list_ = new QTreeWidget;
  list_->setObjectName(QStringLiteral("jobs"));
  list_->setColumnCount(kColumns);
  list_->setHeaderLabels({tr("Job"), tr("Stage"), tr("Progress"), tr("Time left"), tr("State"), QString()});
  list_->setRootIsDecorated(false);
  QHeaderView* h = list_->header();
  h->setStretchLastSection(false);
  h->setSectionResizeMode(QHeaderView::ResizeToContents);
  h->setSectionResizeMode(kStage, QHeaderView::Interactive);
  h->resizeSection(kStage, 150);
  h->setSectionResizeMode(kProgress, QHeaderView::Stretch);
  h->setMinimumSectionSize(60);
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
  });
  connect(runner, &JobRunner::stageStarted, this, [this, runner](quint64 id, const QString& stage, qint64 total) {
    if (Entry* e = find(runner, id)) {
      e->item->setText(kStage, stage);
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
      e->item->setText(kState, state);
      e->item->setText(kEta, QString());
      if (auto* bar = qobject_cast<QProgressBar*>(list_->itemWidget(e->item, kProgress))) {
        if (bar->maximum() == 0) bar->setRange(0, 1);
        if (state == tr("finished")) bar->setValue(bar->maximum());
      }
      if (QWidget* b = list_->itemWidget(e->item, kCancel)) b->setEnabled(false);
    }
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
