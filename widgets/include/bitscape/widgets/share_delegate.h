// Paints a cell's share of the whole (a fraction in RawValueRole) as a bar behind its text, so
// the heavy parts of a model stand out in the tree.
#pragma once

#include <QStyledItemDelegate>

namespace bitscape::widgets {

class ShareDelegate : public QStyledItemDelegate {
  Q_OBJECT

 public:
  explicit ShareDelegate(QObject* parent = nullptr);
  void paint(QPainter* painter, const QStyleOptionViewItem& option,
             const QModelIndex& index) const override;
};

}  // namespace bitscape::widgets
