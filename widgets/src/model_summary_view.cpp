#include "bitscape/widgets/model_summary_view.h"

#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>

#include "bitscape/widgets/format.h"

namespace bitscape::widgets {

namespace {

QString yesNo(bool b) { return b ? QObject::tr("yes") : QObject::tr("no"); }

QString countWithShort(int64_t n) {
  if (n < 1000) return formatCount(n);
  return QStringLiteral("%1  (%2)").arg(formatCount(n), formatCountShort(n));
}

QString ropeText(const ModelConfig& c) {
  QString text = QStringLiteral("\u03B8 = %1").arg(c.rope_theta, 0, 'g', 10);
  const RopeScaling& s = c.rope_scaling;
  if (s.type == "linear") {
    text += QObject::tr(", linear \u00D7%1").arg(s.factor);
  } else if (s.type == "llama3") {
    text += QObject::tr(", llama3 \u00D7%1 (from %2)").arg(s.factor).arg(
        s.original_max_position_embeddings);
  } else if (!s.type.empty() && s.type != "none") {
    text += QStringLiteral(", ") + QString::fromStdString(s.type);
  }
  return text;
}

QString headsText(const ModelConfig& c) {
  QString text = QStringLiteral("%1 / %2").arg(c.num_attention_heads).arg(c.num_key_value_heads);
  if (c.num_key_value_heads > 0 && c.num_key_value_heads < c.num_attention_heads)
    text += QObject::tr("  (GQA, %1 per kv head)")
                .arg(c.num_attention_heads / c.num_key_value_heads);
  return text;
}

QString biasesText(const ModelConfig& c) {
  QStringList parts;
  if (c.qkv_bias) parts << QStringLiteral("q/k/v");
  if (c.o_proj_bias) parts << QStringLiteral("o");
  if (c.mlp_bias) parts << QStringLiteral("mlp");
  return parts.isEmpty() ? QObject::tr("none") : parts.join(QStringLiteral(", "));
}

}  // namespace

ModelSummaryView::ModelSummaryView(QWidget* parent) : QWidget(parent) {
  auto* columns = new QHBoxLayout(this);
  auto* left = new QFormLayout;
  auto* right = new QFormLayout;
  for (QFormLayout* f : {left, right}) {
    f->setLabelAlignment(Qt::AlignRight);
    f->setFieldGrowthPolicy(QFormLayout::ExpandingFieldsGrow);
    f->setHorizontalSpacing(10);
    f->setVerticalSpacing(4);
  }
  addRow(left, QStringLiteral("architecture"), tr("Architecture"));
  addRow(left, QStringLiteral("hidden"), tr("Hidden size"));
  addRow(left, QStringLiteral("intermediate"), tr("MLP size"));
  addRow(left, QStringLiteral("layers"), tr("Layers"));
  addRow(left, QStringLiteral("heads"), tr("Heads / KV heads"));
  addRow(left, QStringLiteral("head_dim"), tr("Head dim"));
  addRow(left, QStringLiteral("vocab"), tr("Vocabulary"));
  addRow(left, QStringLiteral("context"), tr("Context"));
  addRow(right, QStringLiteral("rope"), tr("RoPE"));
  addRow(right, QStringLiteral("sliding_window"), tr("Sliding window"));
  addRow(right, QStringLiteral("biases"), tr("Biases"));
  addRow(right, QStringLiteral("qk_norm"), tr("QK norm"));
  addRow(right, QStringLiteral("tie_embeddings"), tr("Tied embeddings"));
  addRow(right, QStringLiteral("dtype"), tr("Stored dtype"));
  addRow(right, QStringLiteral("total_params"), tr("Parameters"));
  addRow(right, QStringLiteral("linear_params"), tr("In linear modules"));
  addRow(right, QStringLiteral("file_size"), tr("Files"));
  columns->addLayout(left, 1);
  columns->addSpacing(16);
  columns->addLayout(right, 1);
  clear();
}

QLabel* ModelSummaryView::addRow(QFormLayout* form, const QString& key, const QString& label) {
  auto* value = new QLabel(this);
  value->setObjectName(key);
  value->setTextInteractionFlags(Qt::TextSelectableByMouse);
  auto* name = new QLabel(label + QLatin1Char(':'), this);
  name->setForegroundRole(QPalette::PlaceholderText);
  form->addRow(name, value);
  values_.insert(key, value);
  return value;
}

void ModelSummaryView::clear() {
  for (QLabel* l : values_) l->setText(QStringLiteral("\u2014"));
}

void ModelSummaryView::setSummary(const ModelSummary& s) {
  const ModelConfig& c = s.config;
  auto set = [this](const char* key, const QString& text) {
    values_.value(QLatin1String(key))->setText(text);
  };
  QString arch = QString::fromStdString(c.architecture);
  if (!c.model_type.empty())
    arch += QStringLiteral("  (%1)").arg(QString::fromStdString(c.model_type));
  set("architecture", arch);
  set("hidden", formatCount(c.hidden_size));
  set("intermediate", formatCount(c.intermediate_size));
  set("layers", QString::number(c.num_hidden_layers));
  set("heads", headsText(c));
  set("head_dim", QString::number(c.head_dim));
  set("vocab", formatCount(c.vocab_size));
  set("context", c.max_position_embeddings > 0 ? formatCount(c.max_position_embeddings)
                                               : QStringLiteral("\u2014"));
  set("rope", ropeText(c));
  set("sliding_window", c.sliding_window > 0 ? formatCount(c.sliding_window) : tr("none"));
  set("biases", biasesText(c));
  set("qk_norm", yesNo(c.qk_norm));
  set("tie_embeddings", yesNo(c.tie_word_embeddings));
  set("dtype", QString::fromStdString(c.torch_dtype));
  set("total_params", countWithShort(s.total_params));
  set("linear_params",
      s.total_params > 0
          ? QStringLiteral("%1  (%2)").arg(formatCount(s.linear_params),
                                           formatShare(double(s.linear_params) / s.total_params))
          : countWithShort(s.linear_params));
  set("file_size", s.file_bytes > 0 ? formatBytes(s.file_bytes) : QStringLiteral("\u2014"));
}

QString ModelSummaryView::value(const QString& key) const {
  QLabel* l = values_.value(key);
  return l ? l->text() : QString();
}

}  // namespace bitscape::widgets
