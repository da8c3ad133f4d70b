#!/usr/bin/env bash
# Gathers, on a Debian 12 machine with Layerwise's build dependencies, what a GPU machine that has
# only PyTorch (its CUDA LibTorch, CMake, a compiler) lacks to build core + CLI: the headers, CMake
# packages and libraries of SQLiteCpp, SQLite, nlohmann-json, CLI11, libjpeg, libpng and zlib,
# laid out as a prefix (DIR/usr). About 5 MB.
#   bench/gpu/make-deps.sh [DIR]     (default: .gpudeps in the repository root; keep it ignored)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
D=${1:-$root/.gpudeps}/usr
arch=x86_64-linux-gnu
rm -rf "$D"
mkdir -p "$D/include" "$D/lib/$arch/cmake" "$D/share/cmake"
cp -rL /usr/include/nlohmann /usr/include/CLI /usr/include/SQLiteCpp /usr/include/sqlite3.h \
    /usr/include/sqlite3ext.h /usr/include/jpeglib.h /usr/include/jmorecfg.h /usr/include/jerror.h \
    /usr/include/$arch/jconfig.h /usr/include/png.h /usr/include/pngconf.h /usr/include/pnglibconf.h \
    /usr/include/zlib.h /usr/include/zconf.h "$D/include/"
cp -r /usr/lib/$arch/cmake/SQLiteCpp "$D/lib/$arch/cmake/"
cp -r /usr/share/cmake/nlohmann_json /usr/share/cmake/CLI11 "$D/share/cmake/"
cp /usr/lib/$arch/libSQLiteCpp.a "$D/lib/$arch/"
cd "$D/lib/$arch"
for l in libsqlite3.so.0 libjpeg.so.62 libpng16.so.16 libz.so.1; do cp -L "/lib/$arch/$l" .; done
ln -s libsqlite3.so.0 libsqlite3.so; ln -s libjpeg.so.62 libjpeg.so
ln -s libpng16.so.16 libpng16.so; ln -s libpng16.so libpng.so; ln -s libz.so.1 libz.so
echo "dependencies in ${D%/usr} ($(du -sh "${D%/usr}" | cut -f1))"
