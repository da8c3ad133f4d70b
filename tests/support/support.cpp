#include "tests/support/support.h"

#include <QProcess>
#include <QProcessEnvironment>
#include <QtGlobal>

namespace lw::test {

Spec tinySpec(int epochsPerStage)
{
    Spec s;
    s.name = "tiny";
    s.input = {1, 8, 8, 4, Downsample::None};
    for (int j = 0; j < 3; ++j) {
        StageSpec st;
        st.width = 8 << j;
        st.downsample = j == 0 ? Downsample::None : Downsample::Psi;
        st.bn = true;
        st.bias = false;
        st.head.k = j == 1 ? 2 : 1;
        st.head.width = 8;
        st.head.pool = HeadPool::Adaptive;
        s.stages.push_back(st);
    }
    auto &r = s.recipe;
    r.dataset.name = "synthetic";
    r.dataset.trainLimit = 512;
    r.dataset.testLimit = 256;
    r.epochsPerStage = epochsPerStage;
    r.batchSize = 64;
    r.testBatchSize = 128;
    // One decay after the first epoch; a one-epoch stage has none (it would never take effect).
    r.lr = {0.05, 5.0, 0, epochsPerStage > 1 ? std::vector<int>{1} : std::vector<int>{}, true};
    r.e2e.epochs = 3;
    r.e2e.lr = {0.05, 5.0, 0, {2}, true};
    r.augment.enabled = false;
    r.normalize.mean = {0.5};
    r.normalize.std = {0.25};
    r.seed = 3;
    return s;
}

std::unique_ptr<RunStore> openStore(const std::string &path)
{
    auto store = RunStore::open(path);
    if (!store) {
        qWarning("%s", store.message().c_str());
        return nullptr;
    }
    return std::move(store.value());
}

TempStore::TempStore()
    : m_path(m_dir.filePath(QStringLiteral("runs.sqlite")).toStdString())
{
    if (m_dir.isValid())
        m_store = openStore(m_path);
}

bool TempStore::reopen()
{
    m_store = openStore(m_path);
    return m_store != nullptr;
}

void EventLog::batchProgress(const BatchProgress &b)
{
    if (onBatch)
        onBatch(b);
}

void EventLog::epochFinished(const EpochMetrics &m)
{
    epochs.push_back(m);
    if (onEpoch)
        onEpoch(m);
}

CliResult runCli(const QStringList &args, const QStringList &extraEnv, int timeoutMs)
{
    QProcess p;
    auto env = QProcessEnvironment::systemEnvironment();
    for (const QString &kv : extraEnv) {
        const auto eq = kv.indexOf(QLatin1Char('='));
        env.insert(kv.left(eq), kv.mid(eq + 1));
    }
    p.setProcessEnvironment(env);
    p.start(QStringLiteral(LW_CLI_PATH), args);
    CliResult r;
    if (!p.waitForFinished(timeoutMs)) {
        p.kill();
        p.waitForFinished();
        r.err = QStringLiteral("layerwise-cli did not finish in %1 ms").arg(timeoutMs);
        return r;
    }
    r.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = QString::fromUtf8(p.readAllStandardOutput());
    r.err = QString::fromUtf8(p.readAllStandardError());
    return r;
}

} // namespace lw::test
