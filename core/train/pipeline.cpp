// Decoupled greedy learning with the pipeline placement: stage j trains on rank j. Rank 0 reads
// the batches and runs the stem; every rank trains its block and head on the detached input it
// receives from the rank below (c10d point-to-point) and sends its block's detached output to
// the rank above. Each stage sees what it sees in one process (block j-1's output on the same
// batch, taken before block j-1's step), so the run computes the one-process DGL run, with the
// stages working on different batches at the same time. Per-stage totals and test logits reach
// rank 0, which reports every stage and, after gathering each rank's stage (weights and
// optimizer), writes the checkpoints.
#include "core/train/trainer_p.h"

#include <optional>
#include <sstream>

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

/// Sends batches to the next rank. It waits for the previous batch's sends only before sending
/// the next, so this rank runs up to a batch ahead of the one it feeds.
class Downstream
{
public:
    Downstream(DistGroup &group, int dst, torch::Device commDevice)
        : m_group(group)
        , m_dst(dst)
        , m_commDevice(commDevice)
    {}
    ~Downstream()
    {
        // Leaving early (a stop, a failed rank): let the sends in flight end before their buffers.
        try {
            waitAll();
        } catch (const std::exception &) {
        }
    }
    Downstream(const Downstream &) = delete;
    Downstream &operator=(const Downstream &) = delete;

    void push(const torch::Tensor &x, const torch::Tensor &aux)
    {
        waitAll();
        auto header = torch::tensor({x.size(0), x.size(1), x.size(2), x.size(3)}, torch::kInt64);
        m_pending[0] = detail::sendAsync(m_group, header.to(m_commDevice), m_dst, kHeader);
        m_pending[1] = detail::sendAsync(
            m_group, x.detach().to(m_commDevice, torch::kFloat32).contiguous(), m_dst, kActivation);
        m_pending[2] = detail::sendAsync(m_group, aux.to(m_commDevice, torch::kInt64), m_dst, kAux);
    }
    /// Ends the pass: the next rank leaves its loop.
    void end()
    {
        waitAll();
        auto header = torch::zeros({4}, torch::TensorOptions(torch::kInt64).device(m_commDevice));
        detail::send(m_group, header, m_dst, kHeader);
    }

private:
    void waitAll()
    {
        for (auto &p : m_pending)
            p.wait();
    }
    DistGroup &m_group;
    int m_dst;
    torch::Device m_commDevice;
    detail::PendingSend m_pending[3];
};

/// Receives the batches the rank below sends; false at the end of a pass.
bool pull(DistGroup &group, int src, torch::Device commDevice, torch::Tensor &x, torch::Tensor &aux)
{
    const auto ints = torch::TensorOptions(torch::kInt64).device(commDevice);
    auto header = torch::empty({4}, ints);
    detail::recv(group, header, src, kHeader);
    header = header.to(torch::kCPU);
    const auto *h = header.data_ptr<std::int64_t>();
    if (h[0] == 0)
        return false;
    TORCH_CHECK(h[0] > 0 && h[1] > 0 && h[2] > 0 && h[3] > 0, "pipeline: rank ", src,
                " sent a malformed batch header");
    x = torch::empty({h[0], h[1], h[2], h[3]}, ints.dtype(torch::kFloat32));
    detail::recv(group, x, src, kActivation);
    aux = torch::empty({h[0]}, ints);
    detail::recv(group, aux, src, kAux);
    return true;
}

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
    log(LogLevel::Info, "placement pipeline: stage j on rank j-1 of " + std::to_string(stages)
                            + " processes, activations sent upward (" + opt.dist->backend() + ")");
    std::unique_ptr<data::Loader> loader;
    if (first)
        loader = makeLoader(true, true, spec.recipe.batchSize);
    StageOptimizer &sopt = *optimizers[std::size_t(me)];
    std::vector<EvalResult> evals(static_cast<std::size_t>(stages));
    std::vector<double> trainAcc(std::size_t(stages), 0.0);
    // Per stage, summed over the ranks (each fills its own slot): loss sum, correct, seen,
    // training seconds, batches, the batch and loss where it diverged.
    enum Slot { kLossSum, kCorrect, kSeen, kSeconds, kBatches, kFailedBatch, kFailedLoss, kSlots };
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
        std::optional<Downstream> down;
        if (!last)
            down.emplace(group, me + 1, commDevice());
        std::int64_t correct = 0, seen = 0;
        double lossSum = 0, failedLoss = 0;
        int batch = 0, failedBatch = 0;
        const int batches = first ? static_cast<int>(loader->batchesPerEpoch()) : 0;
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
        auto t = torch::zeros({kSlots, stages}, torch::kFloat64);
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
