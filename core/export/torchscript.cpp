// The exported network as a TorchScript archive built in C++: one script module per LibTorch
// module (parameters and buffers registered under the state-dict names), and the top module's
// forward written in TorchScript from the spec, op for op as core/model/model.cpp computes.
#include "core/export/export_p.h"
#include "core/train/engine_p.h"

#include <torch/script.h>

#include <cctype>
#include <cstdio>
#include <sstream>

namespace lw::exporting {

namespace {

/// A script module mirroring `m`: its own parameters, buffers and children, and a `training`
/// attribute (so that eval() works on it in Python and C++).
torch::jit::Module mirror(const torch::nn::Module &m, const std::string &className,
                          const std::shared_ptr<torch::jit::CompilationUnit> &cu)
{
    torch::jit::Module jm(c10::QualifiedName("__torch__.layerwise." + className), cu,
                          /*shouldMangle=*/true);
    jm.register_attribute("training", c10::BoolType::get(), false);
    for (const auto &p : m.named_parameters(/*recurse=*/false))
        jm.register_parameter(p.key(), p.value().detach().clone(), /*is_buffer=*/false);
    for (const auto &b : m.named_buffers(/*recurse=*/false))
        jm.register_buffer(b.key(), b.value().detach().clone());
    for (const auto &c : m.named_children())
        jm.register_module(c.key(), mirror(*c.value(), className + "_" + c.key(), cu));
    return jm;
}

/// TorchScript for the attribute at state-dict path `path`: "head0.hidden.0.weight" ->
/// getattr(self.head0.hidden, "0").weight.
std::string attr(const std::string &path)
{
    std::string expr = "self";
    std::istringstream parts(path);
    for (std::string part; std::getline(parts, part, '.');)
        expr = std::isdigit(static_cast<unsigned char>(part[0]))
                   ? "getattr(" + expr + ", \"" + part + "\")"
                   : expr + "." + part;
    return expr;
}

/// "h3": built piece by piece (GCC 12 warns, -Wrestrict, on "h" + std::string).
std::string indexed(const char *name, int j)
{
    std::string s = name;
    s += std::to_string(j);
    return s;
}

std::string number(double v)
{
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", v);
    std::string s = text;
    if (s.find_first_of(".en") == std::string::npos)
        s += ".0";
    return s;
}

class ForwardWriter
{
public:
    explicit ForwardWriter(const TrainedNetwork &t)
        : m_t(t)
    {}

    std::string source(ExportHeads heads);

private:
    const TrainedNetwork &m_t;
    std::ostringstream m_o;

    void line(const std::string &text) { m_o << "    " << text << "\n"; }
    void conv(const std::string &v, const std::string &module, int stride, int padding, bool bias)
    {
        line(v + " = torch.conv2d(" + v + ", " + attr(module + ".weight") + ", "
             + (bias ? attr(module + ".bias") : std::string("None")) + ", ["
             + std::to_string(stride) + ", " + std::to_string(stride) + "], ["
             + std::to_string(padding) + ", " + std::to_string(padding) + "], [1, 1], 1)");
    }
    void batchNorm(const std::string &v, const std::string &module)
    {
        line(v + " = torch.batch_norm(" + v + ", " + attr(module + ".weight") + ", "
             + attr(module + ".bias") + ", " + attr(module + ".running_mean") + ", "
             + attr(module + ".running_var") + ", False, 0.1, 1.0000000000000001e-05, False)");
    }
    void head(int j);
};

void ForwardWriter::head(int j)
{
    const HeadSpec &h = m_t.spec.stages[std::size_t(j)].head;
    const std::string prefix = indexed("head", j);
    const std::string v = indexed("h", j);
    line(v + " = x");
    if (h.maxpoolFirst)
        line(v + " = torch.max_pool2d(" + v + ", [2, 2], [2, 2])");
    int layer = 0;
    if (h.kind == HeadKind::Conv)
        for (int i = 0; i < h.k - 1; ++i) {
            conv(v, prefix + ".hidden." + std::to_string(layer++), 1, h.padding, false);
            if (h.bn)
                batchNorm(v, prefix + ".hidden." + std::to_string(layer++));
            line(v + " = torch.relu(" + v + ")");
            ++layer;
        }
    const std::string p = std::to_string(h.pooled);
    if (h.pool == HeadPool::Fixed) {
        line("kh = max(1, " + v + ".size(2) // " + p + ")");
        line("kw = max(1, " + v + ".size(3) // " + p + ")");
        line(v + " = torch.avg_pool2d(" + v + ", [kh, kw], [kh, kw])");
    } else {
        line(v + " = torch.adaptive_avg_pool2d(" + v + ", [" + p + ", " + p + "])");
    }
    if (h.kind == HeadKind::Conv && h.bn)
        batchNorm(v, prefix + ".bn");
    line(v + " = torch.flatten(" + v + ", 1)");
    const int hidden = h.kind == HeadKind::Mlp ? h.k - 1 : 0;
    for (int i = 0; i <= hidden; ++i) {
        const std::string l = prefix + ".classifier." + std::to_string(3 * i);
        line(v + " = torch.linear(" + v + ", " + attr(l + ".weight") + ", " + attr(l + ".bias")
             + ")");
        if (i < hidden) // ReLU; Dropout is the identity at inference
            line(v + " = torch.relu(" + v + ")");
    }
}

std::string ForwardWriter::source(ExportHeads heads)
{
    const Spec &spec = m_t.spec;
    const int k = m_t.stage + 1;
    const bool all = heads == ExportHeads::All;
    m_o << "def psi(self, x: Tensor) -> Tensor:\n";
    line("n = x.size(0)");
    line("c = x.size(1)");
    line("h = x.size(2)");
    line("w = x.size(3)");
    line("y = x.reshape([n, c, h // 2, 2, w // 2, 2]).permute([0, 3, 5, 1, 2, 4])");
    line("return y.reshape([n, 4 * c, h // 2, w // 2])");
    m_o << "\ndef forward(self, x: Tensor) -> " << (all ? "Tuple[List[Tensor], Tensor]" : "Tensor")
        << ":\n";
    if (spec.input.downsample == Downsample::Psi)
        line("x = self.psi(x)");
    for (int j = 0; j < k; ++j) {
        const StageSpec &st = spec.stages[std::size_t(j)];
        const std::string block = indexed("block", j);
        switch (st.downsample) {
        case Downsample::Psi: line("x = self.psi(x)"); break;
        case Downsample::MaxPool: line("x = torch.max_pool2d(x, [2, 2], [2, 2])"); break;
        case Downsample::AvgPool: line("x = torch.avg_pool2d(x, [2, 2], [2, 2])"); break;
        case Downsample::None:
        case Downsample::Stride: break;
        }
        conv("x", block + ".conv", st.downsample == Downsample::Stride ? 2 : 1, st.kernel / 2,
             st.bias);
        if (st.bn)
            batchNorm("x", block + ".bn");
        line("x = torch.relu(x)");
        if (all || j == k - 1)
            head(j);
    }
    if (!all) {
        line("return " + indexed("h", k - 1));
        return m_o.str();
    }
    const bool softmax = spec.recipe.ensemble == EnsembleMode::Softmax;
    const auto w = detail::ensembleWeights(k);
    auto term = [&](int j) {
        const std::string h = indexed("h", j);
        return (softmax ? "torch.softmax(" + h + ", 1)" : h) + " * " + number(w[std::size_t(j)]);
    };
    // The engine's order: the last head's term first, then heads 0, 1, ...
    line("e = " + term(k - 1));
    for (int j = 0; j < k - 1; ++j)
        line("e = e + " + term(j));
    std::string list;
    for (int j = 0; j < k; ++j)
        list += (j ? ", h" : "h") + std::to_string(j);
    line("return [" + list + "], e");
    return m_o.str();
}

} // namespace

Result<std::string> torchScriptBytes(const TrainedNetwork &trained, ExportHeads heads)
{
    auto cu = std::make_shared<torch::jit::CompilationUnit>();
    torch::jit::Module top("__torch__.layerwise.Net", cu, /*shouldMangle=*/true);
    top.register_attribute("training", c10::BoolType::get(), false);
    for (int j = 0; j <= trained.stage; ++j) {
        const auto n = std::to_string(j);
        top.register_module("block" + n,
                            mirror(*trained.net->blocks[std::size_t(j)], "Block" + n, cu));
        top.register_module("head" + n,
                            mirror(*trained.net->heads[std::size_t(j)], "Head" + n, cu));
    }
    const std::string source = ForwardWriter(trained).source(heads);
    try {
        top.define(source);
    } catch (const std::exception &e) {
        return fail(std::string("the TorchScript forward does not compile (a bug of "
                                "Layerwise's exporter): ")
                    + e.what());
    }
    std::ostringstream bytes;
    top.save(bytes);
    return bytes.str();
}

} // namespace lw::exporting
