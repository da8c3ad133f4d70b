// Decoupled greedy learning with the pipeline placement: stage j trains on rank j. Rank 0 reads
// the batches and runs the stem; every rank trains its block and head on the detached input it
// receives from the rank below (c10d point-to-point) and sends its block's detached output to
// the rank above. Each stage sees what it sees in one process (block j-1's output on the same
// batch, taken before block j-1's step), so the run computes the one-process DGL run, with the
// stages working on different batches at the same time. Per-stage totals and test logits reach
// rank 0, which reports every stage and, after gathering each rank's stage (weights and
// optimizer), writes the checkpoints. With a replay buffer (the asynchronous variant) a stage
// no longer waits for the one below: it trains on batches drawn from the last ones it received.
#include "core/train/trainer_p.h"

#include <array>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

namespace lw {

using detail::ParamGroupImpl;
using detail::Stop;

namespace {

// Tags of the point-to-point messages. Between two ranks each tag's messages arrive in order.
enum Tag : int {
    kHeader = 1,     // int64 [rows, C, H, W]; rows 0 ends a pass over a split
    kActivation = 2, // float32 rows x C x H x W
    kAux = 3,        // int64 rows: labels (training) or test indices (evaluation)
    kLogits = 4,     // float32 test rows x classes, to rank 0
    kLoss = 5,       // float64 [summed test loss], to rank 0
    kStateSize = 6,  // int64 [bytes], to rank 0
    kState = 7,      // uint8: a stage's weights and optimizer, to rank 0
};

/// Sends batches to the next rank. Up to `window` batches are in flight: the synchronous
/// pipeline (window 1) waits for the previous batch's sends only before sending the next, so
/// this rank runs up to a batch ahead of the one it feeds; the asynchronous one runs up to its
/// replay buffer's length ahead.
class Downstream
{
public:
    Downstream(DistGroup &group, int dst, torch::Device commDevice, int window = 1)
        : m_group(group)
        , m_dst(dst)
        , m_commDevice(commDevice)
        , m_window(std::max<std::size_t>(1, std::size_t(window)))
    {}
    ~Downstream()
    {
        // Leaving early (a stop, a failed rank): let the sends in flight end before their buffers.
        try {
            waitFor(0);
        } catch (const std::exception &) {
        }
    }
    Downstream(const Downstream &) = delete;
    Downstream &operator=(const Downstream &) = delete;

    void push(const torch::Tensor &x, const torch::Tensor &aux)
    {
        waitFor(m_window - 1);
        auto header = torch::tensor({x.size(0), x.size(1), x.size(2), x.size(3)}, torch::kInt64);
        m_pending.push_back(
            {detail::sendAsync(m_group, header.to(m_commDevice), m_dst, kHeader),
             detail::sendAsync(m_group, x.detach().to(m_commDevice, torch::kFloat32).contiguous(),
                               m_dst, kActivation),
             detail::sendAsync(m_group, aux.to(m_commDevice, torch::kInt64), m_dst, kAux)});
    }
    /// Ends the pass: the next rank leaves its loop.
    void end()
    {
        waitFor(0);
        auto header = torch::zeros({4}, torch::TensorOptions(torch::kInt64).device(m_commDevice));
        detail::send(m_group, header, m_dst, kHeader);
    }

private:
    /// Waits until at most `inFlight` batches are still being sent.
    void waitFor(std::size_t inFlight)
    {
        while (m_pending.size() > inFlight) {
            for (auto &p : m_pending.front())
                p.wait();
            m_pending.pop_front();
        }
    }
    DistGroup &m_group;
    int m_dst;
    torch::Device m_commDevice;
    std::size_t m_window;
    std::deque<std::array<detail::PendingSend, 3>> m_pending;
};

/// Receives the batches the rank below sends; false at the end of a pass (or, with `abort`,
/// once it was aborted).
bool pull(DistGroup &group, int src, torch::Device commDevice, torch::Tensor &x, torch::Tensor &aux,
          detail::RecvAbort *abort = nullptr)
{
    const auto receive = [&](torch::Tensor &t, int tag) {
        if (!abort) {
            detail::recv(group, t, src, tag);
            return true;
        }
        return detail::recv(group, t, src, tag, *abort);
    };
    const auto ints = torch::TensorOptions(torch::kInt64).device(commDevice);
    auto header = torch::empty({4}, ints);
    if (!receive(header, kHeader))
        return false;
    header = header.to(torch::kCPU);
    const auto *h = header.data_ptr<std::int64_t>();
    if (h[0] == 0)
        return false;
    TORCH_CHECK(h[0] > 0 && h[1] > 0 && h[2] > 0 && h[3] > 0, "pipeline: rank ", src,
                " sent a malformed batch header");
    x = torch::empty({h[0], h[1], h[2], h[3]}, ints.dtype(torch::kFloat32));
    aux = torch::empty({h[0]}, ints);
    return receive(x, kActivation) && receive(aux, kAux);
}

/// The asynchronous pipeline's replay buffer (Algorithm 2 of Belilovsky et al., "Decoupled
/// Greedy Learning of CNNs", ICML 2020): a thread receives every batch the rank below sends in
/// a pass and keeps the last `capacity`; the stage draws one uniformly at random for each step,
/// so a batch may be trained on again or never, and waits only while nothing has arrived.
class ReplayBuffer
{
public:
    ReplayBuffer(DistGroup &group, int src, torch::Device commDevice, int capacity,
                 std::uint64_t seed)
        : m_capacity(std::size_t(std::max(1, capacity)))
        , m_rng(seed)
    {
        m_thread
            = std::thread([this, &group, src, commDevice] { receive(group, src, commDevice); });
    }
    ~ReplayBuffer()
    {
        m_abort.abort(); // leaving early: end the receive the thread waits in
        if (m_thread.joinable())
            m_thread.join();
    }
    ReplayBuffer(const ReplayBuffer &) = delete;
    ReplayBuffer &operator=(const ReplayBuffer &) = delete;

    /// A batch drawn from the buffer; false when the pass below ended without sending any.
    /// Rethrows the receiving thread's failure.
    bool draw(torch::Tensor &x, torch::Tensor &y)
    {
        std::unique_lock lock(m_mutex);
        if (m_items.empty() && !m_ended) {
            const auto start = std::chrono::steady_clock::now();
            m_cv.wait(lock, [&] { return !m_items.empty() || m_ended; });
            m_waitSeconds
                += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        }
        if (m_error)
            std::rethrow_exception(m_error);
        if (m_items.empty())
            return false;
        std::uniform_int_distribution<std::size_t> pick(0, m_items.size() - 1);
        auto &item = m_items[pick(m_rng)];
        if (!item.drawn) {
            item.drawn = true;
            ++m_distinct;
        }
        x = item.x;
        y = item.y;
        return true;
    }
    /// Waits for the end of the pass below (what still arrives is kept, not trained on);
    /// rethrows the receiving thread's failure.
    void finish()
    {
        if (m_thread.joinable())
            m_thread.join();
        if (m_error)
            std::rethrow_exception(m_error);
    }
    std::int64_t received() const { return m_received; }
    std::int64_t distinct() const { return m_distinct; }
    /// Seconds draw() waited for a first batch.
    double waitSeconds() const { return m_waitSeconds; }

private:
    struct Item
    {
        torch::Tensor x, y;
        bool drawn = false;
    };

    void receive(DistGroup &group, int src, torch::Device commDevice)
    {
        std::exception_ptr error;
        try {
            torch::Tensor x, y;
            while (pull(group, src, commDevice, x, y, &m_abort)) {
                std::lock_guard lock(m_mutex);
                if (m_items.size() == m_capacity)
                    m_items.pop_front();
                m_items.push_back({x, y, false});
                ++m_received;
                m_cv.notify_all();
            }
        } catch (...) {
            error = std::current_exception();
        }
        std::lock_guard lock(m_mutex);
        m_error = error;
        m_ended = true;
        m_cv.notify_all();
    }

    std::size_t m_capacity;
    std::mt19937_64 m_rng;
    detail::RecvAbort m_abort;
    std::mutex m_mutex;
    std::condition_variable m_cv;
    std::deque<Item> m_items;
    bool m_ended = false;
    std::exception_ptr m_error;
    std::int64_t m_received = 0, m_distinct = 0;
    double m_waitSeconds = 0;
    std::thread m_thread; // last: it starts once the members it uses exist
};

} // namespace

torch::Device Trainer::Impl::commDevice() const
{
    // Gloo's point-to-point operations take CPU tensors; NCCL's take the rank's GPU.
    return opt.dist && opt.dist->backend() == "nccl" ? device : torch::Device(torch::kCPU);
}

std::pair<std::vector<torch::Tensor>, std::vector<double>> Trainer::Impl::evaluatePipeline()
{
    c10::InferenceMode guard;
    net->eval();
    const int me = rank(), stages = net->stages();
    const bool first = me == 0, last = me == stages - 1;
    std::unique_ptr<data::Loader> loader;
    if (first) {
        loader = makeLoader(false, false, std::max(spec.recipe.testBatchSize, 256));
        loader->startEpoch(0);
    }
    std::optional<Downstream> down;
    if (!last)
        down.emplace(*opt.dist, me + 1, commDevice());
    std::vector<torch::Tensor> outs, indices;
    double lossSum = 0;
    namespace F = torch::nn::functional;
    while (true) {
        torch::Tensor x, idx;
        if (first) {
            data::Batch b;
            if (!loader->next(b))
                break;
            x = net->stem->forward(toDevice(b.images));
            idx = b.indices;
        } else {
            if (!pull(*opt.dist, me - 1, commDevice(), x, idx))
                break;
            x = toDevice(x);
            idx = idx.to(torch::kCPU);
        }
        detail::AutocastScope ac(amp, ampType, cuda);
        x = net->blocks[me]->forward(x);
        if (down)
            down->push(x, idx);
        auto logits = net->heads[me]->forward(x).to(torch::kFloat32);
        auto y = testLabels.index_select(0, idx).to(device);
        lossSum += F::cross_entropy(logits, y, F::CrossEntropyFuncOptions().reduction(torch::kSum))
                       .item<double>();
        outs.push_back(logits.to(torch::kCPU));
        indices.push_back(idx);
    }
    if (down)
        down->end();
    auto full = detail::testRows(testLabels.size(0), spec.input.classes, outs, indices);
    if (!writer()) {
        auto l = torch::tensor({lossSum}, torch::kFloat64).to(commDevice());
        auto f = full.to(commDevice());
        detail::send(*opt.dist, f, 0, kLogits);
        detail::send(*opt.dist, l, 0, kLoss);
        return {};
    }
    std::vector<torch::Tensor> logits(static_cast<std::size_t>(stages));
    std::vector<double> losses(std::size_t(stages), 0.0);
    logits[0] = full;
    losses[0] = lossSum;
    for (int j = 1; j < stages; ++j) {
        auto f = torch::empty_like(full).to(commDevice());
        auto l = torch::empty({1}, torch::TensorOptions(torch::kFloat64).device(commDevice()));
        detail::recv(*opt.dist, f, j, kLogits);
        detail::recv(*opt.dist, l, j, kLoss);
        logits[std::size_t(j)] = f.to(torch::kCPU);
        losses[std::size_t(j)] = l.item<double>();
    }
    return {logits, losses};
}

void Trainer::Impl::gatherPipelineStages(
    const std::vector<std::shared_ptr<detail::ParamGroupImpl>> &groups,
    const std::vector<StageOptimizer *> &optimizers)
{
    const int me = rank();
    if (!writer()) {
        torch::serialize::OutputArchive archive;
        groups[std::size_t(me)]->save(archive);
        torch::serialize::OutputArchive oa;
        optimizers[std::size_t(me)]->save(oa);
        archive.write("optimizer", oa);
        std::ostringstream out;
        archive.save_to(out);
        std::string bytes = out.str();
        auto size = torch::tensor({std::int64_t(bytes.size())}, torch::kInt64).to(commDevice());
        auto data = torch::from_blob(bytes.data(), {std::int64_t(bytes.size())}, torch::kUInt8)
                        .to(commDevice(), /*non_blocking=*/false, /*copy=*/true);
        detail::send(*opt.dist, size, 0, kStateSize);
        detail::send(*opt.dist, data, 0, kState);
        return;
    }
    for (int j = 1; j < net->stages(); ++j) {
        auto size = torch::empty({1}, torch::TensorOptions(torch::kInt64).device(commDevice()));
        detail::recv(*opt.dist, size, j, kStateSize);
        const auto n = size.to(torch::kCPU).item<std::int64_t>();
        auto data = torch::empty({n}, torch::TensorOptions(torch::kUInt8).device(commDevice()));
        detail::recv(*opt.dist, data, j, kState);
        data = data.to(torch::kCPU).contiguous();
        torch::serialize::InputArchive archive;
        archive.load_from(reinterpret_cast<const char *>(data.data_ptr<std::uint8_t>()),
                          std::size_t(n), device);
        groups[std::size_t(j)]->load(archive);
        torch::serialize::InputArchive oa;
        archive.read("optimizer", oa);
        optimizers[std::size_t(j)]->load(oa);
    }
    if (channelsLast)
        toChannelsLast(*net);
    folded.clear();
}

void Trainer::Impl::runPipeline(int startEpoch, bool resuming, const std::string &ckpt)
{
    const int stages = net->stages();
    const int epochs = spec.recipe.epochsPerStage;
    const int me = rank();
    const bool first = me == 0, last = me == stages - 1;
    auto &group = *opt.dist;
    // Every rank holds every stage's optimizer: rank 0 gathers them into its own for the
    // checkpoints; the others train only theirs.
    DecoupledStages started = startDecoupledStages(startEpoch, resuming, ckpt);
    auto &groups = started.groups;
    auto &optimizers = started.optimizers;
    auto &optPtrs = started.ptrs;
    const int replay = opt.replayBuffer;
    log(LogLevel::Info,
        "placement pipeline: stage j on rank j-1 of " + std::to_string(stages)
            + " processes, activations sent upward (" + opt.dist->backend() + ")"
            + (replay > 0 ? "; asynchronous: each stage above the first draws its batches from "
                            "a replay buffer of the last "
                                + std::to_string(replay) + " batches it received"
                          : ""));
    std::unique_ptr<data::Loader> loader;
    if (first)
        loader = makeLoader(true, true, spec.recipe.batchSize);
    StageOptimizer &sopt = *optimizers[std::size_t(me)];
    std::vector<EvalResult> evals(static_cast<std::size_t>(stages));
    std::vector<double> trainAcc(std::size_t(stages), 0.0);
    // Per stage, summed over the ranks (each fills its own slot): loss sum, correct, seen,
    // training seconds, batches, the batch and loss where it diverged; with a replay buffer, the
    // batches received and the distinct ones drawn.
    enum Slot {
        kLossSum,
        kCorrect,
        kSeen,
        kSeconds,
        kBatches,
        kFailedBatch,
        kFailedLoss,
        kReceived,
        kDistinct,
        kSlots
    };
    for (int e = startEpoch; e < epochs; ++e) {
        const auto epochStart = activeNow();
        for (auto &o : optimizers)
            if (o->startEpoch(e) && o.get() == optPtrs.front())
                log(LogLevel::Info, "epoch " + std::to_string(e + 1) + ": learning rate "
                                        + std::to_string(o->lr()) + ", optimizers rebuilt");
        torch::manual_seed(spec.recipe.seed * 7919 + std::uint64_t(e));
        net->train();
        if (first)
            loader->startEpoch(e);
        int batches = first ? static_cast<int>(loader->batchesPerEpoch()) : 0;
        std::optional<ReplayBuffer> buffer;
        if (replay > 0) {
            // Asynchronous: every stage takes as many steps as the epoch has batches.
            auto n = torch::tensor({std::int64_t(batches)}, torch::kInt64).to(device);
            detail::broadcast(group, n, 0);
            batches = static_cast<int>(n.to(torch::kCPU).item<std::int64_t>());
            if (!first)
                buffer.emplace(group, me - 1, commDevice(), replay,
                               spec.recipe.seed * 7919 + std::uint64_t(e) * 131
                                   + std::uint64_t(me));
        }
        std::optional<Downstream> down;
        if (!last)
            down.emplace(group, me + 1, commDevice(), std::max(replay, 1));
        std::int64_t correct = 0, seen = 0;
        double lossSum = 0, failedLoss = 0;
        int batch = 0, failedBatch = 0;
        auto lastReport = activeNow();
        while (true) {
            checkControls();
            torch::Tensor x, y;
            if (first) {
                data::Batch b;
                if (failedBatch > 0 || !loader->next(b))
                    break;
                x = net->stem->forward(toDevice(b.images));
                y = b.labels.to(device, cuda);
            } else if (buffer) {
                if (failedBatch > 0 || batch >= batches || !buffer->draw(x, y))
                    break;
                x = toDevice(x);
                y = y.to(device);
            } else {
                if (!pull(group, me - 1, commDevice(), x, y))
                    break;
                if (failedBatch > 0) // diverged: drain the pass, train no more
                    continue;
                x = toDevice(x);
                y = y.to(device);
            }
            ++batch;
            torch::Tensor out;
            auto fwd = [&](const torch::Tensor &in) {
                out = net->blocks[me]->forward(in);
                return net->heads[me]->forward(out);
            };
            bool finite = true;
            const double loss
                = trainStep(sopt, *groups[std::size_t(me)], x, y, fwd, correct, finite);
            if (!finite) {
                failedBatch = batch;
                failedLoss = loss;
                continue;
            }
            lossSum += loss * double(y.size(0));
            seen += y.size(0);
            if (down)
                down->push(out, y);
            if (first && activeSince(lastReport) >= 0.1) {
                lastReport = activeNow();
                obs->batchProgress({0, e + 1, batch, batches, lossSum / double(seen),
                                    double(seen) / activeSince(epochStart)});
            }
        }
        if (down)
            down->end();
        down.reset();
        if (buffer) {
            buffer->finish();
            replayWaitSeconds += buffer->waitSeconds();
        }
        auto t = torch::zeros({kSlots, stages}, torch::kFloat64);
        if (buffer) {
            t[kReceived][me] = double(buffer->received());
            t[kDistinct][me] = double(buffer->distinct());
        }
        buffer.reset();
        t[kLossSum][me] = lossSum;
        t[kCorrect][me] = double(correct);
        t[kSeen][me] = double(seen);
        t[kSeconds][me] = activeSince(epochStart);
        t[kBatches][me] = double(batch);
        t[kFailedBatch][me] = double(failedBatch);
        t[kFailedLoss][me] = failedBatch > 0 ? failedLoss : 0.0;
        t = t.to(device);
        detail::allreduceSum(group, t);
        t = t.to(torch::kCPU);
        const auto at = [&](Slot s, int j) {
            return t[s][j].item<double>();
        };
        for (int j = 0; j < stages; ++j)
            if (at(kFailedBatch, j) > 0)
                throw Stop{RunStatus::Failed,
                           detail::divergenceMessage(j, e + 1, int(at(kFailedBatch, j)),
                                                     at(kFailedLoss, j))};
        if (replay > 0 && writer()) {
            std::ostringstream ss;
            ss << "epoch " << e + 1 << ", replay buffer of " << replay << " batches:";
            for (int j = 1; j < stages; ++j)
                ss << (j > 1 ? ";" : "") << " stage " << j + 1 << " took " << at(kBatches, j)
                   << " steps on " << at(kDistinct, j) << " of the " << at(kReceived, j)
                   << " batches it received";
            log(LogLevel::Info, ss.str());
        }
        // The pipeline's epoch ends when its last stage has trained on the last batch.
        const double epochTrainSeconds = at(kSeconds, stages - 1);
        auto [logits, losses] = evaluatePipeline();
        headTestOutputs.clear();
        ++step;
        for (int j = 0; j < stages; ++j) {
            const double n = std::max(at(kSeen, j), 1.0);
            trainAcc[std::size_t(j)] = at(kCorrect, j) / n;
            if (!writer())
                continue;
            auto &ev = evals[std::size_t(j)];
            ev = finishEval(j, logits[std::size_t(j)], losses[std::size_t(j)]);
            headTestOutputs.push_back(ev.outputs);
            EpochMetrics m;
            m.stage = j;
            m.epoch = e + 1;
            m.step = step;
            m.trainLoss = at(kLossSum, j) / n;
            m.trainAcc = trainAcc[std::size_t(j)];
            m.testLoss = ev.loss;
            m.testAcc = ev.acc;
            m.ensembleAcc = ev.ensembleAcc;
            m.lr = optimizers[std::size_t(j)]->lr();
            m.imagesPerSecond = at(kSeen, j) / std::max(epochTrainSeconds, 1e-9);
            m.seconds = activeSince(epochStart);
            m.elapsed = elapsed();
            m.testTop5 = ev.top5;
            m.trainImages = at(kSeen, j);
            m.trainSteps = at(kBatches, j);
            obs->epochFinished(m);
        }
        current.trainAcc = trainAcc.back();
        current.trainSeconds += epochTrainSeconds;
        current.trainImages += std::int64_t(at(kSeen, stages - 1));
        current.seconds += activeSince(epochStart);
        gatherPipelineStages(groups, optPtrs);
        saveCheckpoint(stages - 1, e + 1, false, optPtrs);
    }
    if (startEpoch >= epochs) {
        auto [logits, losses] = evaluatePipeline();
        headTestOutputs.clear();
        for (int j = 0; writer() && j < stages; ++j) {
            evals[std::size_t(j)] = finishEval(j, logits[std::size_t(j)], losses[std::size_t(j)]);
            headTestOutputs.push_back(evals[std::size_t(j)].outputs);
        }
    }
    if (writer())
        for (int j = 0; j < stages; ++j) {
            const auto &ev = evals[std::size_t(j)];
            obs->stageFinished(addFinishedStage(j, epochs, trainAcc[std::size_t(j)], ev.acc,
                                                ev.ensembleAcc, current.seconds));
        }
    saveCheckpoint(stages - 1, epochs, true, {});
    reportCommunication();
    // Rank 0 holds the whole trained network now: it probes and draws alone.
    if (!writer())
        return;
    if (opt.probes) {
        for (int j = 0; j < stages; ++j)
            probeLayer(j, stages - 1);
        saveState(stages - 1, epochs, true);
    }
    if (opt.pictures)
        picturesOfStages(stages);
}

} // namespace lw
