#include "bitscape/widgets/allocation_model.h"

#include <QColor>
#include <QUndoCommand>
#include <functional>

#include "bitscape/widgets/format.h"

namespace bitscape::widgets {

// One undoable change of several rows' settings.
class SetModulesCommand : public QUndoCommand {
 public:
  SetModulesCommand(AllocationModel* model, std::vector<int> rows, std::vector<ModuleAllocation> before,
                    std::vector<ModuleAllocation> after, const QString& text)
      : QUndoCommand(text), model_(model), rows_(std::move(rows)), before_(std::move(before)),
        after_(std::move(after)) {}
  void redo() override { model_->apply(rows_, after_); }
  void undo() override { model_->apply(rows_, before_); }

 private:
  AllocationModel* model_;
  std::vector<int> rows_;
  std::vector<ModuleAllocation> before_, after_;
};

namespace {

class LockCommand : public QUndoCommand {
 public:
  LockCommand(std::function<void(bool)> set, bool on)
      : QUndoCommand(on ? QObject::tr("Lock") : QObject::tr("Unlock")), set_(std::move(set)), on_(on) {}
  void redo() override { set_(on_); }
  void undo() override { set_(!on_); }

 private:
  std::function<void(bool)> set_;
  bool on_;
};

ModuleAllocation defaultSetting() {
  ModuleAllocation m;
  m.bits = 4;
  m.group_size = 128;
  m.quantizer = QuantizerKind::kRtn;
  return m;
}

QString groupText(int g) { return g == kPerChannel ? AllocationModel::tr("per channel") : QString::number(g); }

}  // namespace

AllocationModel::AllocationModel(QObject* parent) : QAbstractTableModel(parent) {}

void AllocationModel::setModules(const std::vector<ModuleShape>& shapes, int64_t otherParams) {
  beginResetModel();
  shapes_ = shapes;
  otherParams_ = otherParams;
  settings_.assign(shapes.size(), defaultSetting());
  for (size_t i = 0; i < shapes.size(); ++i)  // a group that does not divide: per channel
    if (!check_module_allocation(settings_[i], shapes[i]).empty()) settings_[i].group_size = kPerChannel;
  locked_.clear();
  undo_.clear();
  reference_.clear();
  referenceLabel_.clear();
  endResetModel();
  recompute();
}

void AllocationModel::setAllocation(const Allocation& allocation, const QString& label) {
  std::vector<int> rows;
  std::vector<ModuleAllocation> before, after;
  for (size_t i = 0; i < shapes_.size(); ++i) {
    rows.push_back(int(i));
    before.push_back(settings_[i]);
    after.push_back(allocation.module(shapes_[i].name));
  }
  undo_.push(new SetModulesCommand(this, rows, before, after,
                                   label.isEmpty() ? tr("Load allocation") : label));
}

Allocation AllocationModel::allocation() const {
  Allocation a;
  for (size_t i = 0; i < shapes_.size(); ++i) a.modules[shapes_[i].name] = settings_[i];
  return a;
}

int AllocationModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : int(shapes_.size());
}
int AllocationModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : ColumnCount;
}

QVariant AllocationModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= int(shapes_.size())) return {};
  const ModuleShape& s = shapes_[size_t(index.row())];
  const ModuleAllocation& m = settings_[size_t(index.row())];
  const int c = index.column();
  const bool differs = !reference_.empty() && !(reference_[size_t(index.row())] == m);
  if (role == Qt::BackgroundRole && differs) return QColor(0xff, 0xd5, 0x4f, 90);
  if (role == Qt::DisplayRole && c == ReferenceColumn && !reference_.empty()) {
    const ModuleAllocation& r = reference_[size_t(index.row())];
    if (!differs) return QStringLiteral("=");
    QString t = r.bits == kUnquantizedBits ? tr("16") : QString::number(r.bits);
    if (r.quantized() && r.group_size != m.group_size) t += QStringLiteral(" g") + groupText(r.group_size);
    if (r.quantized() && r.quantizer != m.quantizer) t += QStringLiteral(" ") + QString::fromStdString(quantizer_name(r.quantizer));
    if (!r.channels.classes.empty()) t += tr(" + classes");
    return t;
  }
  if (role == Qt::CheckStateRole && c == LockColumn)
    return locked_.contains(index.row()) ? Qt::Checked : Qt::Unchecked;
  if (role == Qt::TextAlignmentRole && c != ModuleColumn && c != QuantizerColumn)
    return int(Qt::AlignRight | Qt::AlignVCenter);
  if (role == Qt::EditRole) {
    if (c == BitsColumn) return m.bits;
    if (c == GroupColumn) return m.group_size;
    if (c == QuantizerColumn) return QString::fromStdString(quantizer_name(m.quantizer));
  }
  if (role == Qt::DisplayRole) {
    switch (c) {
      case ModuleColumn: {  // "model.layers.3.mlp.down_proj" -> "3 · down_proj"
        const QString name = QString::fromStdString(s.name);
        const QStringList parts = name.split('.');
        if (parts.size() == 5 && parts[0] == QLatin1String("model") && parts[1] == QLatin1String("layers"))
          return parts[2] + QStringLiteral(" \u00b7 ") + parts[4];
        return name;
      }
      case ShapeColumn: return formatShape({s.out_features, s.in_features});
      case BitsColumn: {
        QString t = m.bits == kUnquantizedBits ? tr("16 (fp16)") : QString::number(m.bits);
        if (!m.channels.classes.empty()) t += tr(" + classes");
        return t;
      }
      case GroupColumn: return m.quantized() ? groupText(m.group_size) : QString();
      case QuantizerColumn: return m.quantized() ? QString::fromStdString(quantizer_name(m.quantizer)) : QString();
      case BytesColumn:
        return index.row() < int(cost_.modules.size())
                   ? formatBytes((cost_.modules[size_t(index.row())].total_bits() + 7) / 8)
                   : QString();
      default: return {};
    }
  }
  if (role == Qt::ToolTipRole && c == ModuleColumn) return QString::fromStdString(s.name);
  if (role == Qt::ToolTipRole && c == BytesColumn && index.row() < int(cost_.modules.size())) {
    const ModuleCost& mc = cost_.modules[size_t(index.row())];
    return tr("%1 bits per weight with overhead, %2 code bits")
        .arg(mc.bits_per_weight(), 0, 'f', 3)
        .arg(mc.code_bits_per_weight(), 0, 'f', 3);
  }
  return {};
}

QVariant AllocationModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
  switch (section) {
    case ModuleColumn: return tr("Module");
    case ShapeColumn: return tr("Shape");
    case BitsColumn: return tr("Bits");
    case GroupColumn: return tr("Group");
    case QuantizerColumn: return tr("Quantizer");
    case LockColumn: return tr("Lock");
    case BytesColumn: return tr("Size");
    case ReferenceColumn: return referenceLabel_.isEmpty() ? tr("Reference") : tr("vs %1").arg(referenceLabel_);
    default: return {};
  }
}

Qt::ItemFlags AllocationModel::flags(const QModelIndex& index) const {
  if (!index.isValid()) return Qt::NoItemFlags;
  Qt::ItemFlags f = Qt::ItemIsEnabled | Qt::ItemIsSelectable;
  const int c = index.column();
  if (c == LockColumn) return f | Qt::ItemIsUserCheckable;
  if (!locked_.contains(index.row()) && (c == BitsColumn || c == GroupColumn || c == QuantizerColumn))
    f |= Qt::ItemIsEditable;
  return f;
}

bool AllocationModel::setData(const QModelIndex& index, const QVariant& value, int role) {
  if (!index.isValid()) return false;
  const int row = index.row(), c = index.column();
  if (c == LockColumn && role == Qt::CheckStateRole) {
    const bool on = value.toInt() == Qt::Checked;
    if (on == locked_.contains(row)) return true;
    undo_.push(new LockCommand([this, row](bool v) { applyLock(row, v); }, on));
    return true;
  }
  if (role != Qt::EditRole || locked_.contains(row)) return false;
  std::function<bool(ModuleAllocation&, const ModuleShape&)> edit;
  if (c == BitsColumn) {
    bool ok = false;
    const int bits = value.toInt(&ok);
    if (!ok) return false;
    edit = [bits](ModuleAllocation& m, const ModuleShape&) {
      m.bits = bits;
      return true;
    };
  } else if (c == GroupColumn) {
    bool ok = false;
    const int g = value.toString() == tr("per channel") ? kPerChannel : value.toInt(&ok);
    if (!ok && g != kPerChannel) return false;
    edit = [g](ModuleAllocation& m, const ModuleShape&) {
      m.group_size = g;
      return true;
    };
  } else if (c == QuantizerColumn) {
    const auto q = parse_quantizer(value.toString().toStdString());
    if (!q) return false;
    edit = [q](ModuleAllocation& m, const ModuleShape&) {
      m.quantizer = *q;
      return true;
    };
  } else {
    return false;
  }
  return editRows({row}, edit, tr("Edit %1").arg(data(this->index(row, ModuleColumn)).toString())) == 1;
}

int AllocationModel::editRows(const std::vector<int>& rows,
                              const std::function<bool(ModuleAllocation&, const ModuleShape&)>& edit,
                              const QString& label) {
  std::vector<int> changed;
  std::vector<ModuleAllocation> before, after;
  for (int r : rows) {
    if (r < 0 || r >= int(shapes_.size()) || locked_.contains(r)) continue;
    ModuleAllocation m = settings_[size_t(r)];
    if (!edit(m, shapes_[size_t(r)])) continue;
    if (!check_module_allocation(m, shapes_[size_t(r)]).empty()) continue;  // refused
    if (m == settings_[size_t(r)]) continue;
    changed.push_back(r);
    before.push_back(settings_[size_t(r)]);
    after.push_back(m);
  }
  if (!changed.empty()) undo_.push(new SetModulesCommand(this, changed, before, after, label));
  return int(changed.size());
}

int AllocationModel::setBits(const std::vector<int>& rows, int bits) {
  return editRows(rows, [bits](ModuleAllocation& m, const ModuleShape&) {
    m.bits = bits;
    return true;
  }, tr("Set %1 bits").arg(bits));
}

int AllocationModel::setGroup(const std::vector<int>& rows, int group) {
  return editRows(rows, [group](ModuleAllocation& m, const ModuleShape&) {
    m.group_size = group;
    return true;
  }, tr("Set group %1").arg(groupText(group)));
}

std::vector<int> AllocationModel::rowsOfBlock(int block) const {
  const std::string prefix = "model.layers." + std::to_string(block) + ".";
  std::vector<int> rows;
  for (size_t i = 0; i < shapes_.size(); ++i)
    if (shapes_[i].name.rfind(prefix, 0) == 0) rows.push_back(int(i));
  return rows;
}

std::vector<int> AllocationModel::rowsOfKind(const QString& leaf) const {
  const std::string suffix = "." + leaf.toStdString();
  std::vector<int> rows;
  for (size_t i = 0; i < shapes_.size(); ++i) {
    const std::string& n = shapes_[i].name;
    if (n.size() >= suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
      rows.push_back(int(i));
  }
  return rows;
}

int AllocationModel::rowOf(const QString& module) const {
  const std::string name = normalize_module_name(module.toStdString());
  for (size_t i = 0; i < shapes_.size(); ++i)
    if (shapes_[i].name == name) return int(i);
  return -1;
}

void AllocationModel::apply(const std::vector<int>& rows, const std::vector<ModuleAllocation>& settings) {
  for (size_t k = 0; k < rows.size(); ++k) settings_[size_t(rows[k])] = settings[k];
  recompute();
  if (!rows.empty()) {
    const auto [lo, hi] = std::minmax_element(rows.begin(), rows.end());
    Q_EMIT dataChanged(index(*lo, 0), index(*hi, ColumnCount - 1));
  }
}

void AllocationModel::applyLock(int row, bool on) {
  if (on)
    locked_.insert(row);
  else
    locked_.remove(row);
  Q_EMIT dataChanged(index(row, 0), index(row, ColumnCount - 1));
}

void AllocationModel::setReference(const Allocation& reference, const QString& label) {
  reference_.clear();
  for (const ModuleShape& s : shapes_) reference_.push_back(reference.module(s.name));
  referenceLabel_ = label;
  referenceCost_ = allocation_cost(reference, shapes_, otherParams_);
  Q_EMIT headerDataChanged(Qt::Horizontal, ReferenceColumn, ReferenceColumn);
  if (!shapes_.empty()) Q_EMIT dataChanged(index(0, 0), index(int(shapes_.size()) - 1, ColumnCount - 1));
  Q_EMIT referenceChanged();
}

void AllocationModel::clearReference() {
  reference_.clear();
  referenceLabel_.clear();
  referenceCost_ = AllocationCost();
  Q_EMIT headerDataChanged(Qt::Horizontal, ReferenceColumn, ReferenceColumn);
  if (!shapes_.empty()) Q_EMIT dataChanged(index(0, 0), index(int(shapes_.size()) - 1, ColumnCount - 1));
  Q_EMIT referenceChanged();
}

Allocation AllocationModel::referenceAllocation() const {
  Allocation a;
  a.name = referenceLabel_.toStdString();
  for (size_t i = 0; i < reference_.size() && i < shapes_.size(); ++i) a.modules[shapes_[i].name] = reference_[i];
  return a;
}

std::vector<int> AllocationModel::differingRows() const {
  std::vector<int> rows;
  for (size_t i = 0; i < reference_.size() && i < settings_.size(); ++i)
    if (!(reference_[i] == settings_[i])) rows.push_back(int(i));
  return rows;
}

void AllocationModel::recompute() {
  cost_ = allocation_cost(allocation(), shapes_, otherParams_);
  Q_EMIT totalsChanged(cost_.average_bits, cost_.average_code_bits, qint64(cost_.total_bytes()));
}

}  // namespace bitscape::widgets
