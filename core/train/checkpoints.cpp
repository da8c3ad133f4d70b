// The run state (where training stands, written next to every checkpoint so a run can resume)
// and the checkpoints: the rolling one with network and optimizers, one per finished greedy
// stage. Names and paths come from RunFolder.
#include "core/train/trainer_p.h"
#include "core/train/weights_p.h"
#include "core/util/fsutil.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace lw {

using detail::errorText;
using detail::readCheckpoint;
using detail::Stop;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

json stageJson(const StageFinished &s)
{
    return {{"stage", s.stage},
            {"epochs", s.epochs},
            {"train_acc", s.trainAcc},
            {"test_acc", s.testAcc},
            {"ensemble_acc", s.ensembleAcc},
            {"seconds", s.seconds},
            {"images_per_second", s.imagesPerSecond}};
}

StageFinished stageFromJson(const json &j)
{
    StageFinished s;
    s.stage = j.at("stage").get<int>();
    s.epochs = j.at("epochs").get<int>();
    s.trainAcc = j.at("train_acc").get<double>();
    s.testAcc = j.at("test_acc").get<double>();
    s.ensembleAcc = j.at("ensemble_acc").get<double>();
    s.seconds = j.at("seconds").get<double>();
    s.imagesPerSecond = j.at("images_per_second").get<double>();
    return s;
}

json probeJson(const ProbeResult &p)
{
    return {{"after_stage", p.afterStage},
            {"layer", p.layer},
            {"train_acc", p.trainAcc},
            {"test_acc", p.testAcc},
            {"seconds", p.seconds}};
}

ProbeResult probeFromJson(const json &j)
{
    ProbeResult p;
    p.afterStage = j.at("after_stage").get<int>();
    p.layer = j.at("layer").get<int>();
    p.trainAcc = j.at("train_acc").get<double>();
    p.testAcc = j.at("test_acc").get<double>();
    p.seconds = j.value("seconds", 0.0);
    return p;
}

/// An integer field of the run state within [lo, hi]. json's get<int> wraps what does not fit
/// (an epoch of 2^40 would read as 0 and silently restart the stage); the caller names the file.
std::int64_t boundedField(const json &obj, const char *key, std::int64_t lo, std::int64_t hi)
{
    const json &v = obj.at(key);
    const bool fits = v.is_number_integer()
                      && !(v.is_number_unsigned()
                           && v.get<std::uint64_t>() > static_cast<std::uint64_t>(
                                  std::numeric_limits<std::int64_t>::max()));
    if (!fits || v.get<std::int64_t>() < lo || v.get<std::int64_t>() > hi) {
        // Appended piece by piece: GCC 12 warns (-Wrestrict) on "literal" + std::string here.
        std::string message = "\"";
        message += key;
        message += "\" is " + v.dump() + ", expected an integer from " + std::to_string(lo) + " to "
                   + std::to_string(hi);
        throw std::runtime_error(message);
    }
    return v.get<std::int64_t>();
}

} // namespace

Trainer::Impl::json Trainer::Impl::stateJson(int stage, int epochsDone, bool stageDone,
                                             const std::string &checkpoint) const
{
    json stages = json::array();
    for (const auto &s : summary.stages)
        stages.push_back(stageJson(s));
    json probes = json::array();
    for (const auto &p : summary.probes)
        probes.push_back(probeJson(p));
    return {{"format", "layerwise-run-state"},
            {"version", 1},
            {"mode", toString(opt.mode)},
            {"stage", stage},
            {"epoch", epochsDone},
            {"stage_done", stageDone},
            {"step", step},
            {"seconds", elapsed()},
            {"checkpoint", checkpoint},
            {"current",
             {{"train_acc", current.trainAcc},
              {"train_seconds", current.trainSeconds},
              {"train_images", current.trainImages},
              {"seconds", current.seconds}}},
            {"stages", stages},
            {"probes", probes},
            {"spec", json::parse(serializeSpec(spec))}};
}

void Trainer::Impl::saveState(int stage, int epochsDone, bool stageDone)
{
    if (folder.empty() || !writer())
        return;
    const auto state = stateJson(stage, epochsDone, stageDone, lastCheckpoint).dump(2);
    if (auto r = writeFileAtomic(folder.statePath(), state); !r)
        throw Stop{RunStatus::Failed, "run state not written: " + r.message()};
}

void Trainer::Impl::saveCheckpoint(int stage, int epochsDone, bool stageDone,
                                   const std::vector<StageOptimizer *> &optimizers)
{
    if (folder.empty() || !writer()) // in a multi-process run, rank 0 writes
        return;
    std::error_code ec;
    fs::create_directories(folder.path(), ec);
    const std::string name = RunFolder::checkpointName(stage, epochsDone, stageDone);
    const Stop cancelledStop{RunStatus::Cancelled,
                             "cancelled while writing a checkpoint; resume continues from the "
                             "last checkpoint"};
    std::ostringstream bytes;
    try {
        torch::serialize::OutputArchive archive;
        net->save(archive);
        for (std::size_t i = 0; i < optimizers.size(); ++i) {
            torch::serialize::OutputArchive oa;
            optimizers[i]->save(oa);
            archive.write("optimizer" + std::to_string(i), oa);
        }
        archive.save_to(bytes);
    } catch (const c10::Error &e) {
        throw Stop{RunStatus::Failed,
                   std::string("cannot serialize the checkpoint: ") + e.what_without_backtrace()};
    }
    // Ctrl+C is honoured inside large writes (a checkpoint may take GBs): the file being written
    // is abandoned, the last good checkpoint and the run state pointing at it stay. A small one
    // (at most one 8 MiB chunk, milliseconds) is written whole: a stop asked at an epoch's end
    // keeps that epoch, and a resume goes on from it.
    const bool large = bytes.tellp() > std::streamoff(8 << 20);
    const auto cancelled = [this, large] {
        return large && cancelFlag.load();
    };
    if (stageDone && opt.mode == TrainMode::Greedy) {
        const std::string stageName = RunFolder::stageCheckpointName(stage);
        if (auto r = writeFileAtomic(folder.file(stageName), bytes.str(), cancelled); !r) {
            if (cancelled())
                throw cancelledStop;
            throw Stop{RunStatus::Failed, "stage checkpoint not written, the run stops here "
                                          "(the last good checkpoint is kept): "
                                              + r.message()};
        }
        obs->checkpointSaved({stage, epochsDone, stageName, true});
    }
    if (auto r = writeFileAtomic(folder.file(name), bytes.str(), cancelled); !r) {
        if (cancelled())
            throw cancelledStop;
        throw Stop{RunStatus::Failed, "checkpoint not written, the run stops here (the last "
                                      "good checkpoint is kept): "
                                          + r.message()};
    }
    const std::string previous = lastCheckpoint;
    lastCheckpoint = name;
    saveState(stage, epochsDone, stageDone);
    if (!previous.empty() && previous != name)
        fs::remove(folder.file(previous), ec);
    obs->checkpointSaved({stage, epochsDone, name, false});
}

void Trainer::Impl::keepStopTime(double seconds)
{
    if (folder.empty() || !writer() || !folder.hasState())
        return;
    auto state = readState();
    if (!state || !state->contains("seconds") || !(*state)["seconds"].is_number()
        || (*state)["seconds"].get<double>() >= seconds)
        return;
    (*state)["seconds"] = seconds;
    if (auto r = writeFileAtomic(folder.statePath(), state->dump(2)); !r)
        log(LogLevel::Warning, "the run's active time at the stop was not kept (" + r.message()
                                   + "): a resume counts from its last checkpoint's time");
}

Result<Trainer::Impl::json> Trainer::Impl::readState() const
{
    const std::string path = folder.statePath();
    auto text = readFile(path, 256ull << 20);
    if (!text)
        return fail("cannot resume: " + text.message());
    try {
        auto state = json::parse(*text);
        if (!state.is_object() || state.value("format", "") != "layerwise-run-state")
            return fail("cannot resume: '" + path + "' is not a Layerwise run state");
        if (state.value("version", 0) != 1)
            return fail("cannot resume: '" + path + "' has version "
                        + std::to_string(state.value("version", 0)) + ", expected 1");
        return state;
    } catch (const std::exception &e) {
        return fail("cannot resume: '" + path + "' is damaged: " + e.what());
    }
}

Trainer::Impl::ResumePoint Trainer::Impl::restoreProgress(const json &state)
{
    const int epochs = opt.mode == TrainMode::EndToEnd ? e2eEpochs() : spec.recipe.epochsPerStage;
    ResumePoint at;
    at.stage = static_cast<int>(boundedField(state, "stage", 0, net->stages() - 1));
    at.epoch = static_cast<int>(boundedField(state, "epoch", 0, epochs));
    at.stageDone = state.at("stage_done").get<bool>();
    step = boundedField(state, "step", 0, std::numeric_limits<std::int64_t>::max());
    // The larger of the run state's time and the one recorded elsewhere at the stop (the store's
    // wall time): active time never goes backwards across a stop and a resume.
    elapsedBefore = std::max(state.at("seconds").get<double>(), opt.elapsedBefore);
    at.checkpoint = state.at("checkpoint").get<std::string>();
    const auto &cur = state.at("current");
    current.trainAcc = cur.at("train_acc").get<double>();
    current.trainSeconds = cur.at("train_seconds").get<double>();
    current.trainImages = cur.at("train_images").get<std::int64_t>();
    current.seconds = cur.at("seconds").get<double>();
    for (const auto &s : state.at("stages"))
        summary.stages.push_back(stageFromJson(s));
    for (const auto &p : state.at("probes"))
        summary.probes.push_back(probeFromJson(p));
    if (!summary.stages.empty())
        summary.finalTestAcc = summary.stages.back().testAcc;
    return at;
}

Result<void> Trainer::Impl::loadNetwork(const RunFolder &from, const std::string &file,
                                        int stagesToLoad)
{
    // A checkpoint names a file inside the run folder only.
    auto path = from.resolve(file);
    if (!path)
        return fail("cannot load the checkpoint: " + path.message());
    if (auto r = detail::loadCheckpointFile(*path, *net, stagesToLoad, device); !r)
        return r;
    if (channelsLast)
        toChannelsLast(*net);
    folded.clear();
    return {};
}

Result<void> Trainer::Impl::loadOptimizers(const std::string &file,
                                           const std::vector<StageOptimizer *> &optimizers)
{
    auto path = folder.resolve(file);
    if (!path)
        return fail("cannot resume: " + path.message());
    try {
        auto bytes = readCheckpoint(*path, *net, nullptr);
        if (!bytes)
            return fail("cannot resume: " + bytes.message());
        torch::serialize::InputArchive archive;
        archive.load_from(bytes->data(), bytes->size(), device);
        for (std::size_t i = 0; i < optimizers.size(); ++i) {
            torch::serialize::InputArchive oa;
            archive.read("optimizer" + std::to_string(i), oa);
            optimizers[i]->load(oa);
        }
    } catch (const std::exception &e) {
        return fail("cannot resume: the optimizer state in '" + *path
                    + "' cannot be read: " + errorText(e));
    }
    return {};
}

} // namespace lw
