// The exported network as an ONNX model (opset kOnnxOpset), built with Debian's ONNX library
// and checked with its checker before it is written. psi is Reshape/Transpose/Reshape in the
// paper's channel order (SpaceToDepth's, which OpenCV 4.6 gets wrong for batches > 1),
// BatchNorm is BatchNormalization, adaptive pooling that does not divide evenly is a MatMul with
// the pooling matrix. Input "input" (N x C x H x W, N free); outputs "logits", or
// "logits0".."logits<K-1>" and "ensemble".
#include "core/export/netdesc.h"
#include "core/util/format.h"
#include "core/util/fsutil.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <set>

namespace lw::exporting {

namespace {

class GraphBuilder
{
public:
    GraphBuilder(onnx::GraphProto &graph, const NetDescription &net)
        : m_g(graph)
        , m_net(net)
    {}

    /// Adds a node; its output is `out`, or a fresh name when empty. Returns the node.
    onnx::NodeProto *node(const std::string &op, std::initializer_list<std::string> inputs,
                          std::string out = {})
    {
        if (out.empty())
            out = op + "_" + std::to_string(m_next++);
        auto *n = m_g.add_node();
        n->set_op_type(op);
        n->set_name(out);
        for (const auto &in : inputs)
            n->add_input(in);
        n->add_output(out);
        return n;
    }
    static const std::string &out(const onnx::NodeProto *n) { return n->output(0); }

    static void ints(onnx::NodeProto *n, const char *name, std::vector<std::int64_t> values)
    {
        auto *a = n->add_attribute();
        a->set_name(name);
        a->set_type(onnx::AttributeProto::INTS);
        for (auto v : values)
            a->add_ints(v);
    }
    static void integer(onnx::NodeProto *n, const char *name, std::int64_t value)
    {
        auto *a = n->add_attribute();
        a->set_name(name);
        a->set_type(onnx::AttributeProto::INT);
        a->set_i(value);
    }
    static void real(onnx::NodeProto *n, const char *name, float value)
    {
        auto *a = n->add_attribute();
        a->set_name(name);
        a->set_type(onnx::AttributeProto::FLOAT);
        a->set_f(value);
    }

    /// The network tensor `name` as an initializer (once); fails when the network lacks it.
    Result<std::string> weight(const std::string &name)
    {
        auto it = m_net.tensors.find(name);
        if (it == m_net.tensors.end() || it->second.isInt)
            return fail("the network has no float tensor " + name);
        if (m_done.insert(name).second)
            floats(name, it->second.shape, it->second.values);
        return name;
    }
    void floats(const std::string &name, const std::vector<std::int64_t> &shape,
                const std::vector<float> &values)
    {
        auto *t = m_g.add_initializer();
        t->set_name(name);
        t->set_data_type(onnx::TensorProto::FLOAT);
        for (auto d : shape)
            t->add_dims(d);
        t->set_raw_data(std::string(reinterpret_cast<const char *>(values.data()),
                                    values.size() * sizeof(float)));
    }
    std::string int64s(const std::vector<std::int64_t> &values)
    {
        const std::string name = "const_" + std::to_string(m_next++);
        auto *t = m_g.add_initializer();
        t->set_name(name);
        t->set_data_type(onnx::TensorProto::INT64);
        t->add_dims(std::int64_t(values.size()));
        for (auto v : values)
            t->add_int64_data(v);
        return name;
    }

    void tensorInfo(onnx::ValueInfoProto *v, const std::string &name,
                    std::vector<std::int64_t> dims)
    {
        v->set_name(name);
        auto *t = v->mutable_type()->mutable_tensor_type();
        t->set_elem_type(onnx::TensorProto::FLOAT);
        auto *shape = t->mutable_shape();
        shape->add_dim()->set_dim_param("batch");
        for (auto d : dims)
            shape->add_dim()->set_dim_value(d);
    }

    Result<std::string> batchNorm(const std::string &x, const std::string &prefix)
    {
        std::vector<std::string> in;
        for (const char *p : {"weight", "bias", "running_mean", "running_var"}) {
            auto w = weight(prefix + "." + p);
            if (!w)
                return w.error();
            in.push_back(*w);
        }
        auto *n = node("BatchNormalization", {x, in[0], in[1], in[2], in[3]});
        real(n, "epsilon", float(m_net.bnEps));
        return out(n);
    }

    Result<std::string> conv(const std::string &x, const std::string &prefix, int kernel,
                             int stride, int padding, bool bias)
    {
        auto w = weight(prefix + ".weight");
        if (!w)
            return w.error();
        onnx::NodeProto *n = nullptr;
        if (bias) {
            auto b = weight(prefix + ".bias");
            if (!b)
                return b.error();
            n = node("Conv", {x, *w, *b});
        } else {
            n = node("Conv", {x, *w});
        }
        ints(n, "kernel_shape", {kernel, kernel});
        ints(n, "strides", {stride, stride});
        ints(n, "pads", {padding, padding, padding, padding});
        return out(n);
    }

    std::string pool(const char *op, const std::string &x, std::int64_t kh, std::int64_t kw)
    {
        auto *n = node(op, {x});
        ints(n, "kernel_shape", {kh, kw});
        ints(n, "strides", {kh, kw});
        return out(n);
    }

    /// Adaptive average pooling of a C x h x w map to p x p (LibTorch's bins: floor to ceil).
    /// When the bins do not tile the map evenly, a MatMul of the flattened map with the pooling
    /// matrix (1 / bin size where a pixel is in a bin): exact to rounding, and every runtime
    /// runs it (OpenCV 4.6's dnn mis-shapes Slice + ReduceMean).
    std::string adaptivePool(const std::string &x, Shape s, int p)
    {
        if (s.h % p == 0 && s.w % p == 0)
            return pool("AveragePool", x, s.h / p, s.w / p);
        std::vector<float> m(std::size_t(s.h) * s.w * p * p, 0.0f);
        for (int i = 0; i < p; ++i)
            for (int j = 0; j < p; ++j) {
                const int h0 = i * s.h / p, h1 = ((i + 1) * s.h + p - 1) / p;
                const int w0 = j * s.w / p, w1 = ((j + 1) * s.w + p - 1) / p;
                const float v = 1.0f / float((h1 - h0) * (w1 - w0));
                for (int y = h0; y < h1; ++y)
                    for (int z = w0; z < w1; ++z)
                        m[(std::size_t(y) * s.w + z) * p * p + std::size_t(i * p + j)] = v;
            }
        const std::string matrix = "pool_matrix_" + std::to_string(m_next++);
        floats(matrix, {std::int64_t(s.h) * s.w, std::int64_t(p) * p}, m);
        auto *flat = node("Reshape", {x, int64s({-1, std::int64_t(s.h) * s.w})});
        auto *pooled = node("MatMul", {out(flat), matrix});
        return out(node("Reshape", {out(pooled), int64s({-1, s.c, p, p})}));
    }

    /// psi on a C x H x W map: Reshape, Transpose, Reshape (the order of METHOD.md, which is
    /// SpaceToDepth's; OpenCV 4.6's dnn computes SpaceToDepth wrongly for batches above 1).
    std::string psi(const std::string &x, Shape s)
    {
        auto *split = node("Reshape", {x, int64s({-1, s.c, s.h / 2, 2, s.w / 2, 2})});
        auto *perm = node("Transpose", {out(split)});
        ints(perm, "perm", {0, 3, 5, 1, 2, 4});
        return out(node("Reshape", {out(perm), int64s({-1, 4 * s.c, s.h / 2, s.w / 2})}));
    }

private:
    onnx::GraphProto &m_g;
    const NetDescription &m_net;
    std::set<std::string> m_done;
    int m_next = 0;
};

/// Head j on block output `x` of shape `in`, its logits named `name`.
Result<void> addHead(GraphBuilder &b, const NetDescription &net, int j, std::string x, Shape in,
                     const std::string &name)
{
    const HeadSpec &h = net.spec.stages[std::size_t(j)].head;
    const std::string prefix = "head" + std::to_string(j);
    if (h.maxpoolFirst)
        x = b.pool("MaxPool", x, 2, 2);
    int layer = 0;
    if (h.kind == HeadKind::Conv)
        for (int i = 0; i < h.k - 1; ++i) {
            auto c
                = b.conv(x, prefix + ".hidden." + std::to_string(layer++), 3, 1, h.padding, false);
            if (!c)
                return c.error();
            x = *c;
            if (h.bn) {
                auto n = b.batchNorm(x, prefix + ".hidden." + std::to_string(layer++));
                if (!n)
                    return n.error();
                x = *n;
            }
            x = GraphBuilder::out(b.node("Relu", {x}));
            ++layer;
        }
    const Shape s = headPooledInput(h, in);
    if (h.pool == HeadPool::Fixed)
        x = b.pool("AveragePool", x, std::max(1, s.h / h.pooled), std::max(1, s.w / h.pooled));
    else
        x = b.adaptivePool(x, s, h.pooled);
    if (h.kind == HeadKind::Conv && h.bn) {
        auto n = b.batchNorm(x, prefix + ".bn");
        if (!n)
            return n.error();
        x = *n;
    }
    auto *flat = b.node("Flatten", {x});
    GraphBuilder::integer(flat, "axis", 1);
    x = GraphBuilder::out(flat);
    const int hidden = h.kind == HeadKind::Mlp ? h.k - 1 : 0;
    for (int i = 0; i <= hidden; ++i) {
        const std::string l = prefix + ".classifier." + std::to_string(3 * i);
        auto w = b.weight(l + ".weight");
        auto bias = b.weight(l + ".bias");
        if (!w || !bias)
            return fail(!w ? w.message() : bias.message());
        auto *gemm = b.node("Gemm", {x, *w, *bias}, i == hidden ? name : std::string());
        GraphBuilder::integer(gemm, "transB", 1);
        x = GraphBuilder::out(gemm);
        if (i < hidden) // ReLU; Dropout is the identity at inference
            x = GraphBuilder::out(b.node("Relu", {x}));
    }
    return {};
}

Result<void> buildGraph(onnx::GraphProto &g, const NetDescription &net)
{
    const Spec &spec = net.spec;
    auto costs = summarizeSpec(spec);
    if (!costs)
        return costs.error();
    GraphBuilder b(g, net);
    const int classes = spec.input.classes;
    b.tensorInfo(g.add_input(), "input",
                 {spec.input.channels, spec.input.height, spec.input.width});
    std::string x = "input";
    if (spec.input.downsample == Downsample::Psi)
        x = b.psi(x, {spec.input.channels, spec.input.height, spec.input.width});
    std::vector<std::string> heads;
    for (int j = 0; j < net.stages; ++j) {
        const StageSpec &st = spec.stages[std::size_t(j)];
        const std::string prefix = "block" + std::to_string(j);
        switch (st.downsample) {
        case Downsample::Psi: x = b.psi(x, costs->stages[std::size_t(j)].in); break;
        case Downsample::MaxPool: x = b.pool("MaxPool", x, 2, 2); break;
        case Downsample::AvgPool: x = b.pool("AveragePool", x, 2, 2); break;
        case Downsample::None:
        case Downsample::Stride: break;
        }
        auto c = b.conv(x, prefix + ".conv", st.kernel, st.downsample == Downsample::Stride ? 2 : 1,
                        st.kernel / 2, st.bias);
        if (!c)
            return c.error();
        x = *c;
        if (st.bn) {
            auto n = b.batchNorm(x, prefix + ".bn");
            if (!n)
                return n.error();
            x = *n;
        }
        x = GraphBuilder::out(b.node("Relu", {x}));
        if (!net.allHeads && j < net.stages - 1)
            continue;
        const std::string name = net.allHeads ? "logits" + std::to_string(j) : "logits";
        if (auto r = addHead(b, net, j, x, costs->stages[std::size_t(j)].out, name); !r)
            return r;
        heads.push_back(name);
        b.tensorInfo(g.add_output(), name, {classes});
    }
    if (!net.allHeads)
        return {};
    // The ensemble in the engine's order: the last head's term first, then heads 0, 1, ...
    const bool softmax = spec.recipe.ensemble == EnsembleMode::Softmax;
    const int k = net.stages;
    auto term = [&](int j, const std::string &out) {
        std::string h = heads[std::size_t(j)];
        if (softmax) {
            auto *s = b.node("Softmax", {h});
            GraphBuilder::integer(s, "axis", 1);
            h = GraphBuilder::out(s);
        }
        const std::string w = "ensemble_weight" + std::to_string(j);
        b.floats(w, {1}, {float(net.ensembleWeights[std::size_t(j)])});
        return GraphBuilder::out(b.node("Mul", {h, w}, out));
    };
    std::string sum = term(k - 1, k == 1 ? "ensemble" : "");
    for (int j = 0; j < k - 1; ++j)
        sum = GraphBuilder::out(b.node("Add", {sum, term(j, "")}, j == k - 2 ? "ensemble" : ""));
    b.tensorInfo(g.add_output(), "ensemble", {classes});
    return {};
}

} // namespace

Result<void> writeOnnx(const NetDescription &net, const std::string &path)
{
    onnx::ModelProto model;
    model.set_ir_version(onnx::IR_VERSION);
    model.set_producer_name("Layerwise");
    model.set_doc_string("Layerwise export of " + net.origin + ": spec '" + net.spec.name
                         + "', stages 1.." + std::to_string(net.stages));
    auto *opset = model.add_opset_import();
    opset->set_domain("");
    opset->set_version(kOnnxOpset);
    auto *graph = model.mutable_graph();
    graph->set_name(net.spec.name.empty() ? "layerwise" : net.spec.name);
    if (auto r = buildGraph(*graph, net); !r)
        return fail("cannot build the ONNX model: " + r.message());
    const std::size_t bytes = model.ByteSizeLong();
    if (bytes >= (std::size_t(2) << 30))
        return fail("the ONNX model would be " + formatBytes(std::int64_t(bytes))
                    + "; protobuf limits an ONNX file to 2 GiB (export fewer stages, or use "
                      "TorchScript or PyTorch)");
    try {
        onnx::checker::check_model(model);
    } catch (const std::exception &e) {
        return fail(std::string("the ONNX model does not pass onnx.checker: ") + e.what());
    }
    std::string data;
    if (!model.SerializeToString(&data))
        return fail("cannot serialize the ONNX model");
    return writeFileAtomic(path, data);
}

} // namespace lw::exporting
