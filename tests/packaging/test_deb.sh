#!/usr/bin/env bash
# Builds the Debian package with CPack (as `make package` does, into a scratch folder) and checks
# its control fields and file list: dependencies computed by dpkg-shlibdeps name LibTorch (and Qt 6
# with the GUI), and the package holds the programs, man pages and desktop integration.
# Usage: test_deb.sh BUILD_DIR GUI(ON|OFF) VERSION SCRATCH_DIR
set -euo pipefail

build=$1 gui=$2 version=$3 scratch=$4
fail() { echo "FAIL: $*" >&2; exit 1; }

rm -rf "$scratch"
mkdir -p "$scratch"
(cd "$build" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$scratch") >"$scratch/cpack.log" 2>&1 \
    || { cat "$scratch/cpack.log" >&2; fail "cpack -G DEB"; }
debs=("$scratch"/layerwise_"$version"_*.deb)
[[ -f ${debs[0]} ]] || { cat "$scratch/cpack.log" >&2; fail "no layerwise_${version}_*.deb in $scratch"; }
deb=${debs[0]}
echo "built $(basename "$deb") ($(stat -c %s "$deb") bytes)"

field() { dpkg-deb -f "$deb" "$1"; }
[[ $(field Package) == layerwise ]] || fail "Package is '$(field Package)'"
[[ $(field Version) == "$version" ]] || fail "Version is '$(field Version)', not $version"
depends=$(field Depends)
echo "Depends: $depends"
expect=(libtorch libc6)
[[ $gui == ON ]] && expect+=(libqt6core6 libqt6widgets6 libqcustomplot qt6-qpa-plugins)
for dep in "${expect[@]}"; do
    [[ $depends == *"$dep"* ]] || fail "Depends lacks $dep"
done

contents=$(dpkg-deb -c "$deb" | awk '{print $NF}')
files=(./usr/bin/layerwise-cli ./usr/share/man/man1/layerwise-cli.1.gz
       ./usr/share/layerwise/presets/fmnist-k1.json)
[[ $gui == ON ]] && files+=(./usr/bin/layerwise ./usr/share/man/man1/layerwise.1.gz
    ./usr/share/applications/io.github.layerwise.Layerwise.desktop
    ./usr/share/metainfo/io.github.layerwise.Layerwise.metainfo.xml
    ./usr/share/mime/packages/layerwise.xml
    ./usr/share/icons/hicolor/scalable/apps/layerwise.svg
    ./usr/share/icons/hicolor/48x48/apps/layerwise.png)
for f in "${files[@]}"; do
    grep -qxF "$f" <<<"$contents" || fail "package lacks $f"
done
if grep -qv '^\./usr/' <<<"$(grep -vx './' <<<"$contents")"; then
    fail "package installs outside /usr: $(grep -v '^\./usr/' <<<"$contents" | grep -vx './')"
fi
echo "PASS"
