// model.py: the exported network as a plain PyTorch module whose state_dict() names are
// Layerwise's ("block0.conv.weight", "head0.classifier.0.bias", ...), so the exported weights
// load with Net().load_state_dict(torch.load(...)). Mirrors core/model/model.cpp.
#include "core/export/netdesc.h"

#include <cstdio>
#include <sstream>

namespace lw::exporting {

namespace {

const char *kPrelude = R"(import torch
from torch import nn
import torch.nn.functional as F


def psi(x):
    """Invertible 2x downsampling (space-to-depth): N x C x H x W -> N x 4C x H/2 x W/2 with
    out[:, (dy * 2 + dx) * C + c, i, j] = x[:, c, 2i + dy, 2j + dx] (Belilovsky et al.'s order)."""
    n, c, h, w = x.shape
    x = x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4)
    return x.reshape(n, 4 * c, h // 2, w // 2)


def downsample(x, kind):
    """The downsampling before a stage's convolution ("stride" is the convolution's own)."""
    if kind == "psi":
        return psi(x)
    if kind == "maxpool":
        return F.max_pool2d(x, 2, 2)
    if kind == "avgpool":
        return F.avg_pool2d(x, 2, 2)
    return x


class Block(nn.Module):
    """A stage: downsampling, k x k convolution (padding k // 2), BatchNorm or a bias, ReLU."""

    def __init__(self, in_channels, width, kernel, downsample="none", bn=True, bias=False):
        super().__init__()
        self.downsample = downsample
        stride = 2 if downsample == "stride" else 1
        self.conv = nn.Conv2d(in_channels, width, kernel, stride=stride, padding=kernel // 2,
                              bias=bias)
        self.bn = nn.BatchNorm2d(width) if bn else None

    def forward(self, x):
        x = self.conv(downsample(x, self.downsample))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x)


class Head(nn.Module):
    """An auxiliary classifier: hidden layers, average pooling to pooled x pooled, BatchNorm,
    linear layers."""

    def __init__(self, hidden, pool, pooled, bn, classifier, maxpool_first=False):
        super().__init__()
        self.maxpool_first = maxpool_first
        self.hidden = nn.Sequential(*hidden)
        self.pool = pool
        self.pooled = pooled
        self.bn = bn
        self.classifier = nn.Sequential(*classifier)

    def forward(self, x):
        if self.maxpool_first:
            x = F.max_pool2d(x, 2, 2)
        x = self.hidden(x)
        if self.pool == "fixed":
            # The reference's pooling: kernel = stride = side // pooled (drops a remainder).
            kh, kw = max(1, x.shape[2] // self.pooled), max(1, x.shape[3] // self.pooled)
            x = F.avg_pool2d(x, (kh, kw), (kh, kw))
        else:
            x = F.adaptive_avg_pool2d(x, self.pooled)
        if self.bn is not None:
            x = self.bn(x)
        return self.classifier(torch.flatten(x, 1))
)";

std::string number(double v)
{
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", v);
    return text;
}

std::string pyBool(bool b)
{
    return b ? "True" : "False";
}

std::string numbers(const std::vector<double> &values)
{
    std::string s = "(";
    for (std::size_t k = 0; k < values.size(); ++k)
        s += (k ? ", " : "") + number(values[k]);
    return s + (values.size() == 1 ? ",)" : ")");
}

/// Net.__init__ lines for head j on block output `in`.
std::string headCode(int j, const HeadSpec &h, Shape in, int classes)
{
    std::ostringstream o;
    Shape s = in;
    if (h.maxpoolFirst)
        s = {s.c, s.h / 2, s.w / 2};
    std::string hidden;
    if (h.kind == HeadKind::Conv)
        for (int i = 0; i < h.k - 1; ++i) {
            hidden += "\n                nn.Conv2d(" + std::to_string(s.c) + ", "
                      + std::to_string(h.width) + ", 3, padding=" + std::to_string(h.padding)
                      + ", bias=False),";
            if (h.bn)
                hidden += " nn.BatchNorm2d(" + std::to_string(h.width) + "),";
            hidden += " nn.ReLU(),";
            s = {h.width, s.h + 2 * h.padding - 2, s.w + 2 * h.padding - 2};
        }
    std::int64_t features = std::int64_t(s.c) * h.pooled * h.pooled;
    std::string classifier;
    if (h.kind == HeadKind::Mlp)
        for (int i = 0; i < h.k - 1; ++i) {
            classifier += "\n                nn.Linear(" + std::to_string(features) + ", "
                          + std::to_string(h.width) + "), nn.ReLU(), nn.Dropout("
                          + number(h.dropout) + "),";
            features = h.width;
        }
    classifier += "\n                nn.Linear(" + std::to_string(features) + ", "
                  + std::to_string(classes) + "),";
    const bool bn = h.kind == HeadKind::Conv && h.bn;
    o << "        self.head" << j << " = Head(\n"
      << "            hidden=[" << hidden << (hidden.empty() ? "" : "\n            ") << "],\n"
      << "            pool=\"" << toString(h.pool) << "\", pooled=" << h.pooled << ",\n"
      << "            bn=" << (bn ? "nn.BatchNorm2d(" + std::to_string(s.c) + ")" : "None") << ",\n"
      << "            classifier=[" << classifier << "\n            ],\n"
      << "            maxpool_first=" << pyBool(h.maxpoolFirst) << ")\n";
    return o.str();
}

std::string normalizationText(const Spec &spec)
{
    const auto &n = spec.recipe.normalize;
    if (n.fromData)
        return "normalized per channel with the mean and standard deviation of the run's\n"
               "training split (the run's log gives them: \"normalization from the data\")";
    if (n.mean.empty())
        return "as the data set's reader gives them (scaled to [0, 1], no normalization)";
    return "scaled to [0, 1], then normalized per channel: (x - mean) / std with\nmean "
           + numbers(n.mean) + " and std " + numbers(n.std);
}

} // namespace

Shape headPooledInput(const HeadSpec &h, Shape in)
{
    Shape s = in;
    if (h.maxpoolFirst)
        s = {s.c, s.h / 2, s.w / 2};
    if (h.kind == HeadKind::Conv)
        for (int i = 0; i < h.k - 1; ++i)
            s = {h.width, s.h + 2 * h.padding - 2, s.w + 2 * h.padding - 2};
    return s;
}

std::string pythonModel(const NetDescription &net)
{
    const Spec &spec = net.spec;
    const auto costs = summarizeSpec(spec); // the spec of a stored run is valid
    const int k = net.stages;
    std::ostringstream o;
    o << "# Generated by Layerwise from " << net.origin << ": spec '" << spec.name
      << "', stages 1.." << k << " of " << spec.stages.size() << ".\n"
      << "\"\"\"The network of Layerwise's spec '" << spec.name
      << "' as a plain PyTorch module.\n\n"
      << "Input: float32 images N x " << spec.input.channels << " x " << spec.input.height << " x "
      << spec.input.width << ", " << normalizationText(spec) << ".\n";
    if (net.allHeads)
        o << "Output: (heads, ensemble): the logits of the heads of stages 1.." << k
          << " (a list), and their\nensemble, the heads' "
          << (spec.recipe.ensemble == EnsembleMode::Softmax ? "softmax outputs" : "logits")
          << " weighted 2^i / sum 2^i as Layerwise weighs them.\n";
    else
        o << "Output: the logits of stage " << k << "'s head (" << spec.input.classes
          << " classes).\n";
    o << "\nLoad the exported weights with:\n\n"
      << "    import torch\n    from model import Net\n\n"
      << "    net = Net()\n    net.load_state_dict(torch.load(\"weights.pt\"))\n"
      << "    net.eval()\n\"\"\"\n"
      << kPrelude << "\n\nclass Net(nn.Module):\n"
      << "    \"\"\"Stages 1.." << k << " of '" << spec.name << "': blocks block0..block" << k - 1
      << ", heads head0..head" << k - 1 << ".\"\"\"\n\n";
    if (net.allHeads) {
        std::vector<double> w(net.ensembleWeights.begin(), net.ensembleWeights.end());
        o << "    ensemble_weights = " << numbers(w) << "\n\n";
    }
    o << "    def __init__(self):\n        super().__init__()\n";
    for (int j = 0; j < k; ++j) {
        const StageSpec &st = spec.stages[std::size_t(j)];
        const StageCost &c = costs->stages[std::size_t(j)];
        const int inChannels = st.downsample == Downsample::Psi ? 4 * c.in.c : c.in.c;
        o << "        self.block" << j << " = Block(" << inChannels << ", " << st.width << ", "
          << st.kernel << ", downsample=\"" << toString(st.downsample) << "\", bn=" << pyBool(st.bn)
          << ", bias=" << pyBool(st.bias) << ")\n";
        o << headCode(j, st.head, c.out, spec.input.classes);
    }
    o << "\n    def forward(self, x):\n";
    if (spec.input.downsample == Downsample::Psi)
        o << "        x = psi(x)  # the input stem\n";
    for (int j = 0; j < k; ++j) {
        o << "        x = self.block" << j << "(x)\n";
        if (net.allHeads)
            o << "        logits" << j << " = self.head" << j << "(x)\n";
    }
    if (!net.allHeads) {
        o << "        return self.head" << k - 1 << "(x)\n";
        return o.str();
    }
    const bool softmax = spec.recipe.ensemble == EnsembleMode::Softmax;
    auto term = [&](int j) {
        const std::string h = "logits" + std::to_string(j);
        return (softmax ? "F.softmax(" + h + ", 1)" : h) + " * self.ensemble_weights["
               + std::to_string(j) + "]";
    };
    // The engine's order: the last head first, then heads 0, 1, ...
    o << "        ensemble = " << term(k - 1) << "\n";
    for (int j = 0; j < k - 1; ++j)
        o << "        ensemble = ensemble + " << term(j) << "\n";
    o << "        return [";
    for (int j = 0; j < k; ++j)
        o << (j ? ", " : "") << "logits" << j;
    o << "], ensemble\n";
    return o.str();
}

} // namespace lw::exporting
