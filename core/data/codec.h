#pragma once

// Internal to core: JPEG (libjpeg-turbo) and PNG (libpng) decoding to 8-bit RGB, and the
// matching encoders used by tests and benchmarks. No torch; every input is untrusted.

#include "core/util/result.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lw::data {

/// An 8-bit image, interleaved height x width x channels (channels 1 or 3).
struct RawImage
{
    int width = 0;
    int height = 0;
    int channels = 0;
    std::vector<std::uint8_t> pixels;
};

/// Largest decoded image accepted (pixels), so a forged header cannot allocate gigabytes.
inline constexpr std::int64_t kMaxImagePixels = std::int64_t(1) << 27;

/// Decodes a JPEG or PNG (told apart by content, not by name) to 3-channel RGB: gray is
/// replicated, palettes expanded, 16-bit reduced to 8, alpha dropped, CMYK converted.
/// `targetSide` > 0 lets JPEGs decode at a reduced DCT scale (M/8) whose shorter side is still at
/// least targetSide; 0 decodes at full size. Errors start with `name`.
Result<RawImage> decodeImage(const std::uint8_t *data, std::size_t size, int targetSide,
                             const std::string &name);

/// Reads and decodes an image file (at most 256 MiB).
Result<RawImage> readImageFile(const std::string &path, int targetSide);

/// Checks that an image file decodes completely (every JPEG block, every PNG row) without
/// keeping its pixels: what an image folder's listing runs on each file.
Result<void> checkImageFile(const std::string &path);

/// Encodes to JPEG (quality 1..100, 4:4:4 at quality >= 90) or PNG; channels 1 or 3.
Result<std::string> encodeJpeg(const RawImage &image, int quality = 95);
Result<std::string> encodePng(const RawImage &image);

} // namespace lw::data
