#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lw::cli {

/// A plain-text table for terminal output: a header row, right-aligned numeric columns.
class Table
{
public:
    explicit Table(std::vector<std::string> header);
    void addRow(std::vector<std::string> cells);
    /// Marks column `col` as numeric (right-aligned).
    void alignRight(int col);
    std::string render() const;

private:
    std::vector<std::string> m_header;
    std::vector<std::vector<std::string>> m_rows;
    std::vector<bool> m_right;
};

/// Parameter and MAC counts as the paper quotes them: 33627136 -> "33.627M", 1922 ->
/// "1.922K", 3.63e9 -> "3.630G".
std::string humanCount(double n);

} // namespace lw::cli
