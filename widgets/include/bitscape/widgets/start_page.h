// The start page: what a study does, in order, with where the user is in it. Each step has a
// button; a step whose prerequisite is missing is disabled and its tooltip says what is missing
// (the same rule the menus use: disabledReason).
#pragma once

#include <QString>
#include <QWidget>
#include <vector>

class QLabel;
class QPushButton;

namespace bitscape::widgets {

struct StudyState {
  bool model = false, project = false, sensitivity = false, search = false, evaluated = false;
};

class StartPage : public QWidget {
  Q_OBJECT

 public:
  enum Step { kOpenModel, kCalibrate, kSensitivity, kSearch, kEdit, kDemo, kStepCount };

  explicit StartPage(QWidget* parent = nullptr);
  void setState(const StudyState& state);
  // Why the step cannot run now ("" when it can).
  static QString disabledReason(Step step, const StudyState& state);
  QPushButton* button(Step step) const { return buttons_.at(size_t(step)); }
  // The first step not done yet (the one the page points at).
  Step nextStep() const { return next_; }
  QString stepText(Step step) const;

 Q_SIGNALS:
  void stepRequested(int step);
  void openSampleRequested();

 private:
  std::vector<QPushButton*> buttons_;
  std::vector<QLabel*> marks_, texts_;
  StudyState state_;
  Step next_ = kOpenModel;
};

}  // namespace bitscape::widgets
