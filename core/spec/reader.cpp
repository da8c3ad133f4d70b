// JSON -> Spec: structure, types, enum names, unknown and duplicate keys, each problem named by
// its JSON path; then the checker's ranges and shapes.

#include "core/spec/internal_p.h"

#include "core/util/fsutil.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <exception>
#include <functional>
#include <initializer_list>
#include <limits>
#include <set>
#include <utility>

namespace lw {

using namespace spec_detail;

namespace {

/// "string \"abc\"", "number 3.5", "an array", ... for "expected X, got Y" messages.
std::string describe(const Json &v)
{
    switch (v.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return v.get<bool>() ? "true" : "false";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float: return "number " + v.dump();
    case Json::value_t::string: {
        std::string s = v.dump();
        if (s.size() > 42)
            s = s.substr(0, 40) + "...\"";
        return "string " + s;
    }
    case Json::value_t::array: return "an array";
    case Json::value_t::object: return "an object";
    default: return "an unsupported value";
    }
}

/// Integral value of a JSON number (integral floats such as 3.0 are accepted).
bool asInt64(const Json &v, std::int64_t &out)
{
    if (v.is_number_unsigned()) {
        const auto u = v.get<std::uint64_t>();
        if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            return false;
        out = static_cast<std::int64_t>(u);
        return true;
    }
    if (v.is_number_integer()) {
        out = v.get<std::int64_t>();
        return true;
    }
    if (v.is_number_float()) {
        const double d = v.get<double>();
        if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9.0e18)
            return false;
        out = static_cast<std::int64_t>(d);
        return true;
    }
    return false;
}

/// Reads a parsed JSON document into a Spec: structure, types, enum names, unknown keys.
/// Ranges and shapes are left to checkSpec.
class Reader
{
public:
    explicit Reader(std::vector<SpecIssue> &issues)
        : m_issues(issues)
    {}

    void issue(const std::string &path, std::string message)
    {
        m_issues.push_back(SpecIssue{path, std::move(message), m_stage});
    }

    void readSpec(const Json &doc, Spec &spec)
    {
        if (!doc.is_object()) {
            issue("", "expected a JSON object (a layerwise spec), got " + describe(doc));
            return;
        }
        if (!object(doc, "",
                    {"format", "version", "name", "description", "input", "stages", "recipe"}))
            return;
        if (const Json *f = require(doc, "", "format")) {
            if (!f->is_string() || f->get<std::string>() != kFormatName)
                issue("format",
                      std::string("expected \"") + kFormatName + "\", got " + describe(*f));
        }
        if (const Json *v = require(doc, "", "version")) {
            std::int64_t version = 0;
            if (!asInt64(*v, version))
                issue("version", "expected an integer, got " + describe(*v));
            else if (version != Spec::kFormatVersion)
                issue("version", "this Layerwise reads version "
                                     + std::to_string(Spec::kFormatVersion) + ", got "
                                     + std::to_string(version));
        }
        string(doc, "", "name", spec.name);
        string(doc, "", "description", spec.description);
        if (const Json *in = require(doc, "", "input"))
            readInput(*in, "input", spec.input);
        if (const Json *stages = require(doc, "", "stages")) {
            if (!stages->is_array()) {
                issue("stages", "expected an array of stages, got " + describe(*stages));
            } else {
                spec.stages.assign(stages->size(), StageSpec{});
                for (std::size_t i = 0; i < stages->size(); ++i) {
                    m_stage = static_cast<int>(i);
                    readStage((*stages)[i], itemPath("stages", i), spec.stages[i]);
                }
                m_stage = -1;
            }
        }
        if (const Json *recipe = find(doc, "recipe"))
            readRecipe(*recipe, "recipe", spec.recipe);
    }

private:
    void readInput(const Json &v, const std::string &path, InputSpec &in)
    {
        if (!object(v, path, {"channels", "height", "width", "classes", "downsample"}))
            return;
        for (const char *key : {"channels", "height", "width", "classes"})
            require(v, path, key);
        integer(v, path, "channels", in.channels);
        integer(v, path, "height", in.height);
        integer(v, path, "width", in.width);
        integer(v, path, "classes", in.classes);
        enumeration(v, path, "downsample", in.downsample, kDownsampleNames);
    }

    void readStage(const Json &v, const std::string &path, StageSpec &stage)
    {
        if (!object(v, path, {"width", "kernel", "downsample", "bn", "bias", "head"}))
            return;
        require(v, path, "width");
        integer(v, path, "width", stage.width);
        integer(v, path, "kernel", stage.kernel);
        enumeration(v, path, "downsample", stage.downsample, kDownsampleNames);
        boolean(v, path, "bn", stage.bn);
        stage.bias = !stage.bn;
        boolean(v, path, "bias", stage.bias);
        if (const Json *head = find(v, "head"))
            readHead(*head, childPath(path, "head"), stage.head);
    }

    void readHead(const Json &v, const std::string &path, HeadSpec &head)
    {
        if (!object(v, path,
                    {"kind", "k", "width", "pooled", "pool", "padding", "bn", "dropout",
                     "maxpool_first"}))
            return;
        enumeration(v, path, "kind", head.kind, kHeadKindNames);
        integer(v, path, "k", head.k);
        integer(v, path, "width", head.width);
        integer(v, path, "pooled", head.pooled);
        enumeration(v, path, "pool", head.pool, kHeadPoolNames);
        integer(v, path, "padding", head.padding);
        boolean(v, path, "bn", head.bn);
        number(v, path, "dropout", head.dropout);
        boolean(v, path, "maxpool_first", head.maxpoolFirst);
    }

    void readRecipe(const Json &v, const std::string &path, RecipeSpec &r)
    {
        if (!object(v, path,
                    {"dataset", "epochs_per_stage", "batch_size", "test_batch_size", "optimizer",
                     "lr", "augment", "normalize", "ensemble", "e2e", "precision", "seed",
                     "sync_bn"}))
            return;
        if (const Json *d = find(v, "dataset")) {
            const std::string p = childPath(path, "dataset");
            if (object(*d, p, {"name", "path", "train_limit", "test_limit"})) {
                string(*d, p, "name", r.dataset.name);
                string(*d, p, "path", r.dataset.path);
                integer64(*d, p, "train_limit", r.dataset.trainLimit);
                integer64(*d, p, "test_limit", r.dataset.testLimit);
            }
        }
        integer(v, path, "epochs_per_stage", r.epochsPerStage);
        integer(v, path, "batch_size", r.batchSize);
        integer(v, path, "test_batch_size", r.testBatchSize);
        if (const Json *o = find(v, "optimizer")) {
            const std::string p = childPath(path, "optimizer");
            if (object(*o, p, {"momentum", "weight_decay", "nesterov"})) {
                number(*o, p, "momentum", r.optimizer.momentum);
                number(*o, p, "weight_decay", r.optimizer.weightDecay);
                boolean(*o, p, "nesterov", r.optimizer.nesterov);
            }
        }
        if (const Json *lr = find(v, "lr"))
            readLr(*lr, childPath(path, "lr"), r.lr);
        if (const Json *a = find(v, "augment")) {
            const std::string p = childPath(path, "augment");
            if (object(*a, p,
                       {"enabled", "padding", "flip", "random_resized_crop", "eval_resize"})) {
                boolean(*a, p, "enabled", r.augment.enabled);
                integer(*a, p, "padding", r.augment.padding);
                boolean(*a, p, "flip", r.augment.flip);
                boolean(*a, p, "random_resized_crop", r.augment.randomResizedCrop);
                integer(*a, p, "eval_resize", r.augment.evalResize);
            }
        }
        if (const Json *n = find(v, "normalize")) {
            const std::string p = childPath(path, "normalize");
            if (object(*n, p, {"mean", "std", "from_data"})) {
                numbers(*n, p, "mean", r.normalize.mean);
                numbers(*n, p, "std", r.normalize.std);
                boolean(*n, p, "from_data", r.normalize.fromData);
            }
        }
        enumeration(v, path, "ensemble", r.ensemble, kEnsembleNames);
        if (const Json *e = find(v, "e2e")) {
            const std::string p = childPath(path, "e2e");
            if (object(*e, p, {"epochs", "lr"})) {
                integer(*e, p, "epochs", r.e2e.epochs);
                if (const Json *lr = find(*e, "lr"))
                    readLr(*lr, childPath(p, "lr"), r.e2e.lr);
            }
        }
        string(v, path, "precision", r.precision);
        unsigned64(v, path, "seed", r.seed);
        boolean(v, path, "sync_bn", r.syncBn);
    }

    void readLr(const Json &v, const std::string &path, LrSchedule &lr)
    {
        if (!object(v, path, {"initial", "factor", "every", "milestones", "reset_optimizer"}))
            return;
        number(v, path, "initial", lr.initial);
        number(v, path, "factor", lr.factor);
        // Milestones without "every" mean a milestone schedule, not both.
        if (find(v, "milestones") && !find(v, "every"))
            lr.every = 0;
        integer(v, path, "every", lr.every);
        integers(v, path, "milestones", lr.milestones);
        boolean(v, path, "reset_optimizer", lr.resetOptimizer);
    }

    /// Reports a non-object and unknown keys; true when `v` is an object.
    bool object(const Json &v, const std::string &path, std::initializer_list<const char *> keys)
    {
        if (!v.is_object()) {
            issue(path, "expected an object, got " + describe(v));
            return false;
        }
        for (auto it = v.begin(); it != v.end(); ++it) {
            bool known = false;
            for (const char *key : keys)
                known = known || it.key() == key;
            if (!known) {
                std::string list;
                for (const char *key : keys)
                    list += (list.empty() ? "" : ", ") + std::string(key);
                issue(childPath(path, it.key()), "unknown key (expected one of: " + list + ")");
            }
        }
        return true;
    }

    static const Json *find(const Json &obj, const char *key)
    {
        auto it = obj.find(key);
        return it == obj.end() ? nullptr : &*it;
    }

    const Json *require(const Json &obj, const std::string &path, const char *key)
    {
        const Json *v = find(obj, key);
        if (!v)
            issue(childPath(path, key), "missing (required)");
        return v;
    }

    void integer(const Json &obj, const std::string &path, const char *key, int &out)
    {
        std::int64_t v = 0;
        if (integer64(obj, path, key, v)) {
            if (v < INT_MIN || v > INT_MAX)
                issue(childPath(path, key), "out of range, got " + std::to_string(v));
            else
                out = static_cast<int>(v);
        }
    }

    bool integer64(const Json &obj, const std::string &path, const char *key, std::int64_t &out)
    {
        const Json *v = find(obj, key);
        if (!v)
            return false;
        if (!asInt64(*v, out)) {
            issue(childPath(path, key), "expected an integer, got " + describe(*v));
            return false;
        }
        return true;
    }

    void unsigned64(const Json &obj, const std::string &path, const char *key, std::uint64_t &out)
    {
        const Json *v = find(obj, key);
        if (!v)
            return;
        if (v->is_number_unsigned()) {
            out = v->get<std::uint64_t>();
            return;
        }
        std::int64_t s = 0;
        if (!asInt64(*v, s))
            issue(childPath(path, key), "expected a non-negative integer, got " + describe(*v));
        else if (s < 0)
            issue(childPath(path, key), "must be >= 0, got " + std::to_string(s));
        else
            out = static_cast<std::uint64_t>(s);
    }

    void number(const Json &obj, const std::string &path, const char *key, double &out)
    {
        const Json *v = find(obj, key);
        if (!v)
            return;
        if (!v->is_number())
            issue(childPath(path, key), "expected a number, got " + describe(*v));
        else
            out = v->get<double>();
    }

    void boolean(const Json &obj, const std::string &path, const char *key, bool &out)
    {
        const Json *v = find(obj, key);
        if (!v)
            return;
        if (!v->is_boolean())
            issue(childPath(path, key), "expected true or false, got " + describe(*v));
        else
            out = v->get<bool>();
    }

    void string(const Json &obj, const std::string &path, const char *key, std::string &out)
    {
        const Json *v = find(obj, key);
        if (!v)
            return;
        if (!v->is_string())
            issue(childPath(path, key), "expected a string, got " + describe(*v));
        else
            out = v->get<std::string>();
    }

    template<typename E, std::size_t N>
    void enumeration(const Json &obj, const std::string &path, const char *key, E &out,
                     const EnumName<E> (&table)[N])
    {
        const Json *v = find(obj, key);
        if (!v)
            return;
        if (v->is_string()) {
            const auto s = v->get<std::string>();
            for (const auto &entry : table) {
                if (s == entry.name) {
                    out = entry.value;
                    return;
                }
            }
        }
        issue(childPath(path, key),
              "expected one of " + quotedList(table) + "; got " + describe(*v));
    }

    void numbers(const Json &obj, const std::string &path, const char *key,
                 std::vector<double> &out)
    {
        const Json *v = find(obj, key);
        if (!v)
            return;
        const std::string p = childPath(path, key);
        if (!v->is_array()) {
            issue(p, "expected an array of numbers, got " + describe(*v));
            return;
        }
        std::vector<double> values;
        for (std::size_t i = 0; i < v->size(); ++i) {
            const Json &e = (*v)[i];
            if (!e.is_number())
                issue(itemPath(p, i), "expected a number, got " + describe(e));
            else
                values.push_back(e.get<double>());
        }
        if (values.size() == v->size())
            out = std::move(values);
    }

    void integers(const Json &obj, const std::string &path, const char *key, std::vector<int> &out)
    {
        const Json *v = find(obj, key);
        if (!v)
            return;
        const std::string p = childPath(path, key);
        if (!v->is_array()) {
            issue(p, "expected an array of integers, got " + describe(*v));
            return;
        }
        std::vector<int> values;
        for (std::size_t i = 0; i < v->size(); ++i) {
            std::int64_t x = 0;
            if (!asInt64((*v)[i], x))
                issue(itemPath(p, i), "expected an integer, got " + describe((*v)[i]));
            else if (x < INT_MIN || x > INT_MAX)
                issue(itemPath(p, i), "out of range, got " + std::to_string(x));
            else
                values.push_back(static_cast<int>(x));
        }
        if (values.size() == v->size())
            out = std::move(values);
    }

    std::vector<SpecIssue> &m_issues;
    int m_stage = -1;
};

/// Thrown by DuplicateKeyFinder to stop parsing a document nested deeper than any spec.
struct TooDeep
{};

/// Tracks JSON paths while nlohmann parses, to report duplicate keys (which the DOM would
/// silently merge), and stops documents nested absurdly deep (a spec is about 5 levels).
class DuplicateKeyFinder
{
public:
    static constexpr std::size_t kMaxDepth = 64;

    explicit DuplicateKeyFinder(std::vector<SpecIssue> &issues)
        : m_issues(issues)
    {}

    bool operator()(int, Json::parse_event_t event, Json &parsed)
    {
        using E = Json::parse_event_t;
        switch (event) {
        case E::object_start:
        case E::array_start:
            if (m_frames.size() >= kMaxDepth)
                throw TooDeep{};
            {
                std::string segment = next();
                m_frames.push_back(Frame{event == E::array_start, -1, {}, {}, std::move(segment)});
            }
            break;
        case E::key:
            if (!m_frames.empty()) {
                Frame &f = m_frames.back();
                f.key = parsed.is_string() ? parsed.get<std::string>() : std::string();
                if (!f.keys.insert(f.key).second)
                    m_issues.push_back(SpecIssue{childPath(path(), f.key),
                                                 "duplicate key (each key may appear once)", -1});
            }
            break;
        case E::value: next(); break;
        case E::object_end:
        case E::array_end:
            if (!m_frames.empty())
                m_frames.pop_back();
            break;
        }
        return true;
    }

private:
    struct Frame
    {
        bool array = false;
        int index = -1;
        std::string key;
        std::set<std::string> keys;
        std::string segment; ///< this container's key or [index] within its parent
    };

    /// Segment of the value that starts now (advances the enclosing array's index).
    std::string next()
    {
        if (m_frames.empty())
            return {};
        Frame &f = m_frames.back();
        if (f.array)
            return "[" + std::to_string(++f.index) + "]";
        return f.key;
    }

    /// Path of the innermost open container.
    std::string path() const
    {
        std::string out;
        for (const Frame &f : m_frames) {
            if (f.segment.empty() || f.segment.front() == '[')
                out += f.segment;
            else
                out = childPath(out, f.segment);
        }
        return out;
    }

    std::vector<SpecIssue> &m_issues;
    std::vector<Frame> m_frames;
};

/// "not valid JSON at line 3, column 7: <nlohmann's reason>".
std::string parseErrorText(std::string_view text, const nlohmann::json::parse_error &e)
{
    const std::size_t at = std::min<std::size_t>(e.byte > 0 ? e.byte - 1 : 0, text.size());
    int line = 1;
    std::size_t lineStart = 0;
    for (std::size_t i = 0; i < at && i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++line;
            lineStart = i + 1;
        }
    }
    const std::size_t column = at - lineStart + 1;
    std::string reason = e.what();
    // "...; expected end of input", not "unexpected end of input" (an empty or cut document).
    if (reason.find("; expected end of input") != std::string::npos)
        return "trailing data after the JSON document at byte offset " + std::to_string(at)
               + " (line " + std::to_string(line) + ", column " + std::to_string(column)
               + "): a spec file holds one JSON object";
    const auto head = reason.find("parse error");
    if (head != std::string::npos) {
        const auto colon = reason.find(": ", head);
        if (colon != std::string::npos)
            reason = reason.substr(colon + 2);
    }
    return "not valid JSON at line " + std::to_string(line) + ", column " + std::to_string(column)
           + ": " + reason;
}

/// nlohmann stops reading at a NUL byte as if the text ended there, so whatever follows one
/// would be ignored: a NUL anywhere is an error, named by its byte offset.
std::string nulByteText(std::string_view text)
{
    const std::size_t at = text.find('\0');
    if (at == std::string_view::npos)
        return {};
    const std::string_view before = text.substr(0, at);
    if (Json::accept(before.begin(), before.end()))
        return "trailing data after the JSON document at byte offset " + std::to_string(at)
               + " (a NUL byte): a spec file holds one JSON object";
    return "a NUL byte at byte offset " + std::to_string(at) + ", which JSON text cannot hold";
}

} // namespace

std::vector<SpecIssue> parseSpecDetailed(std::string_view json, Spec &spec)
{
    spec = Spec{};
    std::vector<SpecIssue> issues;
    if (std::string nul = nulByteText(json); !nul.empty()) {
        issues.push_back(SpecIssue{"", std::move(nul), -1});
        return issues;
    }
    try {
        Json doc;
        try {
            DuplicateKeyFinder duplicates(issues);
            doc = Json::parse(json.begin(), json.end(), std::ref(duplicates));
        } catch (const nlohmann::json::parse_error &e) {
            issues.push_back(SpecIssue{"", parseErrorText(json, e), -1});
            return issues;
        } catch (const TooDeep &) {
            issues.assign(1, SpecIssue{"",
                                       "not a layerwise spec: nested more than "
                                           + std::to_string(DuplicateKeyFinder::kMaxDepth)
                                           + " levels deep",
                                       -1});
            return issues;
        } catch (const nlohmann::json::exception &e) {
            // e.g. a number too large for a double ("1e400")
            std::string what = e.what();
            if (const auto bracket = what.find("] "); bracket != std::string::npos)
                what = what.substr(bracket + 2);
            issues.assign(1, SpecIssue{"", "not valid JSON: " + what, -1});
            return issues;
        }
        Reader(issues).readSpec(doc, spec);
        // Shapes only when the parts they depend on were read cleanly: otherwise defaults
        // standing in for unreadable values would produce misleading shape errors.
        bool shapesReadable = true;
        for (const auto &i : issues) {
            if (i.path.empty() || i.path.rfind("input", 0) == 0 || i.path.rfind("stages", 0) == 0)
                shapesReadable = false;
        }
        std::vector<SpecIssue> checks;
        Checker checker(spec, checks);
        checker.checkRanges();
        if (shapesReadable)
            checker.inferShapes(nullptr);
        // A value that could not be read is reported once, not again as out of range.
        std::set<std::string> reported;
        for (const auto &i : issues)
            reported.insert(i.path);
        for (auto &i : checks) {
            if (!reported.count(i.path))
                issues.push_back(std::move(i));
        }
    } catch (const std::exception &e) {
        issues.push_back(SpecIssue{"", std::string("cannot read the spec: ") + e.what(), -1});
    }
    return issues;
}

Result<Spec> parseSpec(std::string_view json)
{
    Spec spec;
    const auto issues = parseSpecDetailed(json, spec);
    if (!issues.empty())
        return fail(joinIssues(issues, ""));
    return spec;
}

Result<Spec> loadSpecFile(const std::string &path)
{
    auto text = readFile(path, kMaxSpecBytes);
    if (!text)
        return text.error();
    Spec spec;
    const auto issues = parseSpecDetailed(*text, spec);
    if (!issues.empty())
        return fail(joinIssues(issues, path + ": "));
    return spec;
}

} // namespace lw
