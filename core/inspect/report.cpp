#include "core/inspect/report.h"

#include "core/inspect/render.h"
#include "core/util/fsutil.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <sstream>

namespace lw {

namespace {

using json = nlohmann::json;

/// A CSV field: quoted when it holds a comma, a quote or a line break.
std::string field(const std::string &s)
{
    if (s.find_first_of(",\"\n\r") == std::string::npos)
        return s;
    std::string out = "\"";
    for (char c : s)
        out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

std::string number(double v)
{
    if (std::isnan(v))
        return "";
    std::ostringstream os;
    os.precision(9);
    os << v;
    return os.str();
}

json nanToNull(double v)
{
    return std::isnan(v) ? json(nullptr) : json(v);
}

json confusionSummary(const ConfusionMatrix &m)
{
    if (m.empty())
        return nullptr;
    json perClass = json::array();
    for (double a : m.perClassAccuracy())
        perClass.push_back(nanToNull(a));
    return {{"classes", m.classes},
            {"total", m.total()},
            {"accuracy", m.accuracy()},
            {"per_class_accuracy", perClass},
            {"counts", m.counts}};
}

} // namespace

std::string confusionCsv(const ConfusionMatrix &m, const std::vector<std::string> &classNames)
{
    std::string out = "true";
    // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) on "," + std::string&&.
    for (int p = 0; p < m.classes; ++p) {
        out += ',';
        out += field(className(classNames, p));
    }
    out += "\n";
    for (int t = 0; t < m.classes; ++t) {
        out += field(className(classNames, t));
        for (int p = 0; p < m.classes; ++p) {
            out += ',';
            out += std::to_string(m.at(t, p));
        }
        out += "\n";
    }
    return out;
}

std::string projectionCsv(const Projection &p, const std::vector<std::string> &classNames)
{
    std::string out = "sample,label,class,x,y\n";
    for (std::size_t i = 0; i < p.x.size(); ++i) {
        const int label = i < p.labels.size() ? p.labels[i] : -1;
        out += std::to_string(i < p.samples.size() ? p.samples[i] : -1) + ","
               + std::to_string(label) + "," + field(className(classNames, label)) + ","
               + number(p.x[i]) + "," + number(p.y[i]) + "\n";
    }
    return out;
}

std::string hardErrorsCsv(const HardErrors &e, const std::vector<std::string> &classNames)
{
    std::string out = "rank,sample,true,true_class,predicted,predicted_class,confidence,"
                      "fixed_at_stage\n";
    for (std::size_t i = 0; i < e.errors.size(); ++i) {
        const auto &x = e.errors[i];
        out += std::to_string(i + 1) + "," + std::to_string(x.sample) + ","
               + std::to_string(x.trueClass) + "," + field(className(classNames, x.trueClass)) + ","
               + std::to_string(x.predicted) + "," + field(className(classNames, x.predicted)) + ","
               + number(x.confidence) + "," + std::to_string(x.fixedAtStage) + "\n";
    }
    return out;
}

std::string picturesJson(const StagePictures &p)
{
    json errors = json::array();
    for (const auto &e : p.hardErrors.errors)
        errors.push_back({{"sample", e.sample},
                          {"true", e.trueClass},
                          {"predicted", e.predicted},
                          {"confidence", e.confidence},
                          {"fixed_at_stage", e.fixedAtStage}});
    json maps = json::array();
    for (std::size_t i = 0; i < p.maps.samples.size(); ++i)
        maps.push_back(
            {{"sample", p.maps.samples[i]},
             {"label", i < p.maps.labels.size() ? p.maps.labels[i] : -1},
             {"channels", i < p.maps.channels.size() ? p.maps.channels[i] : std::vector<int>{}}});
    json j = {{"stage", p.stage},
              {"class_names", p.classNames},
              {"head", confusionSummary(p.head)},
              {"ensemble", confusionSummary(p.ensemble)},
              {"projection",
               {{"method", p.projection.method},
                {"points", p.projection.size()},
                {"seed", p.projection.seed},
                {"explained_variance",
                 {p.projection.explainedVariance[0], p.projection.explainedVariance[1]}},
                {"probe_test_acc", nanToNull(p.projection.probeAccuracy)}}},
              {"filters", p.filters.count},
              {"feature_maps", maps},
              {"hard_errors", errors},
              {"seconds", p.seconds}};
    return j.dump(2) + "\n";
}

Result<std::vector<std::string>> writePictures(const StagePictures &p, const std::string &dir)
{
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec)
        return fail("cannot create the folder '" + dir + "': " + ec.message());
    std::vector<std::string> written;
    const std::string base
        = (std::filesystem::path(dir) / ("stage" + std::to_string(p.stage))).string();
    auto text = [&](const std::string &path, const std::string &content) -> Result<void> {
        if (auto r = writeFileAtomic(path, content); !r)
            return r;
        written.push_back(path);
        return {};
    };
    auto png = [&](const std::string &path, const RgbImage &img) -> Result<void> {
        if (auto r = writePng(path, img); !r)
            return r;
        written.push_back(path);
        return {};
    };
    const int scale = std::max(1, 64 / std::max(1, p.hardErrors.thumbnails.height));
    std::vector<Result<void>> steps;
    if (!p.head.empty()) {
        steps.push_back(png(base + "-confusion-head.png", renderConfusion(p.head)));
        steps.push_back(text(base + "-confusion-head.csv", confusionCsv(p.head, p.classNames)));
    }
    if (!p.ensemble.empty()) {
        steps.push_back(png(base + "-confusion-ensemble.png", renderConfusion(p.ensemble)));
        steps.push_back(
            text(base + "-confusion-ensemble.csv", confusionCsv(p.ensemble, p.classNames)));
    }
    steps.push_back(png(base + "-projection.png", renderProjection(p.projection)));
    steps.push_back(text(base + "-projection.csv", projectionCsv(p.projection, p.classNames)));
    if (!p.maps.samples.empty())
        steps.push_back(
            png(base + "-feature-maps.png",
                renderFeatureMaps(p.maps, std::max(1, 64 / std::max(1, p.maps.inputs.height)))));
    if (!p.hardErrors.errors.empty()) {
        steps.push_back(png(base + "-hard-errors.png", renderHardErrors(p.hardErrors, scale)));
        steps.push_back(text(base + "-hard-errors.csv", hardErrorsCsv(p.hardErrors, p.classNames)));
    }
    if (!p.filters.empty())
        steps.push_back(
            png((std::filesystem::path(dir) / "filters.png").string(),
                renderTiles(p.filters, 8, std::max(1, 48 / std::max(1, p.filters.height)))));
    steps.push_back(text(base + ".json", picturesJson(p)));
    for (auto &s : steps)
        if (!s)
            return s.error();
    return written;
}

std::string imageJson(const ImageThroughStages &img)
{
    json stages = json::array();
    for (const auto &st : img.stages)
        stages.push_back(
            {{"stage", st.stage},
             {"predicted", st.predicted},
             {"predicted_class",
              st.predicted >= 0 ? json(className(img.classNames, st.predicted)) : json(nullptr)},
             {"confidence", nanToNull(st.confidence)},
             {"channels", st.channels}});
    json j = {
        {"sample", img.sample},          {"test_images", img.testImages},
        {"true", img.trueClass},         {"true_class", className(img.classNames, img.trueClass)},
        {"class_names", img.classNames}, {"stages", stages}};
    return j.dump(2) + "\n";
}

Result<std::vector<std::string>> writeImageThroughStages(const ImageThroughStages &img,
                                                         const std::string &dir)
{
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec)
        return fail("cannot create the folder '" + dir + "': " + ec.message());
    std::vector<std::string> written;
    const std::string base
        = (std::filesystem::path(dir) / ("image" + std::to_string(img.sample))).string();
    auto png = [&](const std::string &path, const RgbImage &picture) -> Result<void> {
        if (auto r = writePng(path, picture); !r)
            return r;
        written.push_back(path);
        return {};
    };
    const int scale = scaleTo64(img.image.height);
    if (auto r = png(base + ".png", renderTiles(img.image, 1, scale)); !r)
        return r.error();
    for (const auto &st : img.stages)
        if (!st.maps.empty())
            if (auto r = png(base + "-stage" + std::to_string(st.stage) + ".png",
                             renderTiles(st.maps, st.maps.count, scaleTo64(st.maps.height)));
                !r)
                return r.error();
    if (auto r = png(base + "-stages.png", renderImageThroughStages(img, scale)); !r)
        return r.error();
    if (auto r = writeFileAtomic(base + ".json", imageJson(img)); !r)
        return r.error();
    written.push_back(base + ".json");
    return written;
}

} // namespace lw
