#include "ui/common/layoutstate.h"

#include <QSettings>
#include <QSplitter>

namespace lw {

void rememberSplitter(QSplitter *splitter, const QString &key)
{
    const QString name = QStringLiteral("splitters/") + key;
    const QByteArray saved = QSettings().value(name).toByteArray();
    if (!saved.isEmpty())
        splitter->restoreState(saved);
    QObject::connect(splitter, &QSplitter::splitterMoved, splitter,
                     [splitter, name] { QSettings().setValue(name, splitter->saveState()); });
}

} // namespace lw
