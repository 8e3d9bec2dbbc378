// The main window, saliency and marks: a module's saliency maps and probe from the project,
// with the channels the edited allocation keeps at other bits marked.
#include "main_window.h"

#include "main_window_parts.h"

namespace bitscape::gui {

namespace {

// The editor's setting of a module, if the editor has it.
std::optional<ModuleAllocation> settingOf(widgets::AllocationModel* model, const QString& module) {
  const int row = model->rowOf(module);
  if (row < 0) return std::nullopt;
  return model->module(row);
}

}  // namespace

void MainWindow::showSaliency(const QString& module) {
  if (projectPath_.isEmpty() || module == saliency_->module()) return;
  readSaliency(module);
}

void MainWindow::readSaliency(const QString& module) {
  if (projectPath_.isEmpty() || module.isEmpty()) return;
  const std::optional<ModuleAllocation> setting = settingOf(editor_->model(), module);
  saliencyRunner_->start(
      QStringLiteral("saliency"),
      [project = projectPath_.toStdString(), name = module.toStdString(), setting](ProgressSink&, const CancelToken&) {
        ChannelMarks marks;
        std::string marksError;
        if (setting) {
          try {
            marks = Engine::channelMarks(project, name, *setting);
          } catch (const std::exception& e) {
            marksError = e.what();  // e.g. the model moved: the maps still show
          }
        }
        return std::make_tuple(Engine::readSaliency(project, name), Engine::readProbe(project, name), marks, marksError);
      },
      [this, module](std::tuple<std::map<std::string, SaliencySummary>,
                                std::optional<std::pair<ProbingRunInfo, StoredProbe>>, ChannelMarks, std::string> read) {
        auto& [maps, probeRead, marks, marksError] = read;
        saliency_->setModule(module, maps);
        saliency_->setChannelMarks(marks.axis, marks.raised, marks.lowered, marks.fp16_columns);
        if (!marksError.empty())
          statusBar()->showMessage(tr("Channel marks: %1").arg(QString::fromStdString(marksError)), 10000);
        if (probeRead) {
          const auto& [info, probe] = *probeRead;
          QStringList sources;
          for (const std::string& s : info.sources) sources << QFileInfo(QString::fromStdString(s)).fileName();
          const int64_t columns = probe.column_saliency.empty() ? 0 : int64_t(probe.column_saliency[0].size());
          probing_->setProbe(module, sources, probe.critical, columns, probe.compactness);
        } else {
          probing_->clear();
        }
        Q_EMIT jobEnded(QStringLiteral("saliency"), true);
      });
}

void MainWindow::refreshChannelMarks() {
  const QString module = saliency_->module();
  if (projectPath_.isEmpty() || module.isEmpty()) return;
  const std::optional<ModuleAllocation> setting = settingOf(editor_->model(), module);
  if (!setting) return saliency_->clearChannelMarks();
  marksRunner_->start(
      QStringLiteral("marks"),
      [project = projectPath_.toStdString(), name = module.toStdString(), setting](ProgressSink&, const CancelToken&) {
        return Engine::channelMarks(project, name, *setting);
      },
      [this, module](ChannelMarks marks) {
        if (saliency_->module() != module) return;  // another module was selected meanwhile
        saliency_->setChannelMarks(marks.axis, marks.raised, marks.lowered, marks.fp16_columns);
        Q_EMIT jobEnded(QStringLiteral("marks"), true);
      });
}

}  // namespace bitscape::gui
