// A stage's pictures in the store: one row per (run, stage, kind) of the `pictures` table, small
// numbers as JSON in `meta`, points and pixels as a blob in `data`. Readers check every size
// against the blob, so a damaged row is an error naming the run, the stage and the kind.
#include "core/store/runstore_p.h"

#include <nlohmann/json.hpp>

#include <cstring>
#include <stdexcept>

namespace lw {

namespace {

using json = nlohmann::json;
using Blob = std::vector<std::uint8_t>;

struct Row
{
    json meta;
    Blob data;
};

json confusionJson(const ConfusionMatrix &m)
{
    return {{"classes", m.classes}, {"counts", m.counts}};
}

ConfusionMatrix confusionFrom(const json &j)
{
    ConfusionMatrix m;
    m.classes = j.at("classes").get<int>();
    m.counts = j.at("counts").get<std::vector<std::int64_t>>();
    if (m.classes < 0 || m.counts.size() != std::size_t(m.classes) * std::size_t(m.classes))
        throw std::runtime_error("counts hold " + std::to_string(m.counts.size())
                                 + " values, expected classes^2");
    return m;
}

json tilesJson(const ImageTiles &t)
{
    return {{"count", t.count}, {"channels", t.channels}, {"height", t.height}, {"width", t.width}};
}

/// Reads a tile header and takes its pixels from `blob` at `offset` (advanced past them).
ImageTiles tilesFrom(const json &j, const Blob &blob, std::size_t &offset)
{
    ImageTiles t;
    t.count = j.at("count").get<int>();
    t.channels = j.at("channels").get<int>();
    t.height = j.at("height").get<int>();
    t.width = j.at("width").get<int>();
    if (t.count < 0 || (t.channels != 1 && t.channels != 3) || t.height < 0 || t.width < 0
        || t.height > 4096 || t.width > 4096)
        throw std::runtime_error("tile header out of range");
    const std::size_t bytes = std::size_t(t.count) * t.tileBytes();
    if (offset > blob.size() || blob.size() - offset < bytes)
        throw std::runtime_error("data holds " + std::to_string(blob.size() - offset)
                                 + " bytes of pixels at offset " + std::to_string(offset)
                                 + ", expected " + std::to_string(bytes));
    t.pixels.assign(blob.begin() + std::ptrdiff_t(offset),
                    blob.begin() + std::ptrdiff_t(offset + bytes));
    offset += bytes;
    return t;
}

void append(Blob &blob, const std::vector<std::uint8_t> &bytes)
{
    blob.insert(blob.end(), bytes.begin(), bytes.end());
}

json hardErrorJson(const HardError &e)
{
    return {{"sample", e.sample},
            {"true", e.trueClass},
            {"pred", e.predicted},
            {"confidence", e.confidence},
            {"fixed_at_stage", e.fixedAtStage}};
}

/// The rows one StagePictures becomes, by kind.
std::vector<std::pair<std::string, Row>> rowsOf(const StagePictures &p)
{
    std::vector<std::pair<std::string, Row>> rows;
    rows.push_back({"stage", {{{"class_names", p.classNames}, {"seconds", p.seconds}}, {}}});
    if (!p.head.empty())
        rows.push_back({"head-confusion", {confusionJson(p.head), {}}});
    if (!p.ensemble.empty())
        rows.push_back({"ensemble-confusion", {confusionJson(p.ensemble), {}}});
    {
        const auto &pr = p.projection;
        Row r;
        r.meta = {{"method", pr.method},
                  {"explained_variance", {pr.explainedVariance[0], pr.explainedVariance[1]}},
                  {"seed", pr.seed},
                  {"labels", pr.labels},
                  {"samples", pr.samples}};
        r.data.resize(2 * pr.x.size() * sizeof(float));
        if (!pr.x.empty()) {
            std::memcpy(r.data.data(), pr.x.data(), pr.x.size() * sizeof(float));
            std::memcpy(r.data.data() + pr.x.size() * sizeof(float), pr.y.data(),
                        pr.y.size() * sizeof(float));
        }
        rows.push_back({"projection", std::move(r)});
    }
    if (!p.filters.empty())
        rows.push_back({"filters", {tilesJson(p.filters), p.filters.pixels}});
    if (!p.maps.samples.empty()) {
        Row r;
        r.meta = {{"samples", p.maps.samples},          {"labels", p.maps.labels},
                  {"per_sample", p.maps.perSample},     {"channels", p.maps.channels},
                  {"inputs", tilesJson(p.maps.inputs)}, {"maps", tilesJson(p.maps.maps)}};
        append(r.data, p.maps.inputs.pixels);
        append(r.data, p.maps.maps.pixels);
        rows.push_back({"feature-maps", std::move(r)});
    }
    {
        Row r;
        json errors = json::array();
        for (const auto &e : p.hardErrors.errors)
            errors.push_back(hardErrorJson(e));
        r.meta = {{"errors", errors}, {"thumbnails", tilesJson(p.hardErrors.thumbnails)}};
        r.data = p.hardErrors.thumbnails.pixels;
        rows.push_back({"hard-errors", std::move(r)});
    }
    return rows;
}

void readRow(StagePictures &p, const std::string &kind, const Row &r)
{
    const auto &m = r.meta;
    if (kind == "stage") {
        p.classNames = m.at("class_names").get<std::vector<std::string>>();
        p.seconds = m.at("seconds").get<double>();
    } else if (kind == "head-confusion") {
        p.head = confusionFrom(m);
    } else if (kind == "ensemble-confusion") {
        p.ensemble = confusionFrom(m);
    } else if (kind == "projection") {
        auto &pr = p.projection;
        pr.method = m.at("method").get<std::string>();
        pr.explainedVariance[0] = m.at("explained_variance").at(0).get<double>();
        pr.explainedVariance[1] = m.at("explained_variance").at(1).get<double>();
        pr.seed = m.at("seed").get<std::uint64_t>();
        pr.labels = m.at("labels").get<std::vector<int>>();
        pr.samples = m.at("samples").get<std::vector<std::int64_t>>();
        const std::size_t n = pr.labels.size();
        if (r.data.size() != 2 * n * sizeof(float) || pr.samples.size() != n)
            throw std::runtime_error("data holds " + std::to_string(r.data.size()) + " bytes for "
                                     + std::to_string(n) + " points, expected 8 per point");
        pr.x.resize(n);
        pr.y.resize(n);
        if (n > 0) {
            std::memcpy(pr.x.data(), r.data.data(), n * sizeof(float));
            std::memcpy(pr.y.data(), r.data.data() + n * sizeof(float), n * sizeof(float));
        }
    } else if (kind == "filters") {
        std::size_t offset = 0;
        p.filters = tilesFrom(m, r.data, offset);
    } else if (kind == "feature-maps") {
        auto &fm = p.maps;
        fm.samples = m.at("samples").get<std::vector<std::int64_t>>();
        fm.labels = m.at("labels").get<std::vector<int>>();
        fm.perSample = m.at("per_sample").get<int>();
        fm.channels = m.at("channels").get<std::vector<std::vector<int>>>();
        std::size_t offset = 0;
        fm.inputs = tilesFrom(m.at("inputs"), r.data, offset);
        fm.maps = tilesFrom(m.at("maps"), r.data, offset);
        if (fm.labels.size() != fm.samples.size()
            || std::size_t(fm.inputs.count) != fm.samples.size()
            || std::size_t(fm.maps.count) != fm.samples.size() * std::size_t(fm.perSample))
            throw std::runtime_error("image counts do not match the samples");
    } else if (kind == "hard-errors") {
        for (const auto &e : m.at("errors"))
            p.hardErrors.errors.push_back({e.at("sample").get<std::int64_t>(),
                                           e.at("true").get<int>(), e.at("pred").get<int>(),
                                           e.at("confidence").get<double>(),
                                           e.at("fixed_at_stage").get<int>()});
        std::size_t offset = 0;
        p.hardErrors.thumbnails = tilesFrom(m.at("thumbnails"), r.data, offset);
        if (std::size_t(p.hardErrors.thumbnails.count) != p.hardErrors.errors.size())
            throw std::runtime_error("thumbnails do not match the errors");
    }
    // Unknown kinds come from a newer Layerwise: left alone.
}

bool hasPicturesTable(SQLite::Database &db)
{
    SQLite::Statement st(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = "
                             "'pictures'");
    st.executeStep();
    return st.getColumn(0).getInt() > 0;
}

} // namespace

Result<void> RunStore::recordPictures(std::int64_t id, const StagePictures &pictures)
{
    if (auto w = m->checkWritable("record pictures"); !w)
        return w;
    LW_STORE_GUARD(
        "recording the pictures of stage " + std::to_string(pictures.stage + 1) + " of run "
            + std::to_string(id),
        {
            SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
            if (!m->runExists(id))
                return m->runNotFound(id);
            SQLite::Statement del(*m->db, "DELETE FROM pictures WHERE run = ? AND stage = ?");
            del.bind(1, static_cast<std::int64_t>(id));
            del.bind(2, pictures.stage);
            del.exec();
            const double now = nowSeconds();
            for (const auto &[kind, row] : rowsOf(pictures)) {
                SQLite::Statement st(*m->db, "INSERT INTO pictures(run, stage, kind, meta, "
                                             "data, created) VALUES (?, ?, ?, ?, ?, ?)");
                st.bind(1, static_cast<std::int64_t>(id));
                st.bind(2, pictures.stage);
                st.bind(3, kind);
                st.bind(4, row.meta.dump());
                st.bind(5, row.data.data(), static_cast<int>(row.data.size()));
                st.bind(6, now);
                st.exec();
            }
            // Later stages fix earlier errors: rewrite those stages' error lists.
            std::map<int, std::vector<const HardErrorFix *>> byStage;
            for (const auto &f : pictures.fixes)
                byStage[f.stage].push_back(&f);
            for (const auto &[stage, fixes] : byStage) {
                SQLite::Statement get(*m->db, "SELECT meta FROM pictures WHERE run = ? AND "
                                              "stage = ? AND kind = 'hard-errors'");
                get.bind(1, static_cast<std::int64_t>(id));
                get.bind(2, stage);
                if (!get.executeStep())
                    continue;
                auto meta = json::parse(get.getColumn(0).getString());
                for (auto &e : meta.at("errors"))
                    for (const auto *f : fixes)
                        if (e.at("sample").get<std::int64_t>() == f->sample)
                            e["fixed_at_stage"] = f->fixedAtStage;
                get.reset();
                SQLite::Statement put(*m->db, "UPDATE pictures SET meta = ? WHERE run = ? AND "
                                              "stage = ? AND kind = 'hard-errors'");
                put.bind(1, meta.dump());
                put.bind(2, static_cast<std::int64_t>(id));
                put.bind(3, stage);
                put.exec();
            }
            m->touchRun(id);
            tx.commit();
            return {};
        });
}

Result<std::vector<int>> RunStore::pictureStages(std::int64_t id) const
{
    LW_STORE_GUARD("reading the pictures of run " + std::to_string(id), {
        if (!m->runExists(id))
            return m->runNotFound(id);
        std::vector<int> stages;
        if (!hasPicturesTable(*m->db))
            return stages;
        SQLite::Statement st(*m->db, "SELECT DISTINCT stage FROM pictures WHERE run = ? AND "
                                     "kind = 'stage' ORDER BY stage");
        st.bind(1, static_cast<std::int64_t>(id));
        while (st.executeStep())
            stages.push_back(st.getColumn(0).getInt());
        return stages;
    });
}

Result<StagePictures> RunStore::pictures(std::int64_t id, int stage) const
{
    const std::string where = "run " + std::to_string(id) + ", stage " + std::to_string(stage + 1);
    LW_STORE_GUARD("reading the pictures of " + where, {
        if (!m->runExists(id))
            return m->runNotFound(id);
        if (!hasPicturesTable(*m->db))
            return fail("run " + std::to_string(id) + " has no pictures of stage "
                        + std::to_string(stage + 1) + " in '" + m->path + "'");
        StagePictures p;
        p.stage = stage;
        SQLite::Statement st(*m->db,
                             "SELECT kind, meta, data FROM pictures WHERE run = ? AND stage = ?");
        st.bind(1, static_cast<std::int64_t>(id));
        st.bind(2, stage);
        bool any = false;
        while (st.executeStep()) {
            any = true;
            const std::string kind = st.getColumn(0).getString();
            Row row;
            try {
                row.meta = json::parse(st.getColumn(1).getString());
                const auto data = st.getColumn(2);
                const auto *bytes = static_cast<const std::uint8_t *>(data.getBlob());
                if (bytes)
                    row.data.assign(bytes, bytes + data.getBytes());
                readRow(p, kind, row);
            } catch (const std::exception &e) {
                return fail("'" + m->path + "': the " + kind + " pictures of " + where
                            + " are damaged: " + e.what());
            }
        }
        if (!any)
            return fail("run " + std::to_string(id) + " has no pictures of stage "
                        + std::to_string(stage + 1) + " in '" + m->path + "'");
        SQLite::Statement probe(*m->db, "SELECT test_acc FROM probes WHERE run = ? AND layer = ? "
                                        "ORDER BY after_stage DESC LIMIT 1");
        probe.bind(1, static_cast<std::int64_t>(id));
        probe.bind(2, stage);
        if (probe.executeStep() && !probe.getColumn(0).isNull())
            p.projection.probeAccuracy = probe.getColumn(0).getDouble();
        return p;
    });
}

} // namespace lw
