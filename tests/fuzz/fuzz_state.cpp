// The run state (state.json) a resumed or probed run starts from: read and turned into the
// resume point as Trainer::resume does, with its error handling; nothing may escape or crash.
#include "tests/fuzz/fuzz_util.h"
#include "tests/fuzz/trainer_access_p.h"

#include <nlohmann/json.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    const auto dir = lw::fuzz::scratch();
    auto impl = lw::detail::TrainerTestAccess::engine({}, dir.string());
    lw::fuzz::writeFile(impl->folder.statePath(), lw::fuzz::text(data, size));
    auto state = impl->readState();
    if (!state)
        return 0;
    // What Trainer::resume and probeRun read, inside the same catch as theirs.
    try {
        (void)lw::parseSpec(state->at("spec").dump());
        (void)state->at("mode").get<std::string>();
        (void)state->at("stages").size();
        const auto at = impl->restoreProgress(*state);
        (void)impl->folder.resolve(at.checkpoint);
    } catch (const std::exception &) {
    }
    return 0;
}
