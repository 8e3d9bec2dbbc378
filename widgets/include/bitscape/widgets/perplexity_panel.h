// The "Evaluate perplexity" panel: the evaluation's inputs (data file, window length, number of
// windows, device, dtype, threads), Evaluate and Cancel, progress with ETA, and the result with a
// chart of per-window NLL. It only collects inputs and shows state; the app runs the job.
#pragma once

#include <QString>
#include <QStringList>
#include <QWidget>

#include "bitscape/eval_result.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;

namespace bitscape::widgets {

class NllPlot;

struct PerplexityRequest {
  QString dataPath;
  int seqlen = 256;
  int maxWindows = 0;            // 0 = all windows
  QString device = QStringLiteral("cpu");
  QString dtype = QStringLiteral("float32");
  int threads = 0;               // 0 = LibTorch's default
  // What is evaluated: "unquantized" (the model as loaded) or "allocation" (the editor's
  // allocation, quantized in memory first).
  QString subject = QStringLiteral("unquantized");
};

class PerplexityPanel : public QWidget {
  Q_OBJECT

 public:
  explicit PerplexityPanel(QWidget* parent = nullptr);

  // The evaluation data next to a model: `<model dir>/../test.txt` when that file exists
  // (sample_data/test.txt for sample_data/model), else an empty string.
  static QString defaultDataPath(const QString& modelDir);

  // A model is ready: Evaluate becomes possible; the data path defaults to the sibling test.txt
  // unless the user chose a file.
  void setModelDir(const QString& modelDir);
  void setDevices(const QStringList& devices);  // "cpu" is always offered first
  void setMaxThreads(int threads);

  PerplexityRequest request() const;
  void setRequest(const PerplexityRequest& request);

  // While a job runs: inputs and Evaluate are disabled, Cancel enabled.
  void setBusy(bool busy);
  void setStage(const QString& stage, qint64 total);
  void setProgress(qint64 done, qint64 total, double eta_seconds);
  // The result, labelled with what was evaluated, on which data, windows and device (`label`,
  // e.g. "unquantized model · test.txt · 503 windows of 256 tokens · cpu fp32"). It stays shown
  // while the next evaluation runs and after a cancel, until a new result replaces it.
  void showResult(const PerplexityResult& result, const QString& label = QString());
  // The status line under the progress bar; an error shows in the palette's error colour.
  void showMessage(const QString& text, bool error = false);
  void clearResult();
  // Windows scored so far of the running evaluation (the NLL chart fills as it goes).
  void appendWindowNll(int64_t first, const std::vector<double>& window_nll, int64_t total);

  QString resultText() const;  // the shown result line, for tests and copying
  const NllPlot* plot() const { return plot_; }

 Q_SIGNALS:
  void evaluateRequested();
  void cancelRequested();

 private:
  void browseData();
  void updateEnabled();

  QLineEdit* dataPath_ = nullptr;
  QPushButton* browse_ = nullptr;
  QSpinBox* seqlen_ = nullptr;
  QSpinBox* maxWindows_ = nullptr;
  QComboBox* device_ = nullptr;
  QComboBox* subject_ = nullptr;
  QComboBox* dtype_ = nullptr;
  QSpinBox* threads_ = nullptr;
  QPushButton* evaluate_ = nullptr;
  QPushButton* cancel_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QLabel* status_ = nullptr;
  QLabel* ppl_ = nullptr;
  QLabel* details_ = nullptr;
  NllPlot* plot_ = nullptr;
  QString modelDir_;
  QString autoDataPath_;  // the path we filled in ourselves
  bool busy_ = false;
};

}  // namespace bitscape::widgets
