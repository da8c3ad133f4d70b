#pragma once

#include "core/data/dataset.h"
#include "core/spec/spec.h"

#include <QObject>
#include <QString>

#include <functional>
#include <optional>

class QTimer;
template<typename T>
class QFutureWatcher;

namespace lw {

/// Whether the data a spec's recipe names can be read: probeDataset off the GUI thread,
/// debounced (250 ms) and one at a time, always about the spec as it is now.
class DataCheck : public QObject
{
    Q_OBJECT

public:
    /// `current` returns the spec as it would train (the form's fields applied).
    explicit DataCheck(std::function<Spec()> current, QObject *parent = nullptr);
    ~DataCheck() override;

    /// Checks again once the fields are quiet for 250 ms.
    void schedule();
    /// Schedules a check when the last one is about other data and none is coming (a field
    /// changed without its own signal, such as a new spec).
    void ensureCurrent();
    /// A check is going or due, or its result waits in the event queue.
    bool pending() const;
    /// The last finished check: the dataset found, or why it cannot be read.
    const std::optional<DatasetInfo> &info() const { return m_info; }
    QString error() const { return m_error; }

    /// What a check is about: the data fields and the spec's input shape.
    static QString key(const Spec &spec);

Q_SIGNALS:
    void started();
    void finished();

private:
    void run();
    void onFinished();

    std::function<Spec()> m_current;
    QFutureWatcher<Result<DatasetInfo>> *m_watcher = nullptr;
    QTimer *m_timer = nullptr;
    QString m_key;        ///< what the last finished check was about
    QString m_pendingKey; ///< what the check in flight is about
    std::optional<DatasetInfo> m_info;
    QString m_error;
};

} // namespace lw
