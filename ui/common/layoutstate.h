#pragma once

#include <QString>

class QSplitter;

namespace lw {

/// Restores `splitter`'s sizes from QSettings under `key` (when saved before) and saves them
/// there whenever the user moves it, so panes keep the size a person gave them across restarts.
void rememberSplitter(QSplitter *splitter, const QString &key);

} // namespace lw
