#include "bitscape/widgets/share_delegate.h"

#include <QPainter>

#include <algorithm>

#include "bitscape/widgets/model_tree_model.h"

namespace bitscape::widgets {

ShareDelegate::ShareDelegate(QObject* parent) : QStyledItemDelegate(parent) {}

void ShareDelegate::paint(QPainter* painter, const QStyleOptionViewItem& option,
                          const QModelIndex& index) const {
  const double share =
      std::clamp(index.data(ModelTreeModel::RawValueRole).toDouble(), 0.0, 1.0);
  if (share > 0.0) {
    const QRect cell = option.rect.adjusted(2, 3, -2, -3);
    QRectF bar(cell);
    bar.setWidth(std::max(2.0, cell.width() * share));
    painter->save();
    painter->setRenderHint(QPainter::Antialiasing);
    painter->setPen(Qt::NoPen);
    QColor colour(0x2a, 0x7f, 0xd4);
    colour.setAlpha(option.state & QStyle::State_Selected ? 110 : 60);
    painter->setBrush(colour);
    painter->drawRoundedRect(bar, 2, 2);
    painter->restore();
  }
  QStyledItemDelegate::paint(painter, option, index);
}

}  // namespace bitscape::widgets
