#include "app/cli/commands.h"
#include "app/cli/flags.h"

#include "core/runtime/runtime.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

int main(int argc, char **argv)
{
    lw::preferPassiveOpenMpWait(argv);
    CLI::App app{"layerwise-cli: greedy layerwise training of CNNs, without a GUI.\n"
                 "Specs, presets and the run store are the ones the Layerwise GUI uses."};
    app.set_version_flag("--version", LW_VERSION);
    app.require_subcommand(1);
    app.fallthrough();

    lw::cli::Context ctx;
    lw::cli::registerArch(app, ctx);
    lw::cli::registerDoctor(app, ctx);
    lw::cli::registerTrain(app, ctx);
    lw::cli::registerRuns(app, ctx);
    lw::cli::registerData(app, ctx);
    lw::cli::registerInspect(app, ctx);
    lw::cli::registerExport(app, ctx);
    lw::cli::checkEveryOption(app);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        const int rc = app.exit(e);
        return rc == 0 ? lw::cli::ExitOk : lw::cli::ExitBadInput;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "layerwise-cli: %s\n", e.what());
        return lw::cli::ExitFailure;
    }
    return ctx.exitCode;
}
