#pragma once

// Internal to lw_data: the seeded random streams shared by the readers, the transforms and the
// loader, and the base class of every split (it carries the dataset's log).

#include "core/data/loader_p.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

namespace lw::data::detail {

inline std::uint64_t splitMix64(std::uint64_t &state)
{
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/// Mixes two values into a well-distributed seed (order matters).
inline std::uint64_t mixSeed(std::uint64_t a, std::uint64_t b)
{
    std::uint64_t s = a * 0xD6E8FEB86659FD93ull + b;
    splitMix64(s);
    return splitMix64(s);
}

/// Stream tags, so that limits, permutations, transforms and synthetic pixels never share draws.
enum class Stream : std::uint64_t {
    LimitTrain = 0x11,
    LimitTest = 0x12,
    Permutation = 0x21,
    Transform = 0x31,
    SyntheticClass = 0x41,
    SyntheticTrain = 0x42,
    SyntheticTest = 0x43
};

/// A small, platform-independent generator (splitmix64): the same seed gives the same numbers
/// everywhere, unlike std:: distributions.
class Rng
{
public:
    explicit Rng(std::uint64_t seed)
        : m_state(seed)
    {}
    Rng(std::uint64_t seed, Stream stream, std::uint64_t a = 0, std::uint64_t b = 0)
        : m_state(mixSeed(mixSeed(mixSeed(seed, std::uint64_t(stream)), a), b))
    {}
    std::uint64_t next() { return splitMix64(m_state); }
    /// Uniform on [0, 1).
    double uniform() { return double(next() >> 11) * 0x1.0p-53; }
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    /// Uniform integer on [0, n); 0 when n <= 1.
    std::int64_t below(std::int64_t n)
    {
        if (n <= 1)
            return 0;
        return std::int64_t((static_cast<unsigned __int128>(next()) * std::uint64_t(n)) >> 64);
    }
    /// Standard normal (Box-Muller).
    double normal()
    {
        const double u1 = 1.0 - uniform(); // (0, 1]
        const double u2 = uniform();
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    }

private:
    std::uint64_t m_state;
};

/// Every split made by Dataset::open derives from this: it logs skipped images once per sample.
class SplitBase : public Split
{
public:
    explicit SplitBase(LogFn log)
        : m_log(std::move(log))
    {}
    void log(LogLevel level, const std::string &message) const
    {
        if (m_log)
            m_log(level, message);
    }

private:
    LogFn m_log;
};

} // namespace lw::data::detail
