#include "commands.h"

#include <CLI/CLI.hpp>

namespace lw::cli {

void registerData(CLI::App &, Context &) {}

} // namespace lw::cli
