// The run store's open path on a crafted database file: opening (read-only, then read-write with
// its migrations and interrupted-run marking) and reading every run either works or fails with
// a message, never crashes.
#include "core/store/runstore.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

void readAll(const lw::RunStore &store)
{
    const auto runs = store.listRuns();
    if (!runs)
        return;
    std::size_t n = 0;
    for (const auto &run : *runs) {
        if (++n > 16) // a crafted file may list many; the readers below are the same for each
            break;
        (void)store.getRun(run.id);
        (void)store.history(run.id);
        (void)store.metrics(run.id);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    const auto dir = lw::fuzz::scratch();
    const auto path = (dir / "runs.sqlite").string();
    lw::fuzz::writeFile(path, lw::fuzz::text(data, size));
    lw::StoreOptions options;
    options.busyTimeoutMs = 100;
    options.maxSizeBytes = 64 << 20;
    for (const auto mode : {lw::OpenMode::ReadOnly, lw::OpenMode::ReadWrite}) {
        auto store = lw::RunStore::open(path, mode, options);
        if (store)
            readAll(**store);
    }
    return 0;
}
