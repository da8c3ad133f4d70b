// A checkpoint (.pt, LibTorch's zip archive) loaded into the network of tiny-spec.json as a
// resumed run loads it (every module) and as a branch does (the first stage only).
#include "tests/fuzz/fuzz_util.h"
#include "tests/fuzz/trainer_access_p.h"

#include <exception>

namespace {

const lw::Spec &tinySpec()
{
    static const lw::Spec spec = [] {
        auto s = lw::loadSpecFile(LW_FUZZ_TINY_SPEC);
        if (!s)
            lw::fuzz::broken("tiny-spec.json: " + s.message());
        torch::set_num_threads(1);
        return *s;
    }();
    return spec;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    const auto &spec = tinySpec();
    const auto dir = lw::fuzz::scratch();
    lw::fuzz::writeFile(dir / "ckpt.pt", lw::fuzz::text(data, size));
    for (const int stages : {-1, 1}) {
        auto impl = lw::detail::TrainerTestAccess::engine(spec, dir.string());
        impl->net = lw::model::Network(spec);
        // Trainer::resume and probeRun call it inside a catch of std::exception.
        try {
            (void)impl->loadNetwork(impl->folder, "ckpt.pt", stages);
        } catch (const std::exception &) {
        }
    }
    return 0;
}
