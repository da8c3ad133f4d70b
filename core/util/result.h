#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace lw {

/// A failure a person can act on: what went wrong, naming the file, offset or field.
struct Error
{
    std::string message;
};

/// Value-or-error returned by core's public API (std::expected-style). Core never lets an
/// exception escape its public functions; failures come back as an Error.
template<typename T>
class [[nodiscard]] Result
{
public:
    Result(T value)
        : m_data(std::in_place_index<0>, std::move(value))
    {}
    Result(Error error)
        : m_data(std::in_place_index<1>, std::move(error))
    {}

    bool ok() const { return m_data.index() == 0; }
    explicit operator bool() const { return ok(); }

    /// Precondition: ok().
    T &value() & { return std::get<0>(m_data); }
    const T &value() const & { return std::get<0>(m_data); }
    T &&value() && { return std::get<0>(std::move(m_data)); }
    T &operator*() & { return value(); }
    const T &operator*() const & { return value(); }
    T *operator->() { return &value(); }
    const T *operator->() const { return &value(); }

    /// Precondition: !ok().
    const Error &error() const { return std::get<1>(m_data); }
    const std::string &message() const { return error().message; }

private:
    std::variant<T, Error> m_data;
};

template<>
class [[nodiscard]] Result<void>
{
public:
    Result() = default;
    Result(Error error)
        : m_error(std::move(error))
    {}

    bool ok() const { return !m_error.has_value(); }
    explicit operator bool() const { return ok(); }
    const Error &error() const { return *m_error; }
    const std::string &message() const { return m_error->message; }

private:
    std::optional<Error> m_error;
};

/// Shorthand for a failed Result of any type: `return lw::fail("...")`.
inline Error fail(std::string message)
{
    return Error{std::move(message)};
}

} // namespace lw
