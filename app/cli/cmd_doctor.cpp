#include "commands.h"

#include <CLI/CLI.hpp>

namespace lw::cli {

void registerDoctor(CLI::App &, Context &) {}

} // namespace lw::cli
