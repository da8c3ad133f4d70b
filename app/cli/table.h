#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lw::cli {

/// Text from outside (run names, notes, spec names, messages, file names) as it may reach a
/// terminal: control characters (C0, DEL, C1) become escapes such as \x1b or \u009b and bytes that
/// are not UTF-8 \xNN, so an escape sequence in a run name is shown, not obeyed. `multiline`
/// keeps newlines and tabs (multi-line messages); otherwise they are escaped too.
std::string printable(std::string_view text, bool multiline = false);

/// A plain-text table for terminal output: a header row, right-aligned numeric columns. Cells
/// are shown printable().
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
