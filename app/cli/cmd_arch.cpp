#include "commands.h"

#include <CLI/CLI.hpp>

namespace lw::cli {

void registerArch(CLI::App &, Context &) {}

} // namespace lw::cli
