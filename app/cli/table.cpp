#include "app/cli/table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace lw::cli {

namespace {

void appendEscape(std::string &out, const char *format, unsigned value)
{
    char buf[8];
    std::snprintf(buf, sizeof buf, format, value);
    out += buf;
}

/// Length of the valid UTF-8 sequence starting at `i`, 0 when there is none.
std::size_t utf8Length(std::string_view s, std::size_t i)
{
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    unsigned cp = 0;
    if (b >= 0xc2 && b <= 0xdf) {
        n = 2;
        cp = b & 0x1fu;
    } else if (b >= 0xe0 && b <= 0xef) {
        n = 3;
        cp = b & 0x0fu;
    } else if (b >= 0xf0 && b <= 0xf4) {
        n = 4;
        cp = b & 0x07u;
    } else {
        return 0;
    }
    if (i + n > s.size())
        return 0;
    for (std::size_t k = 1; k < n; ++k) {
        const auto c = static_cast<unsigned char>(s[i + k]);
        if ((c & 0xc0u) != 0x80u)
            return 0;
        cp = (cp << 6) | (c & 0x3fu);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff))
        || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

} // namespace

std::string printable(std::string_view text, bool multiline)
{
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        const auto b = static_cast<unsigned char>(text[i]);
        if (b < 0x80) {
            if ((b < 0x20 && !(multiline && (b == '\n' || b == '\t'))) || b == 0x7f)
                appendEscape(out, "\\x%02x", b);
            else
                out += static_cast<char>(b);
            ++i;
            continue;
        }
        const std::size_t n = utf8Length(text, i);
        if (n == 0) {
            appendEscape(out, "\\x%02x", b);
            ++i;
        } else if (n == 2 && b == 0xc2 && static_cast<unsigned char>(text[i + 1]) < 0xa0) {
            // C1 controls (U+0080..U+009F): U+009B is a one-character CSI on some terminals.
            appendEscape(out, "\\u%04x", static_cast<unsigned char>(text[i + 1]));
            i += 2;
        } else {
            out.append(text.substr(i, n));
            i += n;
        }
    }
    return out;
}

Table::Table(std::vector<std::string> header)
    : m_header(std::move(header))
    , m_right(m_header.size(), false)
{}

void Table::addRow(std::vector<std::string> cells)
{
    cells.resize(m_header.size());
    for (auto &cell : cells)
        cell = printable(cell);
    m_rows.push_back(std::move(cells));
}

void Table::alignRight(int col)
{
    if (col >= 0 && col < static_cast<int>(m_right.size()))
        m_right[col] = true;
}

std::string Table::render() const
{
    std::vector<std::size_t> widths(m_header.size(), 0);
    auto measure = [&](const std::vector<std::string> &row) {
        for (std::size_t i = 0; i < row.size(); ++i)
            widths[i] = std::max(widths[i], row[i].size());
    };
    measure(m_header);
    for (const auto &row : m_rows)
        measure(row);

    std::string out;
    auto emit = [&](const std::vector<std::string> &row) {
        std::string line;
        for (std::size_t i = 0; i < row.size(); ++i) {
            const std::string pad(widths[i] - row[i].size(), ' ');
            line += m_right[i] ? pad + row[i] : row[i] + pad;
            if (i + 1 < row.size())
                line += "  ";
        }
        while (!line.empty() && line.back() == ' ')
            line.pop_back();
        out += line + '\n';
    };
    emit(m_header);
    std::size_t total = 0;
    for (auto w : widths)
        total += w + 2;
    out += std::string(total >= 2 ? total - 2 : 0, '-') + '\n';
    for (const auto &row : m_rows)
        emit(row);
    return out;
}

std::string humanCount(double n)
{
    const char *suffix = "";
    double v = n;
    if (std::fabs(n) >= 1e9) {
        v = n / 1e9;
        suffix = "G";
    } else if (std::fabs(n) >= 1e6) {
        v = n / 1e6;
        suffix = "M";
    } else if (std::fabs(n) >= 1e3) {
        v = n / 1e3;
        suffix = "K";
    } else {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.0f", n);
        return buf;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f%s", v, suffix);
    return buf;
}

} // namespace lw::cli
