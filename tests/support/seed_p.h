#pragma once
// Seeding for tests that use LibTorch directly (private: includes torch).
#include <torch/torch.h>

#include <cstdint>
#include <cstdlib>

namespace lw::test {

/// Seeds LibTorch's CPU generator and the C library's, so a test's tensors are the same each run.
inline void seedAll(std::uint64_t seed)
{
    torch::manual_seed(seed);
    std::srand(static_cast<unsigned>(seed));
}

} // namespace lw::test
