#include "core/events/observer.h"

namespace lw {

ObserverFanOut::ObserverFanOut(std::vector<TrainObserver *> observers)
{
    for (auto *o : observers)
        add(o);
}

void ObserverFanOut::add(TrainObserver *observer)
{
    if (observer)
        m_observers.push_back(observer);
}

void ObserverFanOut::runStarted(const RunStarted &e)
{
    for (auto *o : m_observers)
        o->runStarted(e);
}

void ObserverFanOut::stageStarted(const StageStarted &e)
{
    for (auto *o : m_observers)
        o->stageStarted(e);
}

void ObserverFanOut::batchProgress(const BatchProgress &e)
{
    for (auto *o : m_observers)
        o->batchProgress(e);
}

void ObserverFanOut::epochFinished(const EpochMetrics &e)
{
    for (auto *o : m_observers)
        o->epochFinished(e);
}

void ObserverFanOut::stageFinished(const StageFinished &e)
{
    for (auto *o : m_observers)
        o->stageFinished(e);
}

void ObserverFanOut::probeFinished(const ProbeResult &e)
{
    for (auto *o : m_observers)
        o->probeFinished(e);
}

void ObserverFanOut::picturesReady(const StagePictures &e)
{
    for (auto *o : m_observers)
        o->picturesReady(e);
}

void ObserverFanOut::checkpointSaved(const CheckpointSaved &e)
{
    for (auto *o : m_observers)
        o->checkpointSaved(e);
}

void ObserverFanOut::runEnded(const RunEnded &e)
{
    for (auto *o : m_observers)
        o->runEnded(e);
}

void ObserverFanOut::log(LogLevel level, const std::string &text)
{
    for (auto *o : m_observers)
        o->log(level, text);
}

} // namespace lw
