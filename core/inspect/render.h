#pragma once

// Draws a stage's pictures (core/events/pictures.h) as RGB images and writes them as PNG, without
// Qt: the CLI's `inspect` and the benchmarks use it. Sizes are fixed by the inputs so a caller (a
// test) knows them in advance.

#include "core/events/pictures.h"
#include "core/util/result.h"

#include <cstdint>
#include <string>
#include <vector>

namespace lw {

/// 8-bit RGB, row-major, no padding.
struct RgbImage
{
    int width = 0;
    int height = 0;
    std::vector<std::uint8_t> pixels;

    RgbImage() = default;
    RgbImage(int w, int h, std::uint8_t grey = 255);
    void set(int x, int y, const std::uint8_t rgb[3]);
    void fill(int x, int y, int w, int h, const std::uint8_t rgb[3]);
};

/// The colour of class `c` of `classes` (Tableau's ten, then evenly spread hues).
void classColour(int c, int classes, std::uint8_t rgb[3]);

inline constexpr int kConfusionCell = 24; ///< pixels per cell of a confusion heatmap
inline constexpr int kPictureMargin = 8;  ///< white border around every picture
inline constexpr int kProjectionSide = 512;

/// Heatmap of the row-normalized confusion (viridis; row = true class): classes x classes cells
/// of kConfusionCell, plus a kPictureMargin border.
RgbImage renderConfusion(const ConfusionMatrix &m);
/// Scatter of the projection, 3x3 points coloured by class, in a kProjectionSide square plus
/// the border.
RgbImage renderProjection(const Projection &p);
/// Tiles in a grid of `columns` (0: about square), each scaled up by `scale`, 2 pixels apart.
RgbImage renderTiles(const ImageTiles &tiles, int columns, int scale);
/// One row per image: the image, then its perSample maps (each scaled to the image's height).
RgbImage renderFeatureMaps(const FeatureMaps &maps, int scale);
/// The hard errors' thumbnails in a row, framed red (never fixed) or green (a later stage fixes
/// it).
RgbImage renderHardErrors(const HardErrors &errors, int scale);

/// A picked test image through the stages: one row per stage of `img` (in its order): the image
/// at `scale`, then that stage's maps, each scaled by an integer to at most the image's height.
RgbImage renderImageThroughStages(const ImageThroughStages &img, int scale);
/// Integer scale that draws tiles of side `side` about 64 pixels high (at least 1).
inline int scaleTo64(int side)
{
    return side > 0 && side < 64 ? 64 / side : 1;
}

/// PNG bytes of `image` (8-bit RGB).
Result<std::string> encodePng(const RgbImage &image);
/// Writes `image` to `path` as PNG (atomically). Errors name the file.
Result<void> writePng(const std::string &path, const RgbImage &image);

} // namespace lw
