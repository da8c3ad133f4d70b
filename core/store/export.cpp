// Exports and JSON: tidy CSV, the JSON array of runs, and the JSON text of a run row or detail
// that the CLI prints.
#include "core/store/runstore_p.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace lw {

namespace {

nlohmann::json jsonOrString(const std::string &text)
{
    if (text.empty())
        return nullptr;
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded())
        return text;
    return j;
}

nlohmann::json optJson(const std::optional<double> &v)
{
    if (!v || !std::isfinite(*v))
        return nullptr;
    return *v;
}

nlohmann::json numJson(double v)
{
    if (!std::isfinite(v))
        return nullptr;
    return v;
}

nlohmann::json rowJson(const RunRow &r)
{
    nlohmann::json j;
    j["id"] = r.id;
    j["name"] = r.name;
    j["mode"] = toString(r.mode);
    j["status"] = toString(r.status);
    j["spec_name"] = r.specName;
    j["dataset"] = r.dataset;
    j["dataset_fingerprint"] = r.datasetFingerprint;
    j["device"] = r.device;
    j["seed"] = r.seed;
    j["torch_version"] = r.torchVersion;
    j["host"] = r.host;
    j["pid"] = r.pid;
    j["started"] = formatTimeUtc(r.started);
    j["ended"] = r.ended ? nlohmann::json(formatTimeUtc(*r.ended)) : nlohmann::json(nullptr);
    j["updated"] = formatTimeUtc(r.updated);
    j["tags"] = r.tags;
    j["notes"] = r.notes;
    j["parent_run"] = r.parentRun ? nlohmann::json(*r.parentRun) : nlohmann::json(nullptr);
    j["branch_stage"]
        = r.branchStage >= 0 ? nlohmann::json(r.branchStage) : nlohmann::json(nullptr);
    j["message"] = r.message;
    j["final_test_acc"] = optJson(r.finalTestAcc);
    j["best_test_acc"] = optJson(r.bestTestAcc);
    j["final_test_top5"] = optJson(r.finalTestTop5);
    j["ensemble_acc"] = optJson(r.ensembleAcc);
    j["colour"] = r.colour;
    j["wall_seconds"] = numJson(r.wallSeconds);
    j["params"] = r.params;
    j["macs"] = r.macs;
    j["stages"] = r.stages;
    j["stages_done"] = r.stagesDone;
    j["probes"] = r.probes;
    j["paused"] = r.paused;
    return j;
}

nlohmann::json detailJson(const RunDetail &d)
{
    nlohmann::json j = rowJson(d.run);
    j["spec"] = jsonOrString(d.specJson);
    j["recipe"] = jsonOrString(d.recipeJson);
    // "stages" is the planned count in a row; in a detail it becomes the list, the count moves.
    j["stages_planned"] = d.run.stages;
    auto stages = nlohmann::json::array();
    for (const auto &s : d.stages) {
        stages.push_back({{"stage", s.stage},
                          {"started", formatTimeUtc(s.started)},
                          {"finished", s.finished ? nlohmann::json(formatTimeUtc(*s.finished))
                                                  : nlohmann::json(nullptr)},
                          {"block_params", s.blockParams},
                          {"head_params", s.headParams},
                          {"block_macs", s.blockMacs},
                          {"head_macs", s.headMacs},
                          {"epochs", s.epochs},
                          {"epochs_done", s.epochsDone},
                          {"train_acc", optJson(s.trainAcc)},
                          {"test_acc", optJson(s.testAcc)},
                          {"ensemble_acc", optJson(s.ensembleAcc)},
                          {"seconds", numJson(s.seconds)},
                          {"images_per_second", numJson(s.imagesPerSecond)}});
    }
    j["stages"] = std::move(stages);
    auto probes = nlohmann::json::array();
    for (const auto &p : d.probes)
        probes.push_back({{"after_stage", p.afterStage},
                          {"layer", p.layer},
                          {"train_acc", numJson(p.trainAcc)},
                          {"test_acc", numJson(p.testAcc)},
                          {"seconds", numJson(p.seconds)}});
    j["probes"] = std::move(probes);
    auto artifacts = nlohmann::json::array();
    for (const auto &a : d.artifacts)
        artifacts.push_back({{"id", a.id},
                             {"stage", a.stage},
                             {"epoch", a.epoch},
                             {"kind", a.kind},
                             {"path", a.path},
                             {"created", formatTimeUtc(a.created)}});
    j["artifacts"] = std::move(artifacts);
    return j;
}

std::string formatDouble(double v)
{
    if (std::isnan(v))
        return "nan";
    if (std::isinf(v))
        return v > 0 ? "inf" : "-inf";
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

} // namespace

Result<std::string> RunStore::exportCsv(const std::vector<std::int64_t> &ids) const
{
    LW_STORE_GUARD("exporting metrics", {
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::DEFERRED);
        std::string out = "run,stage,epoch,split,metric,value\n";
        for (auto id : ids) {
            if (!m->runExists(id))
                return m->runNotFound(id);
            const std::string rid = std::to_string(id);
            for (const auto &row : m->readMetrics(id, 0)) {
                out += rid;
                out += ',';
                out += std::to_string(row.stage);
                out += ',';
                out += std::to_string(row.epoch);
                out += ',';
                out += row.split;
                out += ',';
                out += row.metric;
                out += ',';
                out += formatDouble(row.value);
                out += '\n';
            }
        }
        tx.commit();
        return out;
    });
}

Result<std::string> RunStore::exportJson(const std::vector<std::int64_t> &ids) const
{
    LW_STORE_GUARD("exporting runs", {
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::DEFERRED);
        auto all = nlohmann::json::array();
        for (auto id : ids) {
            auto d = m->readDetail(id);
            if (!d)
                return d.error();
            nlohmann::json j = detailJson(*d);
            auto rows = nlohmann::json::array();
            for (const auto &r : m->readMetrics(id, 0))
                rows.push_back({{"stage", r.stage},
                                {"epoch", r.epoch},
                                {"step", r.step},
                                {"split", r.split},
                                {"metric", r.metric},
                                {"value", numJson(r.value)}});
            j["metrics"] = std::move(rows);
            all.push_back(std::move(j));
        }
        tx.commit();
        return all.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    });
}

// ---- free functions --------------------------------------------------------------------------

std::string formatTimeUtc(double unixSeconds)
{
    if (!std::isfinite(unixSeconds) || unixSeconds <= 0)
        return {};
    const auto secs = static_cast<std::time_t>(std::floor(unixSeconds));
    const int ms = std::min(999, static_cast<int>((unixSeconds - std::floor(unixSeconds)) * 1000));
    std::tm tm{};
    ::gmtime_r(&secs, &tm);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    return buf;
}

std::string toJson(const RunRow &row)
{
    return rowJson(row).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string toJson(const RunDetail &detail)
{
    return detailJson(detail).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace lw
