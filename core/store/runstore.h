#pragma once

#include "core/events/events.h"
#include "core/events/pictures.h"
#include "core/util/result.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lw {

// The run store: every run a user made, in one SQLite file (schema: docs/store-schema.md).
// Checkpoints live beside it in runs/<id>/; the database stores paths relative to that folder.
// No public function throws; failures come back as lw::Error naming the file and the cause.
// A RunStore may be shared between threads (calls are serialized inside); for a live view from
// another process, open a second RunStore there: readers never block the writer (WAL).

enum class OpenMode { ReadWrite, ReadOnly };

struct StoreOptions
{
    /// How long a write waits for another process's write to finish before failing with a
    /// "locked" error.
    int busyTimeoutMs = 5000;
    /// Caps the database file's size (0 = no cap); a write past it fails as a full disk would.
    std::int64_t maxSizeBytes = 0;
};

/// What a caller knows when a run starts. Host, pid and the start time are filled by the store.
struct NewRun
{
    std::string name;
    TrainMode mode = TrainMode::Greedy;
    std::string specJson;   ///< the architecture spec (stored verbatim)
    std::string recipeJson; ///< optimizer, schedule, augmentation, epochs (verbatim)
    std::string specName;   ///< preset or file name, e.g. "cifar-k2"
    std::string dataset;
    std::string datasetFingerprint;
    std::string device;
    std::int64_t seed = 0;
    std::string torchVersion;
    std::optional<std::int64_t> parentRun; ///< "branch from stage k" of that run
    int branchStage = -1;                  ///< -1 when not a branch
    int stages = 0;                        ///< planned stages
    std::int64_t params = 0;               ///< trunk + final head
    std::int64_t macs = 0;                 ///< forward multiply-accumulates per image
    bool probes = false;                   ///< probes every layer after its stage
    std::vector<std::string> tags;
    std::string notes;
};

/// One line of the run browser: a run's summary, read in one query.
struct RunRow
{
    std::int64_t id = 0;
    std::string name;
    TrainMode mode = TrainMode::Greedy;
    /// The status as every reader shows it: a run recorded `running` whose recording process is
    /// gone (nobody holds its lock: killed, crashed) reads as Interrupted at once, before any
    /// writer marks it so; statusLabel(status, paused) names it.
    RunStatus status = RunStatus::Running;
    std::string specName;
    std::string dataset;
    std::string datasetFingerprint;
    std::string device;
    std::int64_t seed = 0;
    std::string torchVersion;
    std::string host;
    std::int64_t pid = 0;
    double started = 0; ///< Unix time, seconds
    std::optional<double> ended;
    double updated = 0;            ///< last change of this run's summary (Unix seconds)
    std::vector<std::string> tags; ///< sorted
    std::string notes;
    std::optional<std::int64_t> parentRun;
    int branchStage = -1;
    std::string message;                 ///< why it failed, was cancelled or interrupted
    std::optional<double> finalTestAcc;  ///< the last trained stage's head (fraction)
    std::optional<double> bestTestAcc;   ///< the best epoch's head accuracy
    std::optional<double> finalTestTop5; ///< top-5 of the last epoch (more than 10 classes)
    std::optional<double> ensembleAcc;   ///< the latest stage's ensemble accuracy
    std::string colour;                  ///< "#rrggbb" in comparisons; empty until one is given
    /// Active time: the seconds its processes spent on it, pauses excluded (as the Train view's
    /// "elapsed"); updated at each epoch and at the end.
    double wallSeconds = 0;
    std::int64_t params = 0;
    std::int64_t macs = 0;
    int stages = 0;      ///< planned
    int stagesDone = 0;  ///< stages with a finished row
    bool probes = false; ///< probes every layer after its stage (a resume goes on probing)
    bool paused = false; ///< a running run held paused by its live process
    int worldSize = 1;   ///< processes of a multi-process run (1: one process)
    std::string backend; ///< its c10d backend (gloo, nccl); empty for one process
    std::string hosts;   ///< its machines, comma-separated
};

struct StageRow
{
    int stage = 0;
    double started = 0;
    std::optional<double> finished;
    std::int64_t blockParams = 0;
    std::int64_t headParams = 0;
    std::int64_t blockMacs = 0;
    std::int64_t headMacs = 0;
    int epochs = 0; ///< planned
    int epochsDone = 0;
    std::optional<double> trainAcc;
    std::optional<double> testAcc;
    std::optional<double> ensembleAcc;
    double seconds = 0;
    double imagesPerSecond = 0;
};

/// The events that recorded a stage row (unfinished values as 0), e.g. to replay a branch's
/// inherited stages.
StageStarted stageStartedOf(const StageRow &row);
StageFinished stageFinishedOf(const StageRow &row);

/// A stored probe holds exactly what the engine reported.
using ProbeRow = ProbeResult;

struct ArtifactRow
{
    std::int64_t id = 0;
    int stage = 0;
    int epoch = 0;
    std::string kind;         ///< "checkpoint", "stage-checkpoint", ...
    std::string path;         ///< relative to the run's folder
    std::string absolutePath; ///< resolved against runDir() when read
    double created = 0;
};

struct RunDetail
{
    RunRow run;
    std::string specJson;
    std::string recipeJson;
    std::vector<StageRow> stages;
    std::vector<ProbeRow> probes;
    std::vector<ArtifactRow> artifacts;
};

/// One value of one epoch, tidy form: (train, loss), (train, acc), (test, loss), (test, acc),
/// (ensemble, acc), (train, lr), (train, images_per_second), (epoch, seconds).
struct MetricRow
{
    std::int64_t rowId = 0; ///< increases with insertion order: use it for incremental reads
    int stage = 0;
    int epoch = 0;
    std::int64_t step = 0;
    std::string split;
    std::string metric;
    double value = 0;
};

/// Epochs of a run as the engine reported them (every metric of EpochMetrics; a metric the store
/// lacks is NaN), in the order they were recorded, and where the next read continues.
struct EpochHistory
{
    std::vector<EpochMetrics> epochs;
    std::int64_t cursor = 0; ///< pass to RunStore::epochsSince() to read only newer epochs
};

/// Everything a view, an export or the CLI needs to redraw a run: typed, no tidy rows.
struct RunHistory
{
    std::vector<EpochMetrics> epochs; ///< in recorded order (step order)
    std::vector<StageRow> stages;
    std::vector<ProbeRow> probes;
    std::int64_t cursor = 0; ///< as EpochHistory::cursor

    /// The epochs of stage `stage` (0-based), in order.
    std::vector<EpochMetrics> epochsOf(int stage) const;
};

/// Every column of the run browser sorts in SQL (empty values last in either direction).
enum class RunOrder {
    Id,
    Started,
    Name,
    Status,
    Mode,
    FinalTestAcc,
    BestTestAcc,
    WallSeconds,
    Params,
    EnsembleAcc,
    FinalTestTop5,
    SpecName,
    Dataset,
    Device,
    Seed,
    Macs,
    Stages, ///< finished, then planned
    Tags,
    Notes,
    WorldSize, ///< processes of a multi-process run
    Backend    ///< its c10d backend (one-process runs last)
};

/// Filters of listRuns/countRuns; empty fields do not filter.
struct RunFilter
{
    std::optional<RunStatus> status;
    std::optional<TrainMode> mode;
    std::string tag; ///< exact tag
    /// Substring of name, notes, spec name, dataset or a tag, or of a mode's name or label
    /// ("e2e", "end-to-end"); case-insensitive.
    std::string text;
    std::optional<std::int64_t> parentRun;
    int limit = -1; ///< -1: all
    int offset = 0;
    RunOrder orderBy = RunOrder::Started;
    bool descending = true;
};

class RunStore
{
public:
    static constexpr int kSchemaVersion = 6;

    /// Opens (ReadWrite: creates, migrates, and marks runs of dead writers `interrupted`) the
    /// store at `path`. Fails with a message naming the file when it is not SQLite, not a run
    /// store, from a newer schema, locked too long, or (ReadWrite) not writable for a needed
    /// change. A read-only file opened ReadWrite opens for reading; writes then fail clearly.
    static Result<std::unique_ptr<RunStore>> open(const std::string &path,
                                                  OpenMode mode = OpenMode::ReadWrite,
                                                  const StoreOptions &options = {});
    /// LAYERWISE_DB if set, else $XDG_DATA_HOME/layerwise/runs.sqlite
    /// (~/.local/share/layerwise/runs.sqlite).
    static std::string defaultPath();
    /// `explicitPath` if not empty, else defaultPath().
    static std::string resolvePath(const std::string &explicitPath);

    ~RunStore();
    RunStore(const RunStore &) = delete;
    RunStore &operator=(const RunStore &) = delete;

    const std::string &path() const;
    /// True when opened ReadOnly or when the file is not writable.
    bool readOnly() const;
    int schemaVersion() const;
    /// <folder of the database>/runs, absolute.
    std::string runsRoot() const;
    /// <folder of the database>/runs/<id>, absolute (not created).
    std::string runDir(std::int64_t id) const;

    // ---- writing a run ----------------------------------------------------------------------
    /// Inserts a run with status `running`, creates runs/<id>/ and holds its liveness lock until
    /// the run gets a final status or this store closes. Returns the new id.
    Result<std::int64_t> createRun(const NewRun &run);
    /// Sets the status (and for a final status: ended time, message, releases the lock).
    Result<void> setStatus(std::int64_t id, RunStatus status, const std::string &message = {});
    /// Takes over run `id` again (resume): status `running`, lock held, and rows recorded after
    /// (stage, epoch) removed so that re-trained epochs are not duplicated. Probes taken after
    /// earlier stages stay, and after `stage` too when `stageDone` (the run continues after
    /// it). Fails when another live process records the run.
    Result<void> beginResume(std::int64_t id, int stage, int epoch, bool stageDone = false);
    /// Takes run `id` for recording by this process before it starts (its lock in runs/<id>/):
    /// one run has one recording process at a time. Fails, naming the run, when another live
    /// process records it, or when its folder is a link. Released by a final status or
    /// releaseRun().
    Result<void> claimRun(std::int64_t id);
    void releaseRun(std::int64_t id);
    /// Marks the run this process records as paused or running again (readers show "paused");
    /// a final status or a resume clears it.
    Result<void> setPaused(std::int64_t id, bool paused);
    /// Run-level fields known once the engine starts (device, dataset, planned stages).
    Result<void> updateRunInfo(std::int64_t id, const RunStarted &info);
    Result<void> beginStage(std::int64_t id, const StageStarted &stage);
    Result<void> finishStage(std::int64_t id, const StageFinished &stage);
    /// Writes epochs (all rows, the stage and run summaries) in one transaction: all or nothing.
    Result<void> recordEpochs(std::int64_t id, const std::vector<EpochMetrics> &epochs);
    /// Replaces an earlier probe of the same (after stage, layer).
    Result<void> recordProbe(std::int64_t id, const ProbeResult &probe);
    /// `relativePath` must stay inside the run's folder (no absolute path, no "..").
    Result<std::int64_t> addArtifact(std::int64_t id, int stage, int epoch, const std::string &kind,
                                     const std::string &relativePath);
    /// Branching: copies the finished stage rows 0..count-1 of run `from` into run `to` (their
    /// blocks and heads are the parent's, so are their results); no epoch rows are copied.
    Result<void> inheritStages(std::int64_t from, std::int64_t to, int count);
    /// Stores a stage's pictures (replacing that stage's earlier ones) and applies its fixes to
    /// the earlier stages' hard errors, in one transaction.
    Result<void> recordPictures(std::int64_t id, const StagePictures &pictures);
    /// Final status with summary numbers (RunEnded from the engine).
    Result<void> finishRun(std::int64_t id, const RunEnded &ended);

    // ---- editing ----------------------------------------------------------------------------
    Result<void> setTags(std::int64_t id, const std::vector<std::string> &tags);
    Result<void> addTags(std::int64_t id, const std::vector<std::string> &tags);
    Result<void> removeTag(std::int64_t id, const std::string &tag);
    Result<void> setNotes(std::int64_t id, const std::string &notes);
    Result<void> rename(std::int64_t id, const std::string &name);
    /// The run's colour in comparisons: "#rrggbb" (lower or upper case), or empty to forget it.
    /// Fails naming the value when it is neither.
    Result<void> setColour(std::int64_t id, const std::string &colour);
    /// Deletes the run's rows and its checkpoint folder runs/<id>/ (never anything outside
    /// runs/). Fails while another live process records the run. Children keep their rows;
    /// their parent link becomes empty.
    Result<void> deleteRun(std::int64_t id);
    /// Marks runs left `running` whose writer is gone (nobody holds runs/<id>/.lock) as
    /// `interrupted`. Called by open() in ReadWrite mode. Returns the ids marked.
    Result<std::vector<std::int64_t>> markInterruptedRuns();

    // ---- reading ----------------------------------------------------------------------------
    Result<std::vector<RunRow>> listRuns(const RunFilter &filter = {}) const;
    Result<std::int64_t> countRuns(const RunFilter &filter = {}) const;
    /// Fails with "run <id> not found" for an unknown id.
    Result<RunDetail> getRun(std::int64_t id) const;
    Result<bool> exists(std::int64_t id) const;
    /// Rows with rowId > sinceRowId, in insertion order (pass the last rowId seen to poll).
    /// Tidy form for exports; views and the CLI read history() and epochsSince() instead.
    Result<std::vector<MetricRow>> metrics(std::int64_t id, std::int64_t sinceRowId = 0) const;
    /// The run's epochs, stages and probes, typed. Fails with "run <id> not found".
    Result<RunHistory> history(std::int64_t id) const;
    /// Epochs recorded after `cursor` (0: all), complete ones only (an epoch's rows are written
    /// in one transaction), for a live view that polls.
    Result<EpochHistory> epochsSince(std::int64_t id, std::int64_t cursor = 0) const;
    /// Stages of run `id` with stored pictures, ascending; empty for a run recorded before
    /// pictures existed (RunService::pictures computes them).
    Result<std::vector<int>> pictureStages(std::int64_t id) const;
    /// The stored pictures of stage `stage` (0-based), with the stage's latest linear-probe
    /// accuracy when the run has one. Fails naming the run and the stage (1-based) when absent.
    Result<StagePictures> pictures(std::int64_t id, int stage) const;
    /// A number that changes whenever any process commits a change to this store. Compare
    /// values from the same RunStore object only. Cheap (no table read).
    Result<std::uint64_t> changeToken() const;
    /// True when another process is recording run `id` right now (it holds the run's lock).
    bool isLive(std::int64_t id) const;

    /// Tidy CSV with header run,stage,epoch,split,metric,value; values printed to round-trip.
    Result<std::string> exportCsv(const std::vector<std::int64_t> &ids) const;
    /// A JSON array: each run as toJson(RunDetail) plus "metrics" (tidy rows).
    Result<std::string> exportJson(const std::vector<std::int64_t> &ids) const;

private:
    struct Impl;
    explicit RunStore(std::unique_ptr<Impl> impl);
    /// setTags (replace) and addTags.
    Result<void> writeTags(std::int64_t id, const std::vector<std::string> &tags, bool replace);
    enum class TextColumn { Name, Notes, Colour };
    /// rename and setNotes.
    Result<void> setText(std::int64_t id, TextColumn column, const std::string &value);
    std::unique_ptr<Impl> m;
};

/// Unix seconds -> "2024-05-01T12:34:56.789Z".
std::string formatTimeUtc(double unixSeconds);
/// JSON object text of a run row: id, name, mode, status, spec_name, dataset, ..., tags.
std::string toJson(const RunRow &row);
/// toJson(row) plus spec, recipe (parsed when valid JSON, else strings), stages, probes,
/// artifacts.
std::string toJson(const RunDetail &detail);

} // namespace lw
