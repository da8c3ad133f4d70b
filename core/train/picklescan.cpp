#include "core/train/picklescan.h"

#include <cstdio>
#include <cstring>
#include <memory>
#include <unordered_set>

namespace lw::ckpt::detail {

namespace {

struct Node;
using NodePtr = std::shared_ptr<Node>;

struct Node
{
    enum class Kind {
        None,
        Bool,
        Int,
        Float,
        Str,
        Tuple,
        List,
        Dict,
        Global,
        Object,
        PersId,
        Tensor
    };
    Kind kind = Kind::None;
    std::int64_t i = 0;         // Int, Bool; Tensor: index into PickleScan::tensors
    std::string s;              // Str; Global: "module name"
    std::vector<NodePtr> items; // Tuple, List; Dict: key, value, key, value, ...
    NodePtr state;              // Object: what BUILD gave it
    std::size_t storage = 0;    // PersId: index into PickleScan::storages
    int depth = 1;
    // Held by a container or the memo: no longer mutable (no cycles, no depth changing later).
    bool sealed = false;
};

NodePtr make(Node::Kind kind)
{
    auto n = std::make_shared<Node>();
    n->kind = kind;
    return n;
}

bool isTorchClass(std::string_view global)
{
    return global.rfind("__torch__ ", 0) == 0 || global.rfind("__torch__.", 0) == 0;
}

class Scanner
{
public:
    Scanner(std::string_view bytes, const std::string &where, bool tensors)
        : m_bytes(bytes)
        , m_where(where)
        , m_tensors(tensors)
    {}

    Result<PickleScan> run();

private:
    std::string_view m_bytes;
    const std::string &m_where;
    bool m_tensors;
    std::size_t m_pos = 0, m_opStart = 0;
    std::vector<NodePtr> m_stack, m_memo;
    std::vector<std::size_t> m_marks;
    PickleScan m_scan;
    std::string m_error;

    bool bad(const std::string &what)
    {
        if (m_error.empty())
            m_error = m_where + " byte " + std::to_string(m_opStart) + ": " + what;
        return false;
    }
    bool take(std::size_t n, std::string_view &out)
    {
        if (m_bytes.size() - m_pos < n)
            return bad("the pickle ends inside an instruction");
        out = m_bytes.substr(m_pos, n);
        m_pos += n;
        return true;
    }
    bool readUint(std::size_t n, std::uint64_t &v)
    {
        std::string_view b;
        if (!take(n, b))
            return false;
        v = 0;
        for (std::size_t k = 0; k < n; ++k)
            v |= std::uint64_t(static_cast<unsigned char>(b[k])) << (8 * k);
        return true;
    }
    bool readLine(std::string &out)
    {
        const auto end = m_bytes.find('\n', m_pos);
        if (end == std::string_view::npos || end - m_pos > 256)
            return bad("a global name is unterminated or longer than 256 bytes");
        out.assign(m_bytes.substr(m_pos, end - m_pos));
        m_pos = end + 1;
        return true;
    }
    bool push(NodePtr n)
    {
        if (m_stack.size() >= 1'000'000)
            return bad("the pickle stack exceeds 1,000,000 values");
        m_stack.push_back(std::move(n));
        return true;
    }
    bool pop(NodePtr &out)
    {
        const std::size_t floor = m_marks.empty() ? 0 : m_marks.back();
        if (m_stack.size() <= floor)
            return bad("an instruction takes a value from an empty stack");
        out = std::move(m_stack.back());
        m_stack.pop_back();
        return true;
    }
    /// Makes `child` part of `parent`: sealed, and the parent's depth bounded.
    bool adopt(Node &parent, const NodePtr &child)
    {
        child->sealed = true;
        parent.depth = std::max(parent.depth, child->depth + 1);
        if (parent.depth > kMaxPickleDepth)
            return bad("values nest deeper than " + std::to_string(kMaxPickleDepth) + " levels");
        return true;
    }
    bool popMark(std::vector<NodePtr> &items)
    {
        if (m_marks.empty())
            return bad("an instruction needs a mark and there is none");
        items.assign(std::make_move_iterator(m_stack.begin() + std::ptrdiff_t(m_marks.back())),
                     std::make_move_iterator(m_stack.end()));
        m_stack.resize(m_marks.back());
        m_marks.pop_back();
        return true;
    }
    bool tuple(std::vector<NodePtr> items)
    {
        auto t = make(Node::Kind::Tuple);
        for (const auto &c : items)
            if (!adopt(*t, c))
                return false;
        t->items = std::move(items);
        return push(t);
    }
    bool mutableTop(Node::Kind kind, NodePtr &out, const char *what)
    {
        if (m_stack.empty() || (!m_marks.empty() && m_stack.size() <= m_marks.back()))
            return bad(std::string(what) + " without a container");
        out = m_stack.back();
        if (out->kind != kind)
            return bad(std::string(what) + " on a value of another kind");
        if (out->sealed)
            return bad(std::string(what) + " changes a value already referenced elsewhere");
        return true;
    }
    bool addItems(Node::Kind kind, std::vector<NodePtr> items, const char *what)
    {
        NodePtr c;
        if (!mutableTop(kind, c, what))
            return false;
        if (kind == Node::Kind::Dict && items.size() % 2 != 0)
            return bad("a dictionary gets a key without a value");
        for (const auto &item : items)
            if (!adopt(*c, item))
                return false;
        c->items.insert(c->items.end(), items.begin(), items.end());
        return true;
    }
    bool memoPut(std::uint64_t id)
    {
        if (m_stack.empty())
            return bad("memoizes from an empty stack");
        // LibTorch sizes its memo by the largest id: ids must come in order.
        if (id > m_memo.size())
            return bad("memo id " + std::to_string(id) + " skips ids ("
                       + std::to_string(m_memo.size()) + " used so far)");
        m_stack.back()->sealed = true;
        if (id == m_memo.size())
            m_memo.push_back(m_stack.back());
        else
            m_memo[id] = m_stack.back();
        return true;
    }
    bool memoGet(std::uint64_t id)
    {
        if (id >= m_memo.size())
            return bad("memo id " + std::to_string(id) + " was never stored");
        return push(m_memo[id]);
    }
    bool global();
    bool persistentId();
    bool reduce();
    bool newObject();
    bool build();
    bool step(unsigned char op);
    void nameTensors(const Node &n, const std::string &path,
                     std::unordered_set<const Node *> &seen);
    void describe(const Node &root);
};

ValueKind kindOf(const Node &n)
{
    switch (n.kind) {
    case Node::Kind::None: return ValueKind::None;
    case Node::Kind::Bool: return ValueKind::Bool;
    case Node::Kind::Int: return ValueKind::Int;
    case Node::Kind::Float: return ValueKind::Float;
    case Node::Kind::Str: return ValueKind::Str;
    case Node::Kind::Tuple: return ValueKind::Tuple;
    case Node::Kind::List: return ValueKind::List;
    case Node::Kind::Dict: return ValueKind::Dict;
    case Node::Kind::Object: return n.s.empty() ? ValueKind::Other : ValueKind::Object;
    case Node::Kind::Tensor: return ValueKind::Tensor;
    default: return ValueKind::Other;
    }
}

/// "__torch__.___torch_mangle_1 Module" (GLOBAL's module and name) as
/// "__torch__.___torch_mangle_1.Module".
std::string className(const std::string &global)
{
    std::string out = global;
    const auto space = out.find(' ');
    if (space != std::string::npos)
        out[space] = '.';
    return out;
}

bool Scanner::global()
{
    std::string module, name;
    if (!readLine(module) || !readLine(name))
        return false;
    const std::string g = module + " " + name;
    const bool known = isTorchClass(g) || g == "torch._utils _rebuild_tensor_v2"
                       || g == "collections OrderedDict" || g == "torch.jit._pickle build_intlist"
                       || g == "torch.jit._pickle build_doublelist"
                       || g == "torch.jit._pickle build_boollist"
                       || g == "torch.jit._pickle restore_type_tag"
                       || (module == "torch" && storageElementSize(name, nullptr) > 0);
    if (!known)
        return bad("refers to " + module + "." + name + ", which no Layerwise checkpoint holds");
    auto n = make(Node::Kind::Global);
    n->s = g;
    return push(n);
}

bool Scanner::persistentId()
{
    if (!m_tensors)
        return bad("refers to tensor data, which this record never holds");
    NodePtr id;
    if (!pop(id))
        return false;
    const auto &e = id->items;
    std::string dtype;
    int size = 0;
    if (id->kind != Node::Kind::Tuple || e.size() != 5 || e[0]->kind != Node::Kind::Str
        || e[0]->s != "storage" || e[1]->kind != Node::Kind::Global || e[2]->kind != Node::Kind::Str
        || e[3]->kind != Node::Kind::Str || e[4]->kind != Node::Kind::Int
        || e[1]->s.rfind("torch ", 0) != 0
        || (size = storageElementSize(std::string_view(e[1]->s).substr(6), &dtype)) == 0)
        return bad("a storage reference is not ('storage', torch.<Type>Storage, key, location, "
                   "numel)");
    const std::string &key = e[2]->s;
    if (key.empty() || key.size() > 32
        || key.find_first_not_of("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
               != std::string::npos)
        return bad("storage key '" + key.substr(0, 40) + "' is not a plain record name");
    if (e[4]->i < 0)
        return bad("storage data/" + key + " has " + std::to_string(e[4]->i) + " elements");
    m_scan.storages.push_back({key, dtype, size, e[4]->i});
    auto n = make(Node::Kind::PersId);
    n->storage = m_scan.storages.size() - 1;
    return push(n);
}

bool Scanner::reduce()
{
    NodePtr args, fn;
    if (!pop(args) || !pop(fn))
        return false;
    if (fn->kind != Node::Kind::Global || args->kind != Node::Kind::Tuple)
        return bad("a call is not a known function with a tuple of arguments");
    const auto &a = args->items;
    if (fn->s == "collections OrderedDict") {
        if (!a.empty())
            return bad("OrderedDict is given arguments");
        return push(make(Node::Kind::Object));
    }
    if (fn->s == "torch.jit._pickle restore_type_tag") {
        // LibTorch's pickler tags a typed dict or list (a state dict: Dict[str, Tensor]) with
        // its type; the call gives back the value.
        if (a.size() != 2 || (a[0]->kind != Node::Kind::Dict && a[0]->kind != Node::Kind::List)
            || a[1]->kind != Node::Kind::Str
            || (a[1]->s != "Dict[str, Tensor]" && a[1]->s != "List[Tensor]"))
            return bad("restore_type_tag is not given a dictionary or list of tensors and its "
                       "type (LibTorch parses that type: only Dict[str, Tensor] and List[Tensor] "
                       "are let through)");
        return push(a[0]);
    }
    if (fn->s.rfind("torch.jit._pickle build_", 0) == 0) {
        if (a.size() != 1 || a[0]->kind != Node::Kind::List)
            return bad(fn->s.substr(18) + " is not given one list");
        return push(a[0]);
    }
    if (fn->s != "torch._utils _rebuild_tensor_v2")
        return bad("calls " + fn->s + ", which no Layerwise checkpoint does");
    auto ints = [](const NodePtr &t, std::vector<std::int64_t> &out) {
        if (t->kind != Node::Kind::Tuple || t->items.size() > 32)
            return false;
        for (const auto &v : t->items) {
            if (v->kind != Node::Kind::Int)
                return false;
            out.push_back(v->i);
        }
        return true;
    };
    TensorInfo info;
    if (a.size() != 6 || a[0]->kind != Node::Kind::PersId || a[1]->kind != Node::Kind::Int
        || !ints(a[2], info.sizes) || !ints(a[3], info.strides)
        || info.sizes.size() != info.strides.size() || a[4]->kind != Node::Kind::Bool
        || a[5]->kind != Node::Kind::Object)
        return bad("a tensor is not rebuilt from (storage, offset, sizes, strides, requires_grad, "
                   "hooks) with as many strides as sizes (at most 32)");
    const StorageRef &s = m_scan.storages[a[0]->storage];
    info.key = s.key;
    info.dtype = s.dtype;
    info.storageOffset = a[1]->i;
    m_scan.tensors.push_back(std::move(info));
    m_scan.storageOf.push_back(a[0]->storage);
    auto n = make(Node::Kind::Tensor);
    n->i = std::int64_t(m_scan.tensors.size() - 1);
    return push(n);
}

bool Scanner::newObject()
{
    NodePtr args, cls;
    if (!pop(args) || !pop(cls))
        return false;
    if (cls->kind != Node::Kind::Global || !isTorchClass(cls->s) || args->kind != Node::Kind::Tuple
        || !args->items.empty())
        return bad("creates an object that is not a TorchScript module without arguments");
    auto n = make(Node::Kind::Object);
    n->s = cls->s;
    return push(n);
}

bool Scanner::build()
{
    NodePtr state, obj;
    if (!pop(state) || !mutableTop(Node::Kind::Object, obj, "BUILD"))
        return false;
    if (obj->state || obj->s.empty() || state->kind != Node::Kind::Dict)
        return bad("sets the state of a module twice, or not from a dictionary");
    if (!adopt(*obj, state))
        return false;
    obj->state = state;
    return true;
}

bool Scanner::step(unsigned char op)
{
    std::uint64_t v = 0;
    std::string_view b;
    std::vector<NodePtr> items;
    NodePtr x, y;
    switch (op) {
    case 0x80: // PROTO
        return m_opStart == 0 ? readUint(1, v) : bad("a protocol marker after the start");
    case 'c': return global();
    case 'q': return readUint(1, v) && memoPut(v);
    case 'r': return readUint(4, v) && memoPut(v);
    case 0x94: // MEMOIZE
        return memoPut(m_memo.size());
    case 'h': return readUint(1, v) && memoGet(v);
    case 'j': return readUint(4, v) && memoGet(v);
    case '(':
        if (m_marks.size() >= std::size_t(kMaxPickleDepth))
            return bad("marks nest deeper than " + std::to_string(kMaxPickleDepth) + " levels");
        m_marks.push_back(m_stack.size());
        return true;
    case ')': return tuple({});
    case 't': return popMark(items) && tuple(std::move(items));
    case 0x85:
    case 0x86:
    case 0x87:
        items.resize(op - 0x84);
        for (auto it = items.rbegin(); it != items.rend(); ++it)
            if (!pop(*it))
                return false;
        return tuple(std::move(items));
    case ']': return push(make(Node::Kind::List));
    case '}': return push(make(Node::Kind::Dict));
    case 'a': return pop(x) && addItems(Node::Kind::List, {x}, "APPEND");
    case 'e': return popMark(items) && addItems(Node::Kind::List, std::move(items), "APPENDS");
    case 's': return pop(y) && pop(x) && addItems(Node::Kind::Dict, {x, y}, "SETITEM");
    case 'u': return popMark(items) && addItems(Node::Kind::Dict, std::move(items), "SETITEMS");
    case 'X':
    case 0x8c: // SHORT_BINUNICODE
        if (!readUint(op == 'X' ? 4 : 1, v) || !take(v, b))
            return false;
        x = make(Node::Kind::Str);
        x->s.assign(b);
        return push(x);
    case 'J':
    case 'K':
    case 'M':
        if (!readUint(op == 'J' ? 4 : op == 'K' ? 1 : 2, v))
            return false;
        x = make(Node::Kind::Int);
        x->i = op == 'J' ? std::int64_t(std::int32_t(std::uint32_t(v))) : std::int64_t(v);
        return push(x);
    case 0x8a: // LONG1: little-endian two's complement of up to 8 bytes
        if (!readUint(1, v) || v > 8)
            return v > 8 ? bad("an integer of " + std::to_string(v) + " bytes") : false;
        {
            const auto n = std::size_t(v);
            if (!readUint(n, v))
                return false;
            if (n > 0 && n < 8 && (v >> (8 * n - 1)) != 0)
                v |= ~std::uint64_t(0) << (8 * n);
        }
        x = make(Node::Kind::Int);
        x->i = std::int64_t(v);
        return push(x);
    case 'G':
        if (!take(8, b))
            return false;
        return push(make(Node::Kind::Float));
    case 0x88:
    case 0x89:
        x = make(Node::Kind::Bool);
        x->i = op == 0x88;
        return push(x);
    case 'N': return push(make(Node::Kind::None));
    case 'Q': return persistentId();
    case 'R': return reduce();
    case 0x81: return newObject();
    case 'b': return build();
    default:
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", op);
        return bad(std::string("unsupported pickle instruction ") + hex);
    }
}

void Scanner::nameTensors(const Node &n, const std::string &path,
                          std::unordered_set<const Node *> &seen)
{
    if (!seen.insert(&n).second)
        return;
    auto child = [&](const std::string &part) {
        return path.empty() ? part : path + "." + part;
    };
    switch (n.kind) {
    case Node::Kind::Tensor:
        m_scan.tensors[std::size_t(n.i)].name = path.empty() ? "(root)" : path;
        break;
    case Node::Kind::Object:
        if (n.state)
            nameTensors(*n.state, path, seen);
        break;
    case Node::Kind::Dict:
        for (std::size_t k = 0; k + 1 < n.items.size(); k += 2)
            nameTensors(*n.items[k + 1],
                        child(n.items[k]->kind == Node::Kind::Str ? n.items[k]->s : "?"), seen);
        break;
    case Node::Kind::Tuple:
    case Node::Kind::List:
        for (std::size_t k = 0; k < n.items.size(); ++k)
            nameTensors(*n.items[k], path + "[" + std::to_string(k) + "]", seen);
        break;
    default: break;
    }
}

/// The root's kind, and every TorchScript object reachable from it with its attributes (each
/// object once, in the order a depth-first walk meets them).
void Scanner::describe(const Node &root)
{
    m_scan.rootKind = kindOf(root);
    if (m_scan.rootKind == ValueKind::Object)
        m_scan.rootClass = className(root.s);
    if (m_scan.rootKind == ValueKind::Tuple || m_scan.rootKind == ValueKind::List)
        m_scan.rootItems = root.items.size();
    std::unordered_set<const Node *> seen;
    std::vector<const Node *> todo{&root};
    while (!todo.empty()) {
        const Node *n = todo.back();
        todo.pop_back();
        if (!seen.insert(n).second)
            continue;
        if (kindOf(*n) == ValueKind::Object) {
            PickledObject o;
            o.cls = className(n->s);
            o.hasState = n->state != nullptr;
            if (n->state)
                for (std::size_t k = 0; k + 1 < n->state->items.size(); k += 2) {
                    const Node &key = *n->state->items[k], &value = *n->state->items[k + 1];
                    o.plainKeys = o.plainKeys && key.kind == Node::Kind::Str;
                    AttributeValue a;
                    a.name = key.s;
                    a.kind = kindOf(value);
                    if (a.kind == ValueKind::Object)
                        a.objectClass = className(value.s);
                    for (const auto &item : value.items)
                        if (a.kind == ValueKind::List)
                            a.itemKinds.push_back(kindOf(*item));
                    o.attributes.push_back(std::move(a));
                }
            m_scan.objects.push_back(std::move(o));
        }
        if (n->state)
            todo.push_back(n->state.get());
        for (auto it = n->items.rbegin(); it != n->items.rend(); ++it)
            todo.push_back(it->get());
    }
}

Result<PickleScan> Scanner::run()
{
    for (std::int64_t ops = 0;; ++ops) {
        if (ops >= kMaxPickleOps) {
            bad("the pickle runs over " + std::to_string(kMaxPickleOps) + " instructions");
            return fail(m_error);
        }
        m_opStart = m_pos;
        if (m_pos >= m_bytes.size()) {
            bad("the pickle ends without a STOP instruction");
            return fail(m_error);
        }
        const auto op = static_cast<unsigned char>(m_bytes[m_pos++]);
        if (op == '.')
            break;
        if (!step(op))
            return fail(m_error);
    }
    if (m_pos != m_bytes.size())
        return fail(m_where + " byte " + std::to_string(m_pos) + ": data after the pickle's end");
    if (m_stack.size() != 1 || !m_marks.empty())
        return fail(m_where + ": the pickle ends with " + std::to_string(m_stack.size())
                    + " values and " + std::to_string(m_marks.size())
                    + " open marks, expected one value");
    std::unordered_set<const Node *> seen;
    nameTensors(*m_stack.back(), "", seen);
    describe(*m_stack.back());
    return std::move(m_scan);
}

} // namespace

int storageElementSize(std::string_view storageClass, std::string *dtype)
{
    static const struct
    {
        const char *name;
        int size;
    } kinds[] = {{"Float", 4}, {"Double", 8}, {"Half", 2},         {"BFloat16", 2},
                 {"Long", 8},  {"Int", 4},    {"Short", 2},        {"Char", 1},
                 {"Byte", 1},  {"Bool", 1},   {"ComplexFloat", 8}, {"ComplexDouble", 16}};
    for (const auto &k : kinds) {
        const std::size_t n = std::strlen(k.name);
        if (storageClass.size() == n + 7 && storageClass.substr(0, n) == k.name
            && storageClass.substr(n) == "Storage") {
            if (dtype)
                *dtype = k.name;
            return k.size;
        }
    }
    return 0;
}

Result<PickleScan> scanPickle(std::string_view bytes, const std::string &where, bool tensors)
{
    return Scanner(bytes, where, tensors).run();
}

} // namespace lw::ckpt::detail
