#include "bitscape/widgets/model_tree_model.h"
#include "bitscape/widgets/plot_scales.h"

#include <cmath>

#include <QString>

#include <algorithm>
#include <map>

#include "bitscape/widgets/format.h"

namespace bitscape::widgets {

struct ModelTreeModel::Node {
  QString name;
  QString kind;
  QString shape;
  QString dtype;
  QString moduleName;  // full HF name for module rows
  int64_t params = 0;
  Node* parent = nullptr;
  int row = 0;
  std::vector<std::unique_ptr<Node>> children;

  Node* add(std::unique_ptr<Node> child) {
    child->parent = this;
    child->row = int(children.size());
    children.push_back(std::move(child));
    return children.back().get();
  }
};

namespace {

using Node = ModelTreeModel::Node;

const TensorInfo* mainTensor(const ModuleInfo& m) {
  if (m.tensors.empty()) return nullptr;
  for (const auto& t : m.tensors) {
    const auto& n = t.name;
    if (n.size() >= 6 && n.compare(n.size() - 6, 6, "weight") == 0) return &t;
  }
  return &m.tensors.front();
}

int64_t moduleParams(const ModuleInfo& m) {
  if (m.params > 0) return m.params;
  int64_t n = 0;
  for (const auto& t : m.tensors) n += t.numel();
  return n;
}

// "model.layers.3.self_attn.q_proj" -> "self_attn.q_proj"
QString shortName(const std::string& full, int block) {
  const QString name = QString::fromStdString(full);
  if (block >= 0) {
    const QString marker = QStringLiteral("layers.%1.").arg(block);
    const int at = name.indexOf(marker);
    if (at >= 0) return name.mid(at + marker.size());
  }
  return name;
}

std::unique_ptr<Node> moduleNode(const ModuleInfo& m, const QString& displayName) {
  auto node = std::make_unique<Node>();
  node->name = displayName;
  node->kind = QString::fromStdString(m.kind);
  node->moduleName = QString::fromStdString(m.name);
  node->params = moduleParams(m);
  if (const TensorInfo* t = mainTensor(m)) {
    node->shape = formatShape(t->shape);
    node->dtype = QString::fromStdString(t->dtype);
  }
  if (m.tensors.size() > 1) node->shape += QStringLiteral(" + bias");
  // Core lists a tied lm_head as a head module without tensors of its own.
  if (m.tensors.empty() && m.kind == "head") node->shape = QStringLiteral("tied to embeddings");
  return node;
}

// A group row shows the sum of its children and their dtype when they agree.
void summarise(Node& group) {
  group.params = 0;
  QString dtype;
  bool mixed = false;
  for (const auto& c : group.children) {
    group.params += c->params;
    if (c->dtype.isEmpty()) continue;
    if (dtype.isEmpty()) dtype = c->dtype;
    else if (dtype != c->dtype) mixed = true;
  }
  group.dtype = mixed ? QStringLiteral("mixed") : dtype;
}

// A group holding exactly one module ("embeddings", "final norm", "lm_head") becomes that
// module's row under the group's name, without children.
std::unique_ptr<Node> groupOrModule(const QString& name, const QString& kind,
                                    const std::vector<const ModuleInfo*>& modules) {
  if (modules.size() == 1) {
    auto node = moduleNode(*modules.front(), name);
    return node;
  }
  auto group = std::make_unique<Node>();
  group->name = name;
  group->kind = kind;
  for (const ModuleInfo* m : modules) group->add(moduleNode(*m, shortName(m->name, -1)));
  summarise(*group);
  return group;
}

}  // namespace

ModelTreeModel::ModelTreeModel(QObject* parent)
    : QAbstractItemModel(parent), root_(std::make_unique<Node>()) {}

ModelTreeModel::~ModelTreeModel() = default;

void ModelTreeModel::clear() {
  beginResetModel();
  root_ = std::make_unique<Node>();
  total_ = 0;
  endResetModel();
}

void ModelTreeModel::setSummary(const ModelSummary& summary) {
  auto root = std::make_unique<Node>();
  std::vector<const ModuleInfo*> embeddings, norms, heads, others;
  std::map<int, std::vector<const ModuleInfo*>> blocks;
  int64_t sum = 0;
  for (const auto& m : summary.modules) {
    sum += moduleParams(m);
    if (m.block >= 0) blocks[m.block].push_back(&m);
    else if (m.kind == "embedding") embeddings.push_back(&m);
    else if (m.kind == "norm") norms.push_back(&m);
    else if (m.kind == "head") heads.push_back(&m);
    else others.push_back(&m);
  }

  if (!embeddings.empty()) root->add(groupOrModule(QStringLiteral("embeddings"),
                                                   QStringLiteral("embedding"), embeddings));
  // Every configured block gets a row, also one the summary lists no modules for.
  const int configured = int(summary.config.num_hidden_layers);
  const int lastListed = blocks.empty() ? -1 : blocks.rbegin()->first;
  for (int b = 0; b < std::max(configured, lastListed + 1); ++b) {
    auto block = std::make_unique<Node>();
    block->name = QStringLiteral("block %1").arg(b);
    block->kind = QStringLiteral("block");
    for (const ModuleInfo* m : blocks[b]) block->add(moduleNode(*m, shortName(m->name, b)));
    summarise(*block);
    root->add(std::move(block));
  }
  if (!norms.empty())
    root->add(groupOrModule(QStringLiteral("final norm"), QStringLiteral("norm"), norms));
  if (!heads.empty()) {
    root->add(groupOrModule(QStringLiteral("lm_head"), QStringLiteral("head"), heads));
  } else if (summary.config.tie_word_embeddings) {
    auto tied = std::make_unique<Node>();
    tied->name = QStringLiteral("lm_head");
    tied->kind = QStringLiteral("head");
    tied->shape = QStringLiteral("tied to embeddings");
    root->add(std::move(tied));
  }
  if (!others.empty())
    root->add(groupOrModule(QStringLiteral("other"), QStringLiteral("other"), others));

  beginResetModel();
  root_ = std::move(root);
  total_ = summary.total_params > 0 ? summary.total_params : sum;
  endResetModel();
}

const ModelTreeModel::Node* ModelTreeModel::nodeFor(const QModelIndex& index) const {
  return index.isValid() ? static_cast<const Node*>(index.internalPointer()) : root_.get();
}

QModelIndex ModelTreeModel::index(int row, int column, const QModelIndex& parent) const {
  if (column < 0 || column >= ColumnCount || row < 0) return {};
  if (parent.isValid() && parent.column() != 0) return {};
  const Node* p = nodeFor(parent);
  if (row >= int(p->children.size())) return {};
  return createIndex(row, column, p->children[size_t(row)].get());
}

QModelIndex ModelTreeModel::parent(const QModelIndex& child) const {
  if (!child.isValid()) return {};
  const Node* n = nodeFor(child);
  const Node* p = n->parent;
  if (p == nullptr || p == root_.get()) return {};
  return createIndex(p->row, 0, const_cast<Node*>(p));
}

int ModelTreeModel::rowCount(const QModelIndex& parent) const {
  if (parent.isValid() && parent.column() != 0) return 0;
  return int(nodeFor(parent)->children.size());
}

int ModelTreeModel::columnCount(const QModelIndex&) const { return ColumnCount; }

QVariant ModelTreeModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid()) return {};
  const Node* n = nodeFor(index);
  const int column = index.column();
  const double share = total_ > 0 ? double(n->params) / double(total_) : 0.0;
  const bool hasParams = n->params > 0;
  switch (role) {
    case Qt::DisplayRole:
      switch (column) {
        case NameColumn: return n->name;
        case KindColumn: return n->kind;
        case ShapeColumn: return n->shape;
        case DtypeColumn: return n->dtype;
        case ParametersColumn: return hasParams ? formatCount(n->params) : QString();
        case ShareColumn: return hasParams ? formatShare(share) : QString();
        case BitsColumn: {
          const double b = bitsOf(n);
          return std::isfinite(b) ? QString::number(b, 'f', b == std::floor(b) ? 0 : 2) : QString();
        }
      }
      break;
    case Qt::BackgroundRole:
      if (column == BitsColumn) {
        const double b = bitsOf(n);
        if (std::isfinite(b)) return bitsColour(b);
      }
      break;
    case Qt::ForegroundRole:
      // Black or white on the bits colour, whichever reads (the palette's text colour is white
      // in the dark palette, unreadable on yellow).
      if (column == BitsColumn) {
        const double b = bitsOf(n);
        if (std::isfinite(b)) {
          const QColor c = bitsColour(b);
          const double lum = 0.2126 * c.red() + 0.7152 * c.green() + 0.0722 * c.blue();
          return lum < 128 ? QColor(Qt::white) : QColor(Qt::black);
        }
      }
      break;
    case RawValueRole:
      switch (column) {
        case BitsColumn: return bitsOf(n);
        case ParametersColumn: return QVariant::fromValue<qint64>(n->params);
        case ShareColumn: return share;
        default: return data(index, Qt::DisplayRole);
      }
    case ModuleNameRole: return n->moduleName;
    case Qt::ToolTipRole:
      if (column == NameColumn && !n->moduleName.isEmpty()) return n->moduleName;
      break;
    case Qt::TextAlignmentRole:
      if (column == ParametersColumn || column == ShareColumn || column == BitsColumn)
        return QVariant(Qt::AlignRight | Qt::AlignVCenter);
      break;
    default: break;
  }
  return {};
}

QVariant ModelTreeModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal) return {};
  if (role == Qt::TextAlignmentRole && (section == ParametersColumn || section == ShareColumn))
    return QVariant(Qt::AlignRight | Qt::AlignVCenter);
  if (role != Qt::DisplayRole) return {};
  switch (section) {
    case NameColumn: return tr("Name");
    case KindColumn: return tr("Kind");
    case ShapeColumn: return tr("Shape");
    case DtypeColumn: return tr("Dtype");
    case ParametersColumn: return tr("Parameters");
    case ShareColumn: return tr("Share");
    case BitsColumn: return tr("Bits");
  }
  return {};
}

void ModelTreeModel::setModuleBits(const std::map<std::string, double>& bits) {
  bits_ = bits;
  if (rowCount() > 0) {
    Q_EMIT dataChanged(index(0, BitsColumn), index(rowCount() - 1, BitsColumn));
    for (int r = 0; r < rowCount(); ++r) {
      const QModelIndex parent = index(r, 0);
      if (rowCount(parent) > 0)
        Q_EMIT dataChanged(index(0, BitsColumn, parent), index(rowCount(parent) - 1, BitsColumn, parent));
    }
  }
}

double ModelTreeModel::bitsOf(const Node* n) const {
  if (!n->moduleName.isEmpty()) {
    const auto it = bits_.find(n->moduleName.toStdString());
    return it == bits_.end() ? std::nan("") : it->second;
  }
  double sum = 0, weights = 0;  // a block: parameter-weighted average of its modules
  for (const auto& c : n->children) {
    const double b = bitsOf(c.get());
    if (std::isfinite(b)) {
      sum += b * double(c->params);
      weights += double(c->params);
    }
  }
  return weights > 0 ? sum / weights : std::nan("");
}

QColor ModelTreeModel::bitsColour(double bits) {
  // The allocation map's palette (plot_scales.h): one colour per bit-width.
  return widgets::bitsColour(bits);
}

}  // namespace bitscape::widgets
