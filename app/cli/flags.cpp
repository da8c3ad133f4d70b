#include "app/cli/flags.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>
#include <system_error>
#include <thread>

namespace lw::cli {

namespace {

std::string numberText(double v)
{
    std::string s = std::to_string(v);
    // 10.000000 -> 10
    if (s.find('.') != std::string::npos) {
        s.erase(s.find_last_not_of('0') + 1);
        if (s.back() == '.')
            s.pop_back();
    }
    return s;
}

/// Whole-text integer parse; false on anything but decimal digits with an optional '-', or
/// on overflow of T (std::from_chars reports it where strtoll clamps).
template<typename T>
bool parseInteger(const std::string &text, T &out, bool &overflow)
{
    const char *end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, out);
    overflow = ec == std::errc::result_out_of_range;
    return ec == std::errc() && ptr == end;
}

/// A decimal integer from `lo` to `hi`; `range` says so in the error message.
CLI::Validator integerValidator(std::int64_t lo, std::int64_t hi, const std::string &range)
{
    return CLI::Validator(
        [lo, hi, range](std::string &text) -> std::string {
            std::int64_t v = 0;
            bool overflow = false;
            if (parseInteger(text, v, overflow) && v >= lo && v <= hi)
                return {};
            return "expected " + range + ", got " + text + (overflow ? " (out of range)" : "");
        },
        "[" + std::to_string(lo) + " - " + std::to_string(hi) + "]", range);
}

CLI::Validator unsignedInteger()
{
    return CLI::Validator(
        [](std::string &text) -> std::string {
            std::uint64_t v = 0;
            bool overflow = false;
            if (parseInteger(text, v, overflow))
                return {};
            return "expected an integer from 0 to "
                   + std::to_string(std::numeric_limits<std::uint64_t>::max()) + ", got " + text
                   + (overflow ? " (out of range)" : "");
        },
        "", "unsigned integer");
}

CLI::Validator finiteNumber()
{
    return CLI::Validator(
        [](std::string &text) -> std::string {
            char *end = nullptr;
            const double v = text.empty() ? 0.0 : std::strtod(text.c_str(), &end);
            if (!text.empty() && end == text.c_str() + text.size() && std::isfinite(v))
                return {};
            return "expected a finite number, got " + text;
        },
        "", "finite number");
}

CLI::Validator nonEmptyPath()
{
    return CLI::Validator(
        [](std::string &text) -> std::string {
            return text.empty() ? "expected a path, got an empty string" : std::string();
        },
        "", "non-empty path");
}

template<typename Fn>
void forEachOption(CLI::App &app, const Fn &fn)
{
    for (CLI::Option *opt : app.get_options())
        fn(*opt);
    for (CLI::App *sub : app.get_subcommands([](CLI::App *) { return true; }))
        forEachOption(*sub, fn);
}

} // namespace

CLI::Validator integerIn(std::int64_t lo, std::int64_t hi)
{
    return integerValidator(lo, hi,
                            "an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
}

CLI::Validator numberIn(double lo, double hi, bool lowOpen)
{
    const std::string range = "a finite number " + std::string(lowOpen ? "> " : "from ")
                              + numberText(lo) + (lowOpen ? " and at most " : " to ")
                              + numberText(hi);
    return CLI::Validator(
        [lo, hi, lowOpen, range](std::string &text) -> std::string {
            // strtod also reads "nan", "inf" and hex floats; only finite values pass below.
            char *end = nullptr;
            const double v = text.empty() ? 0.0 : std::strtod(text.c_str(), &end);
            const bool parsed = !text.empty() && end == text.c_str() + text.size();
            const bool inRange = std::isfinite(v) && (lowOpen ? v > lo : v >= lo) && v <= hi;
            if (parsed && inRange)
                return {};
            return "expected " + range + ", got " + text;
        },
        (lowOpen ? "(" : "[") + numberText(lo) + " - " + numberText(hi) + "]", range);
}

int maxThreads()
{
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    return static_cast<int>(std::min(4u * cores, 1024u));
}

CLI::Validator threadCount()
{
    const int most = maxThreads();
    return integerValidator(0, most,
                            "an integer from 0 (all cores) to " + std::to_string(most)
                                + " (4 x this machine's hardware threads, at most 1024)");
}

void checkEveryOption(CLI::App &app)
{
    forEachOption(app, [](CLI::Option &opt) {
        // The type name is CLI11's ("INT", "UINT", "FLOAT") followed by ":" and the
        // descriptions of the option's validators.
        const std::string fullType = opt.get_type_name();
        const std::string type = fullType.substr(0, fullType.find(':'));
        const std::string name = opt.get_name();
        if (type == "INT")
            opt.check(integerIn(std::numeric_limits<std::int64_t>::min()).description(""));
        else if (type == "UINT")
            opt.check(unsignedInteger());
        else if (type == "FLOAT")
            opt.check(finiteNumber());
        if (name == "--db" || name == "--data" || name == "--spec" || name == "--out"
            || name == "--init-from")
            opt.check(nonEmptyPath());
    });
}

} // namespace lw::cli
