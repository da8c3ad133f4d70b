// `runs ...` and `compare`: the run store from the command line. `resume` and `probe` need the
// trainer and are registered elsewhere.
#include "app/cli/commands.h"
#include "app/cli/table.h"
#include "core/util/format.h"

#include "core/store/runstore.h"
#include "core/util/fsutil.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <unistd.h>

namespace lw::cli {

namespace {

struct RunsOptions
{
    std::string db;
    bool json = false;
    std::string status;
    std::string tag;
    std::string mode;
    std::string text;
    int limit = -1;
    std::string sort = "started";
    bool ascending = false;
    std::int64_t id = 0;
    std::vector<std::int64_t> ids;
    std::vector<std::string> words;
    std::string format;
    std::string out;
    bool yes = false;
    bool remove = false;
};

void addDb(CLI::App *sub, RunsOptions &o)
{
    sub->add_option("--db", o.db,
                    "Run store (default: $LAYERWISE_DB, else "
                    "$XDG_DATA_HOME/layerwise/runs.sqlite)");
}

int report(const std::string &message, int code)
{
    std::fprintf(stderr, "layerwise-cli: %s\n", printable(message, /*multiline=*/true).c_str());
    return code;
}

std::string dash(const std::optional<double> &v, int decimals = 2)
{
    if (!v || !std::isfinite(*v))
        return "-";
    return formatPercent(*v, decimals);
}

std::string joined(const std::vector<std::string> &parts, const char *sep)
{
    std::string out;
    for (std::size_t i = 0; i < parts.size(); ++i)
        out += (i ? sep : "") + parts[i];
    return out;
}

/// Local time "2024-05-01 14:03" for tables.
std::string shortTime(double unixSeconds)
{
    if (unixSeconds <= 0)
        return "-";
    std::time_t t = static_cast<std::time_t>(unixSeconds);
    std::tm tm{};
    ::localtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
    return buf;
}

/// Opens the store; `missing` is set (and nullptr returned) when no store exists.
std::unique_ptr<RunStore> openStore(const std::string &path, OpenMode mode, int &rc, bool &missing)
{
    missing = false;
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
        missing = true;
        return nullptr;
    }
    auto store = RunStore::open(path, mode);
    if (!store) {
        rc = report(store.message(), ExitFailure);
        return nullptr;
    }
    return std::move(store.value());
}

/// Exit code 2 with "run N not found" unless every id exists.
bool checkIds(RunStore &store, const std::vector<std::int64_t> &ids, int &rc)
{
    for (auto id : ids) {
        auto e = store.exists(id);
        if (!e) {
            rc = report(e.message(), ExitFailure);
            return false;
        }
        if (!*e) {
            rc = report("run " + std::to_string(id) + " not found in '" + store.path() + "'",
                        ExitBadInput);
            return false;
        }
    }
    return true;
}

int notFound(const std::vector<std::int64_t> &ids, const std::string &path)
{
    return report("run " + std::to_string(ids.empty() ? 0 : ids.front())
                      + " not found (no run store at '" + path + "')",
                  ExitBadInput);
}

/// Opens the store named by --db for the subcommands that take run ids; nullptr (with the exit
/// code in `rc`) when there is no store, it does not open, or an id names no run.
std::unique_ptr<RunStore> openWithRuns(const RunsOptions &o, OpenMode mode, int &rc)
{
    const std::string path = RunStore::resolvePath(o.db);
    bool missing = false;
    auto store = openStore(path, mode, rc, missing);
    if (missing)
        rc = notFound(o.ids, path);
    if (!store || !checkIds(*store, o.ids, rc))
        return nullptr;
    return store;
}

std::optional<RunOrder> parseOrder(const std::string &s)
{
    static const std::map<std::string, RunOrder> names = {{"id", RunOrder::Id},
                                                          {"started", RunOrder::Started},
                                                          {"name", RunOrder::Name},
                                                          {"status", RunOrder::Status},
                                                          {"mode", RunOrder::Mode},
                                                          {"final", RunOrder::FinalTestAcc},
                                                          {"best", RunOrder::BestTestAcc},
                                                          {"wall", RunOrder::WallSeconds},
                                                          {"params", RunOrder::Params}};
    auto it = names.find(s);
    if (it == names.end())
        return std::nullopt;
    return it->second;
}

int runList(const RunsOptions &o)
{
    RunFilter f;
    if (!o.status.empty()) {
        f.status = parseRunStatus(o.status);
        if (!f.status)
            return report("--status: unknown status '" + o.status
                              + "' (expected running, finished, failed, stopped (cancelled) or "
                                "interrupted)",
                          ExitBadInput);
    }
    if (!o.mode.empty()) {
        f.mode = parseTrainMode(o.mode);
        if (!f.mode)
            return report("--mode: unknown mode '" + o.mode + "' (expected greedy, e2e or dgl)",
                          ExitBadInput);
    }
    auto order = parseOrder(o.sort);
    if (!order)
        return report("--sort: unknown key '" + o.sort
                          + "' (expected id, started, name, status, mode, final, best, wall or "
                            "params)",
                      ExitBadInput);
    f.orderBy = *order;
    f.descending = !o.ascending;
    f.tag = o.tag;
    f.text = o.text;
    f.limit = o.limit;

    const std::string path = RunStore::resolvePath(o.db);
    int rc = ExitOk;
    bool missing = false;
    auto store = openStore(path, OpenMode::ReadOnly, rc, missing);
    if (!store && !missing)
        return rc;
    std::vector<RunRow> rows;
    if (store) {
        auto r = store->listRuns(f);
        if (!r)
            return report(r.message(), ExitFailure);
        rows = std::move(r.value());
    }
    if (o.json) {
        auto arr = nlohmann::json::array();
        for (const auto &row : rows)
            arr.push_back(nlohmann::json::parse(toJson(row)));
        std::cout << arr.dump(2) << "\n";
        return ExitOk;
    }
    if (rows.empty()) {
        std::cout << (missing ? "No runs yet (no run store at '" + path + "')."
                              : std::string("No runs match."))
                  << "\n";
        return ExitOk;
    }
    Table t({"ID", "NAME", "MODE", "STATUS", "STAGES", "FINAL", "BEST", "WALL", "PARAMS", "STARTED",
             "TAGS"});
    for (int c : {0, 4, 5, 6, 7, 8})
        t.alignRight(c);
    for (const auto &r : rows)
        t.addRow({std::to_string(r.id), r.name, toString(r.mode), statusLabel(r.status, r.paused),
                  std::to_string(r.stagesDone) + "/" + std::to_string(r.stages),
                  dash(r.finalTestAcc), dash(r.bestTestAcc), formatDuration(r.wallSeconds),
                  r.params > 0 ? humanCount(static_cast<double>(r.params)) : "-",
                  shortTime(r.started), joined(r.tags, ",")});
    std::cout << t.render();
    return ExitOk;
}

int runShow(const RunsOptions &o)
{
    int rc = ExitOk;
    auto store = openWithRuns(o, OpenMode::ReadOnly, rc);
    if (!store)
        return rc;
    auto d = store->getRun(o.ids.front());
    if (!d)
        return report(d.message(), ExitFailure);
    if (o.json) {
        auto j = nlohmann::json::parse(toJson(*d));
        j["run_dir"] = store->runDir(d->run.id);
        std::cout << j.dump(2) << "\n";
        return ExitOk;
    }
    const RunRow &r = d->run;
    std::cout << "Run " << r.id << ": " << (r.name.empty() ? "(unnamed)" : printable(r.name))
              << "\n";
    auto line = [](const char *key, const std::string &value) {
        if (!value.empty())
            std::printf("  %-14s %s\n", key, printable(value).c_str());
    };
    line("mode", toString(r.mode));
    line("status", std::string(statusLabel(r.status, r.paused))
                       + (r.message.empty() ? "" : ": " + r.message));
    line("probes", r.probes ? "every layer after its stage" : "");
    line("spec", r.specName);
    line("dataset",
         r.dataset + (r.datasetFingerprint.empty() ? "" : " (" + r.datasetFingerprint + ")"));
    line("device", r.device);
    line("seed", std::to_string(r.seed));
    line("libtorch", r.torchVersion);
    line("host", r.host + (r.pid ? " pid " + std::to_string(r.pid) : ""));
    line("started", shortTime(r.started));
    line("ended", r.ended ? shortTime(*r.ended) : "");
    line("wall time", formatDuration(r.wallSeconds));
    line("params", r.params ? humanCount(static_cast<double>(r.params)) : "");
    line("MACs", r.macs ? humanCount(static_cast<double>(r.macs)) : "");
    line("final test", dash(r.finalTestAcc));
    line("best test", dash(r.bestTestAcc));
    if (r.finalTestTop5)
        line("test top-5", dash(r.finalTestTop5));
    line("tags", joined(r.tags, ", "));
    if (r.parentRun)
        line("branched from", "run " + std::to_string(*r.parentRun) + ", keeping its stages 1.."
                                  + std::to_string(r.branchStage));
    line("notes", r.notes);
    line("folder", store->runDir(r.id));
    if (!d->stages.empty()) {
        std::cout << "\nStages\n";
        Table t({"STAGE", "EPOCHS", "BLOCK", "HEAD", "MACS", "TRAIN", "TEST", "ENSEMBLE", "TIME",
                 "IMG/S"});
        for (int c = 0; c < 10; ++c)
            t.alignRight(c);
        for (const auto &s : d->stages)
            t.addRow(
                {std::to_string(s.stage + 1),
                 std::to_string(s.epochsDone) + "/" + std::to_string(s.epochs),
                 humanCount(static_cast<double>(s.blockParams)),
                 humanCount(static_cast<double>(s.headParams)),
                 humanCount(static_cast<double>(s.blockMacs + s.headMacs)), dash(s.trainAcc),
                 dash(s.testAcc), dash(s.ensembleAcc), formatDuration(s.seconds),
                 s.imagesPerSecond > 0 ? std::to_string(std::lround(s.imagesPerSecond)) : "-"});
        std::cout << t.render();
    }
    if (!d->probes.empty()) {
        std::cout << "\nLinear probes\n";
        Table t({"AFTER STAGE", "LAYER", "TRAIN", "TEST"});
        for (int c = 0; c < 4; ++c)
            t.alignRight(c);
        for (const auto &p : d->probes)
            t.addRow({std::to_string(p.afterStage + 1), std::to_string(p.layer + 1),
                      dash(p.trainAcc), dash(p.testAcc)});
        std::cout << t.render();
    }
    if (!d->artifacts.empty()) {
        std::cout << "\nCheckpoints\n";
        for (const auto &a : d->artifacts)
            std::printf("  stage %d epoch %d  %-16s %s\n", a.stage + 1, a.epoch,
                        printable(a.kind).c_str(), printable(a.path).c_str());
    }
    return ExitOk;
}

template<typename Fn>
int runEdit(const RunsOptions &o, Fn &&edit)
{
    int rc = ExitOk;
    auto store = openWithRuns(o, OpenMode::ReadWrite, rc);
    if (!store)
        return rc;
    Result<void> r = edit(*store, o.ids.front());
    if (!r)
        return report(r.message(), ExitFailure);
    return ExitOk;
}

int runDelete(const RunsOptions &o)
{
    if (!o.yes) {
        if (!::isatty(STDIN_FILENO))
            return report("runs delete: not asking on a non-interactive input; pass --yes to "
                          "delete run "
                              + std::to_string(o.ids.front()) + " and its checkpoint folder",
                          ExitBadInput);
        std::cout << "Delete run " << o.ids.front() << " and its checkpoint folder? [y/N] "
                  << std::flush;
        std::string answer;
        std::getline(std::cin, answer);
        if (answer != "y" && answer != "Y" && answer != "yes") {
            std::cout << "Nothing deleted.\n";
            return ExitOk;
        }
    }
    return runEdit(o, [](RunStore &s, std::int64_t id) { return s.deleteRun(id); });
}

int runExport(const RunsOptions &o)
{
    if (o.format != "csv" && o.format != "json")
        return report("--format: expected csv or json, got '" + o.format + "'", ExitBadInput);
    int rc = ExitOk;
    auto store = openWithRuns(o, OpenMode::ReadOnly, rc);
    if (!store)
        return rc;
    auto text = o.format == "csv" ? store->exportCsv(o.ids) : store->exportJson(o.ids);
    if (!text)
        return report(text.message(), ExitFailure);
    if (o.out.empty() || o.out == "-") {
        std::cout << *text << std::flush;
        return ExitOk;
    }
    if (auto w = writeFileAtomic(o.out, *text); !w)
        return report(w.message(), ExitFailure);
    std::fprintf(stderr, "Wrote %s\n", o.out.c_str());
    return ExitOk;
}

struct LayerCells
{
    std::optional<double> test, ensemble, probeTest, probeTrain;
    std::int64_t params = 0, macs = 0;
};

std::vector<LayerCells> layersOf(const RunDetail &d, int count)
{
    std::vector<LayerCells> out(static_cast<std::size_t>(count));
    for (const auto &s : d.stages) {
        if (s.stage < 0 || s.stage >= count)
            continue;
        auto &c = out[static_cast<std::size_t>(s.stage)];
        c.test = s.testAcc;
        c.ensemble = s.ensembleAcc;
        c.params = s.blockParams + s.headParams;
        c.macs = s.blockMacs + s.headMacs;
    }
    // The latest probe of each layer (the deepest network it was measured in).
    std::vector<int> after(static_cast<std::size_t>(count), -1);
    for (const auto &p : d.probes) {
        if (p.layer < 0 || p.layer >= count)
            continue;
        const auto i = static_cast<std::size_t>(p.layer);
        if (p.afterStage >= after[i]) {
            after[i] = p.afterStage;
            out[i].probeTest = p.testAcc;
            out[i].probeTrain = p.trainAcc;
        }
    }
    return out;
}

int runCompare(const RunsOptions &o)
{
    int rc = ExitOk;
    auto store = openWithRuns(o, OpenMode::ReadOnly, rc);
    if (!store)
        return rc;
    std::vector<RunDetail> runs;
    int layers = 0;
    for (auto id : o.ids) {
        auto d = store->getRun(id);
        if (!d)
            return report(d.message(), ExitFailure);
        layers = std::max(layers, d->run.stages);
        for (const auto &s : d->stages)
            layers = std::max(layers, s.stage + 1);
        for (const auto &p : d->probes)
            layers = std::max(layers, p.layer + 1);
        runs.push_back(std::move(d.value()));
    }
    layers = std::min(layers, 1000);
    std::vector<std::vector<LayerCells>> cells;
    for (const auto &d : runs)
        cells.push_back(layersOf(d, layers));

    if (o.json) {
        auto arr = nlohmann::json::array();
        auto opt = [](const std::optional<double> &v) {
            return v && std::isfinite(*v) ? nlohmann::json(*v) : nlohmann::json(nullptr);
        };
        for (std::size_t i = 0; i < runs.size(); ++i) {
            const RunRow &r = runs[i].run;
            auto j = nlohmann::json::parse(toJson(r));
            auto ls = nlohmann::json::array();
            for (int l = 0; l < layers; ++l) {
                const auto &c = cells[i][static_cast<std::size_t>(l)];
                ls.push_back({{"layer", l},
                              {"test_acc", opt(c.test)},
                              {"ensemble_acc", opt(c.ensemble)},
                              {"probe_test_acc", opt(c.probeTest)},
                              {"probe_train_acc", opt(c.probeTrain)},
                              {"params", c.params},
                              {"macs", c.macs}});
            }
            j["layers"] = std::move(ls);
            arr.push_back(std::move(j));
        }
        std::cout << nlohmann::json{{"layers", layers}, {"runs", std::move(arr)}}.dump(2) << "\n";
        return ExitOk;
    }

    // Per layer: each run's head test, ensemble and probe accuracy, side by side.
    std::vector<std::string> header = {"LAYER"};
    for (const auto &d : runs) {
        const std::string id = "#" + std::to_string(d.run.id) + " ";
        header.push_back(id + "TEST");
        header.push_back(id + "ENS");
        header.push_back(id + "PROBE");
    }
    Table t(header);
    for (std::size_t c = 0; c < header.size(); ++c)
        t.alignRight(static_cast<int>(c));
    for (int l = 0; l < layers; ++l) {
        std::vector<std::string> row = {std::to_string(l + 1)};
        for (std::size_t i = 0; i < runs.size(); ++i) {
            const auto &c = cells[i][static_cast<std::size_t>(l)];
            row.push_back(dash(c.test));
            row.push_back(dash(c.ensemble));
            row.push_back(dash(c.probeTest));
        }
        t.addRow(std::move(row));
    }
    std::cout << t.render() << "\n";

    std::vector<std::string> sumHeader = {""};
    for (const auto &d : runs)
        sumHeader.push_back("#" + std::to_string(d.run.id));
    Table s(sumHeader);
    for (std::size_t c = 1; c < sumHeader.size(); ++c)
        s.alignRight(static_cast<int>(c));
    auto addRow = [&](const std::string &label, auto &&cell) {
        std::vector<std::string> row = {label};
        for (const auto &d : runs)
            row.push_back(cell(d.run));
        s.addRow(std::move(row));
    };
    addRow("name", [](const RunRow &r) { return r.name; });
    addRow("mode", [](const RunRow &r) { return std::string(toString(r.mode)); });
    addRow("status", [](const RunRow &r) { return std::string(statusLabel(r.status, r.paused)); });
    addRow("spec", [](const RunRow &r) { return r.specName; });
    addRow("final test", [](const RunRow &r) { return dash(r.finalTestAcc); });
    addRow("best test", [](const RunRow &r) { return dash(r.bestTestAcc); });
    if (std::any_of(runs.begin(), runs.end(), [](const auto &d) { return d.run.finalTestTop5; }))
        addRow("final top-5", [](const RunRow &r) { return dash(r.finalTestTop5); });
    addRow("params", [](const RunRow &r) {
        return r.params ? humanCount(static_cast<double>(r.params)) : std::string("-");
    });
    addRow("MACs", [](const RunRow &r) {
        return r.macs ? humanCount(static_cast<double>(r.macs)) : std::string("-");
    });
    addRow("wall time", [](const RunRow &r) { return formatDuration(r.wallSeconds); });
    std::cout << s.render();
    return ExitOk;
}

} // namespace

void registerRuns(CLI::App &app, Context &ctx)
{
    auto o = std::make_shared<RunsOptions>();
    CLI::App *runs = app.add_subcommand("runs", "Browse and edit the run store");
    runs->require_subcommand(1);

    CLI::App *list = runs->add_subcommand("list", "List runs, newest first");
    addDb(list, *o);
    list->add_flag("--json", o->json, "Print a JSON array of run objects");
    list->add_option("--status", o->status,
                     "Only runs with this status (running, finished, failed, cancelled, "
                     "interrupted)");
    list->add_option("--tag", o->tag, "Only runs with this tag");
    list->add_option("--mode", o->mode, "Only runs of this mode (greedy, e2e, dgl)");
    list->add_option("--search", o->text,
                     "Only runs whose name, notes, spec, dataset or a tag contains this text");
    list->add_option("--limit", o->limit, "At most this many runs");
    list->add_option("--sort", o->sort,
                     "Sort key: id, started, name, status, mode, final, best, wall, params")
        ->capture_default_str();
    list->add_flag("--asc", o->ascending, "Ascending order (default descending)");
    list->callback([o, &ctx] { ctx.exitCode = runList(*o); });

    CLI::App *show = runs->add_subcommand("show", "Show one run: summary, stages, probes");
    addDb(show, *o);
    show->add_option("id", o->id, "Run id")->required();
    show->add_flag("--json", o->json, "Print one JSON object (with spec, recipe, stages, probes)");
    show->callback([o, &ctx] {
        o->ids = {o->id};
        ctx.exitCode = runShow(*o);
    });

    CLI::App *tag = runs->add_subcommand("tag", "Add tags to a run (or remove them)");
    addDb(tag, *o);
    tag->add_option("id", o->id, "Run id")->required();
    tag->add_option("tags", o->words, "Tags")->required();
    tag->add_flag("--remove", o->remove, "Remove these tags instead");
    tag->callback([o, &ctx] {
        o->ids = {o->id};
        ctx.exitCode = runEdit(*o, [o](RunStore &s, std::int64_t id) -> Result<void> {
            if (!o->remove)
                return s.addTags(id, o->words);
            for (const auto &t : o->words)
                if (auto r = s.removeTag(id, t); !r)
                    return r;
            return {};
        });
    });

    CLI::App *note = runs->add_subcommand("note", "Set a run's notes");
    addDb(note, *o);
    note->add_option("id", o->id, "Run id")->required();
    note->add_option("text", o->words, "Notes (several words are joined by spaces)")->required();
    note->callback([o, &ctx] {
        o->ids = {o->id};
        ctx.exitCode = runEdit(*o, [o](RunStore &s, std::int64_t id) {
            return s.setNotes(id, joined(o->words, " "));
        });
    });

    CLI::App *rename = runs->add_subcommand("rename", "Rename a run");
    addDb(rename, *o);
    rename->add_option("id", o->id, "Run id")->required();
    rename->add_option("name", o->words, "New name")->required();
    rename->callback([o, &ctx] {
        o->ids = {o->id};
        ctx.exitCode = runEdit(
            *o, [o](RunStore &s, std::int64_t id) { return s.rename(id, joined(o->words, " ")); });
    });

    CLI::App *del = runs->add_subcommand("delete", "Delete a run and its checkpoint folder");
    addDb(del, *o);
    del->add_option("id", o->id, "Run id")->required();
    del->add_flag("--yes,-y", o->yes, "Do not ask for confirmation");
    del->callback([o, &ctx] {
        o->ids = {o->id};
        ctx.exitCode = runDelete(*o);
    });

    CLI::App *exp = runs->add_subcommand("export", "Export runs: tidy CSV metrics or JSON");
    addDb(exp, *o);
    exp->add_option("ids", o->ids, "Run ids")->required();
    exp->add_option("--format", o->format, "csv (run,stage,epoch,split,metric,value) or json")
        ->required();
    exp->add_option("--out,-o", o->out, "Output file (default: standard output)");
    exp->callback([o, &ctx] { ctx.exitCode = runExport(*o); });

    CLI::App *cmp = app.add_subcommand(
        "compare", "Compare runs layer by layer: test, ensemble and probe accuracy");
    addDb(cmp, *o);
    cmp->add_option("ids", o->ids, "Run ids (two or more)")->required()->expected(1, 64);
    cmp->add_flag("--json", o->json, "Print JSON");
    cmp->callback([o, &ctx] { ctx.exitCode = runCompare(*o); });
}

} // namespace lw::cli
