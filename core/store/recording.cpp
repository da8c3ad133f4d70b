// Writing a run: creation, status, resume, stages, epochs, probes, checkpoints and the end. The
// RunRecorder (recorder.cpp) calls these as the engine's events arrive.
#include "core/store/runstore_p.h"

#include <unistd.h>

#include <cmath>
#include <optional>

namespace lw {

void RunStore::Impl::touchRun(std::int64_t id)
{
    SQLite::Statement st(*db, std::string("UPDATE runs SET updated = ?1, ensemble_acc = ")
                                  + kLatestEnsembleSql + " WHERE id = ?2");
    st.bind(1, nowSeconds());
    st.bind(2, static_cast<std::int64_t>(id));
    st.exec();
}

// ---- writing --------------------------------------------------------------------------------

Result<std::int64_t> RunStore::createRun(const NewRun &run)
{
    if (auto w = m->checkWritable("create a run"); !w)
        return w.error();
    auto cleaned = cleanTags(run.tags);
    if (!cleaned)
        return cleaned.error();
    const std::vector<std::string> &tags = *cleaned;
    LW_STORE_GUARD("creating a run", {
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
        if (run.parentRun && !m->runExists(*run.parentRun))
            return fail("parent run " + std::to_string(*run.parentRun) + " not found in '" + m->path
                        + "'");
        SQLite::Statement st(
            *m->db,
            "INSERT INTO runs(name, mode, status, spec_json, recipe_json, spec_name, dataset, "
            "dataset_fingerprint, device, seed, torch_version, host, pid, started, updated, notes, "
            "parent_run, branch_stage, params, macs, stages, probes) VALUES (?, ?, 'running', ?, "
            "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        const double now = nowSeconds();
        st.bind(1, run.name);
        st.bind(2, toString(run.mode));
        st.bind(3, run.specJson);
        st.bind(4, run.recipeJson);
        st.bind(5, run.specName);
        st.bind(6, run.dataset);
        st.bind(7, run.datasetFingerprint);
        st.bind(8, run.device);
        st.bind(9, static_cast<std::int64_t>(run.seed));
        st.bind(10, run.torchVersion);
        st.bind(11, hostName());
        st.bind(12, static_cast<std::int64_t>(::getpid()));
        st.bind(13, now);
        st.bind(14, now);
        st.bind(15, run.notes);
        if (run.parentRun)
            st.bind(16, static_cast<std::int64_t>(*run.parentRun));
        else
            st.bind(16);
        st.bind(17, run.branchStage);
        st.bind(18, static_cast<std::int64_t>(run.params));
        st.bind(19, static_cast<std::int64_t>(run.macs));
        st.bind(20, run.stages);
        st.bind(21, run.probes ? 1 : 0);
        st.exec();
        const std::int64_t id = m->db->getLastInsertRowid();
        SQLite::Statement tag(*m->db, "INSERT OR IGNORE INTO run_tags(run, tag) VALUES (?, ?)");
        for (const auto &t : tags) {
            tag.bind(1, static_cast<std::int64_t>(id));
            tag.bind(2, t);
            tag.exec();
            tag.reset();
        }
        // Lock before the row becomes visible: nobody may see it `running` without a live
        // holder.
        if (auto l = m->acquireLock(id); !l)
            return l.error();
        try {
            tx.commit();
        } catch (...) {
            m->releaseLock(id);
            throw;
        }
        return id;
    });
}

Result<void> RunStore::setStatus(std::int64_t id, RunStatus status, const std::string &message)
{
    if (auto w = m->checkWritable("change a run's status"); !w)
        return w;
    LW_STORE_GUARD("setting the status of run " + std::to_string(id), {
        if (status == RunStatus::Running) {
            if (auto l = m->acquireLock(id); !l)
                return l;
        }
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
        SQLite::Statement st(*m->db, "UPDATE runs SET status = ?, message = ?, updated = ?, "
                                     "paused = 0, ended = CASE WHEN ? THEN NULL ELSE ? END "
                                     "WHERE id = ?");
        const double now = nowSeconds();
        st.bind(1, toString(status));
        st.bind(2, message);
        st.bind(3, now);
        st.bind(4, status == RunStatus::Running ? 1 : 0);
        st.bind(5, now);
        st.bind(6, static_cast<std::int64_t>(id));
        if (st.exec() == 0)
            return m->runNotFound(id);
        tx.commit();
        if (status != RunStatus::Running)
            m->releaseLock(id);
        return {};
    });
}

Result<void> RunStore::beginResume(std::int64_t id, int stage, int epoch, bool stageDone)
{
    if (auto w = m->checkWritable("resume a run"); !w)
        return w;
    LW_STORE_GUARD("resuming run " + std::to_string(id), {
        if (!m->runExists(id))
            return m->runNotFound(id);
        if (auto l = m->acquireLock(id); !l)
            return l;
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
        auto exec = [&](const char *sql, bool withStageEpoch) {
            SQLite::Statement st(*m->db, sql);
            st.bind(1, static_cast<std::int64_t>(id));
            if (withStageEpoch) {
                st.bind(2, stage);
                st.bind(3, epoch);
            }
            st.exec();
        };
        exec("DELETE FROM metrics WHERE run = ?1 AND (stage > ?2 OR (stage = ?2 AND epoch > ?3))",
             true);
        exec("DELETE FROM artifacts WHERE run = ?1 AND (stage > ?2 OR (stage = ?2 AND epoch > "
             "?3))",
             true);
        exec("DELETE FROM stages WHERE run = ?1 AND stage > ?2 AND ?3 >= 0", true);
        exec("UPDATE stages SET epochs_done = min(epochs_done, ?3), finished = CASE WHEN "
             "epochs_done > ?3 THEN NULL ELSE finished END WHERE run = ?1 AND stage = ?2",
             true);
        // Probes and pictures taken after a later stage, and after this one unless it is done
        // (a run resumed after a finished stage keeps what that stage recorded).
        for (const char *sql : {"DELETE FROM probes WHERE run = ?1 AND (after_stage > ?2 OR "
                                "(after_stage = ?2 AND NOT ?3))",
                                "DELETE FROM pictures WHERE run = ?1 AND (stage > ?2 OR "
                                "(stage = ?2 AND NOT ?3))"}) {
            SQLite::Statement st(*m->db, sql);
            st.bind(1, static_cast<std::int64_t>(id));
            st.bind(2, stage);
            st.bind(3, stageDone ? 1 : 0);
            st.exec();
        }
        SQLite::Statement st(
            *m->db,
            "UPDATE runs SET status = 'running', message = '', ended = NULL, paused = 0, "
            "updated = ?2, "
            "pid = ?3, host = ?4, best_test_acc = (SELECT max(value) FROM metrics WHERE run = ?1 "
            "AND split = 'test' AND metric = 'acc'), final_test_acc = (SELECT value FROM metrics "
            "WHERE run = ?1 AND split = 'test' AND metric = 'acc' ORDER BY id DESC LIMIT 1), "
            "final_test_top5 = (SELECT value FROM metrics WHERE run = ?1 AND split = 'test' AND "
            "metric = 'top5' ORDER BY id DESC LIMIT 1), ensemble_acc = "
                + std::string(kLatestEnsembleSql) + " WHERE id = ?1");
        st.bind(1, static_cast<std::int64_t>(id));
        st.bind(2, nowSeconds());
        st.bind(3, static_cast<std::int64_t>(::getpid()));
        st.bind(4, hostName());
        st.exec();
        tx.commit();
        return {};
    });
}

Result<void> RunStore::updateRunInfo(std::int64_t id, const RunStarted &info)
{
    if (auto w = m->checkWritable("update a run"); !w)
        return w;
    LW_STORE_GUARD("updating run " + std::to_string(id), {
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
        SQLite::Statement st(
            *m->db,
            "UPDATE runs SET mode = ?, stages = CASE WHEN ? > 0 THEN ? ELSE stages END, "
            "device = CASE WHEN ? <> '' THEN ? ELSE device END, dataset = CASE WHEN ? "
            "<> '' THEN ? ELSE dataset END, dataset_fingerprint = CASE WHEN ? <> '' THEN "
            "? ELSE dataset_fingerprint END, world_size = ?, backend = ?, hosts = ?, updated = ? "
            "WHERE id = ?");
        st.bind(1, toString(info.mode));
        st.bind(2, info.stages);
        st.bind(3, info.stages);
        st.bind(4, info.device);
        st.bind(5, info.device);
        st.bind(6, info.dataset);
        st.bind(7, info.dataset);
        st.bind(8, info.datasetFingerprint);
        st.bind(9, info.datasetFingerprint);
        st.bind(10, std::max(info.worldSize, 1));
        st.bind(11, info.backend);
        st.bind(12, info.hosts);
        st.bind(13, nowSeconds());
        st.bind(14, static_cast<std::int64_t>(id));
        if (st.exec() == 0)
            return m->runNotFound(id);
        tx.commit();
        return {};
    });
}

Result<void> RunStore::beginStage(std::int64_t id, const StageStarted &stage)
{
    if (auto w = m->checkWritable("record a stage"); !w)
        return w;
    LW_STORE_GUARD(
        "recording stage " + std::to_string(stage.stage + 1) + " of run " + std::to_string(id), {
            SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
            SQLite::Statement st(
                *m->db, "INSERT INTO stages(run, stage, started, block_params, head_params, "
                        "block_macs, head_macs, epochs) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                        "?8) ON CONFLICT(run, stage) DO UPDATE SET block_params = ?4, "
                        "head_params = ?5, block_macs = ?6, head_macs = ?7, epochs = ?8, "
                        "finished = NULL");
            st.bind(1, static_cast<std::int64_t>(id));
            st.bind(2, stage.stage);
            st.bind(3, nowSeconds());
            st.bind(4, static_cast<std::int64_t>(stage.blockParams));
            st.bind(5, static_cast<std::int64_t>(stage.headParams));
            st.bind(6, static_cast<std::int64_t>(stage.blockMacs));
            st.bind(7, static_cast<std::int64_t>(stage.headMacs));
            st.bind(8, stage.epochs);
            st.exec();
            m->touchRun(id);
            tx.commit();
            return {};
        });
}

Result<void> RunStore::finishStage(std::int64_t id, const StageFinished &stage)
{
    if (auto w = m->checkWritable("record a stage"); !w)
        return w;
    LW_STORE_GUARD(
        "finishing stage " + std::to_string(stage.stage + 1) + " of run " + std::to_string(id), {
            SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
            SQLite::Statement ins(*m->db, "INSERT OR IGNORE INTO stages(run, stage, "
                                          "started) VALUES (?, ?, ?)");
            ins.bind(1, static_cast<std::int64_t>(id));
            ins.bind(2, stage.stage);
            ins.bind(3, nowSeconds());
            ins.exec();
            SQLite::Statement st(*m->db,
                                 "UPDATE stages SET finished = ?, epochs_done = ?, train_acc = "
                                 "?, test_acc = ?, ensemble_acc = ?, seconds = ?, "
                                 "images_per_second = ? WHERE run = ? AND stage = ?");
            st.bind(1, nowSeconds());
            st.bind(2, stage.epochs);
            bindReal(st, 3, stage.trainAcc);
            bindReal(st, 4, stage.testAcc);
            bindReal(st, 5, stage.ensembleAcc);
            bindReal(st, 6, stage.seconds);
            bindReal(st, 7, stage.imagesPerSecond);
            st.bind(8, static_cast<std::int64_t>(id));
            st.bind(9, stage.stage);
            st.exec();
            m->touchRun(id);
            tx.commit();
            return {};
        });
}

Result<void> RunStore::recordEpochs(std::int64_t id, const std::vector<EpochMetrics> &epochs)
{
    if (epochs.empty())
        return {};
    if (auto w = m->checkWritable("record epochs"); !w)
        return w;
    LW_STORE_GUARD("recording epochs of run " + std::to_string(id), {
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
        if (!m->runExists(id))
            return m->runNotFound(id);
        SQLite::Statement ins(*m->db, "INSERT INTO metrics(run, stage, epoch, step, split, metric, "
                                      "value) VALUES (?, ?, ?, ?, ?, ?, ?)");
        SQLite::Statement stageIns(*m->db, "INSERT OR IGNORE INTO stages(run, stage, started) "
                                           "VALUES (?, ?, ?)");
        SQLite::Statement stageUpd(*m->db,
                                   "UPDATE stages SET epochs_done = max(epochs_done, ?), "
                                   "train_acc = ?, test_acc = ?, ensemble_acc = ?, seconds = "
                                   "coalesce(seconds, 0) + ?, images_per_second = ? WHERE run = ? "
                                   "AND stage = ?");
        const double now = nowSeconds();
        double wall = 0;
        std::optional<double> elapsed; // the engine's active time, when it reports one
        std::optional<double> best;
        for (const auto &e : epochs) {
            // Newer metrics (top-5: more than 10 classes) are written only when measured.
            const struct
            {
                const char *split;
                const char *metric;
                double value;
                bool whenMeasured = false;
            } rows[] = {{"train", "loss", e.trainLoss},
                        {"train", "acc", e.trainAcc},
                        {"test", "loss", e.testLoss},
                        {"test", "acc", e.testAcc},
                        {"ensemble", "acc", e.ensembleAcc},
                        {"train", "lr", e.lr},
                        {"train", "images_per_second", e.imagesPerSecond},
                        {"epoch", "seconds", e.seconds},
                        {"test", "top5", e.testTop5, true},
                        {"train", "images", e.trainImages, true},
                        {"train", "steps", e.trainSteps, true}};
            for (const auto &r : rows) {
                if (r.whenMeasured && std::isnan(r.value))
                    continue;
                ins.bind(1, static_cast<std::int64_t>(id));
                ins.bind(2, e.stage);
                ins.bind(3, e.epoch);
                ins.bind(4, static_cast<std::int64_t>(e.step));
                ins.bindNoCopy(5, r.split);
                ins.bindNoCopy(6, r.metric);
                bindReal(ins, 7, r.value);
                ins.exec();
                ins.reset();
            }
            stageIns.bind(1, static_cast<std::int64_t>(id));
            stageIns.bind(2, e.stage);
            stageIns.bind(3, now);
            stageIns.exec();
            stageIns.reset();
            stageUpd.bind(1, e.epoch);
            bindReal(stageUpd, 2, e.trainAcc);
            bindReal(stageUpd, 3, e.testAcc);
            bindReal(stageUpd, 4, e.ensembleAcc);
            bindReal(stageUpd, 5, std::isfinite(e.seconds) ? e.seconds : 0.0);
            bindReal(stageUpd, 6, e.imagesPerSecond);
            stageUpd.bind(7, static_cast<std::int64_t>(id));
            stageUpd.bind(8, e.stage);
            stageUpd.exec();
            stageUpd.reset();
            if (std::isfinite(e.seconds))
                wall += e.seconds;
            if (std::isfinite(e.elapsed) && e.elapsed > 0)
                elapsed = e.elapsed;
            if (!std::isnan(e.testAcc) && (!best || e.testAcc > *best))
                best = e.testAcc;
        }
        SQLite::Statement run(*m->db,
                              "UPDATE runs SET final_test_acc = ?1, best_test_acc = CASE WHEN "
                              "?2 IS NOT NULL AND (best_test_acc IS NULL OR ?2 > best_test_acc) "
                              "THEN ?2 ELSE best_test_acc END, wall_seconds = CASE WHEN ?6 "
                              "IS NOT NULL THEN ?6 ELSE coalesce(wall_seconds, 0) + ?3 END, "
                              "updated = ?4, final_test_top5 = ?7, ensemble_acc = "
                                  + std::string(kLatestEnsembleSql) + " WHERE id = ?5");
        bindReal(run, 1, epochs.back().testAcc);
        bindReal(run, 7, epochs.back().testTop5);
        bindOptReal(run, 2, best);
        run.bind(3, wall);
        bindOptReal(run, 6, elapsed);
        run.bind(4, now);
        run.bind(5, static_cast<std::int64_t>(id));
        run.exec();
        tx.commit();
        return {};
    });
}

Result<void> RunStore::recordProbe(std::int64_t id, const ProbeResult &probe)
{
    if (auto w = m->checkWritable("record a probe"); !w)
        return w;
    LW_STORE_GUARD("recording a probe of run " + std::to_string(id), {
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
        if (!m->runExists(id))
            return m->runNotFound(id);
        SQLite::Statement st(*m->db, "INSERT OR REPLACE INTO probes(run, after_stage, layer, "
                                     "train_acc, test_acc, seconds) VALUES (?, ?, ?, ?, ?, ?)");
        st.bind(1, static_cast<std::int64_t>(id));
        st.bind(2, probe.afterStage);
        st.bind(3, probe.layer);
        bindReal(st, 4, probe.trainAcc);
        bindReal(st, 5, probe.testAcc);
        bindReal(st, 6, probe.seconds);
        st.exec();
        m->touchRun(id);
        tx.commit();
        return {};
    });
}

Result<std::int64_t> RunStore::addArtifact(std::int64_t id, int stage, int epoch,
                                           const std::string &kind, const std::string &relativePath)
{
    if (auto w = m->checkWritable("record a checkpoint"); !w)
        return w.error();
    if (!isContainedRelative(relativePath))
        return fail("artifact path '" + relativePath
                    + "' must be relative to the run's folder and stay inside it");
    LW_STORE_GUARD("recording a checkpoint of run " + std::to_string(id), {
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
        if (!m->runExists(id))
            return m->runNotFound(id);
        SQLite::Statement st(*m->db, "INSERT INTO artifacts(run, stage, epoch, kind, path, "
                                     "created) VALUES (?, ?, ?, ?, ?, ?)");
        st.bind(1, static_cast<std::int64_t>(id));
        st.bind(2, stage);
        st.bind(3, epoch);
        st.bind(4, kind);
        st.bind(5, relativePath);
        st.bind(6, nowSeconds());
        st.exec();
        const std::int64_t aid = m->db->getLastInsertRowid();
        m->touchRun(id);
        tx.commit();
        return aid;
    });
}

Result<void> RunStore::finishRun(std::int64_t id, const RunEnded &ended)
{
    if (auto w = m->checkWritable("finish a run"); !w)
        return w;
    LW_STORE_GUARD("finishing run " + std::to_string(id), {
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
        SQLite::Statement st(
            *m->db, "UPDATE runs SET status = ?1, message = ?2, ended = ?3, updated = ?3, "
                    "paused = 0, "
                    "wall_seconds = CASE WHEN ?4 > 0 THEN ?4 ELSE wall_seconds END, "
                    "final_test_acc = CASE WHEN ?6 THEN ?5 ELSE final_test_acc END WHERE id = ?7");
        st.bind(1, toString(ended.status));
        st.bind(2, ended.message);
        st.bind(3, nowSeconds());
        bindReal(st, 4, ended.seconds);
        bindReal(st, 5, ended.finalTestAcc);
        // A run that ends before any epoch reports finalTestAcc = 0: keep the stored value then.
        st.bind(6, ended.status == RunStatus::Finished || ended.finalTestAcc > 0 ? 1 : 0);
        st.bind(7, static_cast<std::int64_t>(id));
        if (st.exec() == 0)
            return m->runNotFound(id);
        tx.commit();
        if (ended.status != RunStatus::Running)
            m->releaseLock(id);
        return {};
    });
}

StageStarted stageStartedOf(const StageRow &row)
{
    return StageStarted{.stage = row.stage,
                        .epochs = row.epochs,
                        .blockParams = row.blockParams,
                        .headParams = row.headParams,
                        .blockMacs = row.blockMacs,
                        .headMacs = row.headMacs};
}

StageFinished stageFinishedOf(const StageRow &row)
{
    return StageFinished{.stage = row.stage,
                         .epochs = row.epochsDone,
                         .trainAcc = row.trainAcc.value_or(0),
                         .testAcc = row.testAcc.value_or(0),
                         .ensembleAcc = row.ensembleAcc.value_or(0),
                         .seconds = row.seconds,
                         .imagesPerSecond = row.imagesPerSecond};
}

Result<void> RunStore::inheritStages(std::int64_t from, std::int64_t to, int count)
{
    auto parent = getRun(from);
    if (!parent)
        return parent.error();
    for (const StageRow &row : parent->stages) {
        if (row.stage >= count || !row.finished)
            continue;
        if (auto r = beginStage(to, stageStartedOf(row)); !r)
            return r;
        if (auto r = finishStage(to, stageFinishedOf(row)); !r)
            return r;
    }
    return {};
}

} // namespace lw
