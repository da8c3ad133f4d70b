#include "app/cli/table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace lw::cli {

Table::Table(std::vector<std::string> header)
    : m_header(std::move(header))
    , m_right(m_header.size(), false)
{}

void Table::addRow(std::vector<std::string> cells)
{
    cells.resize(m_header.size());
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
