// JPEG and PNG decoding (told apart by content): any bytes decode to a consistent RGB image or
// to an error, at full size and at a reduced JPEG scale.
#include "core/data/codec.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    for (const int side : {0, 8}) {
        const auto image = lw::data::decodeImage(data, size, side, "fuzz input");
        if (!image)
            continue;
        lw::fuzz::check(image->channels == 3 && image->width > 0 && image->height > 0
                            && image->pixels.size()
                                   == std::size_t(image->width) * image->height * 3,
                        "a decoded image's size disagrees with its pixels");
    }
    return 0;
}
