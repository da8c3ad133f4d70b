#pragma once
// What tst_inspect and tst_inspect_gui share: a tiny trained run, and a store turned back into
// one Layerwise wrote before pictures existed.
#include "core/run/runservice.h"
#include "core/store/runstore.h"
#include "tests/support/support.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <string>

#include <QtGlobal>

namespace lw::test {

/// Trains tinySpec (1 epoch per stage) in `store` on the CPU; returns the run id, or -1 with the
/// reason as a test warning.
inline std::int64_t trainTiny(RunStore &store, TrainMode mode, TrainObserver *observer = nullptr)
{
    NewRunRequest request;
    request.spec = tinySpec(1);
    request.mode = mode;
    request.exec.device = "cpu";
    request.exec.threads = 2;
    auto job = RunService(store).create(request);
    if (!job) {
        qWarning("%s", job.message().c_str());
        return -1;
    }
    if (observer)
        (*job)->addObserver(observer);
    auto r = (*job)->execute();
    if (!r || r->status != RunStatus::Finished) {
        qWarning("run failed: %s", r ? r->message.c_str() : r.message().c_str());
        return -1;
    }
    return (*job)->runId();
}

/// Turns the (closed) store at `path` back into a store from before pictures: no pictures table.
inline void downgradeToBeforePictures(const std::string &path)
{
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    // Back to schema 4, the last before pictures (v5); v6's columns go too, so that both
    // migrations run again on open.
    db.exec("DROP TABLE pictures");
    for (const char *column : {"world_size", "backend", "hosts"})
        db.exec(std::string("ALTER TABLE runs DROP COLUMN ") + column);
    db.exec("DELETE FROM schema_version WHERE version > 4");
}

} // namespace lw::test
