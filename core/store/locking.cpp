// Liveness of runs: the process recording a run holds an flock on runs/<id>/.lock until the run
// gets a final status or the process dies. Runs left `running` without a holder are interrupted.
#include "core/store/runstore_p.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/file.h>
#include <thread>
#include <tuple>
#include <unistd.h>
#include <utility>

namespace fs = std::filesystem;

namespace lw {

namespace {

class FdGuard
{
public:
    explicit FdGuard(int fd)
        : m_fd(fd)
    {}
    ~FdGuard()
    {
        if (m_fd >= 0)
            ::close(m_fd);
    }
    int get() const { return m_fd; }
    int release() { return std::exchange(m_fd, -1); }

private:
    int m_fd;
};

} // namespace

RunStore::Impl::~Impl()
{
    for (auto &[id, fd] : locks)
        ::close(fd);
}

Result<void> RunStore::Impl::checkOwnedFolder(std::int64_t id) const
{
    for (const std::string &path : {runsRoot(), runDir(id)}) {
        std::error_code ec;
        const auto st = fs::symlink_status(path, ec);
        if (ec || !fs::exists(st))
            continue;
        if (fs::is_symlink(st))
            return fail("'" + path
                        + "' is a symbolic link; the run store does not write or delete through "
                          "links (replace it with a folder)");
        if (!fs::is_directory(st))
            return fail("'" + path + "' is not a folder");
    }
    return {};
}

/// Takes the run's liveness lock (creating runs/<id>/). Fails when another process holds it.
Result<void> RunStore::Impl::acquireLock(std::int64_t id)
{
    if (locks.count(id))
        return {};
    if (auto owned = checkOwnedFolder(id); !owned)
        return owned;
    if (auto claimed = claimRunsFolder(); !claimed)
        return claimed;
    std::error_code ec;
    fs::create_directories(runDir(id), ec);
    if (ec)
        return fail("cannot create the run folder '" + runDir(id) + "': " + ec.message());
    const std::string lp = lockPath(id);
    FdGuard fd(::open(lp.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (fd.get() < 0)
        return fail("cannot create the lock file '" + lp + "': " + std::strerror(errno));
    // A reader's liveness probe (lockHeld) holds the lock for a moment: retry briefly before
    // calling the run taken; a live holder keeps it far longer.
    int rc = ::flock(fd.get(), LOCK_EX | LOCK_NB);
    for (int i = 0; rc != 0 && errno == EWOULDBLOCK && i < 40; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        rc = ::flock(fd.get(), LOCK_EX | LOCK_NB);
    }
    if (rc != 0) {
        if (errno == EWOULDBLOCK)
            return fail("run " + std::to_string(id)
                        + " is being recorded by another live process (it holds '" + lp + "')");
        return fail("cannot lock '" + lp + "': " + std::strerror(errno));
    }
    locks[id] = fd.release();
    return {};
}

void RunStore::Impl::releaseLock(std::int64_t id)
{
    auto it = locks.find(id);
    if (it == locks.end())
        return;
    ::close(it->second);
    locks.erase(it);
}

/// Someone (this store or another process) holds the run's lock.
bool RunStore::Impl::lockHeld(std::int64_t id) const
{
    if (locks.count(id))
        return true;
    const std::string lp = lockPath(id);
    FdGuard fd(::open(lp.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0)
        return false;
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) {
        ::flock(fd.get(), LOCK_UN);
        return false;
    }
    return errno == EWOULDBLOCK;
}

Result<std::vector<std::int64_t>> RunStore::markInterruptedRuns()
{
    if (auto w = m->checkWritable("mark interrupted runs"); !w)
        return w.error();
    LW_STORE_GUARD("marking interrupted runs", {
        std::vector<std::int64_t> marked;
        {
            // Cheap check first: most opens find no running run and take no write lock.
            SQLite::Statement any(*m->db, "SELECT 1 FROM runs WHERE status = 'running' LIMIT 1");
            if (!any.executeStep())
                return marked;
        }
        // Probe the locks inside the write transaction: a live writer cannot commit its final
        // status (and then drop its lock) between our probe and our update.
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
        SQLite::Statement sel(*m->db, "SELECT id, pid, host FROM runs WHERE status = 'running'");
        std::vector<std::tuple<std::int64_t, std::int64_t, std::string>> dead;
        while (sel.executeStep()) {
            const std::int64_t id = sel.getColumn(0).getInt64();
            if (!m->lockHeld(id))
                dead.emplace_back(id, sel.getColumn(1).getInt64(), text(sel.getColumn(2)));
        }
        SQLite::Statement upd(*m->db, "UPDATE runs SET status = 'interrupted', message = ?, "
                                      "paused = 0, ended = updated WHERE id = ? AND status = "
                                      "'running'");
        for (const auto &[id, pid, host] : dead) {
            upd.bind(1, interruptedMessage(pid, host));
            upd.bind(2, static_cast<std::int64_t>(id));
            upd.exec();
            upd.reset();
            marked.push_back(id);
        }
        tx.commit();
        return marked;
    });
}

bool RunStore::isLive(std::int64_t id) const
{
    std::lock_guard<std::recursive_mutex> guard(m->mutex);
    return m->lockHeld(id);
}

Result<void> RunStore::claimRun(std::int64_t id)
{
    if (auto w = m->checkWritable("record a run"); !w)
        return w;
    if (!m->runExists(id))
        return m->runNotFound(id);
    return m->acquireLock(id);
}

void RunStore::releaseRun(std::int64_t id)
{
    m->releaseLock(id);
}

Result<void> RunStore::setPaused(std::int64_t id, bool paused)
{
    if (auto w = m->checkWritable("pause a run"); !w)
        return w;
    LW_STORE_GUARD("marking run " + std::to_string(id) + (paused ? " paused" : " running"), {
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
        SQLite::Statement st(*m->db, "UPDATE runs SET paused = ?, updated = ? WHERE id = ? AND "
                                     "status = 'running'");
        st.bind(1, paused ? 1 : 0);
        st.bind(2, nowSeconds());
        st.bind(3, static_cast<std::int64_t>(id));
        st.exec();
        tx.commit();
        return {};
    });
}

} // namespace lw
