#pragma once

// Internal to core (includes torch): the pieces of the training engine that tests check directly.

#include "core/spec/spec.h"
#include "core/util/log.h"
#include "core/util/result.h"

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace lw::detail {

/// Number of LR decays that have happened by the start of `epoch` (0-based within a stage).
int decaysBefore(const LrSchedule &schedule, int epoch);
/// LR used during `epoch` (0-based): initial / factor^decaysBefore(epoch).
double lrForEpoch(const LrSchedule &schedule, int epoch);
/// True when a decay takes effect at the start of `epoch` (epoch > 0).
bool decaysAt(const LrSchedule &schedule, int epoch);

/// Ensemble weights of heads 0..n-1: 2^i / sum_k 2^k.
std::vector<double> ensembleWeights(int n);

/// SGD over a set of parameters with the recipe's momentum, weight decay and LR schedule.
/// At a decay it is rebuilt (momentum buffers dropped, the reference's behaviour) unless the
/// schedule keeps momentum, in which case only the LR changes.
class StageOptimizer
{
public:
    StageOptimizer(std::vector<torch::Tensor> params, const OptimizerSpec &opt,
                   const LrSchedule &schedule);
    /// Sets the LR for `epoch`; returns true when the optimizer was rebuilt.
    bool startEpoch(int epoch);
    torch::optim::SGD &sgd() { return *m_sgd; }
    double lr() const { return m_lr; }
    /// Momentum buffers currently held (0 right after a rebuild).
    int momentumBuffers() const;
    void save(torch::serialize::OutputArchive &archive) const;
    void load(torch::serialize::InputArchive &archive);

private:
    void rebuild(double lr);
    std::vector<torch::Tensor> m_params;
    OptimizerSpec m_opt;
    LrSchedule m_schedule;
    double m_lr = 0;
    std::unique_ptr<torch::optim::SGD> m_sgd;
};

/// Frozen-prefix outputs of a whole split: in anonymous memory of its own when they fit the
/// budget (returned to the kernel when the cache is destroyed), else a memory-mapped file
/// (unlinked at once, so nothing is left behind).
class FeatureCache
{
public:
    /// Allocates room for n samples of `shape` (C, H, W) of `dtype` (float32, or bfloat16 when
    /// the run trains in bf16: the prefix's outputs are bf16 then).
    static Result<std::unique_ptr<FeatureCache>>
    create(std::int64_t n, std::vector<std::int64_t> shape, std::int64_t budgetBytes,
           const std::string &spillDir, torch::ScalarType dtype = torch::kFloat32);
    ~FeatureCache();
    torch::Tensor &tensor() { return m_tensor; }
    bool mapped() const { return m_mapped; } ///< spilled to a file on disk
    std::int64_t bytes() const { return m_bytes; }

private:
    FeatureCache() = default;
    torch::Tensor m_tensor;
    bool m_mapped = false;
    std::int64_t m_bytes = 0;
    void *m_map = nullptr;
    std::string m_path;
};

/// Turns autocast on for a scope on one device type (CUDA: bf16 or fp16; CPU: bf16), and back to
/// what it was on leaving, so scopes nest. Compatible with LibTorch 1.13 and 2.x.
class AutocastScope
{
public:
    AutocastScope(bool enabled, at::ScalarType dtype, bool cuda);
    ~AutocastScope();
    AutocastScope(const AutocastScope &) = delete;
    AutocastScope &operator=(const AutocastScope &) = delete;

private:
    bool isOn() const;
    at::ScalarType type() const;
    void set(bool on, at::ScalarType dtype) const;
    bool m_enabled;
    bool m_cuda;
    bool m_wasOn = false;
    at::ScalarType m_oldType = at::kFloat;
};

/// Turns a loss value into an error when it is NaN or infinite, naming where it happened
/// (`stage` 0-based; the message counts stages from 1, `epoch` and `batch` are already 1-based).
std::string divergenceMessage(int stage, int epoch, int batch, double loss);

} // namespace lw::detail
