// Editing runs a person owns: tags, notes, name, and deleting a run with its folder.
#include "core/store/runstore_p.h"

#include <cctype>
#include <filesystem>

namespace fs = std::filesystem;

namespace lw {

namespace {

Result<std::string> cleanTag(const std::string &raw)
{
    std::size_t b = 0, e = raw.size();
    while (b < e && std::isspace(static_cast<unsigned char>(raw[b])))
        ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(raw[e - 1])))
        --e;
    std::string tag = raw.substr(b, e - b);
    if (tag.empty())
        return fail("empty tag");
    if (tag.size() > 100)
        return fail("tag '" + tag.substr(0, 40) + "...' is longer than 100 characters");
    for (unsigned char ch : tag)
        if (ch < 0x20 || ch == 0x7f)
            return fail("tag '" + tag + "' contains a control character");
    return tag;
}

} // namespace

Result<std::vector<std::string>> cleanTags(const std::vector<std::string> &raw)
{
    std::vector<std::string> clean;
    for (const auto &r : raw) {
        auto t = cleanTag(r);
        if (!t)
            return t.error();
        clean.push_back(*t);
    }
    return clean;
}

// ---- editing ---------------------------------------------------------------------------------

Result<void> RunStore::setTags(std::int64_t id, const std::vector<std::string> &tags)
{
    return writeTags(id, tags, /*replace=*/true);
}

Result<void> RunStore::addTags(std::int64_t id, const std::vector<std::string> &tags)
{
    return writeTags(id, tags, /*replace=*/false);
}

Result<void> RunStore::writeTags(std::int64_t id, const std::vector<std::string> &tags,
                                 bool replace)
{
    if (auto w = m->checkWritable("change tags"); !w)
        return w;
    auto cleaned = cleanTags(tags);
    if (!cleaned)
        return cleaned.error();
    const std::vector<std::string> &clean = *cleaned;
    LW_STORE_GUARD("tagging run " + std::to_string(id), {
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
        if (!m->runExists(id))
            return m->runNotFound(id);
        if (replace) {
            SQLite::Statement del(*m->db, "DELETE FROM run_tags WHERE run = ?");
            del.bind(1, static_cast<std::int64_t>(id));
            del.exec();
        }
        SQLite::Statement ins(*m->db, "INSERT OR IGNORE INTO run_tags(run, tag) VALUES (?, ?)");
        for (const auto &t : clean) {
            ins.bind(1, static_cast<std::int64_t>(id));
            ins.bind(2, t);
            ins.exec();
            ins.reset();
        }
        m->touchRun(id);
        tx.commit();
        return {};
    });
}

Result<void> RunStore::removeTag(std::int64_t id, const std::string &tag)
{
    if (auto w = m->checkWritable("change tags"); !w)
        return w;
    LW_STORE_GUARD("untagging run " + std::to_string(id), {
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
        if (!m->runExists(id))
            return m->runNotFound(id);
        SQLite::Statement del(*m->db, "DELETE FROM run_tags WHERE run = ? AND tag = ?");
        del.bind(1, static_cast<std::int64_t>(id));
        del.bind(2, tag);
        del.exec();
        m->touchRun(id);
        tx.commit();
        return {};
    });
}

Result<void> RunStore::setNotes(std::int64_t id, const std::string &notes)
{
    return setText(id, TextColumn::Notes, notes);
}

Result<void> RunStore::rename(std::int64_t id, const std::string &name)
{
    return setText(id, TextColumn::Name, name);
}

Result<void> RunStore::setColour(std::int64_t id, const std::string &colour)
{
    const bool hex = colour.size() == 7 && colour[0] == '#'
                     && colour.find_first_not_of("0123456789abcdefABCDEF", 1) == std::string::npos;
    if (!colour.empty() && !hex)
        return fail("run " + std::to_string(id) + ": colour '" + colour
                    + "' is not of the form #rrggbb (six hexadecimal digits)");
    return setText(id, TextColumn::Colour, colour);
}

Result<void> RunStore::setText(std::int64_t id, TextColumn column, const std::string &value)
{
    struct Column
    {
        const char *doing, *verb, *sql;
    };
    static const Column columns[]
        = {{"rename a run", "renaming run ", "UPDATE runs SET name = ?, updated = ? WHERE id = ?"},
           {"change notes", "writing notes of run ",
            "UPDATE runs SET notes = ?, updated = ? WHERE id = ?"},
           {"change a colour", "setting the colour of run ",
            "UPDATE runs SET colour = ?, updated = ? WHERE id = ?"}};
    const Column &c = columns[int(column)];
    if (auto w = m->checkWritable(c.doing); !w)
        return w;
    LW_STORE_GUARD(c.verb + std::to_string(id), {
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
        SQLite::Statement st(*m->db, c.sql);
        st.bind(1, value);
        st.bind(2, nowSeconds());
        st.bind(3, static_cast<std::int64_t>(id));
        if (st.exec() == 0)
            return m->runNotFound(id);
        tx.commit();
        return {};
    });
}

Result<void> RunStore::deleteRun(std::int64_t id)
{
    if (auto w = m->checkWritable("delete a run"); !w)
        return w;
    LW_STORE_GUARD("deleting run " + std::to_string(id), {
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
        if (!m->runExists(id))
            return m->runNotFound(id);
        if (!m->locks.count(id) && m->lockHeld(id))
            return fail("run " + std::to_string(id)
                        + " is being recorded by another live process; stop it before deleting");
        SQLite::Statement del(*m->db, "DELETE FROM runs WHERE id = ?");
        del.bind(1, static_cast<std::int64_t>(id));
        del.exec();
        tx.commit();
        m->releaseLock(id);
    });

    // The folder: only runs/<id> itself, and only when it is a real child of runs/ (a symlink
    // named <id> is removed as a link; its target is left alone).
    std::error_code ec;
    const fs::path root = fs::path(m->runsRoot());
    const fs::path dir = root / std::to_string(id);
    if (fs::is_symlink(fs::symlink_status(root, ec)))
        return fail("run " + std::to_string(id) + " was deleted but '" + root.string()
                    + "' is a symbolic link; its folder was left alone");
    if (auto owner = m->checkRunsFolderOwner(); !owner)
        return fail("run " + std::to_string(id)
                    + " was deleted but its folder was left alone: " + owner.message());
    auto st = fs::symlink_status(dir, ec);
    if (ec || !fs::exists(st))
        return {};
    if (fs::is_symlink(st)) {
        fs::remove(dir, ec);
    } else if (fs::is_directory(st)) {
        const fs::path canonRoot = fs::weakly_canonical(root, ec);
        const fs::path canonDir = fs::weakly_canonical(dir, ec);
        if (ec || canonDir.parent_path() != canonRoot)
            return fail("run " + std::to_string(id) + " was deleted but its folder '" + dir.string()
                        + "' resolves outside '" + root.string() + "'; it was left alone");
        fs::remove_all(dir, ec);
    } else {
        return fail("run " + std::to_string(id) + " was deleted but '" + dir.string()
                    + "' is not a folder; it was left alone");
    }
    if (ec)
        return fail("run " + std::to_string(id) + " was deleted but its folder '" + dir.string()
                    + "' could not be removed: " + ec.message());
    return {};
}

} // namespace lw
