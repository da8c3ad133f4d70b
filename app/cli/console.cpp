#include "app/cli/console.h"

#include "app/cli/table.h"
#include "core/run/runservice.h"
#include "core/util/format.h"

#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>

namespace lw::cli {

namespace {

using json = nlohmann::json;

std::atomic<int> g_interrupts{0};
struct sigaction g_oldInt = {}, g_oldTerm = {};

extern "C" void onInterrupt(int)
{
    g_interrupts.fetch_add(1);
}

json probesJson(const RunSummary &s)
{
    json probes = json::array();
    for (const auto &p : s.probes)
        probes.push_back({{"layer", p.layer},
                          {"after_stage", p.afterStage},
                          {"train_acc", p.trainAcc},
                          {"test_acc", p.testAcc}});
    return probes;
}

} // namespace

// ---- progress -------------------------------------------------------------------------------

ConsoleObserver::ConsoleObserver(int stages, int epochsPerStage)
    : m_tty(isatty(STDERR_FILENO))
    , m_stages(stages)
    , m_epochs(epochsPerStage)
{}

void ConsoleObserver::runStarted(const RunStarted &e)
{
    std::fprintf(stderr, "%s %s run on %s (%d threads), %s: %lld train / %lld test images\n",
                 e.resumed ? "resuming" : "starting", modeLabel(e.mode), e.device.c_str(),
                 e.threads, printable(e.dataset).c_str(), static_cast<long long>(e.trainSize),
                 static_cast<long long>(e.testSize));
    if (e.resumed)
        std::fprintf(stderr, "continuing at stage %d after epoch %d\n", e.resumeStage + 1,
                     e.resumeEpoch);
}

void ConsoleObserver::stageStarted(const StageStarted &e)
{
    m_epochs = e.epochs;
    clearLine();
    std::fprintf(stderr, "stage %d/%d: block %s params, head %s params%s\n", e.stage + 1, m_stages,
                 humanCount(double(e.blockParams)).c_str(),
                 humanCount(double(e.headParams)).c_str(),
                 e.cachedInput ? ", input from the feature cache" : "");
}

void ConsoleObserver::batchProgress(const BatchProgress &e)
{
    if (!m_tty)
        return;
    const double frac = e.batches > 0 ? double(e.batch) / e.batches : 0;
    const int width = 24;
    const int filled = static_cast<int>(frac * width);
    std::string bar(filled, '#');
    bar += std::string(width - filled, '.');
    double eta = -1;
    if (m_epochSeconds > 0)
        eta = (1 - frac) * m_epochSeconds + (m_epochs - e.epoch) * m_epochSeconds;
    std::fprintf(stderr,
                 "\r\033[Kstage %d/%d epoch %d/%d [%s] %3.0f%% loss %.4f %6.0f img/s  stage ETA %s",
                 e.stage + 1, m_stages, e.epoch, m_epochs, bar.c_str(), frac * 100, e.runningLoss,
                 e.imagesPerSecond, formatDuration(eta).c_str());
    std::fflush(stderr);
    m_dirty = true;
}

void ConsoleObserver::epochFinished(const EpochMetrics &e)
{
    m_epochSeconds = e.seconds;
    clearLine();
    std::fprintf(stderr,
                 "stage %d epoch %d/%d: train loss %.4f acc %s | test %s ensemble %s | lr %g | "
                 "%.0f img/s | %s\n",
                 e.stage + 1, e.epoch, m_epochs, e.trainLoss, formatPercent(e.trainAcc).c_str(),
                 formatPercent(e.testAcc).c_str(), formatPercent(e.ensembleAcc).c_str(), e.lr,
                 e.imagesPerSecond, formatDuration(e.seconds).c_str());
}

void ConsoleObserver::stageFinished(const StageFinished &e)
{
    clearLine();
    std::fprintf(stderr, "stage %d done: test %s, ensemble %s, %s\n", e.stage + 1,
                 formatPercent(e.testAcc).c_str(), formatPercent(e.ensembleAcc).c_str(),
                 formatDuration(e.seconds).c_str());
    m_epochSeconds = 0;
}

void ConsoleObserver::probeFinished(const ProbeResult &e)
{
    clearLine();
    std::fprintf(stderr, "probe of layer %d: train %s, test %s (%s)\n", e.layer + 1,
                 formatPercent(e.trainAcc).c_str(), formatPercent(e.testAcc).c_str(),
                 formatDuration(e.seconds).c_str());
}

void ConsoleObserver::log(LogLevel level, const std::string &text)
{
    std::lock_guard lock(m_mutex);
    clearLine();
    const std::string shown = printable(text, /*multiline=*/true);
    if (level == LogLevel::Info)
        std::fprintf(stderr, "%s\n", shown.c_str());
    else
        std::fprintf(stderr, "%s: %s\n", logLevelName(level), shown.c_str());
}

void ConsoleObserver::clearLine()
{
    if (m_tty && m_dirty) {
        std::fprintf(stderr, "\r\033[K");
        m_dirty = false;
    }
}

// ---- Ctrl+C ---------------------------------------------------------------------------------

InterruptGuard::InterruptGuard(RunJob &job)
    : m_job(job)
{
    g_interrupts = 0;
    struct sigaction sa = {};
    sa.sa_handler = onInterrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &g_oldInt);
    sigaction(SIGTERM, &sa, &g_oldTerm);
    m_watcher = std::thread([this] {
        while (!m_stop.load()) {
            if (g_interrupts.load() > 0) {
                if (!m_cancelled) {
                    std::fprintf(stderr,
                                 "\nstopping after the current batch (Ctrl+C again to kill)...\n");
                    m_job.cancel();
                    m_cancelled = true;
                } else if (g_interrupts.load() > 1) {
                    std::_Exit(130);
                }
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    });
}

InterruptGuard::~InterruptGuard()
{
    m_stop = true;
    m_watcher.join();
    sigaction(SIGINT, &g_oldInt, nullptr);
    sigaction(SIGTERM, &g_oldTerm, nullptr);
}

// ---- outcome --------------------------------------------------------------------------------

void printSummary(std::int64_t runId, TrainMode mode, const RunSummary &s, bool jsonOut)
{
    if (jsonOut) {
        json stages = json::array();
        for (const auto &st : s.stages)
            stages.push_back({{"stage", st.stage},
                              {"epochs", st.epochs},
                              {"train_acc", st.trainAcc},
                              {"test_acc", st.testAcc},
                              {"ensemble_acc", st.ensembleAcc},
                              {"seconds", st.seconds},
                              {"images_per_second", st.imagesPerSecond}});
        json out = {{"run_id", runId},
                    {"mode", toString(mode)},
                    {"status", toString(s.status)},
                    {"stages", stages},
                    {"final_test_acc", s.finalTestAcc},
                    {"seconds", s.seconds},
                    {"probes", probesJson(s)}};
        if (!s.message.empty())
            out["message"] = s.message;
        std::printf("%s\n", out.dump().c_str());
        return;
    }
    Table table({"stage", "epochs", "train acc", "test acc", "ensemble", "time", "img/s"});
    for (int c = 1; c < 7; ++c)
        table.alignRight(c);
    for (const auto &st : s.stages)
        table.addRow({std::to_string(st.stage + 1), std::to_string(st.epochs),
                      formatPercent(st.trainAcc), formatPercent(st.testAcc),
                      formatPercent(st.ensembleAcc), formatDuration(st.seconds),
                      std::to_string(static_cast<long long>(st.imagesPerSecond))});
    std::printf("%s", table.render().c_str());
    if (!s.probes.empty()) {
        std::printf("\n");
        printProbes(runId, s, false);
    }
    std::printf("\nrun %lld (%s) %s in %s; final test accuracy %s\n", static_cast<long long>(runId),
                modeLabel(mode), statusLabel(s.status), formatDuration(s.seconds).c_str(),
                formatPercent(s.finalTestAcc).c_str());
    if (!s.message.empty())
        std::printf("%s\n", printable(s.message, /*multiline=*/true).c_str());
}

void printProbes(std::int64_t runId, const RunSummary &s, bool jsonOut)
{
    if (jsonOut) {
        std::printf("%s\n", json{{"run_id", runId}, {"probes", probesJson(s)}}.dump().c_str());
        return;
    }
    Table t({"layer", "probe train", "probe test", "time"});
    for (int c = 1; c < 4; ++c)
        t.alignRight(c);
    for (const auto &p : s.probes)
        t.addRow({std::to_string(p.layer + 1), formatPercent(p.trainAcc), formatPercent(p.testAcc),
                  formatDuration(p.seconds)});
    std::printf("%s", t.render().c_str());
}

} // namespace lw::cli
