#include "commands.h"

#include <CLI/CLI.hpp>

namespace lw::cli {

void registerRuns(CLI::App &, Context &) {}

} // namespace lw::cli
