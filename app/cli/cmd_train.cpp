#include "commands.h"

#include <CLI/CLI.hpp>

namespace lw::cli {

void registerTrain(CLI::App &, Context &) {}

} // namespace lw::cli
