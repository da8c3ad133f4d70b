// The checkpoint's TorchScript code: see codecheck.h.
#include "core/train/codecheck.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <set>

namespace lw::ckpt::detail {

namespace {

constexpr std::size_t kMaxNameLength = 256;
constexpr int kMaxClassDepth = 32; // a Layerwise module tree is 4 deep, optimizer states 5

bool identifier(std::string_view s)
{
    if (s.empty() || s.size() > kMaxNameLength || std::isdigit(static_cast<unsigned char>(s[0])))
        return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
    });
}

/// A name LibTorch quotes: module keys, optimizer keys such as "param_groups/0/params/size".
bool quotedName(std::string_view s)
{
    return !s.empty() && s.size() <= kMaxNameLength && std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '/'
               || c == '-';
    });
}

bool primitive(std::string_view t)
{
    return t == "Tensor" || t == "int" || t == "float" || t == "bool" || t == "str";
}

/// A class type: "__torch__" followed by identifiers, the last one "Module".
bool classType(std::string_view t)
{
    if (t.rfind("__torch__.", 0) != 0 || t.size() > kMaxNameLength)
        return false;
    std::size_t parts = 0;
    for (std::size_t at = 0; at <= t.size(); ++parts) {
        const auto dot = std::min(t.find('.', at), t.size());
        if (!identifier(t.substr(at, dot - at)))
            return false;
        at = dot + 1;
    }
    return parts >= 2 && t.size() >= 7 && t.substr(t.size() - 7) == ".Module";
}

bool knownType(std::string_view t)
{
    if (primitive(t) || classType(t))
        return true;
    return t.size() > 6 && t.rfind("List[", 0) == 0 && t.back() == ']'
           && primitive(t.substr(5, t.size() - 6));
}

/// `"a", "b", ` between the brackets of `__parameters__ = [...]`.
bool nameList(std::string_view s, std::vector<std::string> &out)
{
    while (!s.empty()) {
        if (s.size() < 4 || s[0] != '"')
            return false;
        const auto close = s.find('"', 1);
        if (close == std::string_view::npos || s.substr(close, 3) != "\", ")
            return false;
        const auto name = s.substr(1, close - 1);
        if (!quotedName(name))
            return false;
        out.emplace_back(name);
        s.remove_prefix(close + 3);
    }
    return true;
}

bool matches(ValueKind kind, std::string_view type)
{
    if (type == "Tensor")
        return kind == ValueKind::Tensor || kind == ValueKind::None; // an undefined tensor
    if (type == "int")
        return kind == ValueKind::Int;
    if (type == "float")
        return kind == ValueKind::Float;
    if (type == "bool")
        return kind == ValueKind::Bool;
    if (type == "str")
        return kind == ValueKind::Str;
    return false;
}

std::string kindName(ValueKind k)
{
    static const char *names[]
        = {"None",   "a bool", "an int",    "a float",  "a str",        "a tuple",
           "a list", "a dict", "an object", "a tensor", "another value"};
    return names[static_cast<int>(k)];
}

} // namespace

std::string codeClassName(const std::string &record, const std::string &prefix)
{
    const std::string code = prefix + "code/";
    if (record.compare(0, code.size(), code) != 0 || record.size() < code.size() + 4
        || record.compare(record.size() - 3, 3, ".py") != 0)
        return {};
    std::string q = record.substr(code.size(), record.size() - code.size() - 3);
    std::replace(q.begin(), q.end(), '/', '.');
    const std::string cls = q + ".Module";
    return classType(cls) ? cls : std::string();
}

Result<ClassDecl> parseCodeFile(std::string_view text, const std::string &where)
{
    ClassDecl decl;
    decl.where = where;
    std::size_t lineNo = 0;
    bool parameters = false, buffers = false;
    std::set<std::string> names;
    auto bad = [&](const std::string &what) {
        return fail(where + " line " + std::to_string(lineNo) + ": " + what
                    + " (a Layerwise checkpoint's code only declares module attributes)");
    };
    if (text.empty() || text.back() != '\n')
        return fail(where + ": does not end with a line break, as the code LibTorch writes does");
    for (std::size_t at = 0; at < text.size();) {
        const auto end = text.find('\n', at);
        const std::string_view line = text.substr(at, end - at);
        at = end + 1;
        ++lineNo;
        if (lineNo == 1) {
            if (line != "class Module(Module):")
                return bad("expected \"class Module(Module):\"");
            continue;
        }
        if (line.substr(0, 2) != "  " || line.size() < 3 || line[2] == ' ')
            return bad("expected a declaration indented by two spaces");
        const std::string_view body = line.substr(2);
        if (!parameters || !buffers) {
            const std::string_view head = parameters ? "__buffers__ = [" : "__parameters__ = [";
            std::vector<std::string> &list = parameters ? decl.buffers : decl.parameters;
            if (body.substr(0, head.size()) != head || body.back() != ']'
                || !nameList(body.substr(head.size(), body.size() - head.size() - 1), list))
                return bad("expected the " + std::string(parameters ? "buffer" : "parameter")
                           + " list, " + std::string(head) + "\"name\", ...]");
            (parameters ? buffers : parameters) = true;
            continue;
        }
        if (body == "__annotations__ = []")
            continue;
        ClassAttribute a;
        const std::string_view annotated = "__annotations__[\"";
        if (body.substr(0, annotated.size()) == annotated) {
            const auto close = body.find("\"] = ", annotated.size());
            if (close == std::string_view::npos)
                return bad("expected __annotations__[\"name\"] = Type");
            a.name = body.substr(annotated.size(), close - annotated.size());
            a.type = body.substr(close + 5);
            if (!quotedName(a.name))
                return bad("attribute name \"" + a.name.substr(0, 40)
                           + "\" is not one LibTorch writes");
        } else {
            const auto colon = body.find(" : ");
            if (colon == std::string_view::npos || !identifier(body.substr(0, colon)))
                return bad("expected \"name : Type\"");
            a.name = body.substr(0, colon);
            a.type = body.substr(colon + 3);
        }
        if (!knownType(a.type))
            return bad("attribute " + a.name + " has type \"" + a.type.substr(0, 60)
                       + "\", expected Tensor, int, float, bool, str, a list of those or a module");
        if (!names.insert(a.name).second)
            return bad("attribute " + a.name + " is declared twice");
        decl.attributes.push_back(std::move(a));
    }
    if (!buffers)
        return bad("the parameter and buffer lists are missing");
    for (const auto *list : {&decl.parameters, &decl.buffers})
        for (const auto &p : *list) {
            const auto it = std::find_if(decl.attributes.begin(), decl.attributes.end(),
                                         [&](const ClassAttribute &a) { return a.name == p; });
            if (it == decl.attributes.end() || it->type != "Tensor")
                return fail(where + ": " + p
                            + " is listed as a parameter or buffer but not declared a Tensor");
        }
    return decl;
}

Result<void> checkClasses(const std::map<std::string, ClassDecl> &classes, const PickleScan &data,
                          const std::string &name)
{
    const std::string invalid = name + " is not a valid checkpoint: ";
    // Every class a type names exists; the graph has no cycle and is shallow (LibTorch imports
    // a class's attribute types recursively).
    std::map<std::string, int> depth; // 0: being visited
    std::function<Result<int>(const std::string &)> visit
        = [&](const std::string &cls) -> Result<int> {
        if (auto it = depth.find(cls); it != depth.end()) {
            if (it->second == 0)
                return fail(invalid + "class " + cls + " contains itself");
            return it->second;
        }
        depth[cls] = 0;
        int d = 1;
        for (const auto &a : classes.at(cls).attributes) {
            if (!classType(a.type))
                continue;
            if (!classes.count(a.type))
                return fail(invalid + classes.at(cls).where + ": attribute " + a.name
                            + " has class " + a.type + ", which its code does not declare");
            auto sub = visit(a.type);
            if (!sub)
                return sub.error();
            d = std::max(d, *sub + 1);
            if (d > kMaxClassDepth)
                return fail(invalid + "its modules nest deeper than "
                            + std::to_string(kMaxClassDepth) + " levels");
        }
        depth[cls] = d;
        return d;
    };
    for (const auto &[cls, decl] : classes)
        if (auto r = visit(cls); !r)
            return r.error();

    // A state dict (core/train/weights: pickled tensors by name) holds no code and no objects:
    // nothing of it is compiled.
    if (classes.empty() && data.rootKind == ValueKind::Dict && data.objects.empty())
        return {};
    if (data.rootKind != ValueKind::Object)
        return fail(invalid + "data.pkl holds " + kindName(data.rootKind)
                    + ", expected the network's module");
    for (const PickledObject &o : data.objects) {
        const auto it = classes.find(o.cls);
        if (it == classes.end())
            return fail(invalid + "data.pkl creates a " + o.cls
                        + ", a class its code does not declare");
        const ClassDecl &decl = it->second;
        const std::string object = invalid + "data.pkl's " + o.cls + ": ";
        if (!o.hasState || !o.plainKeys)
            return fail(object + "its attributes are not given as a dictionary of names");
        if (o.attributes.size() != decl.attributes.size())
            return fail(object + "it is given " + std::to_string(o.attributes.size())
                        + " attributes, its class (" + decl.where + ") declares "
                        + std::to_string(decl.attributes.size()));
        std::set<std::string> given;
        for (const AttributeValue &v : o.attributes) {
            const auto d = std::find_if(decl.attributes.begin(), decl.attributes.end(),
                                        [&](const ClassAttribute &a) { return a.name == v.name; });
            if (d == decl.attributes.end() || !given.insert(v.name).second)
                return fail(object + "attribute " + v.name.substr(0, 60)
                            + " is not declared by its class, or given twice");
            bool ok = false;
            if (classType(d->type))
                ok = v.kind == ValueKind::Object && v.objectClass == d->type;
            else if (d->type.rfind("List[", 0) == 0) {
                const auto item = std::string_view(d->type).substr(5, d->type.size() - 6);
                ok = v.kind == ValueKind::List
                     && std::all_of(v.itemKinds.begin(), v.itemKinds.end(),
                                    [&](ValueKind k) { return matches(k, item); });
            } else
                ok = matches(v.kind, d->type);
            if (!ok)
                return fail(object + "attribute " + v.name + " holds " + kindName(v.kind)
                            + ", its class declares " + d->type);
        }
    }
    return {};
}

} // namespace lw::ckpt::detail
