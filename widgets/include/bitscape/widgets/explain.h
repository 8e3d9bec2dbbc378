// The explain panel's texts: for each view of the workbench, what it shows, the formula behind
// it and the paper it comes from (HTML for a QTextBrowser). For teaching.
#pragma once

#include <QString>
#include <QStringList>

namespace bitscape::widgets {

// Views: "model", "allocation", "pareto", "sensitivity", "allocation-map", "jobs",
// "perplexity". Unknown names give a short general text.
QString explainHtml(const QString& view);
QStringList explainedViews();

}  // namespace bitscape::widgets
