#include "core/inspect/render.h"

#include "core/util/fsutil.h"

#include <png.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>

namespace lw {

RgbImage::RgbImage(int w, int h, std::uint8_t grey)
    : width(w)
    , height(h)
    , pixels(std::size_t(w) * std::size_t(h) * 3, grey)
{}

void RgbImage::set(int x, int y, const std::uint8_t rgb[3])
{
    if (x < 0 || y < 0 || x >= width || y >= height)
        return;
    auto *p = pixels.data() + (std::size_t(y) * std::size_t(width) + std::size_t(x)) * 3;
    p[0] = rgb[0];
    p[1] = rgb[1];
    p[2] = rgb[2];
}

void RgbImage::fill(int x, int y, int w, int h, const std::uint8_t rgb[3])
{
    for (int yy = y; yy < y + h; ++yy)
        for (int xx = x; xx < x + w; ++xx)
            set(xx, yy, rgb);
}

namespace {

/// Viridis at t in [0, 1], from its values at 0, 1/4, ..., 1.
void viridis(double t, std::uint8_t rgb[3])
{
    static const double stops[5][3]
        = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
    t = std::clamp(std::isnan(t) ? 0.0 : t, 0.0, 1.0) * 4.0;
    const int i = std::min(3, int(t));
    const double f = t - i;
    for (int c = 0; c < 3; ++c)
        rgb[c] = static_cast<std::uint8_t>(
            std::lround(stops[i][c] + (stops[i + 1][c] - stops[i][c]) * f));
}

/// Copies tile `i` of `tiles` to (x, y), each pixel a scale x scale block.
void blit(RgbImage &img, const ImageTiles &tiles, int i, int x, int y, int scale)
{
    const auto *t = tiles.tile(i);
    for (int r = 0; r < tiles.height; ++r)
        for (int c = 0; c < tiles.width; ++c) {
            const auto *px = t
                             + (std::size_t(r) * std::size_t(tiles.width) + std::size_t(c))
                                   * std::size_t(tiles.channels);
            const std::uint8_t rgb[3]
                = {px[0], px[tiles.channels == 3 ? 1 : 0], px[tiles.channels == 3 ? 2 : 0]};
            img.fill(x + c * scale, y + r * scale, scale, scale, rgb);
        }
}

void frame(RgbImage &img, int x, int y, int w, int h, int t, const std::uint8_t rgb[3])
{
    img.fill(x, y, w, t, rgb);
    img.fill(x, y + h - t, w, t, rgb);
    img.fill(x, y, t, h, rgb);
    img.fill(x + w - t, y, t, h, rgb);
}

} // namespace

void classColour(int c, int classes, std::uint8_t rgb[3])
{
    static const std::uint8_t tab10[10][3]
        = {{31, 119, 180}, {255, 127, 14},  {44, 160, 44},   {214, 39, 40},  {148, 103, 189},
           {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
    if (classes <= 10 && c >= 0 && c < 10) {
        std::copy(tab10[c], tab10[c] + 3, rgb);
        return;
    }
    // Evenly spread hues at fixed saturation and value.
    const double h = std::fmod(double(std::max(c, 0)) / double(std::max(classes, 1)), 1.0) * 6.0;
    const int sector = int(h) % 6;
    const double f = h - std::floor(h), v = 0.85, s = 0.75;
    const double p = v * (1 - s), q = v * (1 - s * f), u = v * (1 - s * (1 - f));
    const double table[6][3] = {{v, u, p}, {q, v, p}, {p, v, u}, {p, q, v}, {u, p, v}, {v, p, q}};
    for (int k = 0; k < 3; ++k)
        rgb[k] = static_cast<std::uint8_t>(std::lround(table[sector][k] * 255));
}

RgbImage renderConfusion(const ConfusionMatrix &m)
{
    const int n = std::max(m.classes, 0);
    RgbImage img(n * kConfusionCell + 2 * kPictureMargin, n * kConfusionCell + 2 * kPictureMargin);
    for (int t = 0; t < n; ++t) {
        std::int64_t row = 0;
        for (int p = 0; p < n; ++p)
            row += m.at(t, p);
        for (int p = 0; p < n; ++p) {
            std::uint8_t rgb[3];
            viridis(row > 0 ? double(m.at(t, p)) / double(row) : 0.0, rgb);
            img.fill(kPictureMargin + p * kConfusionCell, kPictureMargin + t * kConfusionCell,
                     kConfusionCell, kConfusionCell, rgb);
        }
    }
    return img;
}

RgbImage renderProjection(const Projection &p)
{
    const int side = kProjectionSide;
    RgbImage img(side + 2 * kPictureMargin, side + 2 * kPictureMargin);
    const std::uint8_t grey[3] = {200, 200, 200};
    frame(img, kPictureMargin, kPictureMargin, side, side, 1, grey);
    if (p.x.empty())
        return img;
    const auto [xlo, xhi] = std::minmax_element(p.x.begin(), p.x.end());
    const auto [ylo, yhi] = std::minmax_element(p.y.begin(), p.y.end());
    const double xs = std::max(double(*xhi - *xlo), 1e-12),
                 ys = std::max(double(*yhi - *ylo), 1e-12);
    int classes = 0;
    for (int l : p.labels)
        classes = std::max(classes, l + 1);
    const int inner = side - 8;
    for (std::size_t i = 0; i < p.x.size(); ++i) {
        const int px = kPictureMargin + 4 + int(std::lround((p.x[i] - *xlo) / xs * (inner - 1)));
        // y grows upwards, as on a plot.
        const int py
            = kPictureMargin + 4 + inner - 1 - int(std::lround((p.y[i] - *ylo) / ys * (inner - 1)));
        std::uint8_t rgb[3];
        classColour(i < p.labels.size() ? p.labels[i] : 0, classes, rgb);
        img.fill(px - 1, py - 1, 3, 3, rgb);
    }
    return img;
}

RgbImage renderTiles(const ImageTiles &tiles, int columns, int scale)
{
    scale = std::max(scale, 1);
    const int n = std::max(tiles.count, 0);
    if (columns <= 0)
        columns = std::max(1, int(std::ceil(std::sqrt(double(n)))));
    const int rows = n > 0 ? (n + columns - 1) / columns : 0;
    const int tw = tiles.width * scale, th = tiles.height * scale, gap = 2;
    RgbImage img(2 * kPictureMargin + columns * tw + std::max(columns - 1, 0) * gap,
                 2 * kPictureMargin + rows * th + std::max(rows - 1, 0) * gap);
    for (int i = 0; i < n; ++i)
        blit(img, tiles, i, kPictureMargin + (i % columns) * (tw + gap),
             kPictureMargin + (i / columns) * (th + gap), scale);
    return img;
}

RgbImage renderFeatureMaps(const FeatureMaps &maps, int scale)
{
    scale = std::max(scale, 1);
    const int n = maps.inputs.count;
    const int gap = 2, bigGap = 8;
    const int ih = maps.inputs.height * scale, iw = maps.inputs.width * scale;
    // Each map is drawn at the input's height (maps are at most as large as the input).
    const int ms = maps.maps.height > 0 ? std::max(1, ih / maps.maps.height) : 1;
    const int mw = maps.maps.width * ms, mh = maps.maps.height * ms;
    const int rowH = std::max(ih, mh);
    RgbImage img(2 * kPictureMargin + iw + bigGap + maps.perSample * (mw + gap),
                 2 * kPictureMargin + n * rowH + std::max(n - 1, 0) * gap);
    for (int r = 0; r < n; ++r) {
        const int y = kPictureMargin + r * (rowH + gap);
        blit(img, maps.inputs, r, kPictureMargin, y, scale);
        for (int k = 0; k < maps.perSample; ++k)
            blit(img, maps.maps, r * maps.perSample + k,
                 kPictureMargin + iw + bigGap + k * (mw + gap), y, ms);
    }
    return img;
}

RgbImage renderImageThroughStages(const ImageThroughStages &img, int scale)
{
    scale = std::max(scale, 1);
    const int gap = 2, bigGap = 8;
    const int ih = img.image.height * scale, iw = img.image.width * scale;
    int width = 0;
    std::vector<int> mapScale;
    for (const auto &st : img.stages) {
        const int ms = st.maps.height > 0 ? std::max(1, ih / st.maps.height) : 1;
        mapScale.push_back(ms);
        width = std::max(width, iw + bigGap + st.maps.count * (st.maps.width * ms + gap));
    }
    const int n = static_cast<int>(img.stages.size());
    RgbImage out(2 * kPictureMargin + std::max(width, iw),
                 2 * kPictureMargin + n * ih + std::max(n - 1, 0) * gap);
    for (int r = 0; r < n; ++r) {
        const auto &st = img.stages[std::size_t(r)];
        const int y = kPictureMargin + r * (ih + gap), ms = mapScale[std::size_t(r)];
        if (!img.image.empty())
            blit(out, img.image, 0, kPictureMargin, y, scale);
        for (int k = 0; k < st.maps.count; ++k)
            blit(out, st.maps, k, kPictureMargin + iw + bigGap + k * (st.maps.width * ms + gap), y,
                 ms);
    }
    return out;
}

RgbImage renderHardErrors(const HardErrors &errors, int scale)
{
    scale = std::max(scale, 1);
    const auto &t = errors.thumbnails;
    const int border = 3, gap = 4;
    const int w = t.width * scale + 2 * border, h = t.height * scale + 2 * border;
    const int n = t.count;
    RgbImage img(2 * kPictureMargin + n * w + std::max(n - 1, 0) * gap,
                 2 * kPictureMargin + (n > 0 ? h : 0));
    const std::uint8_t red[3] = {214, 39, 40}, green[3] = {44, 160, 44};
    for (int i = 0; i < n; ++i) {
        const int x = kPictureMargin + i * (w + gap);
        const bool fixed = std::size_t(i) < errors.errors.size()
                           && errors.errors[std::size_t(i)].fixedAtStage >= 0;
        frame(img, x, kPictureMargin, w, h, border, fixed ? green : red);
        blit(img, t, i, x + border, kPictureMargin + border, scale);
    }
    return img;
}

namespace {

void pngWrite(png_structp png, png_bytep data, png_size_t length)
{
    static_cast<std::string *>(png_get_io_ptr(png))->append(reinterpret_cast<char *>(data), length);
}

void pngFlush(png_structp) {}

void pngError(png_structp png, png_const_charp message)
{
    *static_cast<std::string *>(png_get_error_ptr(png)) = message;
    png_longjmp(png, 1);
}

void pngWarning(png_structp, png_const_charp) {}

} // namespace

Result<std::string> encodePng(const RgbImage &image)
{
    if (image.width <= 0 || image.height <= 0
        || image.pixels.size() != std::size_t(image.width) * std::size_t(image.height) * 3)
        return fail("cannot encode a " + std::to_string(image.width) + "x"
                    + std::to_string(image.height) + " image with "
                    + std::to_string(image.pixels.size()) + " bytes as PNG");
    std::string out, error;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &error, pngError, pngWarning);
    if (!png)
        return fail("PNG encoder: out of memory");
    png_infop info = png_create_info_struct(png);
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, info ? &info : nullptr);
        return fail("PNG encoder: " + (error.empty() ? std::string("out of memory") : error));
    }
    png_set_write_fn(png, &out, pngWrite, pngFlush);
    png_set_IHDR(png, info, png_uint_32(image.width), png_uint_32(image.height), 8,
                 PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < image.height; ++y)
        png_write_row(png, const_cast<png_bytep>(image.pixels.data()
                                                 + std::size_t(y) * std::size_t(image.width) * 3));
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return out;
}

Result<void> writePng(const std::string &path, const RgbImage &image)
{
    auto bytes = encodePng(image);
    if (!bytes)
        return fail(path + ": " + bytes.message());
    return writeFileAtomic(path, *bytes);
}

} // namespace lw
