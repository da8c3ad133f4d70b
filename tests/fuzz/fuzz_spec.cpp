// The spec reader and checker: any bytes end in a spec or in issues naming their JSON path, and
// an accepted spec keeps the reader's promises (valid, summarizable, written back unchanged).
#include "core/spec/spec.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    using lw::fuzz::check;
    const auto json = lw::fuzz::text(data, size);
    lw::Spec partial;
    const auto issues = lw::parseSpecDetailed(json, partial);
    // The designer may hold any half-read spec: the checker and the costs take it too.
    lw::validateSpec(partial);
    (void)lw::summarizeSpec(partial);
    const auto spec = lw::parseSpec(json);
    check(bool(spec) == issues.empty(), "parseSpec and parseSpecDetailed disagree");
    if (!spec)
        return 0;
    check(lw::validateSpec(*spec).empty(), "an accepted spec fails validateSpec");
    const auto summary = lw::summarizeSpec(*spec);
    if (!summary)
        lw::fuzz::broken("an accepted spec has no summary: " + summary.message());
    const auto again = lw::parseSpec(lw::serializeSpec(*spec));
    check(again && *again == *spec, "serializeSpec does not read back as the same spec");
    return 0;
}
