#pragma once

#include <QDir>
#include <QHash>
#include <QObject>
#include <QString>

namespace lw {

/// The folders the Train view's file dialogs used last, by kind ("spec", "data", "export"),
/// shared by its setup form and its dashboard; the main window keeps them in QSettings.
class LastFolders : public QObject
{
    Q_OBJECT

public:
    using QObject::QObject;

    /// The last folder of `kind`, or the home folder.
    QString folder(const QString &kind) const
    {
        const QString f = m_folders.value(kind);
        return f.isEmpty() ? QDir::homePath() : f;
    }
    void setFolder(const QString &kind, const QString &folder)
    {
        m_folders.insert(kind, folder);
        emit changed(kind, folder);
    }

Q_SIGNALS:
    void changed(const QString &kind, const QString &folder);

private:
    QHash<QString, QString> m_folders;
};

} // namespace lw
