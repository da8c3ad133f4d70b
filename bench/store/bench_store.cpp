// bench_store: what the run store costs.
//  1. Recording overhead: a simulated training run (synthetic work per batch) observed by a
//     no-op observer vs. by RunRecorder; prints both times, their ratio and the recorder's cost
//     per epoch.
//  2. Listing speed: a store of --runs runs x --epochs epochs (8 metric rows per epoch), then
//     `runs list` (every run, one query), the browser's page query (filter + sort + limit, and
//     its count), a text search, a tag filter, and opening one run (detail + all its metrics).
// Usage: bench_store [--runs N] [--epochs E] [--dir FOLDER] [--keep]
#include "core/store/recorder.h"
#include "core/store/runstore.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double secondsSince(Clock::time_point t0)
{
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

/// Median of `reps` timings of fn, in milliseconds (one warm-up call first).
double medianMs(int reps, const std::function<void()> &fn)
{
    fn();
    std::vector<double> t;
    for (int i = 0; i < reps; ++i) {
        auto t0 = Clock::now();
        fn();
        t.push_back(secondsSince(t0) * 1e3);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

lw::EpochMetrics epoch(int stage, int e, std::int64_t step)
{
    lw::EpochMetrics m;
    m.stage = stage;
    m.epoch = e;
    m.step = step;
    const double x = static_cast<double>(step);
    m.trainLoss = 2.3 / (1 + x * 0.05);
    m.trainAcc = 1 - 0.9 / (1 + x * 0.05);
    m.testLoss = 2.4 / (1 + x * 0.04);
    m.testAcc = 0.9 - 0.8 / (1 + x * 0.04);
    m.ensembleAcc = m.testAcc + 0.002;
    m.lr = 0.1;
    m.imagesPerSecond = 2500;
    m.seconds = 20;
    return m;
}

volatile float g_sink = 0;

/// Work standing in for a training batch (about `units` x 64k multiply-adds).
void fakeBatch(std::vector<float> &buf, int units)
{
    float acc = 0;
    for (int u = 0; u < units; ++u)
        for (std::size_t i = 0; i < buf.size(); ++i) {
            buf[i] = buf[i] * 0.999f + 0.001f;
            acc += buf[i];
        }
    g_sink = g_sink + acc;
}

struct RecordCost
{
    double seconds = 0;
    double observerSeconds = 0; // time spent inside the observer's calls
};

/// Times each observer call.
class Timed
{
public:
    explicit Timed(double &total)
        : m_total(total)
        , m_t0(Clock::now())
    {}
    ~Timed() { m_total += secondsSince(m_t0); }

private:
    double &m_total;
    Clock::time_point m_t0;
};

RecordCost simulate(lw::TrainObserver &obs, int stages, int epochsPerStage, int batches, int units)
{
    std::vector<float> buf(1 << 16, 1.0f);
    RecordCost cost;
    double &in = cost.observerSeconds;
    auto t0 = Clock::now();
    lw::RunStarted rs;
    rs.stages = stages;
    {
        Timed t(in);
        obs.runStarted(rs);
    }
    std::int64_t step = 0;
    for (int s = 0; s < stages; ++s) {
        lw::StageStarted ss;
        ss.stage = s;
        ss.epochs = epochsPerStage;
        {
            Timed t(in);
            obs.stageStarted(ss);
        }
        for (int e = 1; e <= epochsPerStage; ++e) {
            for (int b = 1; b <= batches; ++b) {
                fakeBatch(buf, units);
                Timed t(in);
                obs.batchProgress(lw::BatchProgress{s, e, b, batches, 1.0, 1000});
            }
            Timed t(in);
            obs.epochFinished(epoch(s, e, ++step));
        }
        lw::StageFinished sf;
        sf.stage = s;
        sf.epochs = epochsPerStage;
        Timed t(in);
        obs.stageFinished(sf);
        obs.probeFinished(lw::ProbeResult{s, s, 0.5, 0.5, 1});
        obs.checkpointSaved(lw::CheckpointSaved{s, epochsPerStage, "stage.pt", true});
    }
    lw::RunEnded end;
    {
        Timed t(in);
        obs.runEnded(end);
    }
    cost.seconds = secondsSince(t0);
    return cost;
}

int benchRecording(const std::string &dir)
{
    constexpr int stages = 4, epochs = 50, batches = 40, units = 4, rounds = 3;
    std::printf("== Recording overhead (simulated run: %d stages x %d epochs x %d batches; "
                "best of %d interleaved rounds) ==\n",
                stages, epochs, batches, rounds);
    auto store = lw::RunStore::open(dir + "/record.sqlite");
    if (!store) {
        std::fprintf(stderr, "%s\n", store.message().c_str());
        return 1;
    }
    RecordCost base{1e30, 0}, rec1{1e30, 1e30}, rec0{1e30, 1e30};
    auto keepBest = [](RecordCost &best, const RecordCost &c) {
        best.seconds = std::min(best.seconds, c.seconds);
        best.observerSeconds = std::min(best.observerSeconds, c.observerSeconds);
    };
    for (int round = 0; round < rounds; ++round) {
        lw::TrainObserver noop;
        keepBest(base, simulate(noop, stages, epochs, batches, units));
        for (double interval : {1.0, 0.0}) {
            auto id = (*store)->createRun(lw::NewRun{});
            if (!id) {
                std::fprintf(stderr, "%s\n", id.message().c_str());
                return 1;
            }
            lw::RunRecorder rec(**store, *id, lw::RecorderOptions{interval});
            keepBest(interval > 0 ? rec1 : rec0, simulate(rec, stages, epochs, batches, units));
            if (!rec.ok()) {
                std::fprintf(stderr, "recording failed: %s\n", rec.lastError()->message.c_str());
                return 1;
            }
        }
    }
    const int n = stages * epochs;
    std::printf("  no-op observer                 %8.3f s\n", base.seconds);
    for (const auto &[label, c] : {std::pair{"RunRecorder (flush >= 1 s)    ", rec1},
                                   std::pair{"RunRecorder (flush each epoch)", rec0}})
        std::printf("  %s %8.3f s   ratio %.4f   in the recorder: %.4f s = %.3f%% of the run, "
                    "%.1f us/epoch\n",
                    label, c.seconds, c.seconds / base.seconds, c.observerSeconds,
                    100 * c.observerSeconds / base.seconds, c.observerSeconds / n * 1e6);
    std::printf("  (simulated epoch: %.1f ms; a real CIFAR epoch takes seconds to minutes; the "
                "wall ratio includes noise from other processes)\n",
                base.seconds / n * 1e3);
    return 0;
}

int benchListing(const std::string &dir, int runs, int epochs)
{
    std::printf("\n== Listing: %d runs x %d epochs (%lld metric rows) ==\n", runs, epochs,
                static_cast<long long>(runs) * epochs * 8);
    const std::string path = dir + "/list.sqlite";
    auto opened = lw::RunStore::open(path);
    if (!opened) {
        std::fprintf(stderr, "%s\n", opened.message().c_str());
        return 1;
    }
    auto &store = **opened;
    auto t0 = Clock::now();
    const char *statuses[] = {"finished", "finished", "finished", "failed", "cancelled"};
    const int stages = 4;
    for (int r = 0; r < runs; ++r) {
        lw::NewRun nr;
        nr.name = "run " + std::to_string(r) + (r % 3 == 0 ? " cifar-k2 sweep" : " ablation");
        nr.mode = r % 4 == 0 ? lw::TrainMode::EndToEnd : lw::TrainMode::Greedy;
        nr.specName = r % 2 ? "cifar-k2" : "cifar-k3";
        nr.specJson = R"({"stages":4,"width":128,"head":{"k":2}})";
        nr.recipeJson = R"({"epochs":50,"lr":0.1,"batch":128})";
        nr.dataset = "CIFAR-10";
        nr.stages = stages;
        nr.params = 2523000 + r;
        nr.macs = 760000000;
        if (r % 10 == 0)
            nr.tags = {"paper", "k2"};
        else if (r % 7 == 0)
            nr.tags = {"sweep"};
        auto id = store.createRun(nr);
        if (!id) {
            std::fprintf(stderr, "%s\n", id.message().c_str());
            return 1;
        }
        std::vector<lw::EpochMetrics> ms;
        ms.reserve(static_cast<std::size_t>(epochs));
        const int per = std::max(1, epochs / stages);
        for (int e = 0; e < epochs; ++e) {
            auto m = epoch(std::min(stages - 1, e / per), e % per + 1, e + 1);
            m.testAcc += (r % 97) * 1e-4;
            ms.push_back(m);
        }
        if (auto w = store.recordEpochs(*id, ms); !w) {
            std::fprintf(stderr, "%s\n", w.message().c_str());
            return 1;
        }
        for (int s = 0; s < stages; ++s) {
            lw::StageFinished sf;
            sf.stage = s;
            sf.epochs = per;
            (void)store.finishStage(*id, sf);
        }
        const lw::RunStatus st = *lw::parseRunStatus(statuses[r % 5]);
        lw::RunEnded end;
        end.status = st;
        end.seconds = 3600;
        end.finalTestAcc = ms.back().testAcc;
        (void)store.finishRun(*id, end);
        if ((r + 1) % 1000 == 0) {
            std::printf("  built %d runs (%.0f s)\r", r + 1, secondsSince(t0));
            std::fflush(stdout);
        }
    }
    std::printf("  built the store in %.1f s, %.0f MB\n", secondsSince(t0),
                static_cast<double>(fs::file_size(path)) / 1e6);
    opened.value().reset();

    t0 = Clock::now();
    auto reopened = lw::RunStore::open(path, lw::OpenMode::ReadOnly);
    if (!reopened)
        return 1;
    std::printf("  open (read-only)                          %8.2f ms\n", secondsSince(t0) * 1e3);
    auto &s = **reopened;
    std::size_t n = 0;
    const double listAll = medianMs(5, [&] { n = s.listRuns()->size(); });
    std::printf("  runs list: all %zu runs, one query        %8.2f ms\n", n, listAll);
    lw::RunFilter page;
    page.status = lw::RunStatus::Finished;
    page.orderBy = lw::RunOrder::FinalTestAcc;
    page.limit = 100;
    const double browser = medianMs(9, [&] {
        n = s.listRuns(page)->size();
        (void)s.countRuns(page);
    });
    std::printf("  browser page: finished, by final acc, 100 + count  %8.2f ms\n", browser);
    lw::RunFilter text;
    text.text = "sweep";
    text.limit = 100;
    std::printf("  browser search 'sweep' (name/notes/tags)  %8.2f ms\n",
                medianMs(9, [&] { (void)s.listRuns(text); }));
    lw::RunFilter tag;
    tag.tag = "paper";
    std::printf("  tag filter 'paper' (%lld runs)             %8.2f ms\n",
                static_cast<long long>(*s.countRuns(tag)),
                medianMs(9, [&] { (void)s.listRuns(tag); }));
    const std::int64_t mid = runs / 2;
    std::printf("  open one run: detail + %d metric rows      %8.2f ms\n", epochs * 8,
                medianMs(9, [&] {
                    (void)s.getRun(mid);
                    (void)s.metrics(mid);
                }));
    std::printf("  change token (live refresh poll)          %8.4f ms\n",
                medianMs(99, [&] { (void)s.changeToken(); }));
    t0 = Clock::now();
    {
        auto rw = lw::RunStore::open(path);
        if (!rw)
            return 1;
    }
    std::printf("  open read-write (checks running runs)     %8.2f ms\n", secondsSince(t0) * 1e3);
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    int runs = 10000, epochs = 200;
    std::string dir;
    bool keep = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--runs" && i + 1 < argc)
            runs = std::max(1, std::atoi(argv[++i]));
        else if (a == "--epochs" && i + 1 < argc)
            epochs = std::max(1, std::atoi(argv[++i]));
        else if (a == "--dir" && i + 1 < argc)
            dir = argv[++i];
        else if (a == "--keep")
            keep = true;
        else {
            std::fprintf(stderr, "usage: bench_store [--runs N] [--epochs E] [--dir FOLDER] "
                                 "[--keep]\n");
            return 2;
        }
    }
    bool made = false;
    if (dir.empty()) {
        char tmpl[] = "/tmp/bench_store.XXXXXX";
        if (!::mkdtemp(tmpl)) {
            std::perror("mkdtemp");
            return 1;
        }
        dir = tmpl;
        made = true;
    }
    fs::create_directories(dir);
    int rc = benchRecording(dir);
    if (rc == 0)
        rc = benchListing(dir, runs, epochs);
    if (made && !keep)
        fs::remove_all(dir);
    else
        std::printf("store kept in %s\n", dir.c_str());
    return rc;
}
