#include "core/run/runfolder.h"

#include <filesystem>

namespace lw {

namespace fs = std::filesystem;

RunFolder::RunFolder(std::string path)
    : m_path(std::move(path))
{}

std::string RunFolder::stateFileName()
{
    return "state.json";
}

std::string RunFolder::statePath() const
{
    return file(stateFileName());
}

bool RunFolder::hasState() const
{
    std::error_code ec;
    return !empty() && fs::is_regular_file(statePath(), ec);
}

std::string RunFolder::stageCheckpointName(int stage)
{
    return "stage" + std::to_string(stage) + ".pt";
}

std::string RunFolder::stageCheckpointPath(int stage) const
{
    return file(stageCheckpointName(stage));
}

bool RunFolder::hasStageCheckpoint(int stage) const
{
    std::error_code ec;
    return !empty() && fs::is_regular_file(stageCheckpointPath(stage), ec);
}

std::string RunFolder::checkpointName(int stage, int epoch, bool stageEnd)
{
    return "ckpt-s" + std::to_string(stage) + "-e" + std::to_string(epoch)
           + (stageEnd ? "-end" : "") + ".pt";
}

Result<std::string> RunFolder::resolve(const std::string &fileName) const
{
    if (fileName.empty() || fileName.find('/') != std::string::npos
        || fileName.find('\\') != std::string::npos || fileName == "." || fileName == "..")
        return fail(statePath() + " names checkpoint '" + fileName
                    + "', expected a file name inside the run folder");
    return file(fileName);
}

std::string RunFolder::file(const std::string &name) const
{
    return m_path + "/" + name;
}

Result<void> RunFolder::create() const
{
    std::error_code ec;
    fs::create_directories(m_path, ec);
    if (ec)
        return fail("cannot create the run folder '" + m_path + "': " + ec.message());
    return {};
}

} // namespace lw
