#include "core/data/codec.h"

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

namespace lw::data {

namespace {

// ---- JPEG -------------------------------------------------------------------------------------

struct JpegError
{
    jpeg_error_mgr mgr;
    std::jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

void jpegErrorExit(j_common_ptr cinfo)
{
    auto *err = reinterpret_cast<JpegError *>(cinfo->err);
    (*cinfo->err->format_message)(cinfo, err->message);
    std::longjmp(err->jump, 1);
}

// Warnings are ignored (many real JPEGs carry harmless ones such as extraneous bytes), except a
// premature end of data: libjpeg would fill the rest with gray, which is a truncated image.
void jpegEmitMessage(j_common_ptr cinfo, int level)
{
    if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF)
        jpegErrorExit(cinfo);
}

Result<RawImage> decodeJpeg(const std::uint8_t *data, std::size_t size, int targetSide,
                            const std::string &name)
{
    RawImage out;
    std::vector<std::uint8_t> cmyk;
    jpeg_decompress_struct cinfo;
    JpegError err;
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = jpegErrorExit;
    err.mgr.emit_message = jpegEmitMessage;
    err.message[0] = 0;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        return fail(name + ": cannot decode JPEG: " + err.message);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, const_cast<unsigned char *>(data), static_cast<unsigned long>(size));
    jpeg_read_header(&cinfo, TRUE);
    // The declared size is checked before scaling: a reduced scale would still make libjpeg read
    // (and this decoder keep) an image proportional to it, from a header of a few hundred bytes.
    if (std::int64_t(cinfo.image_width) * std::int64_t(cinfo.image_height) > kMaxImagePixels) {
        const std::string declared
            = std::to_string(cinfo.image_width) + "x" + std::to_string(cinfo.image_height);
        jpeg_destroy_decompress(&cinfo);
        return fail(name + ": JPEG declares " + declared + " pixels, more than the "
                    + std::to_string(kMaxImagePixels) + "-pixel limit");
    }
    // A complete Huffman-coded JPEG spends at least one bit on every 8x8 block of each of its
    // components (the block's DC code), so a file far smaller than its declared size is
    // truncated or crafted; libjpeg would first allocate (and, when progressive, zero) buffers
    // for the whole declared image. Arithmetic coding can go below a bit per block: for it one
    // byte per 1024 blocks of its largest component.
    std::int64_t blocks = 0;
    for (int c = 0; c < cinfo.num_components; ++c)
        blocks = std::max(blocks, std::int64_t(cinfo.comp_info[c].width_in_blocks)
                                      * std::int64_t(cinfo.comp_info[c].height_in_blocks));
    const std::int64_t minBytes = cinfo.arith_code ? blocks / 1024 : blocks / 8;
    if (std::int64_t(size) < minBytes) {
        const std::string declared
            = std::to_string(cinfo.image_width) + "x" + std::to_string(cinfo.image_height);
        jpeg_destroy_decompress(&cinfo);
        return fail(name + ": JPEG of " + std::to_string(size) + " bytes declares " + declared
                    + " pixels, which need at least " + std::to_string(minBytes)
                    + " bytes of coded data (truncated or not a real image)");
    }
    const bool isCmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    const bool isGray = cinfo.jpeg_color_space == JCS_GRAYSCALE;
    cinfo.out_color_space = isCmyk ? JCS_CMYK : isGray ? JCS_GRAYSCALE : JCS_RGB;
    cinfo.dct_method = JDCT_ISLOW;
    const int shortSide = int(std::min(cinfo.image_width, cinfo.image_height));
    int m = 8;
    if (targetSide > 0) {
        while (m > 1 && (std::int64_t(shortSide) * (m - 1) + 7) / 8 >= targetSide)
            --m;
    }
    cinfo.scale_num = m;
    cinfo.scale_denom = 8;
    jpeg_calc_output_dimensions(&cinfo);
    const std::int64_t w = cinfo.output_width, h = cinfo.output_height;
    if (w <= 0 || h <= 0 || w * h > kMaxImagePixels) {
        jpeg_destroy_decompress(&cinfo);
        return fail(name + ": JPEG of " + std::to_string(cinfo.image_width) + "x"
                    + std::to_string(cinfo.image_height) + " pixels is larger than the "
                    + std::to_string(kMaxImagePixels) + "-pixel limit");
    }
    jpeg_start_decompress(&cinfo);
    const int comps = cinfo.output_components;
    out.width = int(w);
    out.height = int(h);
    out.channels = 3;
    out.pixels.resize(std::size_t(w * h * 3));
    if (comps != 3)
        cmyk.resize(std::size_t(w * comps));
    while (cinfo.output_scanline < cinfo.output_height) {
        const std::size_t y = cinfo.output_scanline;
        std::uint8_t *dst = out.pixels.data() + y * std::size_t(w) * 3;
        JSAMPROW row = comps == 3 ? dst : cmyk.data();
        jpeg_read_scanlines(&cinfo, &row, 1);
        if (comps == 1) {
            for (std::int64_t x = 0; x < w; ++x)
                dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = cmyk[std::size_t(x)];
        } else if (comps == 4) {
            // Adobe writes inverted CMYK; this is what PIL and browsers do with it.
            for (std::int64_t x = 0; x < w; ++x) {
                const int k = cmyk[std::size_t(4 * x + 3)];
                for (int c = 0; c < 3; ++c)
                    dst[3 * x + c] = std::uint8_t(cmyk[std::size_t(4 * x + c)] * k / 255);
            }
        } else if (comps != 3) {
            jpeg_destroy_decompress(&cinfo);
            return fail(name + ": JPEG with " + std::to_string(comps)
                        + " components is not supported (expected 1, 3 or 4)");
        }
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return out;
}

// ---- PNG --------------------------------------------------------------------------------------

struct PngReader
{
    const std::uint8_t *data;
    std::size_t size;
    std::size_t pos;
    std::string error;
};

void pngRead(png_structp png, png_bytep out, png_size_t count)
{
    auto *r = static_cast<PngReader *>(png_get_io_ptr(png));
    if (count > r->size - r->pos)
        png_error(png, "unexpected end of file");
    std::memcpy(out, r->data + r->pos, count);
    r->pos += count;
}

void pngErrorFn(png_structp png, png_const_charp message)
{
    auto *r = static_cast<PngReader *>(png_get_error_ptr(png));
    r->error = message ? message : "unknown error";
    png_longjmp(png, 1);
}

void pngWarningFn(png_structp, png_const_charp) {}

/// Every chunk up to IEND lies inside the file. libpng allocates (and zeroes) an ancillary
/// chunk's declared length before reading it: an 86-byte file declaring a tEXt chunk of 855 MB
/// took 900 MB and 6 s.
Result<void> checkPngChunks(const std::uint8_t *data, std::size_t size, const std::string &name)
{
    std::size_t at = 8; // after the signature
    while (at + 8 <= size) {
        const std::uint32_t length = std::uint32_t(data[at]) << 24
                                     | std::uint32_t(data[at + 1]) << 16
                                     | std::uint32_t(data[at + 2]) << 8 | data[at + 3];
        const std::string type(reinterpret_cast<const char *>(data + at + 4), 4);
        if (length > size - at - 8 || size - at - 8 - length < 4)
            return fail(name + ": cannot decode PNG: the chunk at byte " + std::to_string(at)
                        + " declares " + std::to_string(length) + " bytes of data, the file has "
                        + std::to_string(size - at - 8) + " left (truncated or damaged)");
        if (type == "IEND")
            return {};
        at += std::size_t(length) + 12;
    }
    return fail(name + ": cannot decode PNG: it ends at byte " + std::to_string(size)
                + " before its IEND chunk (truncated)");
}

/// Decodes a PNG; with `keepPixels` false it only checks that every row decodes, one row buffer
/// at a time (validating a folder must not hold whole images).
Result<RawImage> decodePng(const std::uint8_t *data, std::size_t size, const std::string &name,
                           bool keepPixels)
{
    if (auto chunks = checkPngChunks(data, size, name); !chunks)
        return chunks.error();
    PngReader reader{data, size, 0, {}};
    RawImage out;
    std::vector<png_bytep> rows;
    png_structp png
        = png_create_read_struct(PNG_LIBPNG_VER_STRING, &reader, pngErrorFn, pngWarningFn);
    if (!png)
        return fail(name + ": cannot create a PNG reader");
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, nullptr, nullptr);
        return fail(name + ": cannot create a PNG reader");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, nullptr);
        return fail(name + ": cannot decode PNG: " + reader.error);
    }
    png_set_read_fn(png, &reader, pngRead);
    png_read_info(png, info);
    const std::int64_t w = png_get_image_width(png, info);
    const std::int64_t h = png_get_image_height(png, info);
    if (w <= 0 || h <= 0 || w * h > kMaxImagePixels) {
        png_destroy_read_struct(&png, &info, nullptr);
        return fail(name + ": PNG of " + std::to_string(w) + "x" + std::to_string(h)
                    + " pixels is larger than the " + std::to_string(kMaxImagePixels)
                    + "-pixel limit");
    }
    // Deflate packs at most 1032 bytes into one, so the image data of a complete PNG is at
    // least its filtered rows / 1032: a smaller file is truncated or crafted, and is refused
    // before the whole image is allocated.
    const std::int64_t filtered = h * (1 + std::int64_t(png_get_rowbytes(png, info)));
    if (std::int64_t(size) < filtered / 1032) {
        png_destroy_read_struct(&png, &info, nullptr);
        return fail(name + ": PNG of " + std::to_string(size) + " bytes declares "
                    + std::to_string(w) + "x" + std::to_string(h) + " pixels, which need at least "
                    + std::to_string(filtered / 1032)
                    + " bytes of compressed data (truncated or not a real image)");
    }
    const int colorType = png_get_color_type(png, info);
    const int bitDepth = png_get_bit_depth(png, info);
    if (colorType == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (colorType == PNG_COLOR_TYPE_GRAY && bitDepth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (bitDepth == 16)
        png_set_strip_16(png);
    if (colorType & PNG_COLOR_MASK_ALPHA)
        png_set_strip_alpha(png);
    if (colorType == PNG_COLOR_TYPE_GRAY || colorType == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(png);
    const int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != png_size_t(w * 3))
        png_error(png, "unexpected row layout after conversion to 8-bit RGB");
    if (!keepPixels) {
        std::vector<std::uint8_t> row(std::size_t(w * 3));
        for (int p = 0; p < passes; ++p)
            for (std::int64_t y = 0; y < h; ++y)
                png_read_row(png, row.data(), nullptr);
        png_read_end(png, nullptr);
        png_destroy_read_struct(&png, &info, nullptr);
        return out;
    }
    out.width = int(w);
    out.height = int(h);
    out.channels = 3;
    out.pixels.resize(std::size_t(w * h * 3));
    rows.resize(std::size_t(h));
    for (std::int64_t y = 0; y < h; ++y)
        rows[std::size_t(y)] = out.pixels.data() + y * w * 3;
    png_read_image(png, rows.data());
    png_read_end(png, nullptr);
    png_destroy_read_struct(&png, &info, nullptr);
    return out;
}

void pngWrite(png_structp png, png_bytep data, png_size_t count)
{
    auto *s = static_cast<std::string *>(png_get_io_ptr(png));
    s->append(reinterpret_cast<const char *>(data), count);
}

void pngFlush(png_structp) {}

bool validRaw(const RawImage &image)
{
    return image.width > 0 && image.height > 0 && (image.channels == 1 || image.channels == 3)
           && image.pixels.size() == std::size_t(image.width) * image.height * image.channels;
}

Result<RawImage> decode(const std::uint8_t *data, std::size_t size, int targetSide,
                        const std::string &name, bool keepPixels)
{
    if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        return decodeJpeg(data, size, targetSide, name);
    static const std::uint8_t pngMagic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (size >= 8 && std::memcmp(data, pngMagic, 8) == 0)
        return decodePng(data, size, name, keepPixels);
    return fail(name + ": not a JPEG or PNG file (unrecognised signature at byte offset 0)");
}

Result<std::vector<std::uint8_t>> readBytes(const std::string &path)
{
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in)
        return fail(path + ": cannot open for reading");
    const std::streamoff size = in.tellg();
    if (size < 0)
        return fail(path + ": cannot read its size");
    if (size > (std::streamoff(256) << 20))
        return fail(path + ": " + std::to_string(size) + " bytes is more than the 256 MiB an "
                    + "image file may have");
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
    in.seekg(0);
    if (size > 0 && !in.read(reinterpret_cast<char *>(bytes.data()), size))
        return fail(path + ": read error");
    return bytes;
}

} // namespace

Result<RawImage> decodeImage(const std::uint8_t *data, std::size_t size, int targetSide,
                             const std::string &name)
{
    return decode(data, size, targetSide, name, true);
}

Result<RawImage> readImageFile(const std::string &path, int targetSide)
{
    auto bytes = readBytes(path);
    if (!bytes)
        return bytes.error();
    return decode(bytes->data(), bytes->size(), targetSide, path, true);
}

Result<void> checkImageFile(const std::string &path)
{
    auto bytes = readBytes(path);
    if (!bytes)
        return bytes.error();
    // JPEG: the smallest DCT scale (1/8) still reads every entropy-coded block, so a truncated or
    // corrupt file fails here as it would at full size.
    auto r = decode(bytes->data(), bytes->size(), 1, path, false);
    if (!r)
        return r.error();
    return {};
}

Result<std::string> encodeJpeg(const RawImage &image, int quality)
{
    if (!validRaw(image))
        return fail("encodeJpeg: invalid image (size, channels or pixel count)");
    std::string out;
    unsigned char *buffer = nullptr;
    unsigned long bufferSize = 0;
    jpeg_compress_struct cinfo;
    JpegError err;
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = jpegErrorExit;
    if (setjmp(err.jump)) {
        jpeg_destroy_compress(&cinfo);
        std::free(buffer);
        return fail(std::string("encodeJpeg: ") + err.message);
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &buffer, &bufferSize);
    cinfo.image_width = JDIMENSION(image.width);
    cinfo.image_height = JDIMENSION(image.height);
    cinfo.input_components = image.channels;
    cinfo.in_color_space = image.channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, std::clamp(quality, 1, 100), TRUE);
    if (quality >= 90) {
        for (int c = 0; c < cinfo.num_components; ++c)
            cinfo.comp_info[c].h_samp_factor = cinfo.comp_info[c].v_samp_factor = 1;
    }
    jpeg_start_compress(&cinfo, TRUE);
    const std::size_t stride = std::size_t(image.width) * image.channels;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row
            = const_cast<std::uint8_t *>(image.pixels.data()) + cinfo.next_scanline * stride;
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    out.assign(reinterpret_cast<const char *>(buffer), bufferSize);
    jpeg_destroy_compress(&cinfo);
    std::free(buffer);
    return out;
}

Result<std::string> encodePng(const RawImage &image)
{
    if (!validRaw(image))
        return fail("encodePng: invalid image (size, channels or pixel count)");
    std::string out;
    PngReader errors{nullptr, 0, 0, {}};
    std::vector<png_bytep> rows(std::size_t(image.height));
    png_structp png
        = png_create_write_struct(PNG_LIBPNG_VER_STRING, &errors, pngErrorFn, pngWarningFn);
    if (!png)
        return fail("encodePng: cannot create a PNG writer");
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, nullptr);
        return fail("encodePng: cannot create a PNG writer");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return fail("encodePng: " + errors.error);
    }
    png_set_write_fn(png, &out, pngWrite, pngFlush);
    png_set_IHDR(png, info, png_uint_32(image.width), png_uint_32(image.height), 8,
                 image.channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    const std::size_t stride = std::size_t(image.width) * image.channels;
    for (int y = 0; y < image.height; ++y)
        rows[std::size_t(y)] = const_cast<std::uint8_t *>(image.pixels.data()) + y * stride;
    png_write_image(png, rows.data());
    png_write_end(png, nullptr);
    png_destroy_write_struct(&png, &info);
    return out;
}

} // namespace lw::data
