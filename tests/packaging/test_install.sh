#!/usr/bin/env bash
# Installs the build into a scratch root as the package lays it out (prefix /usr, DESTDIR) and
# checks what a user gets: the installed programs run from there, the desktop entry and the
# AppStream metainfo validate, the MIME type, icons, presets and man pages are in place.
# Usage: test_install.sh BUILD_DIR GUI(ON|OFF) VERSION "MAN_PAGES" SCRATCH_DIR
set -euo pipefail

build=$1 gui=$2 version=$3 man_pages=$4 scratch=$5
fail() { echo "FAIL: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null || fail "$1 is missing (packaging/install-deps.sh installs ${2:-$1})"; }

rm -rf "$scratch"
mkdir -p "$scratch"
root=$scratch/root
DESTDIR=$root cmake --install "$build" --prefix /usr >"$scratch/install.log" \
    || { cat "$scratch/install.log" >&2; fail "cmake --install $build --prefix /usr (DESTDIR=$root)"; }
usr=$root/usr
echo "installed $(wc -l <"$scratch/install.log") files under $root"

# Nothing may land outside /usr.
outside=$(find "$root" -mindepth 1 -maxdepth 1 ! -name usr)
[[ -z $outside ]] || fail "installed outside /usr: $outside"

# Presets.
presets=("$usr"/share/layerwise/presets/*.json)
[[ -e ${presets[0]} ]] || fail "no presets in $usr/share/layerwise/presets"
echo "presets: ${#presets[@]}"

# The installed CLI runs from the scratch root (system libraries only, no build-tree RPATH).
export LAYERWISE_DB=$scratch/runs.sqlite XDG_DATA_HOME=$scratch/data OMP_WAIT_POLICY=PASSIVE
cli=$usr/bin/layerwise-cli
[[ -x $cli ]] || fail "$cli missing"
if readelf -d "$cli" | grep -qE 'R(UN)?PATH'; then fail "$cli has an RPATH"; fi
[[ $("$cli" --version) == "$version" ]] || fail "layerwise-cli --version is not $version"
"$cli" doctor --bench-seconds 0.05 >"$scratch/doctor.txt" 2>&1 \
    || { cat "$scratch/doctor.txt" >&2; fail "layerwise-cli doctor failed"; }
grep -qi 'libtorch' "$scratch/doctor.txt" || fail "doctor output names no LibTorch"
echo "layerwise-cli doctor: ok"
"$cli" presets >"$scratch/presets.txt" || fail "layerwise-cli presets failed"
grep -q 'fmnist-k1' "$scratch/presets.txt" || fail "layerwise-cli presets lists no fmnist-k1"

# Man pages: made from --help at build time, rendered by man.
for page in $man_pages; do
    file=$usr/share/man/man1/$page.1.gz
    [[ -s $file ]] || fail "man page $file missing"
    if zcat "$file" | grep -qF "$build"; then fail "$file mentions the build folder"; fi
    need man man-db
    MANWIDTH=100 MANPAGER=cat man -l "$file" >"$scratch/$page.man.txt" 2>"$scratch/$page.man.err" \
        || { cat "$scratch/$page.man.err" >&2; fail "man -l $file"; }
    grep -q '^SYNOPSIS' "$scratch/$page.man.txt" || fail "$page(1) has no SYNOPSIS"
    grep -qF "$version" "$scratch/$page.man.txt" || fail "$page(1) does not say version $version"
    echo "man page $page(1): $(wc -l <"$scratch/$page.man.txt") lines"
done
if [[ " $man_pages " == *" layerwise-cli "* ]]; then
    for sub in train doctor 'runs list' 'data info'; do
        grep -qF "layerwise-cli $sub" "$scratch/layerwise-cli.man.txt" \
            || fail "layerwise-cli(1) lacks the help of '$sub'"
    done
fi

if [[ $gui != ON ]]; then
    echo "GUI off: no desktop integration to check"
    exit 0
fi

# The GUI starts from the scratch root (offscreen) and rejects a bad file argument.
gui_bin=$usr/bin/layerwise
[[ -x $gui_bin ]] || fail "$gui_bin missing"
export QT_QPA_PLATFORM=offscreen XDG_RUNTIME_DIR=$scratch/runtime
mkdir -m 700 "$XDG_RUNTIME_DIR"
out=$("$gui_bin" --version) || fail "layerwise --version failed"
[[ $out == *"$version"* ]] || fail "layerwise --version says '$out', not $version"
echo "layerwise --version: $out"
rc=0
"$gui_bin" a.lwspec.json b.lwspec.json 2>"$scratch/gui-two.err" || rc=$?
[[ $rc == 2 ]] || fail "layerwise with two files: exit $rc, expected 2"
rc=0
"$gui_bin" --spec a.lwspec.json b.lwspec.json 2>"$scratch/gui-both.err" || rc=$?
[[ $rc == 2 ]] || fail "layerwise with --spec and a file: exit $rc, expected 2"
grep -q 'either with --spec or as an argument' "$scratch/gui-both.err" \
    || fail "layerwise --spec FILE FILE gave no clear error"

# Desktop entry and AppStream metainfo.
need desktop-file-validate desktop-file-utils
need appstreamcli appstream
desktop=$usr/share/applications/io.github.layerwise.Layerwise.desktop
# The AppStream id names the desktop file.
grep -q '<launchable type="desktop-id">io.github.layerwise.Layerwise.desktop</launchable>' \
    "$usr/share/metainfo/io.github.layerwise.Layerwise.metainfo.xml" \
    || fail "metainfo's launchable is not the desktop file's name"
desktop-file-validate "$desktop" || fail "desktop-file-validate $desktop"
grep -qx 'Exec=layerwise %f' "$desktop" || fail "$desktop: Exec is not 'layerwise %f'"
grep -q '^MimeType=.*application/x-layerwise-spec;' "$desktop" || fail "$desktop: no MimeType"
echo "desktop-file-validate: ok"
metainfo=$usr/share/metainfo/io.github.layerwise.Layerwise.metainfo.xml
appstreamcli validate --no-net "$metainfo" || fail "appstreamcli validate $metainfo"
grep -q "<release version=\"$version\"" "$metainfo" || fail "$metainfo has no release $version"
# The whole tree: the metainfo's launchable desktop entry and its icon are found.
appstreamcli validate-tree --no-net "$root" || fail "appstreamcli validate-tree $root"

# Icons: the scalable one and every PNG size, with the size its folder says.
[[ -s $usr/share/icons/hicolor/scalable/apps/layerwise.svg ]] || fail "no scalable icon"
for size in 16 22 24 32 48 64 128 256; do
    png=$usr/share/icons/hicolor/${size}x${size}/apps/layerwise.png
    [[ -s $png ]] || fail "icon $png missing"
    need file
    file "$png" | grep -q "PNG image data, $size x $size" || fail "$png is not a ${size}x$size PNG"
done
echo "icons: ok"

# MIME type: compile the installed package file and look the globs up.
need update-mime-database shared-mime-info
mime=$scratch/mime
mkdir -p "$mime/packages"
cp "$usr/share/mime/packages/layerwise.xml" "$mime/packages/"
update-mime-database "$mime" 2>"$scratch/mime.err" || { cat "$scratch/mime.err" >&2; fail "update-mime-database"; }
for glob in '*.lwspec.json' '*.lwspec'; do
    grep -qF "application/x-layerwise-spec:$glob" "$mime/globs2" \
        || fail "MIME database has no glob $glob for application/x-layerwise-spec"
done
# Specs saved as plain *.json are recognised by their content.
grep -qa 'layerwise-spec' "$mime/magic" \
    || fail "MIME database has no content match for specs saved as *.json"
echo "mime type: ok"
echo "PASS"
