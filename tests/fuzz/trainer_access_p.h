#pragma once
// The fuzz targets' way into the engine's run-state and checkpoint readers (Trainer::Impl is
// private; Trainer names this struct a friend). Includes torch.
#include "core/train/trainer_p.h"

#include <memory>
#include <string>

namespace lw::detail {

struct TrainerTestAccess
{
    using Impl = Trainer::Impl;

    /// An engine on `spec` (may be empty) whose run folder is `runDir`.
    static std::unique_ptr<Impl> engine(const Spec &spec, const std::string &runDir)
    {
        TrainOptions options;
        options.spec = spec;
        options.runDir = runDir;
        auto impl = std::make_unique<Impl>(options, nullptr);
        impl->spec = spec;
        return impl;
    }
};

} // namespace lw::detail
