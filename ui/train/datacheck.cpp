#include "ui/train/datacheck.h"

#include <QFutureWatcher>
#include <QTimer>
#include <QtConcurrent/QtConcurrentRun>

namespace lw {

namespace {

QString q(const std::string &s)
{
    return QString::fromStdString(s);
}

} // namespace

DataCheck::DataCheck(std::function<Spec()> current, QObject *parent)
    : QObject(parent)
    , m_current(std::move(current))
{
    m_watcher = new QFutureWatcher<Result<DatasetInfo>>(this);
    connect(m_watcher, &QFutureWatcherBase::finished, this, &DataCheck::onFinished);
    m_timer = new QTimer(this);
    m_timer->setSingleShot(true);
    m_timer->setInterval(250);
    connect(m_timer, &QTimer::timeout, this, &DataCheck::run);
}

DataCheck::~DataCheck()
{
    if (m_watcher->isRunning())
        m_watcher->waitForFinished();
}

void DataCheck::schedule()
{
    m_timer->start();
}

void DataCheck::ensureCurrent()
{
    if (key(m_current()) != m_key && !m_timer->isActive() && !m_watcher->isRunning())
        m_timer->start();
}

QString DataCheck::key(const Spec &spec)
{
    const DatasetSpec &d = spec.recipe.dataset;
    return QStringLiteral("%1|%2|%3|%4|%5|%6|%7x%8x%9")
        .arg(q(d.name), q(d.path))
        .arg(d.trainLimit)
        .arg(d.testLimit)
        .arg(spec.recipe.seed)
        .arg(spec.input.classes)
        .arg(spec.input.channels)
        .arg(spec.input.height)
        .arg(spec.input.width);
}

bool DataCheck::pending() const
{
    // Also while a finished check's result waits in the event queue.
    return m_watcher->isRunning() || m_timer->isActive() || m_key != key(m_current());
}

void DataCheck::run()
{
    if (m_watcher->isRunning()) {
        m_timer->start(); // one check at a time; check again when it is done
        return;
    }
    const Spec spec = m_current();
    const DatasetOptions o = datasetOptionsFor(spec); // as the trainer opens it
    m_pendingKey = key(spec);
    emit started();
    m_watcher->setFuture(QtConcurrent::run([o] { return probeDataset(o); }));
}

void DataCheck::onFinished()
{
    const Result<DatasetInfo> result = m_watcher->result();
    m_key = m_pendingKey;
    m_info.reset();
    m_error.clear();
    if (result)
        m_info = *result;
    else
        m_error = q(result.message());
    emit finished();
}

} // namespace lw
