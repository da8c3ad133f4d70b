// Spec -> JSON: every field written, so a saved spec reads back exactly equal; and the names
// enums take in JSON.

#include "core/spec/internal_p.h"

#include <exception>
#include <string>
#include <utility>

namespace lw {

using namespace spec_detail;

namespace {

Json lrJson(const LrSchedule &lr)
{
    Json j;
    j["initial"] = lr.initial;
    j["factor"] = lr.factor;
    j["every"] = lr.every;
    j["milestones"] = lr.milestones;
    j["reset_optimizer"] = lr.resetOptimizer;
    return j;
}

Json recipeJson(const RecipeSpec &r)
{
    Json j;
    j["dataset"] = Json{{"name", r.dataset.name},
                        {"path", r.dataset.path},
                        {"train_limit", r.dataset.trainLimit},
                        {"test_limit", r.dataset.testLimit}};
    j["epochs_per_stage"] = r.epochsPerStage;
    j["batch_size"] = r.batchSize;
    j["test_batch_size"] = r.testBatchSize;
    j["optimizer"] = Json{{"momentum", r.optimizer.momentum},
                          {"weight_decay", r.optimizer.weightDecay},
                          {"nesterov", r.optimizer.nesterov}};
    j["lr"] = lrJson(r.lr);
    j["augment"] = Json{{"enabled", r.augment.enabled},
                        {"padding", r.augment.padding},
                        {"flip", r.augment.flip},
                        {"random_resized_crop", r.augment.randomResizedCrop},
                        {"eval_resize", r.augment.evalResize}};
    j["normalize"] = Json{
        {"mean", r.normalize.mean}, {"std", r.normalize.std}, {"from_data", r.normalize.fromData}};
    j["ensemble"] = toString(r.ensemble);
    j["e2e"] = Json{{"epochs", r.e2e.epochs}, {"lr", lrJson(r.e2e.lr)}};
    j["precision"] = r.precision;
    j["seed"] = r.seed;
    if (r.syncBn) // written only when on: the specs and recipes stored before it stay as they were
        j["sync_bn"] = true;
    return j;
}

std::string dumpJson(const Json &j)
{
    // Replace invalid UTF-8 (a name typed in by hand) instead of throwing.
    return j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

} // namespace

const char *toString(Downsample d)
{
    return enumName(kDownsampleNames, d);
}

const char *toString(HeadKind k)
{
    return enumName(kHeadKindNames, k);
}

const char *toString(HeadPool p)
{
    return enumName(kHeadPoolNames, p);
}

const char *toString(EnsembleMode m)
{
    return enumName(kEnsembleNames, m);
}

std::string serializeSpec(const Spec &spec)
{
    try {
        Json j;
        j["format"] = kFormatName;
        j["version"] = Spec::kFormatVersion;
        j["name"] = spec.name;
        j["description"] = spec.description;
        j["input"] = Json{{"channels", spec.input.channels},
                          {"height", spec.input.height},
                          {"width", spec.input.width},
                          {"classes", spec.input.classes},
                          {"downsample", toString(spec.input.downsample)}};
        Json stages = Json::array();
        for (const auto &st : spec.stages) {
            const HeadSpec &h = st.head;
            Json head{{"kind", toString(h.kind)},
                      {"k", h.k},
                      {"width", h.width},
                      {"pooled", h.pooled},
                      {"pool", toString(h.pool)},
                      {"padding", h.padding},
                      {"bn", h.bn},
                      {"dropout", h.dropout},
                      {"maxpool_first", h.maxpoolFirst}};
            stages.push_back(Json{{"width", st.width},
                                  {"kernel", st.kernel},
                                  {"downsample", toString(st.downsample)},
                                  {"bn", st.bn},
                                  {"bias", st.bias},
                                  {"head", std::move(head)}});
        }
        j["stages"] = std::move(stages);
        j["recipe"] = recipeJson(spec.recipe);
        return dumpJson(j);
    } catch (const std::exception &) {
        return {}; // only bad_alloc can get here
    }
}

std::string serializeRecipe(const RecipeSpec &recipe)
{
    try {
        return dumpJson(recipeJson(recipe));
    } catch (const std::exception &) {
        return {};
    }
}

} // namespace lw
