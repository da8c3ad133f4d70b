#include "core/run/distjob.h"

#include "core/dist/dist.h"

#include <nlohmann/json.hpp>

namespace lw {

using json = nlohmann::json;

namespace {

const char *const kJobKey = "train";

} // namespace

Result<void> publishDistJob(DistGroup &group, const TrainOptions &options, bool resuming)
{
    json j{{"spec", json::parse(serializeSpec(options.spec))},
           {"mode", toString(options.mode)},
           {"run_dir", options.runDir},
           {"resume", resuming},
           {"branch_from", options.branchFrom},
           {"locked_stages", options.lockedStages},
           {"probes", options.probes},
           {"cache", int(options.cache)},
           {"cache_budget", options.cacheBudgetBytes},
           {"placement", toString(options.placement)},
           {"replay_buffer", options.replayBuffer}};
    return group.publish(kJobKey, j.dump());
}

Result<void> publishDistAbort(DistGroup &group, const std::string &message)
{
    return group.publish(kJobKey, json{{"abort", message}}.dump());
}

Result<RunSummary> runDistWorker(const ExecOptions &exec, TrainObserver *observer)
{
    if (!exec.dist)
        return fail("runDistWorker: no process group");
    auto text = exec.dist->await(kJobKey);
    if (!text)
        return text.error();
    TrainOptions o;
    static_cast<ExecOptions &>(o) = exec;
    bool resuming = false;
    try {
        const auto j = json::parse(*text);
        if (j.contains("abort"))
            return fail("rank 0 did not start the run: " + j.at("abort").get<std::string>());
        auto spec = parseSpec(j.at("spec").dump());
        if (!spec)
            return fail("rank 0 sent an invalid spec: " + spec.message());
        o.spec = *spec;
        auto mode = parseTrainMode(j.at("mode").get<std::string>());
        if (!mode)
            return fail("rank 0 sent an unknown mode: " + j.at("mode").dump());
        o.mode = *mode;
        o.runDir = j.at("run_dir").get<std::string>();
        resuming = j.at("resume").get<bool>();
        o.branchFrom = j.at("branch_from").get<std::string>();
        o.lockedStages = j.at("locked_stages").get<int>();
        o.probes = j.at("probes").get<bool>();
        o.cache = static_cast<FeatureCache>(j.at("cache").get<int>());
        o.cacheBudgetBytes = j.at("cache_budget").get<std::int64_t>();
        auto placement = parsePlacement(j.value("placement", std::string("data")));
        if (!placement)
            return fail("rank 0 sent an unknown placement: " + placement.message());
        o.placement = *placement;
        o.replayBuffer = j.value("replay_buffer", 0);
    } catch (const std::exception &e) {
        return fail(std::string("rank 0 sent a damaged job description: ") + e.what());
    }
    Trainer trainer(o, observer);
    return resuming ? trainer.resume() : trainer.run();
}

} // namespace lw
