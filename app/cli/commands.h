#pragma once

// Subcommands of layerwise-cli. Each register function adds its subcommands to `app`; their
// callbacks store the process exit code in `ctx.exitCode`:
// 0 success, 2 usage or bad input, 1 any other failure.

namespace CLI {
class App;
}

namespace lw::cli {

enum ExitCode { ExitOk = 0, ExitFailure = 1, ExitBadInput = 2 };

struct Context
{
    int exitCode = ExitOk;
};

void registerArch(CLI::App &app, Context &ctx);    // presets, arch summary, arch validate
void registerDoctor(CLI::App &app, Context &ctx);  // doctor
void registerTrain(CLI::App &app, Context &ctx);   // train
void registerRuns(CLI::App &app, Context &ctx);    // runs ..., resume, probe, compare
void registerData(CLI::App &app, Context &ctx);    // data info
void registerInspect(CLI::App &app, Context &ctx); // inspect
void registerExport(CLI::App &app, Context &ctx);  // export

} // namespace lw::cli
