// The zip layer of the checkpoint validator, and the checks that tie data.pkl's tensors to the
// storage records. See archivecheck.h.
#include "core/train/archivecheck.h"
#include "core/train/codecheck.h"
#include "core/train/picklescan.h"
#include "core/util/format.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <sys/stat.h>
#include <unistd.h>

namespace lw::ckpt {

namespace {

struct Record
{
    std::uint64_t data = 0, stored = 0; // where its bytes start in the file, how many
    std::uint64_t size = 0;             // its length once inflated
    bool deflated = false;
    std::uint64_t crc = 0;
    std::uint64_t centralName = 0, localName = 0; // where its name starts in each header
};

bool ends(const std::string &s, std::string_view suffix)
{
    return s.size() >= suffix.size()
           && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::uint64_t le(std::string_view b, std::size_t at, int n)
{
    std::uint64_t v = 0;
    for (int k = 0; k < n; ++k)
        v |= std::uint64_t(static_cast<unsigned char>(b[at + std::size_t(k)])) << (8 * k);
    return v;
}

/// Reads a zip's central directory: every record stored or deflated (LibTorch deflates code),
/// unencrypted, its local header and data inside the file, names unique.
class ZipReader
{
public:
    ZipReader(std::string_view bytes, const std::string &name)
        : m_b(bytes)
        , m_name(name)
    {}

    Result<std::map<std::string, Record>> read();

private:
    std::string_view m_b;
    const std::string &m_name;

    Error bad(std::uint64_t at, const std::string &what) const
    {
        return fail(m_name + " is not a valid checkpoint: byte " + std::to_string(at) + ": "
                    + what);
    }
    bool has(std::uint64_t at, std::uint64_t n) const
    {
        return at <= m_b.size() && n <= m_b.size() - at;
    }
    Result<void> zip64End(std::uint64_t eocd, std::uint64_t &entries, std::uint64_t &cdSize,
                          std::uint64_t &cdOffset) const;
};

Result<void> ZipReader::zip64End(std::uint64_t eocd, std::uint64_t &entries, std::uint64_t &cdSize,
                                 std::uint64_t &cdOffset) const
{
    if (eocd < 20 || le(m_b, eocd - 20, 4) != 0x07064b50)
        return bad(eocd, "the directory needs a zip64 end record and has none");
    const std::uint64_t at = le(m_b, eocd - 20 + 8, 8);
    if (!has(at, 56) || at > eocd - 20 || le(m_b, at, 4) != 0x06064b50)
        return bad(eocd - 20, "the zip64 end record lies outside the file");
    entries = le(m_b, at + 32, 8);
    cdSize = le(m_b, at + 40, 8);
    cdOffset = le(m_b, at + 48, 8);
    return {};
}

Result<std::map<std::string, Record>> ZipReader::read()
{
    // The end record: its signature within the last 64 KiB + 22 bytes, its comment to the end.
    std::uint64_t eocd = std::string_view::npos;
    for (std::uint64_t at = m_b.size() >= 22 ? m_b.size() - 22 : 0;
         m_b.size() >= 22 && at + 22 + 65535 >= m_b.size(); --at) {
        if (le(m_b, at, 4) == 0x06054b50 && at + 22 + le(m_b, at + 20, 2) == m_b.size()) {
            eocd = at;
            break;
        }
        if (at == 0)
            break;
    }
    if (eocd == std::string_view::npos)
        return fail(m_name
                    + " is not a valid checkpoint: it is no zip archive (no end of "
                      "central directory; truncated, or another kind of file)");
    std::uint64_t entries = le(m_b, eocd + 10, 2), cdSize = le(m_b, eocd + 12, 4),
                  cdOffset = le(m_b, eocd + 16, 4);
    if (le(m_b, eocd + 4, 4) != 0)
        return bad(eocd, "the archive spans several disks");
    if (entries == 0xFFFF || cdSize == 0xFFFFFFFF || cdOffset == 0xFFFFFFFF)
        if (auto r = zip64End(eocd, entries, cdSize, cdOffset); !r)
            return r.error();
    if (!has(cdOffset, cdSize) || cdOffset + cdSize > eocd || entries > cdSize / 46)
        return bad(eocd, "the central directory (" + std::to_string(entries) + " records, "
                             + std::to_string(cdSize) + " bytes at " + std::to_string(cdOffset)
                             + ") does not fit the file");
    std::map<std::string, Record> records;
    std::uint64_t at = cdOffset;
    for (std::uint64_t e = 0; e < entries; ++e) {
        if (!has(at, 46) || at + 46 > cdOffset + cdSize || le(m_b, at, 4) != 0x02014b50)
            return bad(at, "central directory record " + std::to_string(e) + " is damaged");
        const auto flags = le(m_b, at + 8, 2), method = le(m_b, at + 10, 2);
        const auto crc = le(m_b, at + 16, 4);
        std::uint64_t csize = le(m_b, at + 20, 4), usize = le(m_b, at + 24, 4);
        const auto nameLen = le(m_b, at + 28, 2), extraLen = le(m_b, at + 30, 2),
                   commentLen = le(m_b, at + 32, 2);
        std::uint64_t local = le(m_b, at + 42, 4);
        if (at + 46 + nameLen + extraLen + commentLen > cdOffset + cdSize)
            return bad(at, "central directory record " + std::to_string(e)
                               + " runs past the directory");
        const std::string name(m_b.substr(at + 46, nameLen));
        // Sizes and offset that did not fit 32 bits are in the zip64 extra field, in this order.
        for (std::uint64_t x = at + 46 + nameLen; x + 4 <= at + 46 + nameLen + extraLen;) {
            const auto id = le(m_b, x, 2), len = le(m_b, x + 2, 2);
            if (x + 4 + len > at + 46 + nameLen + extraLen)
                return bad(x, "record " + name + " has a damaged extra field");
            if (id == 1) {
                std::uint64_t f = x + 4;
                for (std::uint64_t *v : {&usize, &csize, &local})
                    if (*v == 0xFFFFFFFF) {
                        if (f + 8 > x + 4 + len)
                            return bad(x, "record " + name + " has a short zip64 field");
                        *v = le(m_b, f, 8);
                        f += 8;
                    }
            }
            x += 4 + len;
        }
        if (flags & 1)
            return bad(at, "record " + name + " is encrypted");
        if ((method != 0 && method != 8) || (method == 0 && csize != usize))
            return bad(at, "record " + name + " uses compression method " + std::to_string(method)
                               + " with " + std::to_string(csize) + " bytes for "
                               + std::to_string(usize)
                               + "; LibTorch writes records stored or deflated");
        if (!has(local, 30) || le(m_b, local, 4) != 0x04034b50)
            return bad(at, "record " + name + " has its header at byte " + std::to_string(local)
                               + ", outside the file or not a header");
        const std::uint64_t data = local + 30 + le(m_b, local + 26, 2) + le(m_b, local + 28, 2);
        if (m_b.substr(local + 30, std::min<std::uint64_t>(nameLen, m_b.size() - local - 30))
            != name)
            return bad(local, "record " + name + " has another name in its local header");
        if (!has(data, csize) || data + csize > cdOffset)
            return bad(local, "record " + name + " (" + std::to_string(csize) + " bytes from byte "
                                  + std::to_string(data) + ") runs past the records' end at byte "
                                  + std::to_string(cdOffset));
        if (!records
                 .emplace(name, Record{data, csize, usize, method == 8, crc, at + 46, local + 30})
                 .second)
            return bad(at, "record " + name + " appears twice");
        at += 46 + nameLen + extraLen + commentLen;
    }
    return records;
}

/// A record's bytes: a view of a stored one, or a deflated one inflated into `buffer` (at most
/// 64 MiB: LibTorch deflates only code); its CRC checked.
Result<std::string_view> recordBytes(std::string_view file, const Record &r,
                                     const std::string &where, std::string &buffer)
{
    std::string_view out = file.substr(r.data, r.stored);
    if (r.deflated) {
        if (r.size > (64u << 20))
            return fail(where + " is deflated to " + formatBytes(std::int64_t(r.size))
                        + ", more than the 64 MiB a compressed record may be");
        buffer.assign(std::size_t(r.size), '\0');
        z_stream z{};
        if (inflateInit2(&z, -15) != Z_OK)
            return fail(where + ": cannot start zlib");
        z.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(out.data()));
        z.avail_in = uInt(out.size());
        z.next_out = reinterpret_cast<Bytef *>(buffer.data());
        z.avail_out = uInt(buffer.size());
        const int rc = inflate(&z, Z_FINISH);
        const auto produced = z.total_out;
        inflateEnd(&z);
        if (rc != Z_STREAM_END || produced != r.size)
            return fail(where + " is damaged: its deflated data does not inflate to the "
                        + std::to_string(r.size) + " bytes its directory entry declares");
        out = buffer;
    }
    if (crc32_z(0, reinterpret_cast<const Bytef *>(out.data()), out.size()) != r.crc)
        return fail(where + " is damaged (its CRC does not match)");
    return out;
}

/// Every tensor's elements lie inside its storage, and every storage has its record.
Result<void> checkTensors(const detail::PickleScan &scan,
                          const std::map<std::string, Record> &records, const std::string &prefix,
                          const std::string &name)
{
    std::map<std::string, const detail::StorageRef *> byKey;
    for (const auto &s : scan.storages) {
        const std::string rec = prefix + "data/" + s.key;
        auto it = records.find(rec);
        std::uint64_t bytes = 0;
        if (__builtin_mul_overflow(std::uint64_t(s.numel), std::uint64_t(s.elementSize), &bytes)
            || it == records.end() || it->second.size != bytes)
            return fail(name + " is not a valid checkpoint: storage " + rec + " should hold "
                        + std::to_string(s.numel) + " " + s.dtype + " elements ("
                        + std::to_string(s.numel) + " x " + std::to_string(s.elementSize)
                        + " bytes), "
                        + (it == records.end() ? std::string("the record is missing")
                                               : "the record has " + std::to_string(it->second.size)
                                                     + " bytes (truncated or damaged)"));
        auto [known, fresh] = byKey.emplace(s.key, &s);
        if (!fresh && (known->second->dtype != s.dtype || known->second->numel != s.numel))
            return fail(name + " is not a valid checkpoint: storage " + rec
                        + " is declared twice with different types or sizes");
    }
    for (std::size_t t = 0; t < scan.tensors.size(); ++t) {
        const auto &info = scan.tensors[t];
        const auto &s = scan.storages[scan.storageOf[t]];
        const std::string what
            = name + " is not a valid checkpoint: tensor "
              + (info.name.empty() ? "(unreferenced)" : info.name) + " (storage " + prefix + "data/"
              + info.key + ", sizes " + formatShape(info.sizes) + ", strides "
              + formatShape(info.strides) + ", offset " + std::to_string(info.storageOffset) + ") ";
        bool empty = false;
        for (std::size_t d = 0; d < info.sizes.size(); ++d) {
            if (info.sizes[d] < 0 || info.strides[d] < 0)
                return fail(what + "has a negative size or stride");
            empty = empty || info.sizes[d] == 0;
        }
        if (info.storageOffset < 0)
            return fail(what + "has a negative offset");
        // The last element it reaches: offset + sum((size - 1) * stride), overflow-checked.
        std::int64_t last = info.storageOffset, step = 0;
        bool overflow = false;
        for (std::size_t d = 0; d < info.sizes.size() && !empty; ++d)
            overflow = overflow || __builtin_mul_overflow(info.sizes[d] - 1, info.strides[d], &step)
                       || __builtin_add_overflow(last, step, &last);
        if (overflow || (!empty && last >= s.numel) || (empty && info.storageOffset > s.numel))
            return fail(what + "reaches "
                        + (overflow ? std::string("beyond 2^63 elements")
                                    : "element " + std::to_string(last))
                        + ", its storage holds " + std::to_string(s.numel) + " elements");
    }
    return {};
}

} // namespace

std::string formatShape(const std::vector<std::int64_t> &sizes)
{
    std::string s = "[";
    for (std::size_t k = 0; k < sizes.size(); ++k)
        s += (k ? ", " : "") + std::to_string(sizes[k]);
    return s + "]";
}

Result<std::string> readCheckpointFile(const std::string &path, std::uint64_t maxBytes)
{
    // O_NONBLOCK: opening a FIFO would otherwise wait for a writer; O_NOFOLLOW: a link is refused.
    const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        return fail("cannot read the checkpoint '" + path + "': "
                    + (err == ELOOP ? std::string("it is a symbolic link, expected a regular file")
                                    : std::strerror(err)));
    }
    struct FdCloser
    {
        int fd;
        ~FdCloser() { ::close(fd); }
    } closer{fd};
    struct stat st
    {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return fail("cannot read the checkpoint '" + path + "': it is not a regular file"
                    + (S_ISFIFO(st.st_mode)                         ? " (a FIFO)"
                       : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? " (a device)"
                       : S_ISDIR(st.st_mode)                        ? " (a folder)"
                                                                    : ""));
    if (std::uint64_t(st.st_size) > maxBytes)
        return fail("the checkpoint '" + path + "' is " + formatBytes(st.st_size)
                    + ", more than a checkpoint of this network can be ("
                    + formatBytes(std::int64_t(maxBytes)) + ")");
    std::string bytes(std::size_t(st.st_size), '\0');
    std::size_t got = 0;
    while (got < bytes.size()) {
        const auto n = ::read(fd, bytes.data() + got, bytes.size() - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return fail("cannot read the checkpoint '" + path
                        + "': " + (n < 0 ? std::strerror(errno) : "it shrank while being read"));
        got += std::size_t(n);
    }
    return bytes;
}

Result<ArchiveInfo> checkArchive(std::string_view bytes, const std::string &name)
{
    auto records = ZipReader(bytes, name).read();
    if (!records)
        return records.error();
    if (records->empty())
        return fail(name + " is not a valid checkpoint: the archive is empty");
    // LibTorch takes the folder of the first record as the archive's, and looks up names below it.
    const std::string &first = records->begin()->first;
    const std::string prefix = first.substr(0, first.find('/') + 1);
    if (prefix.empty())
        return fail(name + " is not a valid checkpoint: record " + first + " is in no folder");
    for (const char *required : {"data.pkl", "version"})
        if (!records->count(prefix + required))
            return fail(name + " is not a valid checkpoint: it has no " + prefix + required);
    detail::PickleScan data;
    std::map<std::string, detail::ClassDecl> classes;
    ArchiveInfo info;
    for (const auto &[rec, where] : *records) {
        if (rec.compare(0, prefix.size(), prefix) != 0)
            return fail(name + " is not a valid checkpoint: record " + rec + " is outside "
                        + prefix);
        // Messages from the readers below name the record; the file's name is put in front once.
        const std::string &at = rec;
        const std::string local = rec.substr(prefix.size());
        const bool storage = local.compare(0, 5, "data/") == 0;
        const bool code = local.compare(0, 5, "code/") == 0;
        const bool debug = code && ends(local, ".py.debug_pkl");
        const std::string cls = code ? detail::codeClassName(rec, prefix) : std::string();
        if (code && !debug && cls.empty())
            return fail(name + " is not a valid checkpoint: record " + rec
                        + " is not a module's code (code/__torch__/<name>.py)");
        if (!storage && !code && local != "data.pkl" && local != "constants.pkl"
            && local != "version" && local != ".data/version" && local != "byteorder"
            && local != ".data/serialization_id")
            return fail(name + " is not a valid checkpoint: record " + rec
                        + " is not part of a Layerwise checkpoint");
        if (storage && where.deflated)
            return fail(name + " is not a valid checkpoint: storage " + rec
                        + " is compressed; LibTorch writes tensor data stored");
        if (debug) {
            // Hidden from LibTorch (hideDebugRecords): never read, so not checked further.
            for (const std::uint64_t start : {where.centralName, where.localName})
                info.debugNameEnds.push_back(start + rec.size() - 1);
            continue;
        }
        std::string inflated;
        auto content = recordBytes(bytes, where, at, inflated);
        if (!content)
            return fail(name + " is not a valid checkpoint: " + content.message());
        if (ends(local, "_pkl") || ends(local, ".pkl")) {
            if (content->size() > (64u << 20))
                return fail(name + " is not a valid checkpoint: " + at + " is "
                            + formatBytes(std::int64_t(content->size()))
                            + ", more than the 64 MiB a pickle may be");
            const bool tensors = local == "data.pkl";
            auto scan = detail::scanPickle(*content, at, tensors);
            if (!scan)
                return fail(name + " is not a valid checkpoint: " + scan.message());
            if (local == "constants.pkl"
                && (scan->rootKind != detail::ValueKind::Tuple || scan->rootItems != 0
                    || !scan->objects.empty()))
                return fail(name + " is not a valid checkpoint: " + rec
                            + " holds constants; a Layerwise checkpoint's code has none");
            if (tensors)
                data = std::move(*scan);
        } else if (code) {
            auto decl = detail::parseCodeFile(*content, at);
            if (!decl)
                return fail(name + " is not a valid checkpoint: " + decl.message());
            classes.emplace(cls, std::move(*decl));
        } else if (!storage) {
            // version, .data/version, byteorder, .data/serialization_id: short plain words.
            const std::string_view v = *content;
            const bool ok
                = local == "byteorder"
                      ? v == "little"
                      : (!v.empty() && v.size() <= 64
                         && std::all_of(v.begin(), v.end(), [&](char c) {
                                return std::isdigit(static_cast<unsigned char>(c)) || c == '\n'
                                       || (local == ".data/serialization_id"
                                           && std::isalnum(static_cast<unsigned char>(c)));
                            }));
            if (!ok)
                return fail(name + " is not a valid checkpoint: " + rec + " holds \""
                            + std::string(v.substr(0, 20)) + "\", expected "
                            + (local == "byteorder" ? "little" : "a number"));
        }
    }
    if (auto r = detail::checkClasses(classes, data, name); !r)
        return r.error();
    if (auto r = checkTensors(data, *records, prefix, name); !r)
        return r.error();
    info.tensors = std::move(data.tensors);
    return info;
}

void hideDebugRecords(std::string &bytes, const ArchiveInfo &info)
{
    for (const std::uint64_t at : info.debugNameEnds)
        if (at < bytes.size() && bytes[at] == 'l')
            bytes[at] = 'X'; // "x.py.debug_pkX": a record LibTorch never looks up
}

} // namespace lw::ckpt
